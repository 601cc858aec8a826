package dispatch

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sitrep-ir/sitrep"
)

// Ingester is sitrep.Ingester: what stores alert events durably.
type Ingester = sitrep.Ingester

// Defaults of Options.
const (
	DefaultQueueLen       = 10000
	DefaultQueueBytes     = 32 << 20
	DefaultInterval       = 2 * time.Second
	DefaultRepairInterval = time.Minute
)

// actionTimeout bounds the dispatch of one alert: a store that hangs must
// not stop the dispatcher for ever.
const actionTimeout = 30 * time.Second

// sweepLimit is how many pending alerts one sweep of the triage desk takes
// up (the store's largest listing).
const sweepLimit = 10000

// sweepPage is how many pending alerts a sweep of the missed reads at once.
const sweepPage = 1000

// maxOpenIncidents is how many open incidents a look-up of group keys
// reads.
const maxOpenIncidents = 10000

// Options configure a Dispatcher. Zero values take the defaults.
type Options struct {
	// RulesFile is the rules file (DIR/dispatch.yaml of the plans
	// directory). "" or a missing file: no rules, every alert is held.
	RulesFile string
	// Interval is how often the file is looked at for changes
	// (DefaultInterval); negative: never (Reload still reloads).
	Interval time.Duration
	// QueueLen bounds the alerts waiting for dispatch (DefaultQueueLen).
	// When it is full a new alert stays pending on the triage desk, and is
	// taken up by the next sweep.
	QueueLen int
	// QueueBytes bounds the memory of the queued alerts' text and labels
	// (DefaultQueueBytes). Past it, new alerts are queued by ID alone and
	// read from the store when their turn comes.
	QueueBytes int64
	// StrandedGrace is how long an alert may stay declared without an
	// incident before the repair takes it for stranded by a crash
	// (sitrep.StrandedGrace). The repair runs at start and every
	// RepairInterval (DefaultRepairInterval).
	StrandedGrace  time.Duration
	RepairInterval time.Duration
	Logger         *slog.Logger
	// Registry, when set, receives the dispatcher's metrics.
	Registry prometheus.Registerer
}

// Dispatcher applies the dispatch rules to every alert the intake opens.
// It wraps an Ingester: Ingest stores through it and answers as soon as it
// has, then hands the new alerts to one worker goroutine that matches each
// against the rules and acts on it through the Service, as the dispatch
// account (sitrep.DispatchUser). The sender's answer never waits for
// dispatch. A new alert is queued with what the intake holds of it (its
// event, as the store keeps it: sitrep.OpenedAlert), so that matching
// needs no read of the store; only declaring and attaching read the alert,
// as they record it on the incident. An alert dispatch cannot take up at
// once (the queue is full, the server stops) stays pending on the triage
// desk, where nothing is lost: the worker sweeps the desk when it starts
// and after the queue overflowed. It also repairs, at start and every
// RepairInterval, the declarations a crash cut off (see repair).
type Dispatcher struct {
	inner    Ingester
	svc      *sitrep.Service
	alerts   sitrep.AlertStore
	log      *slog.Logger
	file     string
	interval time.Duration
	grace    time.Duration // of stranded alerts
	repairs  time.Duration // between repairs of stranded alerts
	m        *metrics

	rules atomic.Pointer[Rules]
	queue chan item
	// queuedBytes is what the alerts in the queue hold (AlertSize), up to
	// maxBytes.
	queuedBytes atomic.Int64
	maxBytes    int64
	// missedFrom is the lowest ID of the alerts the queue had no room for
	// (or a repair put back) since the worker last swept them up, 0 for
	// none: the worker sweeps the desk from there once the queue is empty.
	missedFrom atomic.Int64

	// The worker's own state: only its goroutine touches it.
	groups  map[string]string // group key → open incident
	kinds   map[string]string // source name → kind
	kindsAt time.Time
	actor   *sitrep.User
	// suppressing are the suppressions waiting to be written.
	suppressing []suppression

	reloadMu sync.Mutex
	stamp    fileStamp
	lastBad  string // the problems of the last file that did not load
	// loadedOnce is set by the first load of the file that succeeded.
	loadedOnce bool

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	once   sync.Once
}

