// Package app wires sitrep together: the store, the service, the HTTP API and
// their lifecycle. The sitrep binary and the end-to-end tests share it, so
// the tests run exactly what users run.
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/sitrep-ir/sitrep"
	"github.com/sitrep-ir/sitrep/api"
	"github.com/sitrep-ir/sitrep/dispatch"
	"github.com/sitrep-ir/sitrep/exercise"
	"github.com/sitrep-ir/sitrep/intake/ingest"
	"github.com/sitrep-ir/sitrep/store/postgres"
	"github.com/sitrep-ir/sitrep/store/sqlite"
)

// Config is what a sitrep server needs to start. The zero value of every
// field but DB has a sane default.
type Config struct {
	// Addr is the HTTP listen address; default 127.0.0.1:8080. Port 0 picks
	// a free one (see App.URL).
	Addr string
	// DB selects the store: "sqlite:PATH" (default sqlite:./sitrep.db) or a
	// "postgres://…" / "postgresql://…" URL.
	DB string
	// Plans is the directory of pre-incident plans.
	Plans string
	// SyslogUDP, SyslogTCP and SMTP are the addresses of the intake
	// listeners (HOST:PORT; port 0 picks a free one, see App.SyslogUDPAddr
	// and the like); an empty one is off.
	SyslogUDP string
	SyslogTCP string
	SMTP      string
	// PublicURL is the base URL alert senders and browsers reach this
	// server at, when it differs from the listen address (a proxy, a
	// container); default: the listen address.
	PublicURL string
	// BootstrapAdmin names the administrator created on first start
	// (default "admin"); BootstrapToken, when set, is its token instead of a
	// random one.
	BootstrapAdmin string
	BootstrapToken string
	// Logger receives structured logs; nil discards them.
	Logger *slog.Logger
	// Clock overrides the system clock (tests).
	Clock sitrep.Clock
	// Notify is how notifications reach responders (see NotifyConfig).
	Notify NotifyConfig
}

// DefaultAddr and DefaultDB are the defaults of Config.Addr and Config.DB.
const (
	DefaultAddr = "127.0.0.1:8080"
	DefaultDB   = "sqlite:./sitrep.db"
)

// App is a running (or ready to run) sitrep server.
type App struct {
	cfg        Config
	log        *slog.Logger
	store      sitrep.Store
	svc        *sitrep.Service
	registry   *prometheus.Registry
	handler    http.Handler
	adminToken string
	web        *webParts
	ingester   *ingest.Ingester
	notifier   Notifier
	// intake is what every way in stores alerts through: the dispatcher,
	// wrapping the ingester (see dispatch.go).
	intake     api.Ingester
	dispatcher *dispatch.Dispatcher
	exercises  *exercise.Runner
	exerciseOf exerciseIncidents
	stopHUP    chan struct{}
	hupDone    chan struct{}
	plans      *plansWatch
	listeners  listeners

	mu     sync.Mutex
	ln     net.Listener
	srv    *http.Server
	served chan error
}

// New opens the store (running its migrations), creates the administrator
// on first start and builds the HTTP handler. It does not listen yet.
func New(ctx context.Context, cfg Config) (*App, error) {
	if cfg.Addr == "" {
		cfg.Addr = DefaultAddr
	}
	if cfg.DB == "" {
		cfg.DB = DefaultDB
	}
	if cfg.BootstrapAdmin == "" {
		cfg.BootstrapAdmin = "admin"
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	a := &App{cfg: cfg, log: cfg.Logger}
	store, err := OpenStore(ctx, cfg.DB, cfg.Logger)
	if err != nil {
		return nil, err
	}
	a.store = store
	a.svc = sitrep.NewService(store, cfg.Logger.With("component", "service"))
	if cfg.Clock != nil {
		a.svc.Clock = cfg.Clock
	}
	a.registry = prometheus.NewRegistry()
	a.registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	entries := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "sitrep_timeline_entries_total",
		Help: "Timeline entries appended, by entry type and whether the incident is an exercise (exercise=\"true\"): real-incident figures leave exercises out.",
	}, []string{"type", "exercise"})
	a.registry.MustRegister(entries)
	a.svc.Appended = func(es []sitrep.Entry) {
		for i := range es {
			entries.WithLabelValues(es[i].Type, a.exerciseOf.label(store, &es[i])).Inc()
		}
		a.notifier.Appended(es)
	}

	token, err := a.svc.Bootstrap(ctx, cfg.BootstrapAdmin, cfg.BootstrapToken)
	if err != nil {
		store.Close()
		return nil, err
	}
	a.adminToken = token
	alerts, ok := store.(sitrep.AlertStore)
	if !ok {
		store.Close()
		return nil, fmt.Errorf("the %s store keeps no alerts", redactDB(cfg.DB))
	}
	if a.notifier, err = a.openNotifier(ctx); err != nil {
		store.Close()
		return nil, err
	}
	a.ingester = ingest.New(alerts, ingest.Options{Logger: cfg.Logger, Clock: cfg.Clock})
	if err := a.startDispatch(); err != nil {
		a.ingester.Close()
		store.Close()
		return nil, err
	}
	a.startExercises()
	apiHandler := api.New(api.Config{
		Service:   a.svc,
		Logger:    cfg.Logger.With("component", "api"),
		Registry:  a.registry,
		Ready:     store.Ping,
		PublicURL: cfg.PublicURL,
		Notifier:  a.notifier,
		Ingester:  a.intake,
		Exercises: a.exercises,
		// A source added or removed here is taken up by this server's
		// syslog listeners at once; other replicas' at their next
		// reload (syslog.DefaultRefresh).
		SourcesChanged: a.reloadSources,
	})
	if a.handler, err = a.mountWeb(apiHandler); err != nil {
		a.ingester.Close()
		store.Close()
		return nil, err
	}
	a.openPlans()
	return a, nil
}

