package notify

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/mail"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/rivermigrate"
	"github.com/riverqueue/river/rivertype"

	"github.com/sitrep-ir/sitrep"
)

// Defaults of Config.
const (
	DefaultAckTimeout    = 5 * time.Minute
	DefaultRepeats       = 2
	DefaultSweepInterval = 10 * time.Second
	DefaultPollInterval  = time.Second
	// DefaultPollOnlyInterval is the poll interval of a job queue that
	// only polls (SQLite): a page waits for the next poll, so the poll
	// bounds the time from an alert to its page. A poll that finds nothing
	// is one short query.
	DefaultPollOnlyInterval = 200 * time.Millisecond
	DefaultMaxAttempts      = 8
	DefaultSendTimeout      = 30 * time.Second
	DefaultAckLinkTTL       = 7 * 24 * time.Hour
)

// Config is how notifications go out.
type Config struct {
	Logger *slog.Logger
	// Clock tells the time of notifications and escalations; default the
	// system clock.
	Clock sitrep.Clock
	// Mail is the SMTP relay; nil: e-mail contacts fail with a reason
	// saying e-mail is not configured.
	Mail *MailConfig
	// AckTimeout is how long a page waits for its acknowledgement before
	// it is repeated or escalated; default DefaultAckTimeout.
	AckTimeout time.Duration
	// Repeats is how often an unanswered page is repeated to the same
	// person before it escalates to the next; negative means none.
	Repeats int
	// Roster is who is paged when an incident is declared, in order: the
	// first, then the next while nobody acknowledges. Empty: the
	// administrators, by name.
	Roster []string
	// BaseURL returns the server's public base URL for the links in
	// notifications; nil or "" leaves the links out.
	BaseURL func() string
	// SweepInterval is how often one replica looks for pages due for
	// escalation and for entries not yet planned (after a crash); default
	// DefaultSweepInterval.
	SweepInterval time.Duration
	// PollInterval is how often workers look for jobs without being told
	// (SQLite has no LISTEN/NOTIFY); default DefaultPollInterval, or
	// DefaultPollOnlyInterval with PollOnly.
	PollInterval time.Duration
	// PollOnly makes the job queue poll instead of listening (SQLite).
	PollOnly bool
	// MaxAttempts is how often a delivery is tried; default
	// DefaultMaxAttempts.
	MaxAttempts int
	// Backoff is the wait before retry attempt (attempt is the number of
	// attempts made); default 15s doubling up to 30 minutes.
	Backoff func(attempt int) time.Duration
	// SendTimeout bounds one delivery attempt; default DefaultSendTimeout.
	SendTimeout time.Duration
	// RescueAfter is how long a delivery may stay running before another
	// process takes it over, presuming its process died; default the send
	// timeout plus a minute, and never less than the send timeout plus
	// jobMargin. The job queue looks for such deliveries when a process
	// becomes its leader and every 30 seconds after, and a process killed
	// while it led the queue holds the lead for up to 15 seconds: a
	// delivery interrupted by a crash goes out again after the longer of
	// RescueAfter and that, plus the first retry's backoff.
	RescueAfter time.Duration
	// AckLinkTTL is how long a signed acknowledgement link works; default
	// DefaultAckLinkTTL.
	AckLinkTTL time.Duration
	// HTTPClient posts webhooks; default a client with SendTimeout that
	// follows no redirects.
	HTTPClient *http.Client
	// Observer is told of every delivery attempt, every notification's
	// final status and every unanswered page; nil tells no one.
	Observer Observer
}

// Outcomes of a delivery attempt, as Observer.Attempted hears them.
const (
	AttemptSent        = "sent"        // the receiver took it
	AttemptFailed      = "failed"      // refused or unreachable; retried unless final
	AttemptInterrupted = "interrupted" // the server stopped mid-send; it goes out again
)

// What happened to an unanswered page, as Observer.Unanswered hears it.
const (
	PageRepeated  = "repeated"  // sent again to the same person
	PageEscalated = "escalated" // sent to the next person on its ladder
	PageExhausted = "exhausted" // nobody on its ladder answered
)

// Observer hears what deliveries do, for metrics. Its methods must not
// block: they are called on the delivery's path.
type Observer interface {
	// Attempted is one delivery attempt on channel, its outcome
	// (AttemptSent, AttemptFailed or AttemptInterrupted) and how long the
	// send took.
	Attempted(channel, outcome string, took time.Duration)
	// Finished is a notification's final status: StatusSent or
	// StatusFailed. A send repeated after a crash may finish twice.
	Finished(channel, status string)
	// Unanswered is a round of a page nobody acknowledged in time:
	// PageRepeated, PageEscalated or PageExhausted.
	Unanswered(what string)
}

