package app

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/riverdriver/riversqlite"

	"github.com/sitrep-ir/sitrep"
	"github.com/sitrep-ir/sitrep/api"
	"github.com/sitrep-ir/sitrep/notify"
	"github.com/sitrep-ir/sitrep/store/postgres"
	"github.com/sitrep-ir/sitrep/store/sqlite"
)

// NotifyConfig is how the server reaches responders. The zero value sends
// no e-mail (e-mail contacts fail with a reason saying so), delivers
// webhooks, pages once with no repeat and escalates after
// notify.DefaultAckTimeout.
type NotifyConfig struct {
	// Mail is the SMTP relay of outgoing e-mail; nil sends none.
	Mail *notify.MailConfig
	// AckTimeout is how long a page waits for its acknowledgement before it
	// is repeated or escalated.
	AckTimeout time.Duration
	// Repeats is how often an unanswered page is repeated before it
	// escalates to the next person.
	Repeats int
	// Roster is who is paged when an incident is declared, in order;
	// empty: the administrators.
	Roster []string
	// SweepInterval, PollInterval, MaxAttempts, Backoff, SendTimeout and
	// RescueAfter tune the job queue (see notify.Config); tests shorten
	// them.
	//
	// Left zero, SendTimeout, RescueAfter and Backoff are read from the
	// environment when set there, for tests of the whole binary that kill
	// it mid-send and want its deliveries taken over in seconds:
	// SITREP_NOTIFY_SEND_TIMEOUT, SITREP_NOTIFY_RESCUE_AFTER and
	// SITREP_NOTIFY_RETRY_AFTER (the first retry's wait, doubling after),
	// each a Go duration such as 2s.
	SweepInterval time.Duration
	PollInterval  time.Duration
	MaxAttempts   int
	Backoff       func(attempt int) time.Duration
	SendTimeout   time.Duration
	RescueAfter   time.Duration
}

// fromEnv fills the job queue's timing left zero from the environment (see
// NotifyConfig).
func (nc *NotifyConfig) fromEnv() error {
	for _, v := range []struct {
		name string
		d    *time.Duration
	}{{"SITREP_NOTIFY_SEND_TIMEOUT", &nc.SendTimeout}, {"SITREP_NOTIFY_RESCUE_AFTER", &nc.RescueAfter}} {
		if *v.d != 0 {
			continue
		}
		d, err := envDuration(v.name)
		if err != nil {
			return err
		}
		*v.d = d
	}
	if nc.Backoff == nil {
		first, err := envDuration("SITREP_NOTIFY_RETRY_AFTER")
		if err != nil {
			return err
		}
		if first > 0 {
			nc.Backoff = func(attempt int) time.Duration {
				return min(first<<min(attempt-1, 10), 30*time.Minute)
			}
		}
	}
	return nil
}

// envDuration reads the duration in the environment variable name: 0 when
// it is unset.
func envDuration(name string) (time.Duration, error) {
	v, ok := os.LookupEnv(name)
	if !ok || v == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 || d > 24*time.Hour {
		return 0, fmt.Errorf("%s=%q: give a duration between 1ms and 24h, such as 2s", name, v)
	}
	return d, nil
}

// notifyMetrics counts deliveries on the app's registry; it is the
// notifier's Observer.
type notifyMetrics struct {
	finished   *prometheus.CounterVec
	attempts   *prometheus.CounterVec
	latency    *prometheus.HistogramVec
	unanswered *prometheus.CounterVec
}

func newNotifyMetrics(reg prometheus.Registerer) *notifyMetrics {
	m := &notifyMetrics{
		finished: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sitrep_notifications_total",
			Help: "Notifications that reached their final status (sent or failed), by channel (email, webhook). A send repeated after a crash counts again.",
		}, []string{"channel", "status"}),
		attempts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sitrep_notification_attempts_total",
			Help: "Delivery attempts by channel and outcome: sent, failed (retried unless final) or interrupted (the server stopped mid-send).",
		}, []string{"channel", "outcome"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "sitrep_notification_send_seconds",
			Help:    "Time one delivery attempt took, from connecting to the SMTP relay or the webhook to its answer, by channel and outcome.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"channel", "outcome"}),
		unanswered: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sitrep_pages_unanswered_total",
			Help: "Rounds of pages nobody acknowledged in time, by what followed: repeated to the same person, escalated to the next, or exhausted (nobody on the ladder answered).",
		}, []string{"then"}),
	}
	reg.MustRegister(m.finished, m.attempts, m.latency, m.unanswered)
	for _, ch := range []string{notify.ChannelEmail, notify.ChannelWebhook} {
		for _, st := range []string{notify.StatusSent, notify.StatusFailed} {
			m.finished.WithLabelValues(ch, st)
		}
	}
	for _, then := range []string{notify.PageRepeated, notify.PageEscalated, notify.PageExhausted} {
		m.unanswered.WithLabelValues(then)
	}
	return m
}

