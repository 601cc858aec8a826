// Package client is the Go client of the sitrep HTTP API. Its methods take
// and return the domain's types, and its errors carry the API's problem
// details as a *sitrep.Error of the matching kind, so that callers check
// sitrep.ErrorKind(err) exactly as they would inside the server.
//
// A Client is safe for concurrent use.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"runtime/debug"
	"strings"
	"time"

	"github.com/sitrep-ir/sitrep"
)

// Defaults of a new Client.
const (
	DefaultTimeout          = 30 * time.Second
	DefaultMaxResponseBytes = 64 << 20
)

// APIPrefix is where the API lives under the server's base URL.
const APIPrefix = "/api/v1"

// Client talks to one sitrep server as the holder of one token.
type Client struct {
	base      string // scheme://host[/path], without a trailing slash
	baseErr   error  // why base is unusable; returned by every call
	token     string
	hc        *http.Client
	timeout   time.Duration
	userAgent string
	maxBody   int64
}

// Option configures a Client.
type Option func(*Client)

// WithHTTPClient sends requests through hc instead of a default client.
func WithHTTPClient(hc *http.Client) Option {
	return func(c *Client) {
		if hc != nil {
			c.hc = hc
		}
	}
}

// WithTimeout bounds each call, response body included; 0 means no bound.
// The default is DefaultTimeout.
func WithTimeout(d time.Duration) Option { return func(c *Client) { c.timeout = d } }

// WithUserAgent sets the User-Agent header; the default is
// "sitrep-cli/<version>".
func WithUserAgent(ua string) Option {
	return func(c *Client) {
		if ua != "" {
			c.userAgent = ua
		}
	}
}

// WithMaxResponseBytes caps the size of a response body the client reads;
// a larger answer is an error rather than an unbounded allocation. The
// default is DefaultMaxResponseBytes.
func WithMaxResponseBytes(n int64) Option {
	return func(c *Client) {
		if n > 0 {
			c.maxBody = n
		}
	}
}

// New returns a client of the server at baseURL (such as
// "http://127.0.0.1:8080") that authenticates with token. A malformed
// baseURL is reported by the first call, so that New never fails.
func New(baseURL, token string, opts ...Option) *Client {
	c := &Client{
		token:     token,
		hc:        http.DefaultClient,
		timeout:   DefaultTimeout,
		userAgent: "sitrep-cli/" + Version(),
		maxBody:   DefaultMaxResponseBytes,
	}
	c.base, c.baseErr = parseBase(baseURL)
	for _, o := range opts {
		o(c)
	}
	return c
}

// BaseURL returns the server's base URL as the client uses it.
func (c *Client) BaseURL() string { return c.base }

func parseBase(s string) (string, error) {
	u, err := url.Parse(strings.TrimSpace(s))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", &sitrep.Error{Kind: sitrep.EInvalid, Field: "server",
			Message: fmt.Sprintf("server address %q is not valid: use a URL such as http://127.0.0.1:8080", clip(s, 80))}
	}
	if u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return "", &sitrep.Error{Kind: sitrep.EInvalid, Field: "server",
			Message: fmt.Sprintf("server address %q must not carry a user, a query or a fragment", clip(u.Redacted(), 80))}
	}
	return strings.TrimRight(u.Scheme+"://"+u.Host+u.EscapedPath(), "/"), nil
}

// Version returns the version of the sitrep module this program was built
// from: the release tag, a pseudo-version, or "dev" for a local build.
func Version() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "dev"
	}
	const module = "github.com/sitrep-ir/sitrep"
	v := ""
	if bi.Main.Path == module {
		v = bi.Main.Version
	}
	for _, d := range bi.Deps {
		if d.Path == module {
			v = d.Version
		}
	}
	if v == "" || v == "(devel)" {
		return "dev"
	}
	return v
}

// Error is an error answer of the API: its RFC 9457 problem details, or
// what could be made of a response that had none (a proxy's error page).
// It unwraps to a *sitrep.Error of the same kind, field and rule, so that
// sitrep.ErrorKind and sitrep.AsError work on it.
type Error struct {
	// Method and Path name the request that failed.
	Method string
	Path   string
	// Status is the HTTP status code.
	Status int
	// Type is the problem type, "urn:sitrep:problem:<kind>".
	Type   string
	Title  string
	Detail string
	// Field names the input that is wrong; Rule the ICS rule that refused
	// the request (such as "freelancing").
	Field string
	Rule  string
	// Kind is the domain's error kind the problem stands for.
	Kind sitrep.Kind
}

// Error returns the server's explanation: the problem's detail, which the
// domain writes to be read by people.
func (e *Error) Error() string {
	switch {
	case e.Detail != "":
		return e.Detail
	case e.Title != "":
		return e.Title
	}
	return fmt.Sprintf("%s %s: the server answered %d %s", e.Method, e.Path, e.Status, http.StatusText(e.Status))
}

// Unwrap returns the problem as the domain's error.
func (e *Error) Unwrap() error {
	return &sitrep.Error{Kind: e.Kind, Field: e.Field, Rule: e.Rule, Message: e.Error()}
}