// item is an alert to dispatch, or (done set) a marker of Flush.
type item struct {
	id int64
	// al is the alert as the intake stored it, made from its event; nil:
	// read it from the store.
	al   *sitrep.Alert
	size int64 // what al counts against the queue's bytes
	done chan struct{}
}

// New returns a Dispatcher storing through inner and acting through svc,
// whose store must keep alerts. It loads the rules file (a broken file is
// logged, problem by problem, and no rules are used until it is fixed) and
// starts the worker, which first takes up the alerts pending on the desk,
// and the watcher of the file. Close stops them.
func New(inner Ingester, svc *sitrep.Service, opts Options) (*Dispatcher, error) {
	d, err := newDispatcher(inner, svc, opts)
	if err != nil {
		return nil, err
	}
	d.start()
	return d, nil
}

// newDispatcher builds a Dispatcher and loads its rules; start starts it.
func newDispatcher(inner Ingester, svc *sitrep.Service, opts Options) (*Dispatcher, error) {
	alerts, ok := svc.Store.(sitrep.AlertStore)
	if !ok {
		return nil, errors.New("dispatch: the store keeps no alerts")
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.QueueLen <= 0 {
		opts.QueueLen = DefaultQueueLen
	}
	if opts.QueueBytes <= 0 {
		opts.QueueBytes = DefaultQueueBytes
	}
	if opts.Interval == 0 {
		opts.Interval = DefaultInterval
	}
	if opts.RepairInterval <= 0 {
		opts.RepairInterval = DefaultRepairInterval
	}
	d := &Dispatcher{
		inner:    inner,
		svc:      svc,
		alerts:   alerts,
		log:      opts.Logger.With("component", "dispatch"),
		file:     opts.RulesFile,
		interval: opts.Interval,
		grace:    opts.StrandedGrace,
		repairs:  opts.RepairInterval,
		queue:    make(chan item, opts.QueueLen),
		maxBytes: opts.QueueBytes,
		groups:   map[string]string{},
		kinds:    map[string]string{},
	}
	d.m = newMetrics(opts.Registry, d)
	d.rules.Store(&Rules{File: d.file})
	d.ctx, d.cancel = context.WithCancel(context.Background())
	_ = d.reload(true) // logged and counted; the dispatcher runs without rules
	return d, nil
}

func (d *Dispatcher) start() {
	d.wg.Add(1)
	go d.run()
	if d.file != "" && d.interval > 0 {
		d.wg.Add(1)
		go d.watch()
	}
}

// Ingest stores the events through the wrapped Ingester, with its
// contract, and queues the alerts they opened for dispatch without
// waiting for it.
func (d *Dispatcher) Ingest(ctx context.Context, source string, events []sitrep.AlertEvent) ([]sitrep.IngestResult, error) {
	results, err := d.inner.Ingest(ctx, source, events)
	if err != nil {
		return results, err
	}
	if len(results) != len(events) {
		// Not the Ingester's contract; dispatch reads what it cannot match.
		for _, r := range results {
			if r.New {
				d.enqueue(item{id: r.AlertID})
			}
		}
		return results, nil
	}
	d.enqueueOpened(source, events, results)
	return results, nil
}

// enqueueOpened queues the alerts the events opened, each made from the
// event that opened it as the store kept it. The other events of the call
// that counted on one of them are applied as the store applied them: a
// worse severity, an acknowledge, a resolve. Events of other calls stored
// in the same commit or later are not: the alert is matched as this call
// saw it stored, as it would have been read back had dispatch been quick.
func (d *Dispatcher) enqueueOpened(source string, events []sitrep.AlertEvent, results []sitrep.IngestResult) {
	opened, repeats := 0, false
	for _, r := range results {
		switch {
		case r.New:
			opened++
		case !r.Ignored:
			repeats = true
		}
	}
	if opened == 0 {
		return
	}
	withEvent := d.rules.Load().Len() > 0 // without rules the worker looks at nothing
	items := make([]item, 0, opened)
	var byID map[int64]*sitrep.Alert // the call's new alerts, when it counted on some
	if withEvent && repeats {
		byID = make(map[int64]*sitrep.Alert, opened)
	}
	for i, r := range results {
		switch {
		case r.New:
			it := item{id: r.AlertID}
			if withEvent {
				it.al = sitrep.OpenedAlert(r.AlertID, source, events[i])
				if byID != nil {
					byID[r.AlertID] = it.al
				}
			}
			items = append(items, it)
		case byID != nil && !r.Ignored:
			al := byID[r.AlertID]
			if al == nil {
				continue
			}
			switch events[i].Action {
			case sitrep.ActionResolve:
				al.Status = sitrep.AlertResolved
			case sitrep.ActionAcknowledge:
				if al.Status == sitrep.AlertFiring {
					al.Status = sitrep.AlertAcknowledged
				}
			default: // a trigger: Normalize keeps only severities 1–MaxSeverity
				if sev := events[i].Severity; sev > 0 && sev <= sitrep.MaxSeverity {
					al.Severity = sitrep.WorsenSeverity(al.Severity, sev)
				}
			}
		}
	}
	for _, it := range items {
		d.enqueue(it)
	}
}

// enqueue queues an alert for the worker. Past the queue's bound of bytes
// the alert goes by its ID alone; past its length, not at all: the sweep
// that follows takes it up from the desk.
func (d *Dispatcher) enqueue(it item) {
	if it.al != nil {
		it.size = sitrep.AlertSize(it.al)
		if d.queuedBytes.Add(it.size) > d.maxBytes {
			d.queuedBytes.Add(-it.size)
			it.al, it.size = nil, 0
			d.m.unread.Inc()
		}
	}
	select {
	case d.queue <- it:
	default:
		d.queuedBytes.Add(-it.size)
		d.m.dropped.Inc()
		d.miss(it.id)
	}
}

// Rules returns the rules in use.
func (d *Dispatcher) Rules() *Rules { return d.rules.Load() }

// SetRules replaces the rules in use until the file next changes (tools
// and tests).
func (d *Dispatcher) SetRules(rs *Rules) {
	if rs == nil {
		rs = &Rules{}
	}
	d.rules.Store(rs)
	d.m.rules.Set(float64(rs.Len()))
}

// Flush waits until every alert queued before it was called has been
// dispatched (and the start's sweep is done), or ctx ends.
func (d *Dispatcher) Flush(ctx context.Context) error {
	done := make(chan struct{})
	select {
	case d.queue <- item{done: done}:
	case <-ctx.Done():
		return ctx.Err()
	case <-d.ctx.Done():
		return errors.New("dispatch: the dispatcher is closed")
	}
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-d.ctx.Done():
		return errors.New("dispatch: the dispatcher is closed")
	}
}

