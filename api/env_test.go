package api

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/sitrep-ir/sitrep"
	"github.com/sitrep-ir/sitrep/store/sqlite"
)

func init() {
	// Bodies the validator must read as text.
	openapi3filter.RegisterBodyDecoder("text/markdown", openapi3filter.PlainBodyDecoder)
	openapi3filter.RegisterBodyDecoder("application/openmetrics-text", openapi3filter.PlainBodyDecoder)
}

// storeFunc opens a fresh, empty store for one test.
type storeFunc func(t testing.TB) sitrep.Store

// sqliteStore opens a SQLite store in a file of the test's temporary folder.
func sqliteStore(t testing.TB) sitrep.Store {
	t.Helper()
	s, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "sitrep.db"), nil)
	if err != nil {
		t.Fatalf("open sqlite store: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// loadDocument loads and validates the embedded OpenAPI document.
func loadDocument(t testing.TB) *openapi3.T {
	t.Helper()
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(openAPIDocument)
	if err != nil {
		t.Fatalf("load api/openapi.json: %v", err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("api/openapi.json is not a valid OpenAPI document: %v", err)
	}
	return doc
}

// env is a real sitrep server on 127.0.0.1: the API on a real store, with a
// client that checks every exchange against the OpenAPI document. Its
// helpers fail the test t; subtests take their own env with e.with(t).
type env struct {
	t testing.TB
	*server
}

// with returns e reporting to t.
func (e *env) with(t testing.TB) *env { return &env{t: t, server: e.server} }

// server is what the tests of one env share.
type server struct {
	svc    *sitrep.Service
	store  sitrep.Store
	api    *API
	srv    *httptest.Server
	admin  *caller
	doc    *openapi3.T
	router routers.Router
	reg    *prometheus.Registry
	logs   *logBuffer

	mu      sync.Mutex
	covered map[string]bool // route patterns answered with a 2xx
}

// caller is a user with their token.
type caller struct {
	name  string
	token string
}

// newEnv starts a server on a fresh store from open.
func newEnv(t testing.TB, open storeFunc) *env {
	t.Helper()
	store := open(t)
	logs := &logBuffer{}
	logger := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	svc := sitrep.NewService(store, logger)
	secret, err := svc.Bootstrap(context.Background(), "admin", "")
	if err != nil {
		t.Fatalf("bootstrap: %v", err)
	}
	reg := prometheus.NewRegistry()
	a := New(Config{Service: svc, Logger: logger, Registry: reg, Ready: store.Ping})
	srv := httptest.NewServer(a)
	t.Cleanup(srv.Close)
	doc := loadDocument(t)
	router, err := gorillamux.NewRouter(doc)
	if err != nil {
		t.Fatalf("route the OpenAPI document: %v", err)
	}
	return &env{t: t, server: &server{
		svc: svc, store: store, api: a, srv: srv, admin: &caller{"admin", secret},
		doc: doc, router: router, reg: reg, logs: logs, covered: map[string]bool{},
	}}
}

// logBuffer collects log lines; the server writes them from many goroutines.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// response is an answer of the server, read whole.
type response struct {
	status int
	header http.Header
	body   []byte
}

func (r *response) String() string {
	return fmt.Sprintf("%d %s: %s", r.status, r.header.Get("Content-Type"), clip(string(r.body), 600))
}

// decode decodes the JSON body into v.
func (r *response) decode(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decode %s: %v", r, err)
	}
}

// problem decodes the body as a problem, failing unless it is one.
func (r *response) problem(t testing.TB) Problem {
	t.Helper()
	if ct := r.header.Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("want a problem, got %s", r)
	}
	var p Problem
	r.decode(t, &p)
	if p.Status != r.status || !strings.HasPrefix(p.Type, ProblemTypePrefix) || p.Title == "" || p.Detail == "" {
		t.Fatalf("malformed problem for status %d: %+v", r.status, p)
	}
	return p
}

// request is one request to send.
type request struct {
	method, path string
	as           *caller // nil: no Authorization header
	body         any     // marshalled as JSON unless []byte or string
	contentType  string  // default application/json when there is a body; "none" sends none
	header       map[string]string
	chunked      bool // send the body without a Content-Length
	// fuzzed bodies: the server leniently accepts some the document does
	// not describe (a JSON null for a string, which encoding/json allows).
	fuzzed bool
}

// call sends req and validates the exchange against the OpenAPI document:
// the response always (status, headers, body, and no undocumented field),
// the request too when the server accepted it.
func (e *env) call(req request) *response {
	e.t.Helper()
	resp, err := e.send(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", req.method, req.path, err)
	}
	if err := e.validate(req, resp); err != nil {
		e.t.Errorf("%s %s: the exchange does not match the OpenAPI document: %v\nresponse: %s", req.method, req.path, err, resp)
	}
	return resp
}

// send sends req without validating anything.
func (e *env) send(req request) (*response, error) {
	body, ct := encodeBody(req)
	hr, err := http.NewRequest(req.method, e.srv.URL+req.path, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	if body == nil {
		hr.Body = http.NoBody
	}
	if req.chunked {
		hr.ContentLength, hr.GetBody = -1, nil
		hr.Body = io.NopCloser(bytes.NewReader(body))
	}
	setHeaders(hr, req, ct)
	res, err := e.srv.Client().Do(hr)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		return nil, err
	}
	return &response{status: res.StatusCode, header: res.Header, body: b}, nil
}

func setHeaders(hr *http.Request, req request, ct string) {
	if ct != "" && ct != "none" {
		hr.Header.Set("Content-Type", ct)
	}
	if req.as != nil {
		hr.Header.Set("Authorization", "Bearer "+req.as.token)
	}
	for k, v := range req.header {
		hr.Header.Set(k, v)
	}
}

func encodeBody(req request) ([]byte, string) {
	var body []byte
	switch b := req.body.(type) {
	case nil:
	case []byte:
		body = b
	case string:
		body = []byte(b)
	default:
		var err error
		if body, err = json.Marshal(b); err != nil {
			panic(err)
		}
	}
	ct := req.contentType
	if ct == "" && body != nil {
		ct = "application/json"
	}
	return body, ct
}

// validate checks an exchange against the document. Answers of routes the
// document does not have must be problems.
func (e *env) validate(req request, resp *response) error {
	body, ct := encodeBody(req)
	hr, err := http.NewRequest(req.method, e.srv.URL+req.path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	setHeaders(hr, req, ct)
	route, params, err := e.router.FindRoute(hr)
	if err != nil {
		if resp.status != http.StatusNotFound && resp.status != http.StatusMethodNotAllowed {
			return fmt.Errorf("no route in the document (%v), yet the server answered %d", err, resp.status)
		}
		if resp.header.Get("Content-Type") != "application/problem+json" {
			return fmt.Errorf("an unknown route's answer is not a problem")
		}
		return nil
	}
	in := &openapi3filter.RequestValidationInput{
		Request: hr, PathParams: params, Route: route,
		Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc, MultiError: true},
	}
	if resp.status < 300 {
		// What the server accepts, the document must accept too.
		if err := openapi3filter.ValidateRequest(context.Background(), in); err != nil && !req.fuzzed {
			return fmt.Errorf("accepted request: %w", err)
		}
		e.mu.Lock()
		e.covered[req.method+" "+route.Path] = true
		e.mu.Unlock()
	}
	out := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: in,
		Status:                 resp.status,
		Header:                 resp.header,
		Body:                   io.NopCloser(bytes.NewReader(resp.body)),
		Options:                &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true},
	}
	if err := openapi3filter.ValidateResponse(context.Background(), out); err != nil {
		return fmt.Errorf("response: %w", err)
	}
	media := strings.TrimSpace(strings.Split(resp.header.Get("Content-Type"), ";")[0])
	if media == "application/json" || media == "application/problem+json" {
		mt := route.Operation.Responses.Status(resp.status).Value.Content.Get(media)
		var v any
		if err := json.Unmarshal(resp.body, &v); err != nil {
			return fmt.Errorf("response body: %w", err)
		}
		if extra := undocumented(mt.Schema, v, "body"); len(extra) > 0 {
			return fmt.Errorf("response fields the document does not describe: %s", strings.Join(extra, ", "))
		}
	}
	return nil
}

