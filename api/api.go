// Package api serves sitrep's JSON API over HTTP: incidents, their timeline
// and reports, users and tokens, alert sources and the triage desk, the
// HTTP intake of alerts (/intake/…, PagerDuty's /v2/enqueue), and the
// operational endpoints (/healthz, /readyz, /metrics). It is the one place where the domain's error kinds
// become HTTP statuses; errors are RFC 9457 problem documents. The OpenAPI
// document it serves at /api/v1/openapi.json describes every route, and the
// tests hold the two to each other.
package api

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/sitrep-ir/sitrep"
)

// Config is what the API needs.
type Config struct {
	// Service runs every request. Required.
	Service *sitrep.Service
	// Logger receives the access log (at Debug) and internal errors; nil
	// discards them.
	Logger *slog.Logger
	// Registry receives the API's metrics and is served at /metrics when it
	// is also a prometheus.Gatherer (a *prometheus.Registry is both). When
	// nil no metrics are registered and /metrics answers 404.
	Registry prometheus.Registerer
	// MaxBody limits request bodies, in bytes; default DefaultMaxBody (1 MiB).
	MaxBody int64
	// Ready tells /readyz whether the server can serve, e.g. the store's
	// Ping; nil means always ready.
	Ready func(ctx context.Context) error
	// PublicURL is the base URL alert senders reach this server at, such
	// as "https://sitrep.example.com", for the intake URLs the API hands
	// out with a new source; default: the scheme and Host of the request.
	PublicURL string
	// Ingester, when set, stores the alerts of the HTTP intake endpoints
	// (/intake/…, /v2/enqueue); without it they answer 404.
	Ingester Ingester
	// Notifier, when set, serves contact methods, notifications and their
	// acknowledgement (/api/v1/…/contacts, …/notifications, /ack/…);
	// without it they answer 404.
	Notifier Notifier
	// Exercises, when set, runs rehearsals (/api/v1/exercises…); without
	// it they answer 404.
	Exercises Exercises
	// SourcesChanged, when set, is called once a source has been added or
	// removed through the API, so that listeners holding the sources in
	// memory reload them at once.
	SourcesChanged func(ctx context.Context)
}

// API is the HTTP handler of the whole API.
type API struct {
	svc      *sitrep.Service
	log      *slog.Logger
	maxBody  int64
	ready    func(ctx context.Context) error
	metrics  http.Handler // nil when there is no registry to serve
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	mux      *http.ServeMux
	// routeMetrics holds each route's series, found once: looking a
	// series up by its label values hashes them on every request.
	routeMetrics map[string]*routeMetrics

	// publicURL is Config.PublicURL without a trailing slash.
	publicURL     string
	ingester      Ingester
	intakeMetrics *intakeMetrics // nil without a registry
	sources       sourceCache    // the intake's sources by key
	notify        Notifier
	exercise      Exercises
	// sourcesChanged is Config.SourcesChanged, or a no-op.
	sourcesChanged func(ctx context.Context)
}

// readyTimeout bounds a readiness check, so that a hung store fails the probe
// instead of hanging it.
const readyTimeout = 5 * time.Second

// New returns the API for cfg. It panics if cfg.Service is nil or the
// registry refuses the API's metrics for a reason other than holding them
// already: both are programming errors of the caller.
func New(cfg Config) *API {
	if cfg.Service == nil {
		panic("api.New: Config.Service is nil")
	}
	a := &API{svc: cfg.Service, log: cfg.Logger, maxBody: cfg.MaxBody, ready: cfg.Ready, publicURL: strings.TrimRight(cfg.PublicURL, "/"), ingester: cfg.Ingester, notify: cfg.Notifier, exercise: cfg.Exercises, mux: http.NewServeMux(), sourcesChanged: cfg.SourcesChanged}
	if a.sourcesChanged == nil {
		a.sourcesChanged = func(context.Context) {}
	}
	if a.log == nil {
		a.log = slog.New(slog.DiscardHandler)
	}
	if a.maxBody <= 0 {
		a.maxBody = DefaultMaxBody
	}
	if cfg.Registry != nil {
		a.requests = register(cfg.Registry, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sitrep_http_requests_total",
			Help: "HTTP requests answered, by route pattern, method and status code.",
		}, []string{"route", "method", "code"}))
		a.duration = register(cfg.Registry, prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "sitrep_http_request_duration_seconds",
			Help:    "Time to answer HTTP requests, by route pattern.",
			Buckets: prometheus.DefBuckets,
		}, []string{"route"}))
		a.intakeMetrics = newIntakeMetrics(cfg.Registry)
		if g, ok := cfg.Registry.(prometheus.Gatherer); ok {
			a.metrics = promhttp.HandlerFor(g, promhttp.HandlerOpts{
				ErrorLog:      slog.NewLogLogger(a.log.Handler(), slog.LevelWarn),
				ErrorHandling: promhttp.ContinueOnError,
			})
		}
	}
	a.routeMetrics = make(map[string]*routeMetrics, len(routes))
	for _, rt := range routes {
		if a.requests != nil && a.routeMetrics[rt.path] == nil {
			a.routeMetrics[rt.path] = &routeMetrics{duration: a.duration.WithLabelValues(rt.path)}
		}
		a.mux.Handle(rt.pattern(), a.route(rt))
	}
	return a
}