type noObserver struct{}

func (noObserver) Attempted(string, string, time.Duration) {}
func (noObserver) Finished(string, string)                 {}
func (noObserver) Unanswered(string)                       {}

func (c *Config) defaults() {
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Clock == nil {
		c.Clock = sitrep.SystemClock{}
	}
	if c.AckTimeout <= 0 {
		c.AckTimeout = DefaultAckTimeout
	}
	if c.Repeats < 0 {
		c.Repeats = 0
	}
	if c.SweepInterval <= 0 {
		c.SweepInterval = DefaultSweepInterval
	}
	if c.PollInterval <= 0 {
		c.PollInterval = DefaultPollInterval
		if c.PollOnly {
			c.PollInterval = DefaultPollOnlyInterval
		}
	}
	if c.MaxAttempts <= 0 {
		c.MaxAttempts = DefaultMaxAttempts
	}
	if c.Backoff == nil {
		c.Backoff = func(attempt int) time.Duration {
			d := 15 * time.Second << min(attempt-1, 7)
			return min(d, 30*time.Minute)
		}
	}
	if c.SendTimeout <= 0 {
		c.SendTimeout = DefaultSendTimeout
	}
	switch {
	case c.RescueAfter <= 0:
		c.RescueAfter = c.SendTimeout + time.Minute
	case c.RescueAfter < c.SendTimeout+jobMargin:
		// A job is not taken over while its own attempt may still run.
		c.RescueAfter = c.SendTimeout + jobMargin
	}
	if c.AckLinkTTL <= 0 {
		c.AckLinkTTL = DefaultAckLinkTTL
	}
	if c.HTTPClient == nil {
		c.HTTPClient = webhookClient(c.SendTimeout)
	}
	if c.Observer == nil {
		c.Observer = noObserver{}
	}
}

// jobMargin is how much longer than the send timeout a delivery job may
// run: to read its notification before the send and record it after.
const jobMargin = 5 * time.Second

// queue is the job queue of notifications.
const queue = "notify"

// fetchCooldown is the least time between two fetches of jobs that were
// signalled (by LISTEN/NOTIFY on PostgreSQL): short, so that a page
// right after another is not held back; River's default is 100 ms.
const fetchCooldown = 5 * time.Millisecond

// deliverArgs is the job of sending one notification.
type deliverArgs struct {
	Notification int64 `json:"notification"`
}

func (deliverArgs) Kind() string { return "sitrep.notify.deliver" }

// sweepArgs is the periodic job that escalates unanswered pages and plans
// entries that no process planned (its process died first).
type sweepArgs struct{}

func (sweepArgs) Kind() string { return "sitrep.notify.sweep" }

// Notifier turns timeline entries into notifications and delivers them.
// TTx is the store's transaction type (see Store).
type Notifier[TTx any] struct {
	cfg    Config
	log    *slog.Logger
	store  Store[TTx]
	svc    *sitrep.Service
	client *river.Client[TTx]
	plan   planner
	signer AckSigner
	// instance tells this installation's message IDs from another's.
	instance string

	mu      sync.Mutex
	pending map[string]bool
	wake    chan struct{}
	stop    context.CancelFunc
	done    chan struct{}
}