// undocumented lists the fields of v that schema does not describe. The
// document leaves response objects open, so that clients accept fields added
// later; this holds the server to describing every field it sends. Objects
// whose schema names no properties at all (free-form data) are not checked.
func undocumented(ref *openapi3.SchemaRef, v any, path string) []string {
	if ref == nil || ref.Value == nil {
		return nil
	}
	s := ref.Value
	props := map[string]*openapi3.SchemaRef{}
	var collect func(s *openapi3.Schema)
	collect = func(s *openapi3.Schema) {
		for name, p := range s.Properties {
			props[name] = p
		}
		for _, sub := range s.AllOf {
			if sub.Value != nil {
				collect(sub.Value)
			}
		}
	}
	collect(s)
	var out []string
	switch v := v.(type) {
	case map[string]any:
		if len(props) == 0 {
			return nil
		}
		for k, x := range v {
			p, ok := props[k]
			if !ok {
				out = append(out, path+"."+k)
				continue
			}
			out = append(out, undocumented(p, x, path+"."+k)...)
		}
	case []any:
		for i, x := range v {
			out = append(out, undocumented(s.Items, x, fmt.Sprintf("%s[%d]", path, i))...)
		}
	}
	slices.Sort(out)
	return out
}

// ok sends req and fails the test unless the answer has status want.
func (e *env) ok(want int, req request) *response {
	e.t.Helper()
	r := e.call(req)
	if r.status != want {
		e.t.Fatalf("%s %s as %s: want %d, got %s", req.method, req.path, who(req.as), want, r)
	}
	return r
}

