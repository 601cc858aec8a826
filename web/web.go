// Package web serves sitrep's command post: the web UI that responders work
// incidents from. Pages are server-rendered html/template, embedded in the
// binary with their stylesheet and a little plain JavaScript (no build
// step, no framework, nothing from another site): the sign-in page, the
// incident board, the incident command page (organisation chart, people on
// scene, tasks by section, communications and the drafts waiting for
// Command, the live timeline, transfer of command), the reports page (the
// Incident and Response Reports, printable), the declare form and the
// triage desk.
//
// Every action is a form posted to this package, which runs it through the
// same sitrep.Service commands the API uses and shows a refusal's own words.
// Buttons appear only for what the person may do (sitrep.Incident.Can), but
// the server decides: a forged post gets the rule's refusal.
//
// People sign in with a password (argon2id) and get a session cookie;
// forms are protected from other sites by http.CrossOriginProtection, and
// sign-in attempts are rate limited per user name and per client address.
// Live updates travel as server-sent events from a Hub that Service.Appended
// feeds (see live.go).
//
// The live part is about 130 lines of plain JavaScript (static/app.js), not
// htmx: what it does is one thing (on an event, fetch the fragments the
// server renders and swap them in, keeping what the person was typing), and
// doing it by hand costs less than a dependency to vendor, update and
// review, keeps the first page small, and lets the strict Content Security
// Policy stand with no inline script. Every page works without it, as plain
// forms and links.
package web

import (
	"cmp"
	"context"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"path"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sitrep-ir/sitrep"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Config is what the web UI needs.
type Config struct {
	// Service runs every page and action. Required.
	Service *sitrep.Service
	// Hub delivers live updates; required (see NewHub).
	Hub *Hub
	// Logger receives errors; nil discards them.
	Logger *slog.Logger
	// PublicURL is the base URL browsers reach the server at. When it is
	// https, session cookies are Secure and named with the __Host- prefix;
	// its origin is trusted for form posts (a proxy may rewrite Host).
	PublicURL string
	// Registry, when set, receives the UI's metrics: requests by route and
	// status, and the live event streams open.
	Registry prometheus.Registerer
}

// Server is the web UI's HTTP handler.
type Server struct {
	svc       *sitrep.Service
	hub       *Hub
	log       *slog.Logger
	pages     map[string]*template.Template
	static    *staticFiles
	handler   http.Handler
	https     bool
	nameLimit *limiter               // failed sign-ins per user name
	addrLimit *limiter               // sign-in attempts per client address
	requests  *prometheus.CounterVec // nil without a registry
	streams   prometheus.Gauge
	// dummyHash is verified when a sign-in names no user with a password,
	// so that such a failure costs the same as a wrong password. It is
	// made on first use, not at start.
	dummyHash func() string
}

// maxForm bounds a posted form. The largest field the domain takes is a
// note or briefing of 20,000 bytes; escaping can triple it.
const maxForm = 96 << 10

// New returns the web UI for cfg.
func New(cfg Config) (*Server, error) {
	if cfg.Service == nil || cfg.Hub == nil {
		return nil, errors.New("web.New: Config.Service and Config.Hub are required")
	}
	s := &Server{svc: cfg.Service, hub: cfg.Hub, log: cfg.Logger}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	var err error
	if s.static, err = loadStatic(); err != nil {
		return nil, err
	}
	if s.pages, err = parseTemplates(s.static); err != nil {
		return nil, err
	}
	s.dummyHash = sync.OnceValue(dummyPasswordHash)
	if cfg.Registry != nil {
		s.requests = register(cfg.Registry, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sitrep_web_requests_total",
			Help: "Web UI requests answered, by route pattern and status code.",
		}, []string{"route", "code"}))
		s.streams = register(cfg.Registry, prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "sitrep_web_live_streams",
			Help: "Live event streams open: pages following the board or an incident.",
		}))
	}
	now := func() time.Time { return s.svc.Clock.Now() }
	s.nameLimit = newLimiter(nameBurst, nameEvery, now)
	s.addrLimit = newLimiter(addrBurst, addrEvery, now)

	cop := http.NewCrossOriginProtection()
	if cfg.PublicURL != "" {
		u, err := url.Parse(cfg.PublicURL)
		if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
			return nil, fmt.Errorf("web: public URL %q is not an http(s) URL", cfg.PublicURL)
		}
		s.https = u.Scheme == "https"
		if err := cop.AddTrustedOrigin(u.Scheme + "://" + u.Host); err != nil {
			return nil, fmt.Errorf("web: trust %s: %w", cfg.PublicURL, err)
		}
	}
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.errorPage(w, r, nil, http.StatusForbidden, "This form was sent from another site, so it was refused. Open sitrep directly and try again.")
	}))
	s.handler = cop.Handler(s.routes())
	return s, nil
}

