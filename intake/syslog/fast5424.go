package syslog

import (
	"bytes"
	"time"
	"unicode/utf8"

	gosyslog "github.com/leodido/go-syslog/v4"

	"github.com/sitrep-ir/sitrep"
)

// The RFC 5424 fast path. go-syslog's machine costs about 2 µs and 30
// allocations a message, most of the listener's own work: it copies every
// field, parses the time with time.Parse and builds maps for the structured
// data. Nearly every message a listener gets is plain (what logger,
// rsyslog and syslog-ng send), so parse5424Fast reads those with one copy
// of the message, every field a substring of it, and says "not mine" for
// anything else: an escape in a parameter value, a duplicate element, a
// date it would have to think about, a message with no text. Those go to
// the machine, so that both ways give the same event for every input
// (FuzzParse5424Fast compares them).

// facilityLevels are go-syslog's names of the 24 facilities (the label
// "facility"), as its machine path gives them.
var facilityLevels = func() (names [24]string) {
	for f := range names {
		var b gosyslog.Base
		b.ComputeFromPriority(uint8(f << 3))
		if l := b.FacilityLevel(); l != nil {
			names[f] = *l
		}
	}
	return names
}()

// parse5424Fast reads a plain RFC 5424 message, trimmed and with a valid
// priority, into an event that is not normalised yet; ok is false when the
// message is not plain and the machine must read it.
func parse5424Fast(msg []byte) (ev sitrep.AlertEvent, ok bool) {
	// <PRI>
	pri, i := 0, 1
	for i < len(msg) && msg[i] != '>' {
		pri = pri*10 + int(msg[i]-'0')
		i++
	}
	i++ // '>'
	// VERSION SP: 1–3 digits, not starting with 0.
	if i >= len(msg) || msg[i] < '1' || msg[i] > '9' {
		return ev, false
	}
	for n := 0; i < len(msg) && msg[i] >= '0' && msg[i] <= '9'; n++ {
		if n == 3 {
			return ev, false
		}
		i++
	}
	if i >= len(msg) || msg[i] != ' ' {
		return ev, false
	}
	i++
	// TIMESTAMP SP
	var at time.Time
	if i < len(msg) && msg[i] == '-' {
		i++
	} else {
		var n int
		if at, n = timestamp5424(msg[i:]); n == 0 {
			return ev, false
		}
		i += n
	}
	if i >= len(msg) || msg[i] != ' ' {
		return ev, false
	}
	i++
	// HOSTNAME SP APP-NAME SP PROCID SP MSGID SP
	var fields [4][2]int
	for f, limit := range [4]int{255, 48, 128, 32} {
		start := i
		for i < len(msg) && msg[i] > ' ' && msg[i] < 0x7f {
			i++
		}
		if i == start || i-start > limit || i >= len(msg) || msg[i] != ' ' {
			return ev, false
		}
		fields[f] = [2]int{start, i}
		i++
	}
	// STRUCTURED-DATA: "-" or elements, whose parameters are kept as
	// offsets until the message is one string.
	var params [][4]int // each: the start and end of a name, then of its value
	var sd [16][4]int
	params = sd[:0]
	if i < len(msg) && msg[i] == '-' {
		i++
	} else {
		var ids [][2]int
		var idsBuf [4][2]int
		ids = idsBuf[:0]
		for i < len(msg) && msg[i] == '[' {
			i++
			idStart := i
			i = sdName(msg, i)
			if i == idStart {
				return ev, false
			}
			for _, id := range ids {
				if bytes.Equal(msg[id[0]:id[1]], msg[idStart:i]) {
					return ev, false // a duplicate: the machine says what
				}
			}
			ids = append(ids, [2]int{idStart, i})
			for i < len(msg) && msg[i] == ' ' {
				i++
				nameStart := i
				i = sdName(msg, i)
				if i == nameStart || i+1 >= len(msg) || msg[i] != '=' || msg[i+1] != '"' {
					return ev, false
				}
				nameEnd := i
				i += 2
				valStart := i
				for i < len(msg) && msg[i] != '"' && msg[i] != '\\' && msg[i] != ']' {
					i++
				}
				if i == valStart || i >= len(msg) || msg[i] != '"' || !utf8.Valid(msg[valStart:i]) {
					return ev, false // an escape, an empty value: the machine's
				}
				// An element's id is found again from the parameter's
				// position: the last id opened before it.
				params = append(params, [4]int{nameStart, nameEnd, valStart, i})
				i++
			}
			if i >= len(msg) || msg[i] != ']' {
				return ev, false
			}
			i++
		}
		if len(ids) == 0 {
			return ev, false
		}
		// SP MSG, the message not empty.
		if i+1 >= len(msg) || msg[i] != ' ' {
			return ev, false
		}
		i++
		return build5424(msg, pri, at, fields, ids, params, i), true
	}
	if i+1 >= len(msg) || msg[i] != ' ' {
		return ev, false
	}
	i++
	return build5424(msg, pri, at, fields, nil, nil, i), true
}

