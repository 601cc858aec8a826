package syslog

import (
	"errors"
	"io"
	"net"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/sitrep-ir/sitrep"
)

// These tests send with the real util-linux logger to listeners on
// 127.0.0.1 and parse what arrives, as the intake listeners will.

func needLogger(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("logger")
	if err != nil {
		if os.Getenv("SITREP_TEST_REQUIRE_ALL") == "1" {
			t.Fatalf("util-linux logger is needed: %v", err)
		}
		t.Skipf("util-linux logger not found (%v): install util-linux (Debian: bsdutils)", err)
	}
	return path
}

// frame is what a TCP listener got: a message or a framing error.
type frame struct {
	msg string
	err error
}

// loggerTCP runs logger with args against a TCP listener on loopback and
// returns the framing the stream used and what the Scanner yielded.
func loggerTCP(t *testing.T, maxMsg int, args ...string) (Framing, []frame) {
	t.Helper()
	logger := needLogger(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	type result struct {
		framing Framing
		frames  []frame
		err     error
	}
	done := make(chan result, 1)
	go func() {
		conn, err := ln.Accept()
		if err != nil {
			done <- result{err: err}
			return
		}
		defer conn.Close()
		_ = conn.SetReadDeadline(time.Now().Add(20 * time.Second))
		s := NewScanner(conn, maxMsg)
		var frames []frame
		for {
			msg, err := s.Next()
			if err == io.EOF {
				break
			}
			frames = append(frames, frame{string(msg), err})
			if err != nil && !errors.Is(err, ErrFrameTooLong) {
				break
			}
		}
		done <- result{framing: s.Framing(), frames: frames}
	}()
	port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	cmd := exec.CommandContext(t.Context(), logger, append([]string{"--tcp", "--server", "127.0.0.1", "--port", port}, args...)...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("logger %v: %v\n%s", args, err, out)
	}
	r := <-done
	if r.err != nil {
		t.Fatal(r.err)
	}
	return r.framing, r.frames
}

// loggerUDP runs logger with args against a UDP socket on loopback and
// returns the one datagram it sent.
func loggerUDP(t *testing.T, args ...string) []byte {
	t.Helper()
	logger := needLogger(t)
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	port := strconv.Itoa(pc.LocalAddr().(*net.UDPAddr).Port)
	cmd := exec.CommandContext(t.Context(), logger, append([]string{"--udp", "--server", "127.0.0.1", "--port", port}, args...)...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("logger %v: %v\n%s", args, err, out)
	}
	_ = pc.SetReadDeadline(time.Now().Add(20 * time.Second))
	buf := make([]byte, 64<<10)
	n, _, err := pc.ReadFrom(buf)
	if err != nil {
		t.Fatalf("no datagram from logger: %v", err)
	}
	return buf[:n]
}

// hostname is the name logger puts in its messages.
func hostname(t *testing.T) string {
	h, err := os.Hostname()
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// checkRecent checks that an event's time is the time logger sent it: today,
// not the zero time nor a misread year or zone.
func checkRecent(t *testing.T, ev sitrep.AlertEvent) {
	t.Helper()
	if d := time.Since(ev.OccurredAt); d < -time.Hour || d > time.Hour {
		t.Errorf("occurred_at %v is not the time logger sent it", ev.OccurredAt)
	}
}

func parseOK(t *testing.T, msg string) sitrep.AlertEvent {
	t.Helper()
	ev, err := Parse([]byte(msg))
	if err != nil {
		t.Fatalf("parse %q: %v", msg, err)
	}
	checkEvent(t, ev)
	return ev
}

func TestLoggerRFC5424TCP(t *testing.T) {
	framing, frames := loggerTCP(t, 8192, "--rfc5424", "-t", "backup", "-p", "local0.err",
		"--msgid", "DISK", "--sd-id", "zoo@32473", "--sd-param", `tiger="hungry"`, "disk full on /var/backups")
	if framing != NewlineFraming || len(frames) != 1 || frames[0].err != nil {
		t.Fatalf("framing %v, frames %+v", framing, frames)
	}
	ev := parseOK(t, frames[0].msg)
	want := sitrep.AlertEvent{
		Action: "trigger", Severity: 2, Summary: "disk full on /var/backups",
		DedupKey: dedupKey(hostname(t), "backup", "disk full on /var/backups"),
		Labels: map[string]string{
			"host": hostname(t), "app": "backup", "msgid": "DISK", "facility": "local0",
			"sd.zoo@32473.tiger": "hungry", "sd.timeQuality.tzKnown": "1",
		},
	}
	// isSynced (and syncAccuracy when synced) depend on this machine's clock.
	if _, ok := ev.Labels["sd.timeQuality.isSynced"]; !ok {
		t.Errorf("no timeQuality isSynced label in %v", ev.Labels)
	}
	for k := range ev.Labels {
		if k == "sd.timeQuality.isSynced" || k == "sd.timeQuality.syncAccuracy" {
			want.Labels[k] = ev.Labels[k]
		}
	}
	if diff := cmp.Diff(want, ev, ignoreRaw, ignoreTime); diff != "" {
		t.Errorf("event (-want +got):\n%s", diff)
	}
	checkRecent(t, ev)
}

var ignoreTime = cmp.FilterPath(func(p cmp.Path) bool { return p.Last().String() == ".OccurredAt" }, cmp.Ignore())

func TestLoggerRFC3164(t *testing.T) {
	t.Run("UDP", func(t *testing.T) {
		ev := parseOK(t, string(loggerUDP(t, "--rfc3164", "-i", "-t", "cron", "-p", "cron.warning", "job nightly-report failed")))
		if ev.Summary != "job nightly-report failed" || ev.Severity != 3 || ev.Labels["app"] != "cron" ||
			ev.Labels["facility"] != "cron" || ev.Labels["host"] != hostname(t) {
			t.Errorf("event %+v", ev)
		}
		if !regexp.MustCompile(`^[0-9]+$`).MatchString(ev.Labels["procid"]) {
			t.Errorf("procid %q is not logger's process ID", ev.Labels["procid"])
		}
		checkRecent(t, ev)
	})
	t.Run("TCP octet counting", func(t *testing.T) {
		framing, frames := loggerTCP(t, 8192, "--rfc3164", "--octet-count", "-t", "nginx", "upstream timed out")
		if framing != OctetCounting || len(frames) != 1 || frames[0].err != nil {
			t.Fatalf("framing %v, frames %+v", framing, frames)
		}
		ev := parseOK(t, frames[0].msg)
		if ev.Summary != "upstream timed out" || ev.Labels["app"] != "nginx" || ev.Severity != 4 {
			t.Errorf("event %+v", ev)
		}
		checkRecent(t, ev)
	})
	t.Run("TCP newline framing", func(t *testing.T) {
		framing, frames := loggerTCP(t, 8192, "--rfc3164", "-t", "nginx", "upstream timed out")
		if framing != NewlineFraming || len(frames) != 1 || frames[0].err != nil {
			t.Fatalf("framing %v, frames %+v", framing, frames)
		}
		if ev := parseOK(t, frames[0].msg); ev.Summary != "upstream timed out" {
			t.Errorf("event %+v", ev)
		}
	})
}

func TestLoggerRFC5424UDP(t *testing.T) {
	ev := parseOK(t, string(loggerUDP(t, "--rfc5424", "-t", "sshd", "-p", "auth.crit", "possible break-in attempt")))
	if ev.Summary != "possible break-in attempt" || ev.Severity != 1 || ev.Labels["facility"] != "auth" || ev.Labels["app"] != "sshd" {
		t.Errorf("event %+v", ev)
	}
	checkRecent(t, ev)
}

// TestLoggerNewlineInside shows what framing does to a message with a
// newline inside: octet counting keeps it whole, newline framing splits it
// into two messages, the second of which has no header.
func TestLoggerNewlineInside(t *testing.T) {
	framing, frames := loggerTCP(t, 8192, "--rfc5424", "--octet-count", "-t", "app", "line one\nline two")
	if framing != OctetCounting || len(frames) != 1 {
		t.Fatalf("octet counting: framing %v, frames %+v", framing, frames)
	}
	// The summary is one line; the raw message keeps the newline.
	if ev := parseOK(t, frames[0].msg); ev.Summary != "line one line two" || !strings.Contains(ev.Raw, "line one\nline two") {
		t.Errorf("octet counting: summary %q, raw %q", ev.Summary, ev.Raw)
	}

	framing, frames = loggerTCP(t, 8192, "--rfc5424", "-t", "app", "line one\nline two")
	if framing != NewlineFraming || len(frames) != 2 {
		t.Fatalf("newline framing: framing %v, frames %+v", framing, frames)
	}
	if ev := parseOK(t, frames[0].msg); ev.Summary != "line one" {
		t.Errorf("newline framing: first summary %q", ev.Summary)
	}
	if frames[1].msg != "line two" {
		t.Errorf("newline framing: second frame %q", frames[1].msg)
	}
	_, err := Parse([]byte(frames[1].msg))
	if err == nil || err.Error() != "not a syslog message: it does not start with a <priority>" {
		t.Errorf("the header-less second line: %v", err)
	}
}

// TestLoggerLongMessage sends a message longer than logger's default 1024
// bytes (--size raises logger's limit): it arrives whole within the
// Scanner's limit, and is skipped with a clear error over it.
func TestLoggerLongMessage(t *testing.T) {
	text := strings.Repeat("0123456789abcdef", 200) // 3200 bytes
	for _, octets := range []bool{true, false} {
		args := []string{"--rfc5424", "--size", "8192", "-t", "app", text}
		if octets {
			args = append([]string{"--octet-count"}, args...)
		}
		_, frames := loggerTCP(t, 8192, args...)
		if len(frames) != 1 || frames[0].err != nil {
			t.Fatalf("octet counting %v: frames %d %v", octets, len(frames), frames)
		}
		ev := parseOK(t, frames[0].msg)
		if !strings.HasSuffix(ev.Raw, text) {
			t.Errorf("octet counting %v: raw does not end with the whole text", octets)
		}
		if ev.Summary != sitrep.Truncate(text, sitrep.MaxAlertSummary) {
			t.Errorf("octet counting %v: summary of %d bytes, want the text cut at %d", octets, len(ev.Summary), sitrep.MaxAlertSummary)
		}

		_, frames = loggerTCP(t, 1024, args...)
		if len(frames) != 1 || !errors.Is(frames[0].err, ErrFrameTooLong) {
			t.Fatalf("octet counting %v over the limit: frames %+v", octets, frames)
		}
		if !regexp.MustCompile(`^syslog frame over the size limit: skipped an? (octet-counted frame|line) of 3[0-9]{3} bytes at byte 0 \(limit 1024\)$`).MatchString(frames[0].err.Error()) {
			t.Errorf("error %q", frames[0].err)
		}
	}
}
