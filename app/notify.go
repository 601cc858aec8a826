package app

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
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
	SweepInterval time.Duration
	PollInterval  time.Duration
	MaxAttempts   int
	Backoff       func(attempt int) time.Duration
	SendTimeout   time.Duration
	RescueAfter   time.Duration
}

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
	cfg := notify.Config{
		Logger: a.log.With("component", "notify"), Clock: a.svc.Clock, Mail: nc.Mail,
		AckTimeout: nc.AckTimeout, Repeats: nc.Repeats, Roster: nc.Roster,
		BaseURL:       a.publicURL,
		SweepInterval: nc.SweepInterval, PollInterval: nc.PollInterval, MaxAttempts: nc.MaxAttempts,
		Backoff: nc.Backoff, SendTimeout: nc.SendTimeout, RescueAfter: nc.RescueAfter,
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
