package postgres

import (
	"strings"
	"testing"
)

func TestTimelinePayload(t *testing.T) {
	for _, tc := range []struct {
		payload string
		id      string
		seq     int64
		bad     string // part of the error, when the payload is refused
	}{
		{payload: "IR-2026-0042:7", id: "IR-2026-0042", seq: 7},
		{payload: timelinePayload("a:b", 9), id: "a:b", seq: 9},
		{payload: "IR-2026-0042", bad: "no ':'"},
		{payload: ":3", bad: "no incident ID"},
		{payload: "IR-2026-0042:", bad: "sequence number"},
		{payload: "IR-2026-0042:0", bad: "sequence number"},
		{payload: "IR-2026-0042:-4", bad: "sequence number"},
		{payload: "IR-2026-0042:99999999999999999999", bad: "sequence number"},
		{payload: strings.Repeat("x", maxIncidentID+1) + ":1", bad: "bytes long"},
	} {
		id, seq, err := parseTimelinePayload(tc.payload)
		switch {
		case tc.bad != "" && (err == nil || !strings.Contains(err.Error(), tc.bad)):
			t.Errorf("%q: error %v, want one saying %q", tc.payload, err, tc.bad)
		case tc.bad == "" && (err != nil || id != tc.id || seq != tc.seq):
			t.Errorf("%q: %q, %d, %v; want %q, %d", tc.payload, id, seq, err, tc.id, tc.seq)
		}
	}
}

// FuzzTimelinePayload: any payload is read or refused without a panic, and
// what is read is written back the same.
func FuzzTimelinePayload(f *testing.F) {
	for _, p := range []string{"IR-2026-0042:7", "", ":", "a:b:3", "x:-1", "x:+5", "x:007"} {
		f.Add(p)
	}
	f.Fuzz(func(t *testing.T, p string) {
		id, seq, err := parseTimelinePayload(p)
		if err != nil {
			return
		}
		if id == "" || len(id) > maxIncidentID || seq < 1 {
			t.Fatalf("%q read as %q, %d", p, id, seq)
		}
		if id2, seq2, err := parseTimelinePayload(timelinePayload(id, seq)); err != nil || id2 != id || seq2 != seq {
			t.Fatalf("%q read as %q, %d; written back and read as %q, %d, %v", p, id, seq, id2, seq2, err)
		}
	})
}
