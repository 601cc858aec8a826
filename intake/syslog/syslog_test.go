package syslog

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/sitrep-ir/sitrep"
	"github.com/sitrep-ir/sitrep/intake/intaketest"
)

var ignoreRaw = cmpopts.IgnoreFields(sitrep.AlertEvent{}, "Raw")

// fixedNow pins the clock RFC 3164 timestamps get their year from.
func fixedNow(t *testing.T, at time.Time) {
	t.Helper()
	old := now
	now = func() time.Time { return at }
	t.Cleanup(func() { now = old })
}

func checkEvent(t *testing.T, ev sitrep.AlertEvent) {
	t.Helper()
	if err := intaketest.CheckEvent(ev); err != nil {
		t.Error(err)
	}
	if err := intaketest.CheckText(ev); err != nil {
		t.Error(err)
	}
}

func TestParse(t *testing.T) {
	fixedNow(t, time.Date(2026, 11, 25, 21, 0, 0, 0, time.UTC))
	tests := []struct {
		name string
		msg  string
		want sitrep.AlertEvent
	}{
		{"RFC 5424 from logger",
			`<13>1 2026-11-25T20:39:48.837968+00:00 vm myapp - - [timeQuality tzKnown="1" isSynced="1" syncAccuracy="57000"] hello world`,
			sitrep.AlertEvent{Action: "trigger", Severity: 4, Summary: "hello world", DedupKey: dedupKey("vm", "myapp", "hello world"),
				Labels: map[string]string{"host": "vm", "app": "myapp", "facility": "user",
					"sd.timeQuality.tzKnown": "1", "sd.timeQuality.isSynced": "1", "sd.timeQuality.syncAccuracy": "57000"},
				OccurredAt: time.Date(2026, 11, 25, 20, 39, 48, 837968000, time.UTC)}},
		{"RFC 5424 with msgid, procid and two SD elements",
			`<130>1 2026-11-25T21:39:48.5+01:00 db1.example.org postgres 4711 CHKPT [timeQuality tzKnown="1"][zoo@32473 tiger="hungry \"very\""] checkpoints are occurring too frequently` + "\n",
			sitrep.AlertEvent{Action: "trigger", Severity: 1, Summary: "checkpoints are occurring too frequently",
				DedupKey: dedupKey("db1.example.org", "postgres", "checkpoints are occurring too frequently"),
				Labels: map[string]string{"host": "db1.example.org", "app": "postgres", "procid": "4711", "msgid": "CHKPT", "facility": "local0",
					"sd.timeQuality.tzKnown": "1", "sd.zoo@32473.tiger": `hungry "very"`},
				OccurredAt: time.Date(2026, 11, 25, 20, 39, 48, 5e8, time.UTC)}},
		{"RFC 5424 with a BOM and nil fields",
			"<11>1 - - - - - - \xef\xbb\xbfDatenbank nicht erreichbar",
			sitrep.AlertEvent{Action: "trigger", Severity: 2, Summary: "Datenbank nicht erreichbar", DedupKey: dedupKey("", "", "Datenbank nicht erreichbar"),
				Labels: map[string]string{"facility": "user"}}},
		{"RFC 5424 keeps a newline inside",
			"<12>1 2026-11-25T20:39:51Z vm root - - - line1\nline2",
			sitrep.AlertEvent{Action: "trigger", Severity: 3, Summary: "line1 line2", DedupKey: dedupKey("vm", "root", "line1\nline2"),
				Labels: map[string]string{"host": "vm", "app": "root", "facility": "user"}, OccurredAt: time.Date(2026, 11, 25, 20, 39, 51, 0, time.UTC)}},
		{"RFC 3164 from logger",
			`<13>Nov 25 20:39:48 vm myapp: hello 3164`,
			sitrep.AlertEvent{Action: "trigger", Severity: 4, Summary: "hello 3164", DedupKey: dedupKey("vm", "myapp", "hello 3164"),
				Labels: map[string]string{"host": "vm", "app": "myapp", "facility": "user"}, OccurredAt: time.Date(2026, 11, 25, 20, 39, 48, 0, time.UTC)}},
		{"RFC 3164 with a pid, the RFC's example",
			`<34>Oct 11 22:14:15 mymachine su[230]: 'su root' failed for lonvick on /dev/pts/8`,
			sitrep.AlertEvent{Action: "trigger", Severity: 1, Summary: "'su root' failed for lonvick on /dev/pts/8",
				DedupKey: dedupKey("mymachine", "su", "'su root' failed for lonvick on /dev/pts/8"),
				Labels:   map[string]string{"host": "mymachine", "app": "su", "procid": "230", "facility": "auth"}, OccurredAt: time.Date(2026, 10, 11, 22, 14, 15, 0, time.UTC)}},
		{"RFC 3164 from December is last year's in November",
			`<12>Dec 31 23:59:58 fw1 kernel: link down`,
			sitrep.AlertEvent{Action: "trigger", Severity: 3, Summary: "link down", DedupKey: dedupKey("fw1", "kernel", "link down"),
				Labels: map[string]string{"host": "fw1", "app": "kernel", "facility": "user"}, OccurredAt: time.Date(2025, 12, 31, 23, 59, 58, 0, time.UTC)}},
		{"RFC 3164 with an RFC 3339 timestamp, as rsyslog forwards",
			"<86>2026-11-25T20:39:48.123+00:00 bastion sshd[812]: Accepted publickey for deploy\r\n",
			sitrep.AlertEvent{Action: "trigger", Severity: 4, Summary: "Accepted publickey for deploy", DedupKey: dedupKey("bastion", "sshd", "Accepted publickey for deploy"),
				Labels: map[string]string{"host": "bastion", "app": "sshd", "procid": "812", "facility": "authpriv"}, OccurredAt: time.Date(2026, 11, 25, 20, 39, 48, 123e6, time.UTC)}},
		{"RFC 3164 without a header is kept whole",
			"<27>disk controller failure on slot 3\x00",
			sitrep.AlertEvent{Action: "trigger", Severity: 2, Summary: "disk controller failure on slot 3", DedupKey: dedupKey("", "", "disk controller failure on slot 3"),
				Labels: map[string]string{"facility": "daemon"}}},
		{"invalid UTF-8 becomes readable",
			"<13>Nov 25 20:39:48 vm app: caf\xe9",
			sitrep.AlertEvent{Action: "trigger", Severity: 4, Summary: "caf\uFFFD", DedupKey: dedupKey("vm", "app", "caf\uFFFD"),
				Labels: map[string]string{"host": "vm", "app": "app", "facility": "user"}, OccurredAt: time.Date(2026, 11, 25, 20, 39, 48, 0, time.UTC)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse([]byte(tt.msg))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got, ignoreRaw); diff != "" {
				t.Errorf("event (-want +got):\n%s", diff)
			}
			if !strings.HasPrefix(got.Raw, tt.msg[:4]) {
				t.Errorf("raw %q is not the message", got.Raw)
			}
			checkEvent(t, got)
		})
	}
}

