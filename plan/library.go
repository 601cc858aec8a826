package plan

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultInterval is how often a Library looks at its directory for changes.
const DefaultInterval = 2 * time.Second

// Library keeps the plans of a directory current while the server runs. It
// holds the last good Set: a change that breaks a plan is logged, problem by
// problem, and counted, and the plans in use stay as they were until the
// files are fixed. Plans reload without a restart: Run looks at the
// directory's files every Interval and reloads when a file was added,
// removed or changed, and Reload reads them at once (the server does on
// SIGHUP). A Library is the domain's sitrep.PlanCatalog: it lists its plans,
// with the problems of a failed load, and gives each whole as JSON.
type Library struct {
	dir    string
	logger *slog.Logger
	// Interval is how often Run looks for changes; DefaultInterval when 0.
	Interval time.Duration

	current      atomic.Pointer[Set]
	reloadErrors atomic.Int64
	reloads      atomic.Int64

	mu      sync.Mutex // serialises loads
	stamp   string     // the directory's fingerprint at the last load attempt
	lastErr error
}

// NewLibrary loads the plans of dir. When they do not load, the library
// starts with an empty set, and the problems are logged and returned: the
// caller decides whether a broken plan stops the start. Either way the
// library is usable and picks up the fixed files.
func NewLibrary(dir string, logger *slog.Logger) (*Library, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	l := &Library{dir: dir, logger: logger.With("component", "plans")}
	l.current.Store(&Set{Dir: dir, byKind: map[string]*Plan{}, byName: map[string]*Plan{}})
	err := l.Reload(context.Background())
	return l, err
}

// Dir is the plans directory.
func (l *Library) Dir() string { return l.dir }

// Current returns the last good set of plans. It never returns nil.
func (l *Library) Current() *Set { return l.current.Load() }

// ReloadErrors counts the loads that failed since the library started: each
// left the plans in use as they were.
func (l *Library) ReloadErrors() int64 { return l.reloadErrors.Load() }

// Reloads counts the loads that succeeded, the first included.
func (l *Library) Reloads() int64 { return l.reloads.Load() }

// LastError is the error of the latest load, nil when it succeeded.
func (l *Library) LastError() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.lastErr
}

// Reload loads the directory now, whether or not it changed. On success the
// new set is current; on failure every problem is logged, the error
// returned and the current set kept.
func (l *Library) Reload(ctx context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.stamp = fingerprint(l.dir)
	return l.load(ctx)
}

// load runs with l.mu held.
func (l *Library) load(ctx context.Context) error {
	set, err := LoadContext(ctx, l.dir)
	l.lastErr = err
	if err != nil {
		l.reloadErrors.Add(1)
		ps := AsProblems(err)
		for _, p := range ps {
			l.logger.Error("plan problem: the plans in use are kept until it is fixed", "file", p.File, "line", p.Line, "column", p.Column, "problem", p.Message)
		}
		if ps == nil {
			l.logger.Error("plans not loaded: the plans in use are kept", "dir", l.dir, "err", err)
		}
		return fmt.Errorf("load plans from %s: %w", l.dir, err)
	}
	l.current.Store(set)
	l.reloads.Add(1)
	for _, p := range set.Plans {
		l.logger.Debug("plan loaded", "plan", p.Name, "kinds", p.Kinds, "version", p.Version.String())
	}
	l.logger.Info("plans loaded", "dir", l.dir, "plans", set.Len(), "commit", set.Commit)
	return nil
}

// Run reloads the plans whenever the directory's files change, until ctx
// ends. Looking is cheap (one directory listing and a stat per file); a
// change is loaded once, whether it loads or not, and loaded again at the
// next change.
func (l *Library) Run(ctx context.Context) {
	interval := l.Interval
	if interval <= 0 {
		interval = DefaultInterval
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			l.poll(ctx)
		}
	}
}

// poll reloads when the directory's fingerprint changed since the last load
// attempt, and reports whether it loaded.
func (l *Library) poll(ctx context.Context) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	stamp := fingerprint(l.dir)
	if stamp == l.stamp {
		return false
	}
	l.stamp = stamp
	_ = l.load(ctx) // logged and counted by load
	return true
}

// fingerprint sums the name, size and modification time of every plan file
// of dir, and of the git HEAD log when dir is in a checkout (a commit changes
// the plans' versions even when no file changes).
func fingerprint(dir string) string {
	h := sha256.New()
	entries, err := os.ReadDir(dir)
	if err != nil {
		fmt.Fprintf(h, "error %v\n", err)
	}
	var lines []string
	for _, e := range entries {
		if !isPlanFile(e.Name()) {
			continue
		}
		info, err := e.Info()
		if err != nil {
			lines = append(lines, e.Name()+" gone")
			continue
		}
		lines = append(lines, fmt.Sprintf("%s %d %d %v", e.Name(), info.Size(), info.ModTime().UnixNano(), info.Mode()))
	}
	d, err := filepath.Abs(dir)
	for err == nil {
		if info, err := os.Stat(filepath.Join(d, ".git", "logs", "HEAD")); err == nil {
			lines = append(lines, fmt.Sprintf(".git %d %d", info.Size(), info.ModTime().UnixNano()))
			break
		}
		parent := filepath.Dir(d)
		if parent == d {
			break
		}
		d = parent
	}
	sort.Strings(lines)
	for _, s := range lines {
		fmt.Fprintln(h, s)
	}
	return hex.EncodeToString(h.Sum(nil))
}