// New brings the job queue's schema up to date (River's migrations, after
// the store's own), reads or creates the server secret and returns a
// notifier that is not started yet. driver is River's driver on the store's
// database; svc is the incident service (its store is read for incidents
// and users, and transfer acknowledgements go through it).
func New[TTx any](ctx context.Context, store Store[TTx], svc *sitrep.Service, driver riverdriver.Driver[TTx], cfg Config) (*Notifier[TTx], error) {
	cfg.defaults()
	if cfg.Mail != nil {
		if err := cfg.Mail.Validate(); err != nil {
			return nil, err
		}
	}
	migrator, err := rivermigrate.New(driver, &rivermigrate.Config{Logger: quiet(cfg.Logger)})
	if err != nil {
		return nil, fmt.Errorf("notifications: job queue migrations: %w", err)
	}
	if _, err := migrator.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		return nil, fmt.Errorf("notifications: job queue migrations: %w", err)
	}
	fresh := make([]byte, 32)
	rand.Read(fresh) // never returns an error (crypto/rand)
	secret, err := store.ServerSecret(ctx, "notify", fresh)
	if err != nil {
		return nil, fmt.Errorf("notifications: %w", err)
	}
	n := &Notifier[TTx]{
		cfg: cfg, log: cfg.Logger, store: store, svc: svc,
		plan:    planner{ackTimeout: cfg.AckTimeout, repeats: cfg.Repeats},
		signer:  NewAckSigner(secret),
		pending: map[string]bool{}, wake: make(chan struct{}, 1),
	}
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("message ids"))
	n.instance = hex.EncodeToString(m.Sum(nil))[:12]

	workers := river.NewWorkers()
	if err := river.AddWorkerSafely(workers, &deliverWorker[TTx]{n: n}); err != nil {
		return nil, fmt.Errorf("notifications: %w", err)
	}
	if err := river.AddWorkerSafely(workers, &sweepWorker[TTx]{n: n}); err != nil {
		return nil, fmt.Errorf("notifications: %w", err)
	}
	n.client, err = river.NewClient(driver, &river.Config{
		Logger:               quiet(cfg.Logger),
		Queues:               map[string]river.QueueConfig{queue: {MaxWorkers: 4}},
		Workers:              workers,
		FetchPollInterval:    cfg.PollInterval,
		FetchCooldown:        min(fetchCooldown, cfg.PollInterval),
		PollOnly:             cfg.PollOnly,
		MaxAttempts:          cfg.MaxAttempts,
		JobTimeout:           cfg.SendTimeout + jobMargin,
		RescueStuckJobsAfter: cfg.RescueAfter,
		RetryPolicy:          backoff(cfg.Backoff),
		ErrorHandler:         errorHandler{log: n.log},
		PeriodicJobs: []*river.PeriodicJob{river.NewPeriodicJob(river.PeriodicInterval(cfg.SweepInterval),
			func() (river.JobArgs, *river.InsertOpts) {
				return sweepArgs{}, &river.InsertOpts{Queue: queue, MaxAttempts: 1}
			},
			&river.PeriodicJobOpts{RunOnStart: true})},
	})
	if err != nil {
		return nil, fmt.Errorf("notifications: job queue: %w", err)
	}
	return n, nil
}

// Start starts the workers and the planner. ctx bounds them.
func (n *Notifier[TTx]) Start(ctx context.Context) error {
	if err := n.client.Start(context.WithoutCancel(ctx)); err != nil {
		return fmt.Errorf("notifications: start the job queue: %w", err)
	}
	pctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	n.stop, n.done = cancel, make(chan struct{})
	go n.planLoop(pctx)
	return nil
}

// Stop stops planning and lets deliveries in flight finish until ctx ends.
func (n *Notifier[TTx]) Stop(ctx context.Context) error {
	return n.halt(ctx, n.client.Stop)
}

// Kill stops at once, cancelling deliveries in flight as a crash would: they
// are not marked done and go out again after a restart.
func (n *Notifier[TTx]) Kill(ctx context.Context) error {
	return n.halt(ctx, n.client.StopAndCancel)
}

func (n *Notifier[TTx]) halt(ctx context.Context, stop func(context.Context) error) error {
	if n.stop != nil {
		n.stop()
		<-n.done
		n.stop = nil
	}
	if err := stop(ctx); err != nil {
		return fmt.Errorf("notifications: stop the job queue: %w", err)
	}
	return nil
}

// Appended takes entries just committed: their incidents are planned in
// the background (Service.Appended). It never blocks the caller.
func (n *Notifier[TTx]) Appended(entries []sitrep.Entry) {
	n.mu.Lock()
	for i := range entries {
		n.pending[entries[i].IncidentID] = true
	}
	n.mu.Unlock()
	select {
	case n.wake <- struct{}{}:
	default:
	}
}

func (n *Notifier[TTx]) planLoop(ctx context.Context) {
	defer close(n.done)
	for {
		select {
		case <-ctx.Done():
			return
		case <-n.wake:
		}
		n.mu.Lock()
		ids := make([]string, 0, len(n.pending))
		for id := range n.pending {
			ids = append(ids, id)
		}
		clear(n.pending)
		n.mu.Unlock()
		slices.Sort(ids)
		for _, id := range ids {
			if err := n.PlanIncident(ctx, id); err != nil && ctx.Err() == nil {
				// The sweep plans it later: nothing is lost.
				n.log.Warn("plan notifications", "incident", id, "err", err)
			}
		}
	}
}

