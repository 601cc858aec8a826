package web

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/sitrep-ir/sitrep"
)

// Hub tells the open pages that an incident changed. Service.Appended
// calls Publish after every commit; each page's event stream subscribes to
// one incident (or, for the board, to all) and, when told, fetches what it
// is missing from the server, so the stream itself carries no data and no
// one's rendering is duplicated in JavaScript.
//
// A replica sees only its own appends through Publish. When the store
// announces every replica's appends (a TimelineNotifier, PostgreSQL's
// LISTEN/NOTIFY), Listen follows them, so a change made on any replica
// reaches the pages open on every other as soon as it commits. The hub also
// polls the store for incidents with subscribers: one read of each watched
// incident's state and, while a board is open, one listing, however many
// pages are open. That is how a replica learns of the others' changes
// without a notifier, every PollInterval, and the fallback while a notifier
// listens, every ListeningPollInterval.
type Hub struct {
	store sitrep.Store
	log   *slog.Logger
	poll  time.Duration

	mu     sync.Mutex
	subs   map[string]map[*Subscription]struct{} // by incident ID; "" is the board
	seqs   map[string]int64                      // the latest seq known per incident
	board  string                                // fingerprint of the open incidents, for polling
	closed bool
	done   chan struct{}

	listening bool          // a notifier is listening (see Listen)
	kick      chan struct{} // asks Run to poll now
}

// PollInterval is how often the hub checks the store for changes made by
// other replicas when nothing announces them.
const PollInterval = 2 * time.Second

// ListeningPollInterval is how often the hub checks the store while a
// notifier announces the other replicas' changes: a fallback for a
// notification lost while the notifier reconnects.
const ListeningPollInterval = 10 * time.Second

// TimelineNotifier is a store that announces every append to any incident's
// timeline, by any replica sharing it, once committed.
type TimelineNotifier interface {
	// Listen calls fn with the incident's ID and its latest sequence number
	// after each commit that appends to its timeline, until ctx ends; then
	// it returns ctx's error. It calls fn with an empty ID each time it
	// starts listening (at first, and after reconnecting): appends made
	// before then were not announced, and the caller should look for them.
	Listen(ctx context.Context, fn func(incidentID string, seq int64)) error
}

// NewHub returns a hub that polls store every poll (PollInterval if 0) once
// Run is called.
func NewHub(store sitrep.Store, logger *slog.Logger, poll time.Duration) *Hub {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if poll <= 0 {
		poll = PollInterval
	}
	return &Hub{store: store, log: logger, poll: poll, subs: map[string]map[*Subscription]struct{}{},
		seqs: map[string]int64{}, done: make(chan struct{}), kick: make(chan struct{}, 1)}
}

// Subscription is one open page's interest in an incident, or in every
// incident ("" for the board).
type Subscription struct {
	hub      *Hub
	incident string
	c        chan struct{}
}

// C is signalled when the incident changed. Signals coalesce: a page that
// was busy gets one, and fetches everything it missed.
func (s *Subscription) C() <-chan struct{} { return s.c }

// Seq returns the latest timeline sequence number the hub knows of the
// subscription's incident: the one a signal announces (0 for the board, or
// before the hub has seen a change).
func (s *Subscription) Seq() int64 {
	if s.incident == "" {
		return 0
	}
	s.hub.mu.Lock()
	defer s.hub.mu.Unlock()
	return s.hub.seqs[s.incident]
}

// Done is closed when the hub closes.
func (s *Subscription) Done() <-chan struct{} { return s.hub.done }

// Close ends the subscription.
func (s *Subscription) Close() {
	h := s.hub
	h.mu.Lock()
	defer h.mu.Unlock()
	if set := h.subs[s.incident]; set != nil {
		delete(set, s)
		if len(set) == 0 {
			delete(h.subs, s.incident)
		}
	}
}

// Subscribe follows incident ("" for every incident).
func (h *Hub) Subscribe(incident string) *Subscription {
	s := &Subscription{hub: h, incident: incident, c: make(chan struct{}, 1)}
	h.mu.Lock()
	defer h.mu.Unlock()
	set := h.subs[incident]
	if set == nil {
		set = map[*Subscription]struct{}{}
		h.subs[incident] = set
	}
	set[s] = struct{}{}
	return s
}

// Subscribers returns how many subscriptions are open.
func (h *Hub) Subscribers() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, set := range h.subs {
		n += len(set)
	}
	return n
}

// Publish tells the subscribers of the entries' incidents, and the boards,
// that they changed. It never blocks.
func (h *Hub) Publish(entries []sitrep.Entry) {
	if len(entries) == 0 {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	changed := map[string]bool{}
	for i := range entries {
		e := &entries[i]
		if e.Seq > h.seqs[e.IncidentID] {
			h.seqs[e.IncidentID] = e.Seq
		}
		changed[e.IncidentID] = true
	}
	for id := range changed {
		h.signal(id)
	}
	h.signal("")
}

// signal wakes incident's subscribers; the caller holds h.mu.
func (h *Hub) signal(incident string) {
	for s := range h.subs[incident] {
		select {
		case s.c <- struct{}{}:
		default: // one signal is pending already
		}
	}
}

// Listen follows n's announcements of appends until ctx ends or the hub
// closes, and returns why it stopped. An append to an incident past the
// latest entry the hub knows signals its pages and the boards, as Publish
// does; this replica's own appends, which Publish announced already, signal
// no one again. Each time n starts listening, Run polls at once for what was
// appended before; while it listens, Run polls only every
// ListeningPollInterval (or the hub's own interval, if longer).
func (h *Hub) Listen(ctx context.Context, n TimelineNotifier) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-h.done:
			cancel()
		case <-ctx.Done():
		}
	}()
	defer func() {
		h.mu.Lock()
		h.listening = false
		h.mu.Unlock()
	}()
	return n.Listen(ctx, h.notified)
}