// routeMetrics are the series of one route.
type routeMetrics struct {
	duration prometheus.Observer
	last     atomic.Pointer[codeCounter] // the request counter used last
}

// codeCounter is the request counter of one method and status.
type codeCounter struct {
	method string
	code   int
	c      prometheus.Counter
}

// counter returns the request counter of route, method and code: the one
// used last when it is the same (a route mostly answers alike), else the
// vector's.
func (m *routeMetrics) counter(vec *prometheus.CounterVec, route, method string, code int) prometheus.Counter {
	if l := m.last.Load(); l != nil && l.code == code && l.method == method {
		return l.c
	}
	c := vec.WithLabelValues(route, method, strconv.Itoa(code))
	m.last.Store(&codeCounter{method: method, code: code, c: c})
	return c
}

// register registers c, or returns the collector already registered under
// its name, so that several APIs can share one registry.
func register[C prometheus.Collector](reg prometheus.Registerer, c C) C {
	if err := reg.Register(c); err != nil {
		if are, ok := errors.AsType[prometheus.AlreadyRegisteredError](err); ok {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing
			}
		}
		panic(fmt.Sprintf("api.New: register metrics: %v", err))
	}
	return c
}

// requestInfo is what the middleware learns about a request while the mux
// and the route's handler run.
type requestInfo struct {
	route   string // the matched path pattern; "" when no route matched
	user    *sitrep.User
	metrics *routeMetrics // the route's series; nil when none
}

type userKey struct{}

// infoOf returns the requestInfo of the request w answers. The API's
// ServeHTTP hands the mux its own responseWriter, which carries it, rather
// than a copy of the request with the info in its context: the copy was
// two allocations and a fifth of a kilobyte on every request.
func infoOf(w http.ResponseWriter) *requestInfo {
	if rw, ok := w.(*responseWriter); ok {
		return &rw.info
	}
	return &requestInfo{}
}

// Header values the API sets on many answers, made once. net/http only
// reads them; a handler that adds a value to one gets a new slice, since
// each is full.
var (
	headerNosniff = []string{"nosniff"}
	headerJSON    = []string{"application/json"}
)

// UserFromContext returns the authenticated user of a request's context, or
// nil when the request carried no valid token.
func UserFromContext(ctx context.Context) *sitrep.User {
	u, _ := ctx.Value(userKey{}).(*sitrep.User)
	return u
}

// ServeHTTP answers r: it recovers from panics, records metrics and the
// access log, and turns the mux's own 404 and 405 answers into problems.
func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	rw := &responseWriter{ResponseWriter: w, req: r}
	info := &rw.info
	// Every answer is what its Content-Type says; browsers must not guess.
	w.Header()["X-Content-Type-Options"] = headerNosniff
	defer func() {
		if v := recover(); v != nil {
			if v == http.ErrAbortHandler {
				panic(v)
			}
			// The route pattern, not the path: an intake path holds a
			// source's key, which must not reach the logs.
			a.log.Error("panic serving request", "method", r.Method, "route", info.route, "panic", v, "stack", string(debug.Stack()))
			if !rw.wrote {
				writeProblem(rw, problemOf(fmt.Errorf("panic: %v", v)))
			}
		}
		a.observe(r, info, rw.status, time.Since(start))
	}()
	a.mux.ServeHTTP(rw, r)
}

var knownMethods = []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "CONNECT", "TRACE"}

// observe records a finished request in the metrics and the access log.
func (a *API) observe(r *http.Request, info *requestInfo, status int, d time.Duration) {
	if status == 0 {
		status = http.StatusOK
	}
	route := info.route
	if route == "" {
		// Never the raw path: that would let clients mint label values.
		route = "unmatched"
	}
	method := r.Method
	if !slices.Contains(knownMethods, method) {
		method = "other" // like the route: clients must not mint label values
	}
	if a.requests != nil {
		if m := info.metrics; m != nil {
			m.counter(a.requests, route, method, status).Inc()
			m.duration.Observe(d.Seconds())
		} else {
			a.requests.WithLabelValues(route, method, strconv.Itoa(status)).Inc()
			a.duration.WithLabelValues(route).Observe(d.Seconds())
		}
	}
	if a.log.Enabled(r.Context(), slog.LevelDebug) {
		user := ""
		if info.user != nil {
			user = info.user.Name
		}
		a.log.LogAttrs(r.Context(), slog.LevelDebug, "request",
			slog.String("method", method), slog.String("route", route), slog.Int("status", status),
			slog.Duration("duration", d), slog.String("user", user))
	}
}