// Close stops the worker, after the alert it is dispatching, and the
// watcher. Alerts still queued stay pending on the triage desk; the next
// start takes them up. It does not close the wrapped Ingester.
func (d *Dispatcher) Close() error {
	d.once.Do(func() {
		d.cancel()
		d.wg.Wait()
	})
	return nil
}

// run is the worker: a repair of stranded alerts and a sweep of the desk,
// then the queue, with a repair now and then.
func (d *Dispatcher) run() {
	defer d.wg.Done()
	d.loadGroups()
	d.repair()
	d.missedFrom.Store(0) // the sweep takes up what the repair put back
	d.sweep()
	d.flushSuppressed()
	repairs := time.NewTicker(d.repairs)
	defer repairs.Stop()
	for {
		select {
		case <-d.ctx.Done():
			return
		case <-repairs.C:
			d.repair()
		case it := <-d.queue:
			d.queuedBytes.Add(-it.size)
			if it.done != nil {
				// What the queue had no room for was queued before
				// the flush too.
				d.sweepMissed()
				d.flushSuppressed()
				close(it.done)
			} else {
				d.dispatch(it)
			}
		}
		if len(d.queue) == 0 {
			d.flushSuppressed()
			d.sweepMissed()
			d.flushSuppressed()
		}
	}
}

