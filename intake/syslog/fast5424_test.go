package syslog

import (
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// fastCases are RFC 5424 messages, by whether the fast path reads them
// (true) or leaves them to go-syslog's machine (false).
var fastCases = []struct {
	msg  string
	fast bool
}{
	{line5424, true},
	{`<13>1 2026-11-25T20:39:48.837968+00:00 vm myapp - - [timeQuality tzKnown="1" isSynced="0"] hello world`, true},
	{`<130>1 2026-11-25T20:39:48.839733+00:00 vm myapp - MSG1 [timeQuality tzKnown="1" isSynced="0"][zoo@123 tiger="hungry"] one`, true},
	{`<11>1 2026-11-26T05:42:22.123456Z host-12 benchd 4242 - - Disk full on /var/lib/postgresql (load test x #12)`, true},
	{`<0>1 - - - - - - x`, true},
	{`<191>999 2024-02-29T23:59:59-05:30 h a p m - ` + "\ufeff" + `caf` + "\xc3\xa9", true},
	{`<14>1 2026-11-25T20:39:48.1+14:00 h a p m [a b="x y" c="ü"][d] text`, true},
	{"<14>1 2026-11-25T20:39:48Z h a p m - \xff\x00 bad bytes", true},
	{`<14>1 2026-11-25T20:39:48Z h a p m [a b="\"q\""] escaped`, false},
	{`<14>1 2026-11-25T20:39:48Z h a p m [a b=""] empty value`, false},
	{`<14>1 2026-11-25T20:39:48Z h a p m [a][a] twice`, false},
	{`<14>1 2026-11-25T20:39:48Z h a p m [a b="1"] `, false},
	{`<14>1 2026-11-25T20:39:48Z h a p m -`, false},
	{`<14>1 2025-02-29T20:39:48Z h a p m - not a day`, false},
	{`<14>1 2026-11-25T24:39:48Z h a p m - not an hour`, false},
	{`<14>1 2026-11-25T20:39:48.1234567Z h a p m - seven digits`, false},
	{`<14>1 2026-11-25 20:39:48Z h a p m - a space`, false},
	{`<14>0 - h a p m - version 0`, false},
	{`<14>1  h a p m - two spaces`, false},
}

// TestParse5424Fast: the fast path reads the plain messages and gives the
// event the machine gives; it leaves the others to the machine.
func TestParse5424Fast(t *testing.T) {
	for _, tt := range fastCases {
		t.Run(tt.msg, func(t *testing.T) {
			_, ok := parse5424Fast([]byte(tt.msg))
			if ok != tt.fast {
				t.Fatalf("fast path taken: %v, want %v", ok, tt.fast)
			}
			compare5424(t, []byte(tt.msg))
		})
	}
}

// compare5424 fails when the fast path reads msg and its event (or error)
// differs from the machine's.
func compare5424(t *testing.T, msg []byte) {
	t.Helper()
	msg = trimTrailer(msg)
	if checkPRI(msg) != nil {
		return
	}
	fast, ok := parse5424Fast(msg)
	if !ok {
		return
	}
	got, gotErr := normalized(finish(fast))
	want, wantErr := normalized(parse5424Machine(msg))
	if fmt.Sprint(gotErr) != fmt.Sprint(wantErr) {
		t.Fatalf("%q: fast path error %v, machine %v", msg, gotErr, wantErr)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("%q: fast path event differs from the machine's (-machine +fast):\n%s", msg, diff)
	}
}

// FuzzParse5424Fast: whatever the fast path reads, it reads as the machine
// does.
func FuzzParse5424Fast(f *testing.F) {
	for _, l := range seedLines(f) {
		f.Add(l)
	}
	for _, tt := range fastCases {
		f.Add([]byte(tt.msg))
	}
	f.Fuzz(func(t *testing.T, msg []byte) {
		compare5424(t, msg)
	})
}

// BenchmarkParse5424Machine is BenchmarkParse5424 through go-syslog's
// machine, as every message was read before the fast path.
func BenchmarkParse5424Machine(b *testing.B) {
	msg := []byte(line5424)
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := normalized(parse5424Machine(msg)); err != nil {
			b.Fatal(err)
		}
	}
}
