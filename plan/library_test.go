package plan

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// syncBuffer is a log destination the library's goroutine and the test share.
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

// touch moves a file's modification time forward, as an edit seconds later
// would, so the change shows even on filesystems with coarse timestamps.
func touch(t *testing.T, path string, by time.Duration) {
	t.Helper()
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	at := info.ModTime().Add(by)
	if err := os.Chtimes(path, at, at); err != nil {
		t.Fatal(err)
	}
}

func TestLibraryKeepsLastGoodSet(t *testing.T) {
	dir := writePlans(t, map[string]string{"malware.yaml": "title: Malware\nkinds: [malware]\n"})
	var logs syncBuffer
	lib, err := NewLibrary(dir, slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	first := lib.Current()
	if first.ForKind("malware") == nil || lib.Reloads() != 1 {
		t.Fatalf("first load: %v plans, %d reloads", first.Len(), lib.Reloads())
	}
	if lib.poll(ctx) {
		t.Error("an unchanged directory was reloaded")
	}

	// A broken edit: the last good set stays, the problem is logged and
	// counted.
	bad := filepath.Join(dir, "malware.yaml")
	writeFile(t, bad, "title: Malware\nkinds: [malware]\nseverity: 7\n")
	touch(t, bad, time.Second)
	if !lib.poll(ctx) {
		t.Fatal("a changed file was not reloaded")
	}
	if lib.Current() != first || lib.ReloadErrors() != 1 || lib.LastError() == nil {
		t.Fatalf("after a broken edit: current changed %v, %d errors, last error %v", lib.Current() != first, lib.ReloadErrors(), lib.LastError())
	}
	if !strings.Contains(logs.String(), "line=3 column=11 problem=\"severity 7 is out of range: 1 to 4\"") {
		t.Errorf("the problem was not logged with its place:\n%s", logs.String())
	}
	if lib.poll(ctx) || lib.ReloadErrors() != 1 {
		t.Error("a broken file was loaded again without a change")
	}

	// The fix and a new plan are picked up.
	writeFile(t, bad, "title: Malware\nkinds: [malware]\nseverity: 2\n")
	touch(t, bad, 2*time.Second)
	writeFile(t, filepath.Join(dir, "worm.yaml"), "title: Worm\nkinds: [worm]\n")
	if !lib.poll(ctx) {
		t.Fatal("the fix was not reloaded")
	}
	cur := lib.Current()
	if cur.ForKind("malware").Severity != 2 || cur.ForKind("worm") == nil || lib.LastError() != nil || lib.Reloads() != 2 {
		t.Errorf("after the fix: %+v, last error %v", cur.Plans, lib.LastError())
	}

	// A removed plan goes away.
	if err := os.Remove(filepath.Join(dir, "worm.yaml")); err != nil {
		t.Fatal(err)
	}
	if !lib.poll(ctx) || lib.Current().ForKind("worm") != nil {
		t.Error("a removed plan is still current")
	}
}

func TestLibraryStartsEmptyWhenBroken(t *testing.T) {
	dir := writePlans(t, map[string]string{"a.yaml": "title: A\nkinds: [a]\nbogus: 1\n"})
	lib, err := NewLibrary(dir, nil)
	if AsProblems(err) == nil {
		t.Fatalf("NewLibrary of a broken directory = %v; want its problems", err)
	}
	if lib.Current() == nil || lib.Current().Len() != 0 || lib.ReloadErrors() != 1 {
		t.Fatalf("a broken start should leave an empty set: %v", lib.Current())
	}
	writeFile(t, filepath.Join(dir, "a.yaml"), "title: A\nkinds: [a]\n")
	touch(t, filepath.Join(dir, "a.yaml"), time.Second)
	if err := lib.Reload(context.Background()); err != nil || lib.Current().ForKind("a") == nil {
		t.Errorf("Reload after the fix: %v", err)
	}
}

func TestLibraryRunReloads(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "plans") // created later: first start with no plans
	lib, err := NewLibrary(dir, nil)
	if err != nil || lib.Current().Len() != 0 {
		t.Fatalf("NewLibrary of a missing directory: %v", err)
	}
	lib.Interval = 10 * time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { lib.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()

	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "outage.yaml"), "title: Outage\nkinds: [outage]\n")
	deadline := time.Now().Add(10 * time.Second)
	for lib.Current().ForKind("outage") == nil {
		if time.Now().After(deadline) {
			t.Fatal("the new plan was not picked up by Run")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