// sweep dispatches the open alerts pending on the desk, oldest first: those
// a crash or a full queue kept from dispatch. Alerts held by the rules are
// looked at again, under the rules in use now.
func (d *Dispatcher) sweep() {
	ctx, cancel := context.WithTimeout(d.ctx, actionTimeout)
	pending, err := d.alerts.Alerts(ctx, sitrep.AlertFilter{Triage: sitrep.TriagePending, Open: true, Limit: sweepLimit})
	cancel()
	if err != nil {
		if d.ctx.Err() == nil {
			d.log.Error("sweep the triage desk", "err", err)
		}
		return
	}
	if len(pending) > 0 {
		d.log.Info("dispatching the alerts pending on the triage desk", "alerts", len(pending))
	}
	for i := len(pending) - 1; i >= 0; i-- {
		if d.ctx.Err() != nil {
			return
		}
		d.dispatch(item{id: pending[i].ID, al: pending[i]})
	}
}

// miss records that the alert id was kept from dispatch: the worker sweeps
// it up from the desk once the queue is empty.
func (d *Dispatcher) miss(id int64) {
	for {
		from := d.missedFrom.Load()
		if from != 0 && from <= id || d.missedFrom.CompareAndSwap(from, id) {
			return
		}
	}
}

// sweepMissed dispatches the alerts pending on the desk from the lowest one
// missed, oldest first, a page at a time, however many the queue had no
// room for: the sweep of the start takes up only the latest.
func (d *Dispatcher) sweepMissed() {
	from := d.missedFrom.Swap(0)
	if from == 0 {
		return
	}
	d.log.Info("dispatching the alerts the queue had no room for", "from", from)
	for after := from - 1; d.ctx.Err() == nil; {
		ctx, cancel := context.WithTimeout(d.ctx, actionTimeout)
		page, err := d.alerts.Alerts(ctx, sitrep.AlertFilter{Triage: sitrep.TriagePending, Open: true, AfterID: after, Limit: sweepPage})
		cancel()
		if err != nil {
			if d.ctx.Err() == nil {
				d.log.Error("sweep the triage desk", "err", err)
				d.miss(after + 1) // tried again when the queue next empties
			}
			return
		}
		for _, al := range page {
			if d.ctx.Err() != nil {
				d.miss(al.ID)
				return
			}
			d.dispatch(item{id: al.ID, al: al})
			after = al.ID
		}
		if len(page) < sweepPage {
			return
		}
	}
}

// repair finishes or undoes the declarations a crash cut off between
// claiming their alert and recording the incident on it
// (sitrep.Service.RepairStranded). Alerts put back on the desk are swept
// once the queue is empty.
func (d *Dispatcher) repair() {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(d.ctx), actionTimeout)
	defer cancel()
	// d.actor is nil until dispatch first acted: the repair makes the
	// dispatch account only when it has something to repair.
	done, err := d.svc.RepairStranded(ctx, d.actor, d.grace)
	for _, r := range done {
		if r.Incident == "" {
			d.m.stranded.WithLabelValues("released").Inc()
			d.log.Warn("an alert was left declared without an incident, none declared from it: put back on the triage desk", "alert", r.Alert)
			d.miss(r.Alert)
			continue
		}
		d.m.stranded.WithLabelValues("linked").Inc()
		d.log.Warn("an alert was left declared without an incident: linked to the incident declared from it", "alert", r.Alert, "incident", r.Incident)
	}
	if err != nil && d.ctx.Err() == nil {
		d.log.Error("repair alerts left declared without an incident", "err", err)
	}
}

// loadGroups reads the group keys of the open incidents.
func (d *Dispatcher) loadGroups() {
	ctx, cancel := context.WithTimeout(d.ctx, actionTimeout)
	defer cancel()
	if _, err := d.lookup(ctx, ""); err != nil && d.ctx.Err() == nil {
		d.log.Error("read the group keys of open incidents", "err", err)
	}
}

// lookup re-reads the group keys of the open incidents from the store and
// returns the incident of key ("" when none is open). Of several open
// incidents with one key the oldest is the group's.
func (d *Dispatcher) lookup(ctx context.Context, key string) (string, error) {
	incs, err := d.svc.Store.Incidents(ctx, sitrep.IncidentFilter{Open: true, Limit: maxOpenIncidents})
	if err != nil {
		return "", fmt.Errorf("list open incidents: %w", err)
	}
	groups := map[string]string{}
	for _, inc := range incs { // most recently declared first: the oldest wins
		if inc.GroupKey != "" {
			groups[inc.GroupKey] = inc.ID
		}
	}
	d.groups = groups
	return groups[key], nil
}