func TestParseRepetitionsAreOneAlert(t *testing.T) {
	a, err := Parse([]byte(`<11>1 2026-11-25T20:39:48Z web1 nginx 100 - - upstream timed out`))
	if err != nil {
		t.Fatal(err)
	}
	b, err := Parse([]byte(`<11>1 2026-11-25T20:45:01Z web1 nginx 2231 - - upstream timed out`))
	if err != nil {
		t.Fatal(err)
	}
	c, err := Parse([]byte(`<11>1 2026-11-25T20:45:01Z web2 nginx 2231 - - upstream timed out`))
	if err != nil {
		t.Fatal(err)
	}
	if a.DedupKey != b.DedupKey {
		t.Errorf("the same line at another time from another process: keys %q and %q differ", a.DedupKey, b.DedupKey)
	}
	if a.DedupKey == c.DedupKey {
		t.Errorf("the same line from another host has the same key %q", a.DedupKey)
	}
}

func TestParseRefuses(t *testing.T) {
	tests := []struct {
		name, msg, field, want string
		parse                  func([]byte) (sitrep.AlertEvent, error)
	}{
		{"empty", "\r\n", "", "empty syslog message", Parse},
		{"no priority", "hello world", "", "not a syslog message: it does not start with a <priority>", Parse},
		{"priority out of range", "<192>Nov 25 20:39:48 vm app: x", "", `not a syslog message: "<192>N" is not a <priority> from <0> to <191>`, Parse},
		{"priority with a leading zero", "<013>Nov 25 20:39:48 vm app: x", "", `not a syslog message: "<013>N" is not a <priority> from <0> to <191>`, Parse},
		{"priority not closed", "<13", "", `not a syslog message: "<13" is not a <priority> from <0> to <191>`, Parse},
		{"priority too long", "<1234>1 - - - - - - x", "", `not a syslog message: "<1234>" is not a <priority> from <0> to <191>`, Parse},
		{"priority only", "<13>", "msg", "syslog message has no text", Parse},
		{"RFC 5424 without text", `<13>1 2026-11-25T20:39:48Z vm app - - -`, "msg", "syslog message has no text", Parse},
		{"RFC 5424 with broken structured data", `<13>1 2026-11-25T20:39:48Z vm app - - [bad`, "",
			"not an RFC 5424 syslog message: expecting a structured data element id (from 1 to max 32 US-ASCII characters; except `=`, ` `, `]`, and `\"` [col 42]", Parse},
		{"RFC 5424 with a bad timestamp", `<13>1 2026-13-25T20:39:48Z vm app - - - x`, "",
			"not an RFC 5424 syslog message: expecting a RFC3339MICRO timestamp or a nil value [col 12]", Parse},
		{"RFC 3164 given to the RFC 5424 parser", `<13>Nov 25 20:39:48 vm myapp: hello`, "",
			"not an RFC 5424 syslog message: expecting a version value in the range 1-999 [col 4]", Parse5424},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.parse([]byte(tt.msg))
			if err == nil {
				t.Fatalf("accepted: %+v", got)
			}
			if err := intaketest.CheckError(err); err != nil {
				t.Fatal(err)
			}
			if err.Error() != tt.want {
				t.Errorf("error\n got %q\nwant %q", err.Error(), tt.want)
			}
			if f := sitrep.AsError(err).Field; f != tt.field {
				t.Errorf("field %q, want %q", f, tt.field)
			}
		})
	}
}