// fail sends req and checks that it is refused with a problem of status
// want whose detail names what is wrong (contains mention, when given).
func (e *env) fail(want int, mention string, req request) Problem {
	e.t.Helper()
	r := e.call(req)
	if r.status != want {
		e.t.Fatalf("%s %s as %s: want %d, got %s", req.method, req.path, who(req.as), want, r)
	}
	p := r.problem(e.t)
	if !strings.Contains(p.Detail, mention) {
		e.t.Errorf("%s %s: the problem's detail %q does not mention %q", req.method, req.path, p.Detail, mention)
	}
	return p
}

func who(c *caller) string {
	if c == nil {
		return "nobody"
	}
	return c.name
}

// addUser creates a user through the API, as the administrator, and a token
// for them.
func (e *env) addUser(name string, role sitrep.OrgRole) *caller {
	e.t.Helper()
	e.ok(http.StatusCreated, request{method: "POST", path: "/api/v1/users", as: e.admin, body: map[string]any{"name": name, "role": role}})
	var tok struct {
		Token string `json:"token"`
	}
	e.ok(http.StatusCreated, request{method: "POST", path: "/api/v1/tokens", as: e.admin, body: map[string]any{"user": name, "label": "test"}}).decode(e.t, &tok)
	return &caller{name: name, token: tok.Token}
}

// declare declares an incident as c and returns its ID.
func (e *env) declare(c *caller, in sitrep.DeclareInput) string {
	e.t.Helper()
	var res sitrep.Result
	e.ok(http.StatusCreated, request{method: "POST", path: "/api/v1/incidents", as: c, body: in}).decode(e.t, &res)
	return res.Incident.ID
}

// change runs a change route as c, requiring success, and returns the result.
func (e *env) change(c *caller, method, path string, body any) sitrep.Result {
	e.t.Helper()
	var res sitrep.Result
	e.ok(http.StatusOK, request{method: method, path: path, as: c, body: body}).decode(e.t, &res)
	return res
}

// incident returns the incident as c sees it.
func (e *env) incident(c *caller, id string) *sitrep.IncidentView {
	e.t.Helper()
	var v sitrep.IncidentView
	e.ok(http.StatusOK, request{method: "GET", path: "/api/v1/incidents/" + id, as: c}).decode(e.t, &v)
	return &v
}

// timeline returns the incident's whole timeline.
func (e *env) timeline(c *caller, id string) []sitrep.EntryView {
	e.t.Helper()
	var tl struct {
		Entries []sitrep.EntryView `json:"entries"`
	}
	e.ok(http.StatusOK, request{method: "GET", path: "/api/v1/incidents/" + id + "/timeline?limit=10000", as: c}).decode(e.t, &tl)
	return tl.Entries
}

// verified fails the test unless the incident's record holds up.
func (e *env) verified(c *caller, id string) {
	e.t.Helper()
	var v sitrep.Verification
	e.ok(http.StatusOK, request{method: "GET", path: "/api/v1/incidents/" + id + "/verify", as: c}).decode(e.t, &v)
	if !v.OK {
		e.t.Fatalf("the record of %s does not hold up: %+v", id, v)
	}
}

// types lists the entry types of entries.
func types(entries []sitrep.EntryView) []string {
	out := make([]string, len(entries))
	for i, en := range entries {
		out[i] = en.Type
	}
	return out
}

func esc(s string) string { return url.PathEscape(s) }

// slogTo returns a debug logger writing JSON lines to w.
func slogTo(w io.Writer) *slog.Logger {
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}
