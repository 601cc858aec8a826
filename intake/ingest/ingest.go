// Package ingest stores alert events with group commit: the events of many
// concurrent senders go to the store in one transaction, and each sender is
// answered only once that transaction has committed. A webhook's 2xx, a
// syslog or SMTP acknowledgement can then mean "stored", at the cost of one
// commit per batch rather than one per event.
package ingest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sitrep-ir/sitrep"
)

// Defaults of Options.
const (
	DefaultMaxBatch = 1000
	DefaultMaxDelay = 2 * time.Millisecond
)

// MaxEventsPerCall bounds the events of one Ingest call. A call's events
// are stored in one batch, so that a sender's request is all or nothing.
const MaxEventsPerCall = 10000

// commitTimeout bounds one commit: callers wait for it whatever their own
// deadlines, so a store that hangs must not hold them for ever.
const commitTimeout = 30 * time.Second

// queueLen is how many calls may wait for the batching goroutine while it
// commits; more block in Ingest (until their context ends), which pushes
// back on senders.
const queueLen = 4096

// ErrClosed is returned by Ingest after Close.
var ErrClosed = errors.New("ingest: the ingester is closed and takes no more alerts")

// Options tune an Ingester. Zero values take the defaults.
type Options struct {
	// MaxBatch is how many events a batch holds at most (DefaultMaxBatch).
	// A single call with more events is a batch of its own.
	MaxBatch int
	// MaxDelay is how long a batch waits at most for more calls after its
	// first (DefaultMaxDelay). It waits only while it has fewer calls than
	// the batch before it: senders answered by one commit come back for
	// the next, and a batch that has them all commits at once.
	MaxDelay time.Duration
	Logger   *slog.Logger
	// Clock stamps each event's time of receipt (sitrep.SystemClock).
	Clock sitrep.Clock

	// firstCalls is how many calls the first batch waits for (tests: with
	// an hour's MaxDelay, calls stay queued until Close).
	firstCalls int
}

// Ingester gathers events from concurrent callers into batches.
type Ingester struct {
	store    sitrep.AlertStore
	maxBatch int
	maxDelay time.Duration
	logger   *slog.Logger
	clock    sitrep.Clock
	// lastCalls is how many calls the last batch held: the next waits for
	// as many, at most MaxDelay (only the batching goroutine uses it).
	lastCalls int

	// validSource is the source name last found valid: checking a name is
	// a regular expression's match, and calls mostly name the same source.
	validSource atomic.Pointer[string]

	// waiting counts the events of calls queued or gathered and not yet
	// committed or abandoned: tests watch it to know a call is in.
	waiting atomic.Int64

	mu     sync.RWMutex // guards closed against the close of queue
	closed bool
	queue  chan *call
	done   chan struct{} // closed when the batching goroutine has ended
}

// call is one Ingest call waiting for its batch.
type call struct {
	ctx   context.Context
	batch []sitrep.Ingest
	// state moves from queued to taken (by the batching goroutine, when it
	// commits the call's batch) or to abandoned (by the caller, when its
	// context ends first): whichever comes first decides.
	state  atomic.Int32
	result chan outcome // buffered: the committer never blocks on a caller
}

const (
	queued int32 = iota
	taken
	abandoned
)

type outcome struct {
	results []sitrep.IngestResult
	err     error
}

// New returns an Ingester storing into store, and starts its batching
// goroutine. Close stops it.
func New(store sitrep.AlertStore, opts Options) *Ingester {
	in := &Ingester{
		store:     store,
		maxBatch:  opts.MaxBatch,
		maxDelay:  opts.MaxDelay,
		logger:    opts.Logger,
		clock:     opts.Clock,
		lastCalls: opts.firstCalls,
		queue:     make(chan *call, queueLen),
		done:      make(chan struct{}),
	}
	if in.maxBatch <= 0 {
		in.maxBatch = DefaultMaxBatch
	}
	if in.maxDelay <= 0 {
		in.maxDelay = DefaultMaxDelay
	}
	if in.logger == nil {
		in.logger = slog.New(slog.DiscardHandler)
	}
	in.logger = in.logger.With("component", "intake.ingest")
	if in.clock == nil {
		in.clock = sitrep.SystemClock{}
	}
	go in.run()
	return in
}