func TestWithYear(t *testing.T) {
	stamp := func(month time.Month, day int) time.Time { return time.Date(0, month, day, 12, 0, 0, 0, time.UTC) }
	tests := []struct {
		name      string
		stamp     time.Time
		now, want time.Time
	}{
		{"today", stamp(11, 25), time.Date(2026, 11, 25, 13, 0, 0, 0, time.UTC), time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)},
		{"December read in January", stamp(12, 31), time.Date(2027, 1, 1, 0, 5, 0, 0, time.UTC), time.Date(2026, 12, 31, 12, 0, 0, 0, time.UTC)},
		{"a fast clock's New Year", stamp(1, 1), time.Date(2026, 12, 31, 23, 0, 0, 0, time.UTC), time.Date(2027, 1, 1, 12, 0, 0, 0, time.UTC)},
		{"a month ahead is last year's", stamp(12, 25), time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC), time.Date(2025, 12, 25, 12, 0, 0, 0, time.UTC)},
		{"29 February", stamp(2, 29), time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC), time.Date(2024, 2, 29, 12, 0, 0, 0, time.UTC)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := withYear(tt.stamp, tt.now); !got.Equal(tt.want) {
				t.Errorf("withYear(%v, now %v) = %v, want %v", tt.stamp, tt.now, got, tt.want)
			}
		})
	}
}

func TestSeverity(t *testing.T) {
	want := []int{1, 1, 1, 2, 3, 4, 4, 4}
	for s, w := range want {
		if got := severity(uint8(s)); got != w {
			t.Errorf("syslog severity %d → %d, want %d", s, got, w)
		}
	}
}