// responseWriter remembers the status written. When no route matched, it
// replaces the mux's plain-text 404 or 405 with a problem.
type responseWriter struct {
	http.ResponseWriter
	info    requestInfo
	req     *http.Request
	status  int
	wrote   bool
	discard bool
}

func (w *responseWriter) WriteHeader(code int) {
	if w.wrote {
		return
	}
	if w.info.route == "" && (code == http.StatusNotFound || code == http.StatusMethodNotAllowed) {
		w.wrote, w.status, w.discard = true, code, true
		p := problemOf(sitrep.Errorf(sitrep.ENotFound, "no route for %s %s: the routes are listed at /api/v1/openapi.json", clip(w.req.Method, 20), clip(w.req.URL.Path, 200)))
		if code == http.StatusMethodNotAllowed {
			p = problemOf(sitrep.Errorf(kindMethodNotAllowed, "%s %s is not allowed: use %s", clip(w.req.Method, 20), clip(w.req.URL.Path, 200), w.Header().Get("Allow")))
		}
		writeProblem(w.ResponseWriter, p)
		return
	}
	w.wrote, w.status = true, code
	w.ResponseWriter.WriteHeader(code)
}

func (w *responseWriter) Write(b []byte) (int, error) {
	if !w.wrote {
		w.WriteHeader(http.StatusOK)
	}
	if w.discard {
		return len(b), nil
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection's writer.
func (w *responseWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// handlerFunc answers a request or returns the error to answer with.
type handlerFunc func(a *API, w http.ResponseWriter, r *http.Request) error

// route returns rt's handler: it authenticates the request unless the route
// is public, and answers the error the handler returns as a problem, logging
// internal ones.
func (a *API) route(rt route) http.Handler {
	path := rt.path
	metrics := a.routeMetrics[path]
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		info := infoOf(w)
		info.route, info.metrics = path, metrics
		if !rt.public {
			u, err := a.authenticate(r)
			if err != nil {
				if r.Header.Get("Authorization") != "" {
					// RFC 6750: a token was sent and is not good.
					w.Header().Set("WWW-Authenticate", `Bearer realm="sitrep", error="invalid_token"`)
				}
				a.fail(w, r, err)
				return
			}
			info.user = u
			r = r.WithContext(context.WithValue(r.Context(), userKey{}, u))
		}
		if err := rt.handle(a, w, r); err != nil {
			a.fail(w, r, err)
		}
	})
}

// authenticate returns the user of the request's bearer token.
func (a *API) authenticate(r *http.Request) (*sitrep.User, error) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return nil, sitrep.Errorf(sitrep.EUnauthorized, "a bearer token is required: send Authorization: Bearer TOKEN")
	}
	scheme, token, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return nil, sitrep.Errorf(sitrep.EUnauthorized, "the Authorization header must be Bearer TOKEN")
	}
	u, err := a.svc.Authenticate(r.Context(), strings.TrimSpace(token))
	if err != nil {
		return nil, fmt.Errorf("authenticate: %w", err)
	}
	return u, nil
}

// fail answers err as a problem. Internal errors are logged with their text,
// which the client never sees.
func (a *API) fail(w http.ResponseWriter, r *http.Request, err error) {
	p := problemOf(err)
	if p.Status >= 500 {
		a.log.Error("request failed", "method", r.Method, "route", infoOf(w).route, "err", err)
	}
	writeProblem(w, p)
}

// healthz says the process is alive.
func healthz(_ *API, w http.ResponseWriter, _ *http.Request) error {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = w.Write([]byte("ok\n"))
	return nil
}

// readyz says whether the server can serve requests now.
func readyz(a *API, w http.ResponseWriter, r *http.Request) error {
	if a.ready != nil {
		ctx, cancel := context.WithTimeout(r.Context(), readyTimeout)
		defer cancel()
		if err := a.ready(ctx); err != nil {
			a.log.Warn("not ready", "err", err)
			return sitrep.Errorf(kindUnavailable, "not ready: the server cannot reach what it depends on; its log says why")
		}
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = w.Write([]byte("ready\n"))
	return nil
}

// metrics serves the registry in the Prometheus exposition format.
func metrics(a *API, w http.ResponseWriter, r *http.Request) error {
	if a.metrics == nil {
		return sitrep.Errorf(sitrep.ENotFound, "metrics are not enabled on this server")
	}
	a.metrics.ServeHTTP(w, r)
	return nil
}
