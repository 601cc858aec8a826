// Package syslog parses syslog messages — RFC 5424 and the older BSD format
// of RFC 3164 — into sitrep.AlertEvents, and splits a TCP stream into
// messages (RFC 6587 octet counting or newline framing, see Scanner). A UDP
// datagram is one message: hand it to Parse whole.
//
// The message text is the summary; the header becomes labels (host, app,
// procid, msgid, facility) and every RFC 5424 structured-data parameter the
// label sd.<id>.<param>. Repetitions of one line from one program on one host
// are one alert: the dedup key is derived from host, app and text, and not
// from the process ID or the time, which change on every repetition.
package syslog

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"time"
	"unicode/utf8"

	gosyslog "github.com/leodido/go-syslog/v4"
	"github.com/leodido/go-syslog/v4/rfc3164"
	"github.com/leodido/go-syslog/v4/rfc5424"

	"github.com/sitrep-ir/sitrep"
)

// now is the clock that gives RFC 3164 timestamps, which carry no year,
// their year. Tests replace it.
var now = time.Now

// Parse parses one syslog message in either format: RFC 5424 when the
// priority is followed by a version number ("<13>1 …"), RFC 3164 otherwise.
// Trailing line ends and NUL bytes (what framing and some senders leave) are
// not part of the message.
func Parse(msg []byte) (sitrep.AlertEvent, error) {
	return normalized(parse(msg))
}

// parse is Parse without the normalisation, which the listener does once
// the sender's label is added.
func parse(msg []byte) (sitrep.AlertEvent, error) {
	msg = trimTrailer(msg)
	if is5424(msg) {
		return parse5424(msg)
	}
	return parse3164(msg)
}

// normalized normalises the event of a parse that succeeded.
func normalized(ev sitrep.AlertEvent, err error) (sitrep.AlertEvent, error) {
	if err != nil {
		return sitrep.AlertEvent{}, err
	}
	ev.Normalize()
	return ev, nil
}

// is5424 reports whether msg starts "<PRI>VERSION SP", VERSION being 1–3
// digits (RFC 5424 section 6).
func is5424(msg []byte) bool {
	end := bytes.IndexByte(msg, '>')
	if len(msg) < 3 || msg[0] != '<' || end < 0 || end > 4 {
		return false
	}
	rest := msg[end+1:]
	n := 0
	for n < len(rest) && n < 3 && rest[n] >= '0' && rest[n] <= '9' {
		n++
	}
	return n > 0 && n < len(rest) && rest[n] == ' '
}

// Parse5424 parses an RFC 5424 message such as util-linux logger sends:
//
//	<13>1 2026-11-25T20:39:48.837968+00:00 vm myapp - - [timeQuality tzKnown="1" isSynced="0"] hello world
//
// The parser runs in best-effort mode, but a message whose text could not be
// read is refused: an alert needs something to say.
func Parse5424(msg []byte) (sitrep.AlertEvent, error) {
	return normalized(parse5424(trimTrailer(msg)))
}

// parse5424 parses a trimmed RFC 5424 message: a plain one on the fast
// path, the rest with go-syslog's machine.
func parse5424(msg []byte) (sitrep.AlertEvent, error) {
	if len(msg) == 0 {
		return sitrep.AlertEvent{}, sitrep.Invalid("", "empty syslog message")
	}
	if err := checkPRI(msg); err != nil {
		return sitrep.AlertEvent{}, err
	}
	if ev, ok := parse5424Fast(msg); ok {
		return finish(ev)
	}
	return parse5424Machine(msg)
}

// parse5424Machine parses a trimmed RFC 5424 message with a valid priority
// with go-syslog's machine.
func parse5424Machine(msg []byte) (sitrep.AlertEvent, error) {
	m, err := rfc5424.NewMachine(rfc5424.WithBestEffort()).Parse(msg)
	sm, _ := m.(*rfc5424.SyslogMessage)
	if sm == nil || (err != nil && sm.Message == nil) {
		return sitrep.AlertEvent{}, parseError("RFC 5424", err)
	}
	ev := event(&sm.Base, msg)
	if sm.StructuredData != nil {
		for id, params := range *sm.StructuredData {
			for name, value := range params {
				ev.Labels["sd."+id+"."+name] = text(value)
			}
		}
	}
	return finish(ev)
}

// Parse3164 parses a BSD syslog message (RFC 3164) such as
//
//	<34>Oct 11 22:14:15 mymachine su: 'su root' failed for lonvick on /dev/pts/8
//
// The timestamp may also be RFC 3339 (as rsyslog forwards). A Stamp
// timestamp has no year and no zone: it is read as UTC, in the latest year
// that does not put it in the future (see withYear). As RFC 3164 (section 4.3.3) asks of a relay, a message
// with a valid priority but no readable timestamp and header is kept whole as
// the text rather than refused.
func Parse3164(msg []byte) (sitrep.AlertEvent, error) {
	return normalized(parse3164(trimTrailer(msg)))
}