// errTaken says the alert left the desk while dispatch looked at it: a
// person (or another replica) decided first.
var errTaken = errors.New("the alert was taken off the triage desk meanwhile")

// dispatch decides one alert. Close lets it finish: a declaration cut off
// between its steps would leave an incident without its alert.
func (d *Dispatcher) dispatch(it item) {
	id := it.id
	ctx, cancel := context.WithTimeout(context.WithoutCancel(d.ctx), actionTimeout)
	defer cancel()
	dec, err := d.decide(ctx, it)
	switch {
	case errors.Is(err, errTaken):
		d.log.Debug("dispatch: alert already triaged", "alert", id)
		return
	case err != nil:
		d.m.decisions.WithLabelValues("error", dec.rule).Inc()
		d.log.Error("dispatch an alert; it stays on the triage desk", "alert", id, "rule", dec.rule, "err", err)
		return
	}
	if dec.deferred {
		if len(d.suppressing) >= suppressBatch {
			d.flushSuppressed()
		}
		return
	}
	d.m.decisions.WithLabelValues(dec.action, dec.rule).Inc()
	if d.log.Enabled(ctx, slog.LevelDebug) {
		attrs := []any{"alert", id, "action", dec.action, "rule", dec.rule}
		if dec.incident != "" {
			attrs = append(attrs, "incident", dec.incident)
		}
		if dec.why != "" {
			attrs = append(attrs, "why", dec.why)
		}
		d.log.Debug("dispatch decision", attrs...)
	}
}

// decision is what became of an alert.
type decision struct {
	action   string // what was done: one of the Action values
	rule     string
	incident string
	why      string
	// deferred is set when the action waits to be written with others
	// (a suppression): it is counted once written.
	deferred bool
}

// suppression is an alert a rule suppresses, waiting to be written.
type suppression struct {
	id   int64
	rule string
}

// suppressBatch is how many suppressions wait at most before they are
// written; they are written too whenever the queue is empty.
const suppressBatch = 500

// flushSuppressed writes the suppressions waiting, in one store write, and
// counts each as done or, if a person or another replica took the alert off
// the desk first, as taken.
func (d *Dispatcher) flushSuppressed() {
	if len(d.suppressing) == 0 {
		return
	}
	waiting := d.suppressing
	d.suppressing = d.suppressing[:0]
	ids := make([]int64, len(waiting))
	for i, s := range waiting {
		ids[i] = s.id
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(d.ctx), actionTimeout)
	defer cancel()
	done, err := d.svc.SuppressAlerts(ctx, d.actor, ids)
	if err != nil {
		for _, s := range waiting {
			d.m.decisions.WithLabelValues("error", s.rule).Inc()
		}
		d.log.Error("suppress alerts; they stay on the triage desk", "alerts", len(ids), "err", err)
		return
	}
	suppressed := make(map[int64]bool, len(done))
	for _, id := range done {
		suppressed[id] = true
	}
	debug := d.log.Enabled(ctx, slog.LevelDebug)
	for _, s := range waiting {
		if !suppressed[s.id] {
			if debug {
				d.log.Debug("dispatch: alert already triaged", "alert", s.id)
			}
			continue
		}
		d.m.decisions.WithLabelValues(ActionSuppress, s.rule).Inc()
		if debug {
			d.log.Debug("dispatch decision", "alert", s.id, "action", ActionSuppress, "rule", s.rule)
		}
	}
}