func (m *notifyMetrics) Attempted(channel, outcome string, took time.Duration) {
	m.attempts.WithLabelValues(channel, outcome).Inc()
	m.latency.WithLabelValues(channel, outcome).Observe(took.Seconds())
}

func (m *notifyMetrics) Finished(channel, status string) {
	m.finished.WithLabelValues(channel, status).Inc()
}

func (m *notifyMetrics) Unanswered(then string) { m.unanswered.WithLabelValues(then).Inc() }

// Notifier is the running notification service: the API's side of it and
// its lifecycle.
type Notifier interface {
	api.Notifier
	Start(ctx context.Context) error
	Stop(ctx context.Context) error
	Kill(ctx context.Context) error
	Appended(entries []sitrep.Entry)
	PlanIncident(ctx context.Context, id string) error
	Sweep(ctx context.Context) error
}

// riverMigrationLock is the advisory lock held while River's schema is
// migrated on PostgreSQL, so that replicas starting together migrate one
// after the other. It spells "sitrep:r" in ASCII.
const riverMigrationLock int64 = 0x7369747265703a72

// openNotifier makes the notifier on the app's store: River on the store's
// own database, SQLite's one write connection or PostgreSQL's pool.
func (a *App) openNotifier(ctx context.Context) (Notifier, error) {
	nc := a.cfg.Notify
	if err := nc.fromEnv(); err != nil {
		return nil, fmt.Errorf("notifications: %w", err)
	}
	cfg := notify.Config{
		Logger: a.log.With("component", "notify"), Clock: a.svc.Clock, Mail: nc.Mail,
		AckTimeout: nc.AckTimeout, Repeats: nc.Repeats, Roster: nc.Roster,
		BaseURL:       a.publicURL,
		SweepInterval: nc.SweepInterval, PollInterval: nc.PollInterval, MaxAttempts: nc.MaxAttempts,
		Backoff: nc.Backoff, SendTimeout: nc.SendTimeout, RescueAfter: nc.RescueAfter,
		Observer: newNotifyMetrics(a.registry),
	}
	for _, name := range nc.Roster {
		if err := sitrep.ValidateName("roster", name); err != nil {
			return nil, err
		}
	}
	switch s := a.store.(type) {
	case *sqlite.Store:
		cfg.PollOnly = true
		n, err := notify.New[*sql.Tx](ctx, s, a.svc, riversqlite.New(s.NotifyDB()), cfg)
		if err != nil {
			return nil, err
		}
		return n, nil
	case *postgres.Store:
		conn, err := s.Pool().Acquire(ctx)
		if err != nil {
			return nil, fmt.Errorf("notifications: %w", err)
		}
		defer conn.Release()
		if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1)`, riverMigrationLock); err != nil {
			return nil, fmt.Errorf("notifications: take the migration lock: %w", err)
		}
		defer func() {
			if _, err := conn.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, riverMigrationLock); err != nil {
				conn.Conn().Close(context.WithoutCancel(ctx))
			}
		}()
		n, err := notify.New[pgx.Tx](ctx, s, a.svc, riverpgxv5.New(s.Pool()), cfg)
		if err != nil {
			return nil, err
		}
		return n, nil
	}
	return nil, fmt.Errorf("the %s store keeps no notifications", redactDB(a.cfg.DB))
}

// publicURL is the base URL of links in notifications.
func (a *App) publicURL() string {
	if a.cfg.PublicURL != "" {
		return a.cfg.PublicURL
	}
	return a.URL()
}

// Notifier returns the notification service, for in-process tests and tools.
func (a *App) Notifier() Notifier { return a.notifier }
