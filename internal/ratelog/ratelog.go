// Package ratelog logs each kind of line at most once per interval, saying
// how many were left out since: a flood of refused packets or messages is a
// line every few seconds, not one per packet.
package ratelog

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// Logger is a rate-limited logger. It is safe for concurrent use.
type Logger struct {
	logger *slog.Logger
	every  time.Duration
	now    func() time.Time

	mu    sync.Mutex
	kinds map[string]*state
}

type state struct {
	last    time.Time
	skipped int
}

// New returns a Logger writing to log at most one line of each kind per
// interval every.
func New(log *slog.Logger, every time.Duration) *Logger {
	return &Logger{logger: log, every: every, now: time.Now, kinds: map[string]*state{}}
}

// Log writes msg with args at level unless a line of the same kind was
// written less than the interval ago, in which case it only counts it. The
// next line of the kind written carries more_not_logged, the count of lines
// left out since the last.
func (l *Logger) Log(level slog.Level, kind, msg string, args ...any) {
	l.mu.Lock()
	st := l.kinds[kind]
	if st == nil {
		st = &state{}
		l.kinds[kind] = st
	}
	now := l.now()
	if !st.last.IsZero() && now.Sub(st.last) < l.every {
		st.skipped++
		l.mu.Unlock()
		return
	}
	skipped := st.skipped
	st.last, st.skipped = now, 0
	l.mu.Unlock()
	if skipped > 0 {
		args = append(args, "more_not_logged", skipped)
	}
	l.logger.Log(context.Background(), level, msg, args...)
}