// decide matches the alert against the rules and acts. The alert is the
// item's, as the intake stored it or as the sweep listed it, and read from
// the store only when the item has none: reading each new alert back was
// most of the CPU of the intake. Its triage on the item may be out of date
// by now; the store's conditional writes of the actions are what decide
// whether dispatch still may take it off the desk.
func (d *Dispatcher) decide(ctx context.Context, it item) (decision, error) {
	rules := d.rules.Load()
	if rules.Len() == 0 {
		// Without rules every alert is held.
		return decision{action: ActionHold, why: "no rules"}, nil
	}
	al := it.al
	if al == nil {
		var err error
		if al, err = d.alerts.Alert(ctx, it.id); err != nil {
			return decision{}, fmt.Errorf("load alert %d: %w", it.id, err)
		}
	}
	if al.Triage != sitrep.TriagePending {
		return decision{}, errTaken
	}
	if al.Status == sitrep.AlertResolved {
		return decision{action: ActionHold, why: "resolved before dispatch"}, nil
	}
	rule := rules.Match(al, d.sourceKind(ctx, al.Source))
	if rule == nil {
		return decision{action: ActionHold, why: "no rule matches"}, nil
	}
	dec := decision{action: rule.Action, rule: rule.Name}
	if rule.Action == ActionHold {
		return dec, nil
	}
	if err := d.account(ctx); err != nil {
		return dec, err
	}
	switch rule.Action {
	case ActionSuppress:
		// Suppressions wait to be written many at once (see
		// flushSuppressed): one write each kept a rule that suppresses a
		// storm of new alerts far behind the intake.
		d.suppressing = append(d.suppressing, suppression{id: al.ID, rule: rule.Name})
		dec.deferred = true
		return dec, nil
	case ActionAttach:
		key := rule.GroupKey(al)
		inc, err := d.attachGroup(ctx, al, key)
		if err != nil {
			return dec, err
		}
		if inc == "" {
			dec.action, dec.why = ActionHold, "no open incident has group key "+key
			return dec, nil
		}
		dec.incident = inc
		return dec, nil
	case ActionDeclare:
		return d.declare(ctx, al, rule)
	}
	return dec, fmt.Errorf("rule %s: unknown action %q", rule.Name, rule.Action)
}

// declare declares an incident for the alert, or attaches the alert to the
// open incident of its group when there is one.
func (d *Dispatcher) declare(ctx context.Context, al *sitrep.Alert, rule *Rule) (decision, error) {
	dec := decision{action: ActionDeclare, rule: rule.Name}
	key := rule.GroupKey(al)
	if key != "" {
		inc, err := d.attachGroup(ctx, al, key)
		if err != nil {
			return dec, err
		}
		if inc != "" {
			dec.action, dec.incident = ActionAttach, inc
			return dec, nil
		}
	}
	in := sitrep.DeclareInput{Title: rule.IncidentTitle(al), Kind: rule.Kind, Severity: rule.Severity, GroupKey: key, Rule: rule.Name}
	inc, _, err := d.svc.DeclareFromAlert(ctx, d.actor, al.ID, in)
	if err != nil {
		if d.taken(ctx, al.ID) {
			return dec, errTaken
		}
		if sitrep.ErrorKind(err) == sitrep.EConflict && key != "" {
			// Another replica declared the group's incident between
			// our look-up and our declaration: attach to it.
			id, aerr := d.attachGroup(ctx, al, key)
			if aerr == nil && id != "" {
				dec.action, dec.incident = ActionAttach, id
				return dec, nil
			}
			if aerr != nil {
				err = errors.Join(err, aerr)
			}
		}
		return dec, fmt.Errorf("rule %s: declare: %w", rule.Name, err)
	}
	if key != "" {
		d.groups[key] = inc.ID
	}
	dec.incident = inc.ID
	d.log.Info("dispatch declared an incident", "incident", inc.ID, "rule", rule.Name, "kind", inc.Kind,
		"severity", inc.Severity, "group_key", key, "alert", al.ID)
	return dec, nil
}