// routes registers the pages and actions.
func (s *Server) routes() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /login", s.loginPage)
	mux.HandleFunc("POST /login", s.login)
	mux.HandleFunc("POST /logout", s.logout)
	mux.Handle("GET /static/{file}", s.static)

	mux.Handle("GET /{$}", s.signedIn(s.board))
	mux.Handle("GET /board/rows", s.signedIn(s.boardRows))
	mux.Handle("GET /events", s.signedIn(s.boardEvents))
	mux.Handle("GET /declare", s.signedIn(s.declarePage))
	mux.Handle("POST /declare", s.signedIn(s.declare))
	mux.Handle("GET /triage", s.signedIn(s.triagePage))
	mux.Handle("POST /triage/{alert}/{action}", s.signedIn(s.triageAction))

	mux.Handle("GET /incidents/{id}", s.signedIn(s.incidentPage))
	mux.Handle("GET /incidents/{id}/state", s.signedIn(s.incidentState))
	mux.Handle("GET /incidents/{id}/timeline", s.signedIn(s.incidentTimeline))
	mux.Handle("GET /incidents/{id}/events", s.signedIn(s.incidentEvents))
	mux.Handle("POST /incidents/{id}/{action}", s.signedIn(s.incidentAction))
	mux.Handle("POST /incidents/{id}/tasks/{task}/{action}", s.signedIn(s.incidentAction))
	mux.Handle("POST /incidents/{id}/drafts/{draft}/{action}", s.signedIn(s.incidentAction))
	mux.Handle("GET /incidents/{id}/report", s.signedIn(s.reportPage))
	mux.Handle("POST /incidents/{id}/report", s.signedIn(s.editReport))

	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		s.errorPage(w, r, nil, http.StatusNotFound, "There is no page at "+clip(r.URL.Path, 200)+".")
	})
	return mux
}

// ServeHTTP answers r, with the headers every answer of the UI carries.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "same-origin")
	// Everything the pages use comes from this server; no inline script.
	h.Set("Content-Security-Policy", "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	sw := &statusWriter{ResponseWriter: w}
	defer func() {
		if v := recover(); v != nil {
			if v == http.ErrAbortHandler {
				panic(v)
			}
			s.log.Error("panic serving page", "method", r.Method, "path", r.URL.Path, "panic", v, "stack", string(debug.Stack()))
			if sw.status == 0 {
				s.errorPage(sw, r, nil, http.StatusInternalServerError, "Something went wrong on the server; its log says what.")
			}
		}
		if s.requests != nil {
			// The mux's pattern, never the raw path: clients must not mint
			// label values.
			route := r.Pattern
			if route == "" || route == "/" {
				route = "unmatched"
			}
			s.requests.WithLabelValues(route, strconv.Itoa(cmp.Or(sw.status, http.StatusOK))).Inc()
		}
	}()
	s.handler.ServeHTTP(sw, r)
}

// statusWriter remembers the status written, for the metrics.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController flush event streams.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// register registers c, or returns the collector already registered under
// its name, so that several servers can share one registry.
func register[C prometheus.Collector](reg prometheus.Registerer, c C) C {
	if err := reg.Register(c); err != nil {
		if are, ok := errors.AsType[prometheus.AlreadyRegisteredError](err); ok {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing
			}
		}
		panic(fmt.Sprintf("web.New: register metrics: %v", err))
	}
	return c
}

