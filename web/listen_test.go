package web

import (
	"context"
	"testing"
	"time"

	"github.com/sitrep-ir/sitrep"
)

// signalled reports whether s has a signal pending, taking it.
func signalled(s *Subscription) bool {
	select {
	case <-s.C():
		return true
	default:
		return false
	}
}

// TestHubFollowsNotifications: an announcement past what the hub knows
// signals the incident's pages and the boards; this replica's own appends,
// already published, and stale announcements signal no one. Starting to
// listen asks for a poll at once and slows the regular one.
func TestHubFollowsNotifications(t *testing.T) {
	h := NewHub(nil, nil, time.Second)
	page := h.Subscribe("IR-2026-0001")
	board := h.Subscribe("")
	defer page.Close()
	defer board.Close()

	if got := h.interval(); got != time.Second {
		t.Fatalf("interval before listening %v, want the hub's own", got)
	}
	h.notified("", 0)
	select {
	case <-h.kick:
	default:
		t.Error("starting to listen asked for no poll")
	}
	if got := h.interval(); got != ListeningPollInterval {
		t.Errorf("interval while listening %v, want %v", got, ListeningPollInterval)
	}

	h.Publish([]sitrep.Entry{{IncidentID: "IR-2026-0001", Seq: 3}})
	signalled(page)
	signalled(board)
	for _, seq := range []int64{3, 2} {
		h.notified("IR-2026-0001", seq)
		if signalled(page) || signalled(board) {
			t.Errorf("an announcement of entry %d, known already, signalled again", seq)
		}
	}
	h.notified("IR-2026-0001", 4)
	if !signalled(page) || !signalled(board) {
		t.Error("an announcement of a new entry signalled neither the page nor the board")
	}
	if got := page.Seq(); got != 4 {
		t.Errorf("the page's stream would announce entry %d, want 4", got)
	}
	h.notified("IR-2026-0002", 1)
	if signalled(page) {
		t.Error("another incident's announcement signalled the page")
	}
	if !signalled(board) {
		t.Error("another incident's announcement did not signal the board")
	}
}

// listenOnce is a notifier that starts listening and stops at once, as one
// whose context ended would.
type listenOnce struct{}

func (listenOnce) Listen(ctx context.Context, fn func(string, int64)) error {
	fn("", 0)
	return context.Canceled
}

// TestHubListenEnds: when the notifier stops, the hub polls at its own
// interval again.
func TestHubListenEnds(t *testing.T) {
	h := NewHub(nil, nil, time.Second)
	if err := h.Listen(t.Context(), listenOnce{}); err != context.Canceled {
		t.Errorf("Listen returned %v, want the notifier's error", err)
	}
	if got := h.interval(); got != time.Second {
		t.Errorf("interval after the notifier stopped %v, want the hub's own", got)
	}
}
