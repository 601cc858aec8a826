package ratelog

import (
	"bytes"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestLogOncePerIntervalPerKind(t *testing.T) {
	var buf bytes.Buffer
	l := New(slog.New(slog.NewTextHandler(&buf, nil)), time.Minute)
	now := time.Date(2026, 5, 4, 3, 0, 0, 0, time.UTC)
	l.now = func() time.Time { return now }

	for range 3 {
		l.Log(slog.LevelWarn, "refused", "refused a message", "reason", "too_large")
	}
	l.Log(slog.LevelError, "store", "store failed")
	now = now.Add(59 * time.Second)
	l.Log(slog.LevelWarn, "refused", "refused a message", "reason", "too_large")
	now = now.Add(time.Second)
	l.Log(slog.LevelWarn, "refused", "refused again", "reason", "no_source")

	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 3 {
		t.Fatalf("logged %d lines; want 3 (the first of each kind, then one after the interval):\n%s", len(lines), buf.String())
	}
	for i, want := range []string{"msg=\"refused a message\" reason=too_large", "msg=\"store failed\"", "msg=\"refused again\" reason=no_source more_not_logged=3"} {
		if !strings.Contains(lines[i], want) {
			t.Errorf("line %d = %s; want it to hold %s", i+1, lines[i], want)
		}
	}
	if strings.Contains(lines[0], "more_not_logged") {
		t.Errorf("the first line counts lines left out: %s", lines[0])
	}
}

func TestLogConcurrent(t *testing.T) {
	var buf syncBuffer
	l := New(slog.New(slog.NewTextHandler(&buf, nil)), time.Hour)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 100 {
				l.Log(slog.LevelWarn, "flood", "flood")
			}
		})
	}
	wg.Wait()
	if n := strings.Count(buf.String(), "msg=flood"); n != 1 {
		t.Errorf("logged %d lines of one kind within the interval; want 1", n)
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
