package exercise

import (
	"testing"
	"time"
)

func TestManualClock(t *testing.T) {
	t0 := time.Date(2026, 5, 7, 14, 5, 0, 0, time.UTC)
	c := NewManualClock(t0)
	now := c.NewTimer(0)
	select {
	case got := <-now.C():
		if !got.Equal(t0) {
			t.Errorf("a timer of 0 fired with %s, want %s", got, t0)
		}
	default:
		t.Fatal("a timer of 0 did not fire at once")
	}
	late, early, stopped := c.NewTimer(2*time.Second), c.NewTimer(time.Second), c.NewTimer(time.Second)
	if !stopped.Stop() || stopped.Stop() {
		t.Error("Stop: want true for a waiting timer, then false")
	}
	if c.Timers() != 2 {
		t.Errorf("%d timers wait, want 2", c.Timers())
	}
	c.Advance(999 * time.Millisecond)
	for _, tm := range []Timer{late, early} {
		select {
		case <-tm.C():
			t.Fatal("a timer fired before its moment")
		default:
		}
	}
	c.Set(t0.Add(1500 * time.Millisecond))
	select {
	case got := <-early.C():
		if want := t0.Add(1500 * time.Millisecond); !got.Equal(want) {
			t.Errorf("fired with %s, want the clock's %s", got, want)
		}
	default:
		t.Fatal("a timer due did not fire")
	}
	c.Set(t0) // never back
	if got := c.Now(); !got.Equal(t0.Add(1500 * time.Millisecond)) {
		t.Errorf("the clock went back to %s", got)
	}
	c.Advance(time.Hour)
	<-late.C()
	select {
	case <-stopped.C():
		t.Error("a stopped timer fired")
	default:
	}
	if c.Timers() != 0 || late.Stop() {
		t.Errorf("%d timers wait after all fired", c.Timers())
	}
}