// planBatch is how many entries one planning transaction takes.
const planBatch = 500

// PlanIncident turns the incident's entries not yet planned into
// notifications and their delivery jobs, in one transaction with the move of
// its cursor; it is safe to run in several processes at once.
func (n *Notifier[TTx]) PlanIncident(ctx context.Context, id string) error {
	for range 100 {
		cursor, entries, err := n.store.Pending(ctx, id, planBatch)
		if err != nil {
			return err
		}
		if len(entries) == 0 {
			return nil
		}
		inc, err := n.svc.Store.Incident(ctx, id)
		if err != nil {
			return fmt.Errorf("plan notifications of %s: %w", id, err)
		}
		who, roster, err := n.people(ctx)
		if err != nil {
			return fmt.Errorf("plan notifications of %s: %w", id, err)
		}
		var pages []page
		var b Batch
		for i := range entries {
			ps, acks, err := decide(inc, &entries[i], who, roster)
			if err != nil {
				// An entry this version cannot read is skipped, not
				// retried forever: the record keeps it anyway.
				n.log.Warn("plan notifications: entry skipped", "incident", id, "seq", entries[i].Seq, "err", err)
				continue
			}
			pages = append(pages, ps...)
			b.Acks = append(b.Acks, acks...)
		}
		var firsts []string
		for _, p := range pages {
			firsts = append(firsts, p.Ladder[0])
		}
		contacts, err := n.store.Contacts(ctx, firsts...)
		if err != nil {
			return fmt.Errorf("plan notifications of %s: %w", id, err)
		}
		at := n.now()
		for _, p := range pages {
			b.Notifications = append(b.Notifications, n.plan.expand(p, 0, 0, contacts, at)...)
		}
		last := entries[len(entries)-1].Seq
		ok, err := n.store.Plan(ctx, id, cursor, last, b, at, n.enqueue)
		if err != nil {
			return err
		}
		if ok {
			n.log.Debug("notifications planned", "incident", id, "through", last, "notifications", len(b.Notifications))
			if len(entries) < planBatch {
				return nil
			}
		}
		// Another process planned first, or there is more: read again.
	}
	return fmt.Errorf("plan notifications of %s: the cursor kept moving", id)
}

// people returns the users by name and the declaration roster.
func (n *Notifier[TTx]) people(ctx context.Context) (people, []string, error) {
	users, err := n.svc.Store.Users(ctx)
	if err != nil {
		return nil, nil, err
	}
	who := people{}
	var admins []string
	for _, u := range users {
		who[u.Name] = u
		if u.IsAdmin() {
			admins = append(admins, u.Name)
		}
	}
	if len(n.cfg.Roster) > 0 {
		return who, n.cfg.Roster, nil
	}
	return who, admins, nil
}

func (n *Notifier[TTx]) now() time.Time { return n.cfg.Clock.Now().UTC().Truncate(time.Microsecond) }

// enqueue inserts the delivery jobs of ids in tx.
func (n *Notifier[TTx]) enqueue(ctx context.Context, tx TTx, ids []int64) error {
	params := make([]river.InsertManyParams, len(ids))
	for i, id := range ids {
		params[i] = river.InsertManyParams{Args: deliverArgs{Notification: id}, InsertOpts: &river.InsertOpts{Queue: queue}}
	}
	if _, err := n.client.InsertManyTx(ctx, tx, params); err != nil {
		return fmt.Errorf("insert delivery jobs: %w", err)
	}
	return nil
}