// problemPrefix starts the type of every problem the API answers with.
const problemPrefix = "urn:sitrep:problem:"

var kinds = []sitrep.Kind{sitrep.EInvalid, sitrep.ENotFound, sitrep.EConflict, sitrep.EForbidden, sitrep.EUnauthorized, sitrep.EInternal}

// kindOf returns the domain kind of a problem: from its type when it is one
// of sitrep's, otherwise from the HTTP status.
func kindOf(problemType string, status int) sitrep.Kind {
	if k, ok := strings.CutPrefix(problemType, problemPrefix); ok {
		for _, known := range kinds {
			if sitrep.Kind(k) == known {
				return known
			}
		}
	}
	switch status {
	case http.StatusBadRequest, http.StatusMethodNotAllowed, http.StatusRequestEntityTooLarge, http.StatusUnsupportedMediaType, http.StatusUnprocessableEntity:
		return sitrep.EInvalid
	case http.StatusUnauthorized:
		return sitrep.EUnauthorized
	case http.StatusForbidden:
		return sitrep.EForbidden
	case http.StatusNotFound:
		return sitrep.ENotFound
	case http.StatusConflict:
		return sitrep.EConflict
	}
	return sitrep.EInternal
}

// path joins the API prefix and the escaped segments.
func path(segments ...string) string {
	var b strings.Builder
	b.WriteString(APIPrefix)
	for _, s := range segments {
		b.WriteByte('/')
		b.WriteString(url.PathEscape(s))
	}
	return b.String()
}

// call sends a JSON request (in may be nil) and decodes a JSON answer into
// out (which may be nil).
func (c *Client) call(ctx context.Context, method, p string, query url.Values, in, out any) error {
	body, err := c.send(ctx, method, p, query, in, "application/json")
	if err != nil {
		return err
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(body, out); err != nil {
		return fmt.Errorf("%s %s: decode the server's answer: %w", method, p, err)
	}
	return nil
}

// send runs one request and returns the body of a 2xx answer; any other
// answer becomes an *Error.
func (c *Client) send(ctx context.Context, method, p string, query url.Values, in any, accept string) ([]byte, error) {
	if c.baseErr != nil {
		return nil, c.baseErr
	}
	caller := ctx
	if c.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.timeout)
		defer cancel()
	}
	// timedOut names our own deadline, which a caller's cancellation or
	// deadline is not.
	timedOut := func(err error) error {
		if errors.Is(err, context.DeadlineExceeded) && caller.Err() == nil {
			return fmt.Errorf("%s %s: the sitrep server at %s did not answer within %s: %w", method, p, c.base, c.timeout, context.DeadlineExceeded)
		}
		return nil
	}
	var reqBody io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return nil, fmt.Errorf("%s %s: encode the request: %w", method, p, err)
		}
		reqBody = bytes.NewReader(b)
	}
	u := c.base + p
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, method, u, reqBody)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, p, err)
	}
	req.Header.Set("Accept", accept+", application/problem+json")
	req.Header.Set("User-Agent", c.userAgent)
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		if t := timedOut(err); t != nil {
			return nil, t
		}
		return nil, fmt.Errorf("reach the sitrep server at %s: %w", c.base, unwrapURLError(err))
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, c.maxBody+1))
	if err != nil {
		if t := timedOut(err); t != nil {
			return nil, t
		}
		return nil, fmt.Errorf("%s %s: read the server's answer: %w", method, p, err)
	}
	if int64(len(body)) > c.maxBody {
		return nil, fmt.Errorf("%s %s: the server's answer is larger than the %d bytes this client accepts", method, p, c.maxBody)
	}
	if resp.StatusCode/100 != 2 {
		return nil, problem(method, p, resp, body)
	}
	return body, nil
}

// unwrapURLError drops the *url.Error layer, whose text repeats the method
// and the whole URL in front of the cause.
func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// problem makes an *Error of a non-2xx answer.
func problem(method, p string, resp *http.Response, body []byte) *Error {
	e := &Error{Method: method, Path: p, Status: resp.StatusCode}
	mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if mt == "application/problem+json" || mt == "application/json" {
		var pd struct {
			Type   string `json:"type"`
			Title  string `json:"title"`
			Detail string `json:"detail"`
			Field  string `json:"field"`
			Rule   string `json:"rule"`
		}
		if json.Unmarshal(body, &pd) == nil {
			e.Type, e.Title, e.Detail, e.Field, e.Rule = pd.Type, pd.Title, pd.Detail, pd.Field, pd.Rule
		}
	}
	if e.Detail == "" && e.Title == "" {
		// Not a problem document: a proxy or a server that is not sitrep.
		// Say so, with the start of its text if it is short and plain.
		e.Detail = fmt.Sprintf("%s %s: the server answered %d %s", method, p, resp.StatusCode, http.StatusText(resp.StatusCode))
		if mt == "text/plain" {
			if t := strings.Join(strings.Fields(string(body)), " "); t != "" {
				e.Detail += ": " + clip(t, 200)
			}
		}
	}
	e.Kind = kindOf(e.Type, e.Status)
	return e
}

func clip(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n]) + "…"
}