// attachGroup attaches the alert to the open incident of group key and
// returns it, or "" when no incident of the group is open. The incident
// known for the key is tried first; when it refuses (it closed) or none is
// known, the open incidents are read again from the store, since another
// replica may have declared the group's.
func (d *Dispatcher) attachGroup(ctx context.Context, al *sitrep.Alert, key string) (string, error) {
	id, known := d.groups[key]
	if !known {
		var err error
		if id, err = d.lookup(ctx, key); err != nil {
			return "", err
		}
		if id == "" {
			return "", nil
		}
	}
	_, _, err := d.svc.AttachAlertTo(ctx, d.actor, al.ID, id)
	if err == nil {
		return id, nil
	}
	if d.taken(ctx, al.ID) {
		return "", errTaken
	}
	if !known {
		return "", fmt.Errorf("attach to %s: %w", id, err)
	}
	// The incident we knew refused: it closed, or is gone. Read again.
	failed := id
	if id, err = d.lookup(ctx, key); err != nil || id == "" {
		return "", err
	}
	if id == failed {
		return "", fmt.Errorf("attach to %s: %w", id, err)
	}
	if _, _, err := d.svc.AttachAlertTo(ctx, d.actor, al.ID, id); err != nil {
		if d.taken(ctx, al.ID) {
			return "", errTaken
		}
		return "", fmt.Errorf("attach to %s: %w", id, err)
	}
	return id, nil
}

// taken reports whether the alert has left the triage desk.
func (d *Dispatcher) taken(ctx context.Context, id int64) bool {
	al, err := d.alerts.Alert(ctx, id)
	return err == nil && al.Triage != sitrep.TriagePending
}

// account loads the dispatch account the worker acts as.
func (d *Dispatcher) account(ctx context.Context) error {
	if d.actor != nil {
		return nil
	}
	u, err := d.svc.Dispatcher(ctx)
	if err != nil {
		return err
	}
	d.actor = u
	return nil
}

// sourceKind returns the kind of the named source, reading the sources
// again (at most once a second) when it does not know it.
func (d *Dispatcher) sourceKind(ctx context.Context, name string) string {
	if k, ok := d.kinds[name]; ok {
		return k
	}
	if time.Since(d.kindsAt) < time.Second {
		return ""
	}
	d.kindsAt = time.Now()
	sources, err := d.alerts.Sources(ctx)
	if err != nil {
		d.log.Warn("read the alert sources", "err", err)
		return ""
	}
	kinds := make(map[string]string, len(sources))
	for _, s := range sources {
		kinds[s.Name] = s.Kind
	}
	d.kinds = kinds
	return kinds[name]
}

// metrics are the dispatcher's Prometheus metrics.
type metrics struct {
	decisions *prometheus.CounterVec
	dropped   prometheus.Counter
	unread    prometheus.Counter
	stranded  *prometheus.CounterVec
	reloadErr prometheus.Counter
	reloads   prometheus.Counter
	rules     prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer, d *Dispatcher) *metrics {
	m := &metrics{
		decisions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sitrep_dispatch_decisions_total",
			Help: "Alerts dispatched, by what was done (declare, attach, hold, suppress, error) and the rule that decided (empty: none matched).",
		}, []string{"action", "rule"}),
		dropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sitrep_dispatch_queue_dropped_total",
			Help: "New alerts left pending on the triage desk because the dispatch queue was full; the next sweep takes them up.",
		}),
		unread: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sitrep_dispatch_queue_by_id_total",
			Help: "New alerts queued by ID alone, to be read from the store, because the queued alerts held the queue's bound of bytes.",
		}),
		stranded: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sitrep_dispatch_stranded_total",
			Help: "Alerts found declared without an incident (a declaration cut off by a crash), by what the repair did: linked to the incident declared from them, or released back to the triage desk.",
		}, []string{"outcome"}),
		reloadErr: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sitrep_dispatch_reload_errors_total",
			Help: "Loads of the dispatch rules file that failed; the last good rules stayed in use.",
		}),
		reloads: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sitrep_dispatch_reloads_total",
			Help: "Loads of the dispatch rules file that succeeded, the first included.",
		}),
		rules: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "sitrep_dispatch_rules",
			Help: "Dispatch rules in use.",
		}),
	}
	if reg != nil {
		queued := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "sitrep_dispatch_queue_length",
			Help: "New alerts waiting for dispatch.",
		}, func() float64 { return float64(len(d.queue)) })
		for _, c := range []prometheus.Collector{m.decisions, m.dropped, m.unread, m.stranded, m.reloadErr, m.reloads, m.rules, queued} {
			if err := reg.Register(c); err != nil {
				d.log.Warn("register a dispatch metric", "err", err)
			}
		}
	}
	return m
}