// Sweep escalates the pages due and plans what was left unplanned. The
// periodic job runs it on one replica; tests call it directly.
func (n *Notifier[TTx]) Sweep(ctx context.Context) error {
	ids, err := n.store.Unplanned(ctx, 100)
	if err != nil {
		return err
	}
	var errs []error
	for _, id := range ids {
		if err := n.PlanIncident(ctx, id); err != nil {
			errs = append(errs, err)
		}
	}
	at := n.now()
	due, err := n.store.Due(ctx, at, 100)
	if err != nil {
		return errors.Join(append(errs, err)...)
	}
	for _, d := range due {
		var next []*Notification
		step, round, ok := n.plan.next(d)
		if ok {
			contacts, err := n.store.Contacts(ctx, d.Ladder[step])
			if err != nil {
				errs = append(errs, err)
				continue
			}
			next = n.plan.expand(d.page(), step, round, contacts, at)
		}
		done, err := n.store.Escalate(ctx, d, at, next, n.enqueue)
		switch {
		case err != nil:
			errs = append(errs, err)
		case done && !ok:
			n.cfg.Observer.Unanswered(PageExhausted)
			n.log.Warn("page unanswered by everyone on its ladder", "incident", d.IncidentID, "seq", d.Seq, "chain", d.Chain, "ladder", d.Ladder)
		case done && step == d.Step:
			n.cfg.Observer.Unanswered(PageRepeated)
			n.log.Info("page repeated", "incident", d.IncidentID, "seq", d.Seq, "chain", d.Chain, "to", d.Ladder[step], "round", round)
		case done:
			n.cfg.Observer.Unanswered(PageEscalated)
			n.log.Info("page escalated", "incident", d.IncidentID, "seq", d.Seq, "chain", d.Chain, "to", d.Ladder[step], "round", round)
		}
	}
	return errors.Join(errs...)
}

// links returns the links of notification no.
func (n *Notifier[TTx]) links(no *Notification) Links {
	var l Links
	base := ""
	if n.cfg.BaseURL != nil {
		base = strings.TrimRight(n.cfg.BaseURL(), "/")
	}
	if base == "" {
		return l
	}
	if no.ContactID != 0 {
		// A user's: the incident's page is theirs to open once signed
		// in. A plan list's bare address belongs to nobody who can.
		l.Incident = base + "/incidents/" + url.PathEscape(no.IncidentID)
	}
	if no.NeedsAck {
		l.Ack = base + "/ack/" + n.signer.Token(no.ID, n.now().Add(n.cfg.AckLinkTTL))
	}
	return l
}

// deliver sends notification no once.
func (n *Notifier[TTx]) deliver(ctx context.Context, no *Notification) error {
	ctx, cancel := context.WithTimeout(ctx, n.cfg.SendTimeout)
	defer cancel()
	if no.ContactID == 0 && no.Channel == ChannelEmail && no.Address == no.Recipient && isAddress(no.Address) {
		// An address of a plan's notify list, not a user's contact.
		e, err := RenderEmail(no, n.links(no))
		if err != nil {
			return permanent{err}
		}
		return sendMail(ctx, n.cfg.Mail, no.Address, n.messageID(no), e)
	}
	if no.ContactID == 0 {
		return permanent{fmt.Errorf("%s's contact method was removed", no.Recipient)}
	}
	contacts, err := n.store.Contacts(ctx, no.Recipient)
	if err != nil {
		return err
	}
	i := slices.IndexFunc(contacts, func(c *Contact) bool { return c.ID == no.ContactID })
	if i < 0 {
		return permanent{fmt.Errorf("%s's contact method was removed", no.Recipient)}
	}
	contact := contacts[i]
	l := n.links(no)
	switch no.Channel {
	case ChannelEmail:
		e, err := RenderEmail(no, l)
		if err != nil {
			return permanent{err}
		}
		return sendMail(ctx, n.cfg.Mail, no.Address, n.messageID(no), e)
	case ChannelWebhook:
		body, err := WebhookBody(no, l)
		if err != nil {
			return permanent{err}
		}
		ts := n.cfg.Clock.Now().Unix()
		headers := map[string]string{HeaderDelivery: strconv.FormatInt(no.ID, 10), HeaderTimestamp: strconv.FormatInt(ts, 10)}
		if contact.Secret != "" {
			headers[HeaderSignature] = Sign([]byte(contact.Secret), ts, body)
		}
		return postWebhook(ctx, n.cfg.HTTPClient, no.Address, body, headers)
	}
	return permanent{fmt.Errorf("channel %q cannot be delivered", no.Channel)}
}

// messageID returns notification no's e-mail Message-ID, the same on every
// attempt.
func (n *Notifier[TTx]) messageID(no *Notification) string {
	domain := "sitrep.invalid"
	if n.cfg.Mail != nil {
		domain = n.cfg.Mail.Domain
		if domain == "" {
			if a, err := mail.ParseAddress(n.cfg.Mail.From); err == nil {
				if _, d, ok := strings.Cut(a.Address, "@"); ok {
					domain = d
				}
			}
		}
	}
	return fmt.Sprintf("notification-%d.%s.%s@%s", no.ID, strings.ToLower(no.IncidentID), n.instance, domain)
}

type deliverWorker[TTx any] struct {
	river.WorkerDefaults[deliverArgs]
	n *Notifier[TTx]
}