// handler answers a request of a signed-in person, or returns the error to
// show them.
type handler func(w http.ResponseWriter, r *http.Request, u *sitrep.User) error

// signedIn runs h for the person whose session the request carries. A
// browser without a session is sent to the sign-in page; a request the page's
// script makes (fragments, events, posts) gets 401.
func (s *Server) signedIn(h handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, err := s.sessionUser(r)
		if err != nil {
			if sitrep.ErrorKind(err) != sitrep.EUnauthorized {
				s.fail(w, r, nil, err)
				return
			}
			s.clearCookie(w, r)
			if r.Method == http.MethodGet && r.Header.Get("Sec-Fetch-Dest") != "empty" && !strings.Contains(r.Header.Get("Accept"), "text/event-stream") {
				http.Redirect(w, r, "/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
				return
			}
			s.errorPage(w, r, nil, http.StatusUnauthorized, sitrep.ErrorMessage(err))
			return
		}
		if err := h(w, r, u); err != nil {
			s.fail(w, r, u, err)
		}
	})
}

// status returns the HTTP status of an error kind, as the API does.
func status(err error) int {
	switch sitrep.ErrorKind(err) {
	case sitrep.EInvalid:
		return http.StatusBadRequest
	case sitrep.EUnauthorized:
		return http.StatusUnauthorized
	case sitrep.EForbidden:
		return http.StatusForbidden
	case sitrep.ENotFound:
		return http.StatusNotFound
	case sitrep.EConflict:
		return http.StatusConflict
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

// fail shows err on an error page. Internal errors are logged with their
// text, which the person never sees.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, u *sitrep.User, err error) {
	code := status(err)
	if code >= 500 {
		s.log.Error("page failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	s.errorPage(w, r, u, code, sitrep.ErrorMessage(err))
}

func clip(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n]) + "…"
}

// staticFiles serves the embedded assets. Pages name them with a hash of
// their content in the query (see asset), so they can be cached for good.
type staticFiles struct {
	fsys   fs.FS
	hashes map[string]string
	gzip   map[string][]byte // the files worth compressing, compressed
	fs     http.Handler
}

func loadStatic() (*staticFiles, error) {
	sub, err := fs.Sub(staticFS, "static")
	if err != nil {
		return nil, fmt.Errorf("web: static files: %w", err)
	}
	st := &staticFiles{fsys: sub, hashes: map[string]string{}, gzip: map[string][]byte{}, fs: http.FileServerFS(sub)}
	entries, err := fs.ReadDir(sub, ".")
	if err != nil {
		return nil, fmt.Errorf("web: static files: %w", err)
	}
	for _, e := range entries {
		b, err := fs.ReadFile(sub, e.Name())
		if err != nil {
			return nil, fmt.Errorf("web: static files: %w", err)
		}
		st.hashes[e.Name()] = sitrep.HashToken(string(b))[:12]
		if ct := mime.TypeByExtension(path.Ext(e.Name())); len(b) >= minGzip && (strings.HasPrefix(ct, "text/") || strings.Contains(ct, "javascript") || strings.Contains(ct, "svg")) {
			st.gzip[e.Name()] = gzipBytes(b)
		}
	}
	return st, nil
}

// asset returns the URL of a static file, with its content hash.
func (st *staticFiles) asset(name string) string {
	return "/static/" + name + "?v=" + st.hashes[name]
}

func (st *staticFiles) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("file")
	hash, ok := st.hashes[name]
	if !ok {
		http.NotFound(w, r)
		return
	}
	if r.URL.Query().Get("v") == hash {
		w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		w.Header().Set("Cache-Control", "no-cache")
	}
	if gz, ok := st.gzip[name]; ok && acceptsGzip(r) {
		w.Header().Set("Content-Type", mime.TypeByExtension(path.Ext(name)))
		w.Header().Set("Content-Encoding", "gzip")
		w.Header().Add("Vary", "Accept-Encoding")
		if r.Method != http.MethodHead {
			_, _ = w.Write(gz)
		}
		return
	}
	r2 := new(http.Request)
	*r2 = *r
	r2.URL = &url.URL{Path: "/" + name}
	st.fs.ServeHTTP(w, r2)
}
