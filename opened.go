package sitrep

import (
	"slices"
	"strings"
	"unicode/utf8"
)

// OpenedAlert returns the alert a trigger event of source opened, as the
// stores keep it right after the commit that opened it, without reading
// it back: its source, dedup key, severity, summary and labels, firing and
// pending triage. ev is the event as the Ingester normalised it (in
// place, see Ingester). The alert's text is
// copied, so that it holds on to nothing of the request it came in.
//
// The severity is the event's; a store batch that held more triggers of
// the alert keeps the worst of them (see WorsenSeverity). Count, times and
// samples are not filled in.
func OpenedAlert(id int64, source string, ev AlertEvent) *Alert {
	source = ColumnString(source)
	key := ColumnString(ev.DedupKey)
	summary := ColumnString(ev.Summary)
	labels := storedLabels(ev.Labels)

	// One allocation holds all the text: with room for all of it grown
	// first, the builder never moves what it wrote, so each string taken
	// from it stays as written.
	n := len(source) + len(key) + len(summary)
	for k, v := range labels {
		n += len(k) + len(v)
	}
	var b strings.Builder
	b.Grow(n)
	add := func(s string) string {
		b.WriteString(s)
		all := b.String()
		return all[len(all)-len(s):]
	}
	al := &Alert{ID: id, Source: add(source), DedupKey: add(key), Status: AlertFiring, Triage: TriagePending,
		Severity: ev.Severity, Summary: add(summary), Labels: make(map[string]string, len(labels))}
	for k, v := range labels {
		al.Labels[add(k)] = add(v)
	}
	return al
}

// WorsenSeverity returns the severity an alert of severity has after a
// trigger of severity trigger counted on it: the worse (lower) of the two,
// a trigger without a severity changing nothing. Both stores keep it so.
func WorsenSeverity(severity, trigger int) int {
	if trigger != 0 && (severity == 0 || trigger < severity) {
		return trigger
	}
	return severity
}

// AlertSize is about how many bytes of memory the alert's source, key,
// summary and labels take: what a queue of alerts counts against its bound.
func AlertSize(al *Alert) int64 {
	n := 160 + len(al.Source) + len(al.DedupKey) + len(al.Summary)
	for k, v := range al.Labels {
		n += 48 + len(k) + len(v)
	}
	return int64(n)
}

// storedLabels returns labels as a store reads them back from the JSON
// text it keeps: encoding/json writes each byte of invalid UTF-8 as
// U+FFFD, and of two names that become one, the later in sorted order of
// the names as sent wins, as it comes later in the text. labels itself is
// returned when it holds only valid UTF-8 (nearly always).
func storedLabels(labels map[string]string) map[string]string {
	valid := true
	for k, v := range labels {
		if !utf8.ValidString(k) || !utf8.ValidString(v) {
			valid = false
			break
		}
	}
	if valid {
		return labels
	}
	keys := make([]string, 0, len(labels))
	for k := range labels {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	out := make(map[string]string, len(labels))
	for _, k := range keys {
		out[jsonValidUTF8(k)] = jsonValidUTF8(labels[k])
	}
	return out
}

// jsonValidUTF8 replaces each byte of s that is not part of valid UTF-8
// with U+FFFD, as encoding/json does (strings.ToValidUTF8 replaces a run of
// such bytes with one).
func jsonValidUTF8(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 8)
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b.WriteString("\uFFFD")
		} else {
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}
