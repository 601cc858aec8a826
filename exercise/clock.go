package exercise

import (
	"slices"
	"sync"
	"time"

	"github.com/sitrep-ir/sitrep"
)

// Clock is the time source of scenario time: the runner reads the time
// from it and waits on it for the next inject and the end. The server runs
// on MonotonicClock; a test that gives the service and the runner the same
// ManualClock moves scenario time itself, so that what the participants do
// and what the runner fires agree on the time whatever the machine's load.
type Clock interface {
	sitrep.Clock
	// NewTimer returns a timer that fires once the clock has moved d past
	// now (at once when d <= 0).
	NewTimer(d time.Duration) Timer
}

// Timer fires once, on its channel, with the clock's time.
type Timer interface {
	C() <-chan time.Time
	// Stop keeps the timer from firing; false when it had fired or
	// stopped already.
	Stop() bool
}

// MonotonicClock is the real clock: its times carry the monotonic reading,
// so scenario time does not jump when the wall clock is set.
type MonotonicClock struct{}

// Now returns the current time.
func (MonotonicClock) Now() time.Time { return time.Now() }

// NewTimer returns a timer of the runtime.
func (MonotonicClock) NewTimer(d time.Duration) Timer { return realTimer{time.NewTimer(d)} }

type realTimer struct{ t *time.Timer }

func (t realTimer) C() <-chan time.Time { return t.t.C }
func (t realTimer) Stop() bool          { return t.t.Stop() }

// ManualClock is a clock that moves only when told (Set, Advance), firing
// the timers that fall due. It serves as the service's clock too
// (sitrep.Clock), so everything stamped by the service agrees with the
// runner. Safe for concurrent use.
type ManualClock struct {
	mu     sync.Mutex
	now    time.Time
	timers []*manualTimer
}

// NewManualClock returns a ManualClock standing at t.
func NewManualClock(t time.Time) *ManualClock { return &ManualClock{now: t} }

// Now returns the clock's time.
func (c *ManualClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock d forward.
func (c *ManualClock) Advance(d time.Duration) { c.Set(c.Now().Add(d)) }

// Set moves the clock to t and fires the timers due by then, earliest
// first. It never moves the clock back: a t before now leaves it.
func (c *ManualClock) Set(t time.Time) {
	c.mu.Lock()
	if t.After(c.now) {
		c.now = t
	}
	now := c.now
	var due []*manualTimer
	c.timers = slices.DeleteFunc(c.timers, func(mt *manualTimer) bool {
		if mt.at.After(now) {
			return false
		}
		due = append(due, mt)
		return true
	})
	c.mu.Unlock()
	slices.SortStableFunc(due, func(a, b *manualTimer) int { return a.at.Compare(b.at) })
	for _, mt := range due {
		mt.c <- now // buffered, and each timer fires once
	}
}

// Timers returns how many timers wait on the clock: a test may wait for
// a goroutine to be back waiting before it moves the clock.
func (c *ManualClock) Timers() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.timers)
}

// NewTimer returns a timer that fires when the clock is set to now+d or
// later.
func (c *ManualClock) NewTimer(d time.Duration) Timer {
	mt := &manualTimer{clock: c, c: make(chan time.Time, 1)}
	c.mu.Lock()
	mt.at = c.now.Add(d)
	if d <= 0 {
		mt.c <- c.now
		c.mu.Unlock()
		return mt
	}
	c.timers = append(c.timers, mt)
	c.mu.Unlock()
	return mt
}

type manualTimer struct {
	clock *ManualClock
	at    time.Time
	c     chan time.Time
}

func (mt *manualTimer) C() <-chan time.Time { return mt.c }

func (mt *manualTimer) Stop() bool {
	c := mt.clock
	c.mu.Lock()
	defer c.mu.Unlock()
	i := slices.Index(c.timers, mt)
	if i < 0 {
		return false
	}
	c.timers = slices.Delete(c.timers, i, i+1)
	return true
}