// Work delivers one notification. It sends only a notification still
// queued and records the delivery right after, so a job that runs again
// (its process died, or the record failed) finds it sent and sends nothing.
func (w *deliverWorker[TTx]) Work(ctx context.Context, job *river.Job[deliverArgs]) error {
	n := w.n
	id := job.Args.Notification
	no, err := n.store.Notification(ctx, id)
	if sitrep.ErrorKind(err) == sitrep.ENotFound {
		return river.JobCancel(err)
	}
	if err != nil {
		return err
	}
	if no.Status != StatusQueued || no.SentAt != nil {
		return nil // sent already, acknowledged before it went out, or failed for good
	}
	start := time.Now()
	err = n.deliver(ctx, no)
	took := time.Since(start)
	obs := n.cfg.Observer
	// What follows is recorded even when ctx ended mid-send.
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err == nil {
		obs.Attempted(no.Channel, AttemptSent, took)
		if _, err := n.store.Sent(rctx, id, n.now()); err != nil {
			// The job runs again, finds the notification still queued and
			// sends it again: this window is why delivery is at least once.
			return err
		}
		obs.Finished(no.Channel, StatusSent)
		n.log.Info("notification sent", "id", id, "incident", no.IncidentID, "to", no.Recipient, "channel", no.Channel)
		return nil
	}
	if ctx.Err() != nil {
		obs.Attempted(no.Channel, AttemptInterrupted, took)
		// Stopped mid-send: the attempt does not count, and the delivery
		// goes out after the restart (or on another replica).
		if rerr := n.store.Failed(rctx, id, "interrupted: "+err.Error(), false); rerr != nil {
			n.log.Error("record a failed delivery", "id", id, "err", rerr)
		}
		n.log.Warn("notification delivery interrupted", "id", id, "incident", no.IncidentID, "to", no.Recipient)
		return river.JobSnooze(n.cfg.Backoff(1))
	}
	obs.Attempted(no.Channel, AttemptFailed, took)
	final := IsPermanent(err) || job.Attempt >= job.MaxAttempts
	if final {
		obs.Finished(no.Channel, StatusFailed)
	}
	if rerr := n.store.Failed(rctx, id, err.Error(), final); rerr != nil {
		n.log.Error("record a failed delivery", "id", id, "err", rerr)
	}
	n.log.Warn("notification not delivered", "id", id, "incident", no.IncidentID, "to", no.Recipient, "channel", no.Channel, "attempt", job.Attempt, "final", final, "err", err)
	if final {
		return river.JobCancel(err)
	}
	return err
}

type sweepWorker[TTx any] struct {
	river.WorkerDefaults[sweepArgs]
	n *Notifier[TTx]
}

func (w *sweepWorker[TTx]) Work(ctx context.Context, _ *river.Job[sweepArgs]) error {
	return w.n.Sweep(ctx)
}

// backoff is River's retry policy from Config.Backoff.
type backoff func(attempt int) time.Duration

func (b backoff) NextRetry(job *rivertype.JobRow) time.Time {
	return time.Now().Add(b(job.Attempt))
}

type errorHandler struct{ log *slog.Logger }

func (h errorHandler) HandleError(_ context.Context, job *rivertype.JobRow, err error) *river.ErrorHandlerResult {
	h.log.Debug("job failed", "kind", job.Kind, "id", job.ID, "attempt", job.Attempt, "err", err)
	return nil
}

func (h errorHandler) HandlePanic(_ context.Context, job *rivertype.JobRow, v any, trace string) *river.ErrorHandlerResult {
	h.log.Error("job panicked", "kind", job.Kind, "id", job.ID, "panic", v, "stack", trace)
	return nil
}

// quiet returns l for River, whose informational messages are about itself:
// only its warnings and errors reach the log.
func quiet(l *slog.Logger) *slog.Logger {
	return slog.New(minLevel{Handler: l.Handler().WithAttrs([]slog.Attr{slog.String("component", "river")}), min: slog.LevelWarn})
}

type minLevel struct {
	slog.Handler
	min slog.Level
}

func (h minLevel) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= h.min && h.Handler.Enabled(ctx, l)
}

func (h minLevel) WithAttrs(as []slog.Attr) slog.Handler {
	return minLevel{Handler: h.Handler.WithAttrs(as), min: h.min}
}

func (h minLevel) WithGroup(name string) slog.Handler {
	return minLevel{Handler: h.Handler.WithGroup(name), min: h.min}
}
