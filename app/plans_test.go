package app

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sitrep-ir/sitrep/plan"
)

// writeUnnoticed replaces a file's text by one of the same size and puts its
// modification time back, so that the watchers, which look at size and
// time, see no change: only a reload that reads the files finds it.
func writeUnnoticed(t *testing.T, file, text string) {
	t.Helper()
	info, err := os.Stat(file)
	if err != nil {
		t.Fatal(err)
	}
	if int64(len(text)) != info.Size() {
		t.Fatalf("the new text of %s is %d bytes, the old %d: the watchers would notice", file, len(text), info.Size())
	}
	if err := os.WriteFile(file, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(file, info.ModTime(), info.ModTime()); err != nil {
		t.Fatal(err)
	}
}

const (
	rulesV1 = "rules:\n  - name: edr-one\n    match: {source: [edr]}\n    action: hold\n"
	rulesV2 = "rules:\n  - name: edr-two\n    match: {source: [edr]}\n    action: hold\n"
)

// TestSIGHUPReloadsPlansAndDispatchRules: one SIGHUP reloads the plans and
// the dispatch rules at once, including changes the watchers cannot see; a
// broken plan is refused and the plan in use stays.
func TestSIGHUPReloadsPlansAndDispatchRules(t *testing.T) {
	dir := t.TempDir()
	planFile := filepath.Join(dir, "malware.yaml")
	rulesFile := filepath.Join(dir, "dispatch.yaml")
	for file, text := range map[string]string{planFile: "title: Malware one\nkinds: [malware]\n", rulesFile: rulesV1} {
		if err := os.WriteFile(file, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	a, err := New(context.Background(), Config{Addr: "127.0.0.1:0", DB: "sqlite:" + filepath.Join(t.TempDir(), "sitrep.db"), Plans: dir})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := a.Stop(context.Background()); err != nil {
			t.Errorf("stop: %v", err)
		}
	})
	lib := a.Plans()
	title := func() string { return lib.Current().ForKind("malware").Title }
	rule := func() string { return a.Dispatcher().Rules().Rules[0].Name }
	if title() != "Malware one" || rule() != "edr-one" {
		t.Fatalf("at start: plan %q, rule %q", title(), rule())
	}

	writeUnnoticed(t, planFile, "title: Malware two\nkinds: [malware]\n")
	writeUnnoticed(t, rulesFile, rulesV2)
	reloads := lib.Reloads()
	if err := syscall.Kill(syscall.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for lib.Reloads() == reloads || rule() != "edr-two" {
		if time.Now().After(deadline) {
			t.Fatalf("after SIGHUP: plan %q (%d reloads), rule %q; want both reloaded", title(), lib.Reloads(), rule())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if title() != "Malware two" {
		t.Errorf("after SIGHUP the plan is %q", title())
	}

	// Reload, as SIGHUP runs it: a broken plan is refused, named, and the
	// plan in use stays.
	writeUnnoticed(t, planFile, "title: Malware one\nkinds: [Malware]\n")
	err = a.Reload(context.Background())
	if ps := plan.AsProblems(err); len(ps) != 1 || ps[0].Line != 2 || !strings.Contains(ps[0].Message, `kind "Malware" is not valid`) {
		t.Errorf("Reload of a broken plan: %v", err)
	}
	if title() != "Malware two" || lib.ReloadErrors() != 1 {
		t.Errorf("after a broken reload: plan %q, %d reload errors", title(), lib.ReloadErrors())
	}
}