// parse3164 parses a trimmed RFC 3164 message.
func parse3164(msg []byte) (sitrep.AlertEvent, error) {
	if len(msg) == 0 {
		return sitrep.AlertEvent{}, sitrep.Invalid("", "empty syslog message")
	}
	if err := checkPRI(msg); err != nil {
		return sitrep.AlertEvent{}, err
	}
	m, err := rfc3164.NewMachine(
		rfc3164.WithBestEffort(),
		rfc3164.WithRFC3339(),
		rfc3164.WithLenientDay(),
		rfc3164.WithSecondFractions(),
		rfc3164.WithEmbeddedNewlines(), // octet counting keeps a multi-line message whole
	).Parse(msg)
	sm, _ := m.(*rfc3164.SyslogMessage)
	if sm == nil || sm.Priority == nil {
		return sitrep.AlertEvent{}, parseError("RFC 3164", err)
	}
	if sm.Message == nil {
		// A priority and then something that is not the header: the whole
		// rest is the text.
		pri := *sm.Priority
		rest := string(msg[bytes.IndexByte(msg, '>')+1:])
		sm = &rfc3164.SyslogMessage{}
		sm.ComputeFromPriority(pri)
		sm.Message = &rest
	}
	if sm.Timestamp != nil && sm.Timestamp.Year() == 0 {
		t := withYear(*sm.Timestamp, now())
		sm.Timestamp = &t
	}
	return finish(event(&sm.Base, msg))
}

// yearSkew is how far ahead of the receiver's clock a sender's may be.
const yearSkew = 7 * 24 * time.Hour

// withYear gives a timestamp without a year (year 0) the latest year that
// does not put it in the future (give or take a sender's clock running a
// week ahead): a December line read in January is last year's, a 1 January
// line read on 31 December from a fast clock is next year's.
func withYear(t, now time.Time) time.Time {
	now = now.UTC()
	for _, y := range []int{now.Year() + 1, now.Year(), now.Year() - 1, now.Year() - 2, now.Year() - 3, now.Year() - 4} {
		c := time.Date(y, t.Month(), t.Day(), t.Hour(), t.Minute(), t.Second(), t.Nanosecond(), time.UTC)
		if c.Month() != t.Month() { // 29 February in a year without one
			continue
		}
		if c.Sub(now) <= yearSkew {
			return c
		}
	}
	return time.Time{} // cannot happen: one of four years has a 29 February
}

// event builds the event both formats share from a parsed message.
func event(b *gosyslog.Base, raw []byte) sitrep.AlertEvent {
	ev := sitrep.AlertEvent{
		Action: sitrep.ActionTrigger,
		Labels: make(map[string]string, 6),
		Raw:    text(string(raw)),
	}
	if b.Message != nil {
		ev.Summary = text(strings.TrimPrefix(*b.Message, "\ufeff")) // RFC 5424's BOM marks UTF-8; it is not text
	}
	set := func(name string, v *string) {
		if v != nil && *v != "" && *v != "-" {
			ev.Labels[name] = text(*v)
		}
	}
	set("host", b.Hostname)
	set("app", b.Appname)
	set("procid", b.ProcID)
	set("msgid", b.MsgID)
	set("facility", b.FacilityLevel())
	if b.Severity != nil {
		ev.Severity = severity(*b.Severity)
	}
	if b.Timestamp != nil {
		ev.OccurredAt = *b.Timestamp
	}
	ev.DedupKey = dedupKey(ev.Labels["host"], ev.Labels["app"], ev.Summary)
	return ev
}

// finish refuses an event with nothing to say.
func finish(ev sitrep.AlertEvent) (sitrep.AlertEvent, error) {
	if strings.TrimSpace(ev.Summary) == "" {
		return sitrep.AlertEvent{}, sitrep.Invalid("msg", "syslog message has no text")
	}
	return ev, nil
}

// severity maps a syslog severity (0 emergency … 7 debug) to sitrep's 1–4:
// emergency, alert and critical are 1, error 2, warning 3, the rest 4.
func severity(s uint8) int {
	switch {
	case s <= 2:
		return 1
	case s == 3:
		return 2
	case s == 4:
		return 3
	}
	return 4
}

// dedupKey makes repetitions of one line from one program on one host one
// alert.
func dedupKey(host, app, msg string) string {
	var buf [512]byte // most messages: the hash's input on the stack
	in := append(append(append(append(append(buf[:0], host...), 0), app...), 0), msg...)
	h := sha256.Sum256(in)
	const prefix = "syslog-"
	var key [len(prefix) + 32]byte
	copy(key[:], prefix)
	hex.Encode(key[len(prefix):], h[:16])
	return string(key[:])
}

// parseError is the error for a message the library could not read.
func parseError(format string, err error) error {
	reason := "it could not be read"
	if err != nil {
		reason = err.Error()
	}
	return sitrep.Invalid("", "not an %s syslog message: %s", format, reason)
}

// checkPRI refuses a message that does not start with a valid priority,
// "<0>" to "<191>", which both formats need. (Left to the RFC 3164 machine,
// "<192>" would be read as priority 19 followed by text.)
func checkPRI(msg []byte) error {
	if len(msg) == 0 || msg[0] != '<' {
		return sitrep.Invalid("", "not a syslog message: it does not start with a <priority>")
	}
	n, i := 0, 1
	for ; i < len(msg) && i <= 4 && msg[i] >= '0' && msg[i] <= '9'; i++ {
		n = n*10 + int(msg[i]-'0')
	}
	if i == 1 || i > 4 || i >= len(msg) || msg[i] != '>' || n > 191 || (i > 2 && msg[1] == '0') {
		end := min(len(msg), 6)
		return sitrep.Invalid("", "not a syslog message: %q is not a <priority> from <0> to <191>", msg[:end])
	}
	return nil
}

// trimTrailer drops what framing leaves at the end of a message: line ends
// and NUL bytes.
func trimTrailer(msg []byte) []byte {
	return bytes.TrimRight(msg, "\r\n\x00")
}

// text makes s readable and storable: invalid UTF-8 and NUL bytes become
// U+FFFD.
func text(s string) string {
	if utf8.ValidString(s) && strings.IndexByte(s, 0) < 0 {
		return s
	}
	return strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "\uFFFD")
}