// Ingest stores the events of source and returns what became of each, in
// order, once they are committed. Events are normalised first, in place; an event the
// store could not keep fails the call (and only this call) with EInvalid.
//
// If ctx ends while the call is still queued, Ingest returns ctx.Err() and
// nothing of it is stored. Once its batch is being committed, Ingest waits
// for the commit and returns its outcome, so that a nil error always means
// stored and an error means not stored.
func (in *Ingester) Ingest(ctx context.Context, source string, events []sitrep.AlertEvent) ([]sitrep.IngestResult, error) {
	if len(events) == 0 {
		return []sitrep.IngestResult{}, nil
	}
	if len(events) > MaxEventsPerCall {
		return nil, sitrep.Invalid("events", "%d alert events in one request, more than the %d allowed: send them in parts", len(events), MaxEventsPerCall)
	}
	if p := in.validSource.Load(); p == nil || *p != source {
		if err := sitrep.ValidateName("source", source); err != nil {
			return nil, err
		}
		in.validSource.Store(&source)
	}
	at := in.clock.Now().UTC().Truncate(time.Microsecond)
	c := &call{ctx: ctx, batch: make([]sitrep.Ingest, len(events)), result: make(chan outcome, 1)}
	for i := range events {
		ev := &events[i]
		ev.Normalize()
		if err := check(i, ev); err != nil {
			return nil, err
		}
		c.batch[i] = sitrep.Ingest{Source: source, Event: *ev, ReceivedAt: at}
	}

	in.mu.RLock()
	if in.closed {
		in.mu.RUnlock()
		return nil, ErrClosed
	}
	in.waiting.Add(int64(len(c.batch)))
	select {
	case in.queue <- c:
		in.mu.RUnlock()
	case <-ctx.Done():
		in.mu.RUnlock()
		in.waiting.Add(-int64(len(c.batch)))
		return nil, ctx.Err()
	}

	select {
	case o := <-c.result:
		return o.results, o.err
	case <-ctx.Done():
		if c.state.CompareAndSwap(queued, abandoned) {
			in.waiting.Add(-int64(len(c.batch)))
			return nil, ctx.Err()
		}
		o := <-c.result // taken: the commit completes regardless
		return o.results, o.err
	}
}

// check refuses, per call, what Normalize cannot mend.
func check(i int, ev *sitrep.AlertEvent) error {
	switch ev.Action {
	case sitrep.ActionTrigger, sitrep.ActionAcknowledge, sitrep.ActionResolve:
	default:
		return sitrep.Invalid(fmt.Sprintf("events[%d].action", i), "alert event %d: action %.20q is not trigger, acknowledge or resolve", i, ev.Action)
	}
	return nil
}

// Close stores what is queued, then refuses new events with ErrClosed. It
// may be called more than once.
func (in *Ingester) Close() error {
	in.mu.Lock()
	if !in.closed {
		in.closed = true
		close(in.queue)
	}
	in.mu.Unlock()
	<-in.done
	return nil
}

// run is the batching goroutine: it gathers the calls queued, up to
// MaxBatch events, then commits them. A batch with fewer calls than the one
// before waits up to MaxDelay for more: the senders the last commit
// answered are on their way back, and one commit for all of them costs
// less than one each. A batch as large as the last commits at once, so
// that the store is not left idle while senders wait. While it commits,
// new calls wait in the queue and make the next batch.
func (in *Ingester) run() {
	defer close(in.done)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	var next *call // a call that did not fit in the previous batch
	calls := make([]*call, 0, 64)
	for {
		first := next
		next = nil
		if first == nil {
			c, ok := <-in.queue
			if !ok {
				return
			}
			first = c
		}
		calls, n := append(calls[:0], first), len(first.batch)
		open := true
		var expired <-chan time.Time // set once the batch waits
	gather:
		for n < in.maxBatch {
			var c *call
			var ok bool
			select {
			case c, ok = <-in.queue:
			default:
				if len(calls) >= in.lastCalls {
					break gather // as many as last time, and no more queued
				}
				if expired == nil {
					timer.Reset(in.maxDelay)
					expired = timer.C
				}
				select {
				case c, ok = <-in.queue:
				case <-expired:
					break gather
				}
			}
			if !ok {
				open = false
				break gather
			}
			if n+len(c.batch) > in.maxBatch {
				next = c
				break gather
			}
			calls, n = append(calls, c), n+len(c.batch)
		}
		if expired != nil {
			timer.Stop()
		}
		in.lastCalls = len(calls)
		if next != nil {
			// The batch was cut by MaxBatch: the next need not wait for
			// more than fits.
			in.lastCalls = 0
		}
		in.commit(calls)
		if !open {
			if next != nil {
				in.commit([]*call{next})
			}
			return
		}
	}
}

// commit stores the batch of the calls still waiting and answers them.
func (in *Ingester) commit(calls []*call) {
	live, n := calls[:0], 0
	for _, c := range calls {
		if c.state.CompareAndSwap(queued, taken) {
			live = append(live, c)
			n += len(c.batch)
		}
	}
	batch := make([]sitrep.Ingest, 0, n)
	for _, c := range live {
		batch = append(batch, c.batch...)
	}
	if len(live) == 0 {
		return
	}
	defer in.waiting.Add(-int64(len(batch)))
	ctx, cancel := context.WithTimeout(context.Background(), commitTimeout)
	results, err := in.store.IngestAlerts(ctx, batch)
	cancel()
	if err == nil && len(results) != len(batch) {
		err = fmt.Errorf("the store answered %d results for %d events", len(results), len(batch))
	}
	if err != nil {
		in.logger.Error("store alert batch", "events", len(batch), "callers", len(live), "err", err)
		err = fmt.Errorf("ingest: store a batch of %d alert events: %w", len(batch), err)
		for _, c := range live {
			c.result <- outcome{err: err}
		}
		return
	}
	off := 0
	for _, c := range live {
		c.result <- outcome{results: results[off : off+len(c.batch) : off+len(c.batch)]}
		off += len(c.batch)
	}
}