// notified handles one announcement of the notifier (see Listen).
func (h *Hub) notified(incident string, seq int64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if incident == "" {
		h.listening = true
		select {
		case h.kick <- struct{}{}:
		default: // a poll is asked for already
		}
		return
	}
	if seq <= h.seqs[incident] {
		return
	}
	h.seqs[incident] = seq
	h.signal(incident)
	h.signal("")
}

// interval is how long Run waits between polls.
func (h *Hub) interval() time.Duration {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.listening {
		return max(h.poll, ListeningPollInterval)
	}
	return h.poll
}

// Run polls the store for changes made elsewhere until ctx ends or the hub
// closes.
func (h *Hub) Run(ctx context.Context) {
	t := time.NewTimer(h.interval())
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-h.done:
			return
		case <-h.kick:
			h.pollOnce(ctx)
		case <-t.C:
			h.pollOnce(ctx)
		}
		t.Reset(h.interval())
	}
}

// pollOnce checks each watched incident for entries past the last known
// one, and the open incidents for a change when a board is watching. What
// it sees for the first time counts as a change: a page may have loaded
// just before it, and one more fetch costs less than a missed update.
func (h *Hub) pollOnce(ctx context.Context) {
	h.mu.Lock()
	watched := map[string]int64{}
	board := false
	for id := range h.subs {
		if id == "" {
			board = true
			continue
		}
		watched[id] = h.seqs[id]
	}
	h.mu.Unlock()
	for id, seq := range watched {
		inc, err := h.store.Incident(ctx, id)
		if err != nil {
			if ctx.Err() == nil {
				h.log.Warn("poll for live updates", "incident", id, "err", err)
			}
			continue
		}
		if inc.Seq > seq {
			h.mu.Lock()
			if inc.Seq > h.seqs[id] {
				h.seqs[id] = inc.Seq
				h.signal(id)
			}
			h.mu.Unlock()
		}
	}
	if board {
		incs, err := h.store.Incidents(ctx, sitrep.IncidentFilter{Open: true})
		if err != nil {
			if ctx.Err() == nil {
				h.log.Warn("poll the board for live updates", "err", err)
			}
			return
		}
		var sum int64
		for _, inc := range incs {
			sum += inc.Seq
		}
		fp := strconv.Itoa(len(incs)) + ":" + strconv.FormatInt(sum, 10)
		h.mu.Lock()
		if h.board != fp {
			h.board = fp
			h.signal("")
		}
		h.mu.Unlock()
	}
}

// Close ends every subscription's stream and stops Run.
func (h *Hub) Close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.closed {
		h.closed = true
		close(h.done)
	}
}

// heartbeat keeps idle event streams open through proxies.
const heartbeat = 25 * time.Second

// stream serves an event stream to one page: an event "change" whenever
// sub is signalled, and once at the start, so that a page that loaded
// before a change catches up, until the client goes or the hub closes.
// Each event's data is the incident's latest sequence number known (at
// least start, the one the stream began at), so that a page that already
// shows it fetches nothing; the board's events carry 0.
//
// The board's first event carries the version of the board the person sees
// (see boardVersion), so that a board that shows it fetches nothing either.
func (s *Server) stream(w http.ResponseWriter, r *http.Request, sub *Subscription, start int64, first string) error {
	defer sub.Close()
	if s.streams != nil {
		s.streams.Inc()
		defer s.streams.Dec()
	}
	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	send := func(msg string) error {
		if _, err := fmt.Fprint(w, msg); err != nil {
			return err
		}
		return rc.Flush()
	}
	seq := func() string { return strconv.FormatInt(max(sub.Seq(), start), 10) }
	if first == "" {
		first = seq()
	}
	if err := send("retry: 3000\n\nevent: change\ndata: " + first + "\n\n"); err != nil {
		return nil // the client went away
	}
	beat := time.NewTicker(heartbeat)
	defer beat.Stop()
	for {
		select {
		case <-r.Context().Done():
			return nil
		case <-sub.Done():
			return nil
		case <-beat.C:
			if send(": still here\n\n") != nil {
				return nil
			}
		case <-sub.C():
			if send("event: change\ndata: "+seq()+"\n\n") != nil {
				return nil
			}
		}
	}
}

// boardEvents streams the board's changes.
func (s *Server) boardEvents(w http.ResponseWriter, r *http.Request, u *sitrep.User) error {
	sub := s.hub.Subscribe("")
	incs, err := s.svc.Incidents(r.Context(), u, sitrep.IncidentFilter{Open: true})
	if err != nil {
		sub.Close()
		return err
	}
	return s.stream(w, r, sub, 0, boardVersion(incs))
}

// boardVersion names the state of the open incidents one person sees: it
// changes with every entry on any of them, and when one opens or closes.
func boardVersion(incs []*sitrep.Incident) string {
	var n, sum int64
	for _, inc := range incs {
		if inc.Open() {
			n++
			sum += inc.Seq
		}
	}
	return "board-" + strconv.FormatInt(n, 10) + "-" + strconv.FormatInt(sum, 10)
}

// incidentEvents streams one incident's changes to someone who may see it.
// It subscribes before it reads the incident, so that a change committed
// between the two is announced either way.
func (s *Server) incidentEvents(w http.ResponseWriter, r *http.Request, u *sitrep.User) error {
	sub := s.hub.Subscribe(r.PathValue("id"))
	inc, err := s.svc.Incident(r.Context(), u, r.PathValue("id"))
	if err != nil {
		sub.Close()
		return err
	}
	return s.stream(w, r, sub, inc.Seq, "")
}