// OpenStore opens the store a DB setting names.
func OpenStore(ctx context.Context, db string, logger *slog.Logger) (sitrep.Store, error) {
	switch {
	case strings.HasPrefix(db, "postgres://"), strings.HasPrefix(db, "postgresql://"):
		s, err := postgres.Open(ctx, db, logger)
		if err != nil {
			return nil, fmt.Errorf("open postgres store: %w", err)
		}
		return s, nil
	case strings.HasPrefix(db, "sqlite:"):
		path := strings.TrimPrefix(db, "sqlite:")
		if path == "" {
			return nil, fmt.Errorf("--db %q: give a file path after the sqlite: prefix, as in sqlite:./sitrep.db", db)
		}
		s, err := sqlite.Open(ctx, path, logger)
		if err != nil {
			return nil, fmt.Errorf("open sqlite store %s: %w", path, err)
		}
		return s, nil
	}
	return nil, fmt.Errorf("--db %q: use sqlite:PATH or a postgres:// URL", db)
}

// Service returns the incident service, for in-process tests and tools.
func (a *App) Service() *sitrep.Service { return a.svc }

// Handler returns the HTTP handler of the whole server.
func (a *App) Handler() http.Handler { return a.handler }

// AdminToken returns the administrator's token created on this first start,
// or "" when the store already had users.
func (a *App) AdminToken() string { return a.adminToken }

// Start listens on the configured address and serves in the background.
func (a *App) Start() error {
	ln, err := net.Listen("tcp", a.cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", a.cfg.Addr, err)
	}
	if err := a.startListeners(); err != nil {
		ln.Close()
		return err
	}
	srv := &http.Server{
		Handler:           a.handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(a.log.Handler(), slog.LevelWarn),
	}
	a.mu.Lock()
	a.ln, a.srv, a.served = ln, srv, make(chan error, 1)
	a.mu.Unlock()
	go func() { a.served <- srv.Serve(ln) }()
	if err := a.notifier.Start(context.Background()); err != nil {
		srv.Close()
		return err
	}
	a.log.Info("serving", "url", a.URL(), "db", redactDB(a.cfg.DB))
	return nil
}

// URL returns the base URL the server listens on, once started.
func (a *App) URL() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.ln == nil {
		return ""
	}
	return "http://" + a.ln.Addr().String()
}

// Wait blocks until the server stops serving and returns why, or nil after
// a clean Stop.
func (a *App) Wait() error {
	err := <-a.served
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// Stop stops serving, letting requests in flight finish until ctx ends, and
// closes the store.
func (a *App) Stop(ctx context.Context) error {
	a.mu.Lock()
	srv := a.srv
	a.mu.Unlock()
	var errs []error
	a.stopWeb() // live event streams end first: Shutdown waits for them
	a.plans.stop()
	if srv != nil {
		if err := srv.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("shut down http: %w", err))
		}
	}
	// Running exercises end on their record while the intake and the
	// store are still open.
	if err := a.stopExercises(ctx); err != nil {
		errs = append(errs, err)
	}
	// The listeners store what they read before the ingester closes.
	if err := a.stopListeners(ctx); err != nil {
		errs = append(errs, err)
	}
	// The intake's last batches go to the store before it closes.
	if err := a.ingester.Close(); err != nil {
		errs = append(errs, fmt.Errorf("close intake: %w", err))
	}
	if err := a.stopDispatch(); err != nil {
		errs = append(errs, fmt.Errorf("stop dispatch: %w", err))
	}
	// Deliveries in flight finish, or go out after the next start.
	if srv != nil {
		if err := a.notifier.Stop(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	if err := a.store.Close(); err != nil {
		errs = append(errs, fmt.Errorf("close store: %w", err))
	}
	return errors.Join(errs...)
}

// redactDB hides a password in a database URL for logs.
func redactDB(db string) string {
	if i := strings.Index(db, "://"); i >= 0 {
		rest := db[i+3:]
		if at := strings.LastIndex(rest, "@"); at >= 0 {
			cred := rest[:at]
			if c := strings.Index(cred, ":"); c >= 0 {
				return db[:i+3] + cred[:c] + ":***" + rest[at:]
			}
		}
	}
	return db
}