// build5424 makes the event of a plain message read by parse5424Fast.
func build5424(msg []byte, pri int, at time.Time, fields [4][2]int, ids [][2]int, params [][4]int, body int) sitrep.AlertEvent {
	s := string(msg) // the one copy: every field is a part of it
	ev := sitrep.AlertEvent{
		Action:     sitrep.ActionTrigger,
		Labels:     make(map[string]string, 6+len(params)),
		Raw:        text(s),
		OccurredAt: at,
		Severity:   severity(uint8(pri & 7)),
	}
	const bom = "\ufeff"
	summary := s[body:]
	if len(summary) >= len(bom) && summary[:len(bom)] == bom {
		summary = summary[len(bom):]
	}
	ev.Summary = text(summary)
	for f, name := range [4]string{"host", "app", "procid", "msgid"} {
		if v := s[fields[f][0]:fields[f][1]]; v != "-" {
			ev.Labels[name] = v // printable ASCII: text already
		}
	}
	if l := facilityLevels[pri>>3]; l != "" {
		ev.Labels["facility"] = l
	}
	for _, p := range params {
		id := ids[0]
		for _, c := range ids[1:] {
			if c[0] < p[0] {
				id = c
			}
		}
		ev.Labels[sdLabel(s[id[0]:id[1]], s[p[0]:p[1]])] = text(s[p[2]:p[3]])
	}
	ev.DedupKey = dedupKey(ev.Labels["host"], ev.Labels["app"], ev.Summary)
	return ev
}

// commonSD are the labels of the structured data that senders add to every
// message (RFC 5424 section 7: logger's timeQuality, rsyslog's origin and
// meta), made once rather than for each message.
var commonSD = func() map[[2]string]string {
	m := map[[2]string]string{}
	for id, names := range map[string][]string{
		"timeQuality": {"tzKnown", "isSynced", "syncAccuracy"},
		"origin":      {"ip", "enterpriseId", "software", "swVersion"},
		"meta":        {"sequenceId", "sysUpTime", "language"},
	} {
		for _, n := range names {
			m[[2]string{id, n}] = "sd." + id + "." + n
		}
	}
	return m
}()

// sdLabel is the label of parameter name of element id.
func sdLabel(id, name string) string {
	if l, ok := commonSD[[2]string{id, name}]; ok {
		return l
	}
	return "sd." + id + "." + name
}

// sdName returns the end of the SD-NAME starting at i (RFC 5424: 1–32
// printable ASCII characters but '=', ' ', ']' and '"'); i itself when
// there is none or it is too long.
func sdName(msg []byte, i int) int {
	start := i
	for i < len(msg) {
		c := msg[i]
		if c <= ' ' || c >= 0x7f || c == '=' || c == ']' || c == '"' {
			break
		}
		i++
	}
	if i-start > 32 {
		return start
	}
	return i
}

// timestamp5424 reads an RFC 5424 timestamp (RFC 3339 with at most six
// digits of fraction, as go-syslog's machine takes it) at the start of b
// and returns it with its length, or a length of 0.
func timestamp5424(b []byte) (time.Time, int) {
	// 2006-01-02T15:04:05
	if len(b) < 20 || b[4] != '-' || b[7] != '-' || b[10] != 'T' || b[13] != ':' || b[16] != ':' {
		return time.Time{}, 0
	}
	num := func(p, n int) int {
		v := 0
		for _, c := range b[p : p+n] {
			if c < '0' || c > '9' {
				return -1
			}
			v = v*10 + int(c-'0')
		}
		return v
	}
	year, month, day := num(0, 4), num(5, 2), num(8, 2)
	hour, minute, sec := num(11, 2), num(14, 2), num(17, 2)
	if year < 0 || month < 1 || month > 12 || day < 1 || hour < 0 || hour > 23 || minute < 0 || minute > 59 || sec < 0 || sec > 59 {
		return time.Time{}, 0
	}
	if day > daysIn(time.Month(month), year) {
		return time.Time{}, 0
	}
	i, nsec := 19, 0
	if b[i] == '.' {
		i++
		start := i
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
		if i == start || i-start > 6 {
			return time.Time{}, 0
		}
		nsec = num(start, i-start)
		for range 9 - (i - start) {
			nsec *= 10
		}
	}
	if i >= len(b) {
		return time.Time{}, 0
	}
	offset := 0
	switch b[i] {
	case 'Z':
		i++
	case '+', '-':
		if i+6 > len(b) || b[i+3] != ':' {
			return time.Time{}, 0
		}
		oh, om := num(i+1, 2), num(i+4, 2)
		if oh < 0 || oh > 23 || om < 0 || om > 59 {
			return time.Time{}, 0
		}
		offset = (oh*60 + om) * 60
		if b[i] == '-' {
			offset = -offset
		}
		i += 6
	default:
		return time.Time{}, 0
	}
	t := time.Date(year, time.Month(month), day, hour, minute, sec, nsec, time.UTC)
	return t.Add(-time.Duration(offset) * time.Second), i
}

// daysIn is the number of days of month in year.
func daysIn(month time.Month, year int) int {
	if month == time.February {
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	}
	return 31 - int((month-1)%7%2)
}
