// Package webhook parses the JSON alert formats sitrep takes in over HTTP: its
// own generic format, Prometheus Alertmanager and Grafana alerting webhooks,
// and the PagerDuty Events API v2 (alert and change events). Each parser turns
// one request body into normalised sitrep.AlertEvents or returns a
// *sitrep.Error of kind EInvalid whose Field and Message name the problem, so
// the HTTP layer can answer 400 with a sentence the sender can act on.
//
// Bodies arrive already size-limited by the caller; the parsers never panic.
package webhook

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/sitrep-ir/sitrep"
)

// LooksLikeJSON reports whether body is a JSON object or array whatever its
// Content-Type says. Kibana's webhook connector, for one, sends JSON labelled
// application/x-www-form-urlencoded; the HTTP layer uses this to accept it
// anyway instead of answering 415.
func LooksLikeJSON(body []byte) bool {
	b := bytes.TrimLeft(body, " \t\r\n")
	b = bytes.TrimPrefix(b, []byte("\xef\xbb\xbf")) // a UTF-8 byte order mark
	b = bytes.TrimLeft(b, " \t\r\n")
	if len(b) == 0 || (b[0] != '{' && b[0] != '[') {
		return false
	}
	return json.Valid(b)
}

// invalid returns the EInvalid error of a parser: field names the input that
// is wrong (empty for the body as a whole) and the message repeats it so that
// it reads alone, as in `alerts[3]: status "flaming" is not firing or resolved`.
func invalid(field, format string, args ...any) *sitrep.Error {
	msg := fmt.Sprintf(format, args...)
	if field != "" {
		msg = field + ": " + msg
	}
	return sitrep.Invalid(field, "%s", msg)
}

// jsonError turns an encoding/json error into an EInvalid error naming where
// in the body (prefix, then the field json names) the problem is.
func jsonError(prefix string, err error) *sitrep.Error {
	if syn, ok := errors.AsType[*json.SyntaxError](err); ok {
		return invalid(prefix, "not valid JSON: %s (at byte %d)", syn.Error(), syn.Offset)
	}
	if ute, ok := errors.AsType[*json.UnmarshalTypeError](err); ok {
		field := joinField(prefix, ute.Field)
		if field == "" {
			return invalid("", "the body is a JSON %s, want %s", ute.Value, jsonKind(ute.Type.Kind().String()))
		}
		return invalid(field, "is a JSON %s, want %s", ute.Value, jsonKind(ute.Type.Kind().String()))
	}
	return invalid(prefix, "not valid JSON: %s", err.Error())
}

// jsonKind names a Go kind the way a JSON sender thinks of it.
func jsonKind(kind string) string {
	switch kind {
	case "string":
		return "a string"
	case "map", "struct":
		return "an object"
	case "slice", "array":
		return "an array"
	case "bool":
		return "true or false"
	case "int", "int64", "uint64", "float64":
		return "a number"
	}
	return "another type"
}

func joinField(prefix, field string) string {
	switch {
	case prefix == "":
		return field
	case field == "":
		return prefix
	}
	return prefix + "." + field
}

// firstByte is the first byte of body that is not white space, or 0.
func firstByte(body []byte) byte {
	b := bytes.TrimLeft(body, " \t\r\n")
	if len(b) == 0 {
		return 0
	}
	return b[0]
}

// labelValue turns one JSON label value into text: strings as they are,
// numbers and booleans as written (a front door does not refuse port 443 for
// being a number). ok is false for null, which means "no such label"; err is
// set for objects and arrays, which are not label values.
func labelValue(raw json.RawMessage) (value string, ok bool, err error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return "", false, nil
	}
	switch raw[0] {
	case '"':
		// raw was checked as JSON already: without escapes, the text
		// between the quotes is the string.
		if len(raw) >= 2 && bytes.IndexByte(raw, '\\') < 0 && utf8.Valid(raw) {
			return string(raw[1 : len(raw)-1]), true, nil
		}
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return "", false, err
		}
		return s, true, nil
	case 'n':
		return "", false, nil
	case '{':
		return "", false, errors.New("is an object, want a string or a number")
	case '[':
		return "", false, errors.New("is an array, want a string or a number")
	}
	return string(raw), true, nil // a number, true or false: its text
}

// sortedKeys returns m's keys in order, so that the first bad label an error
// names is the same on every run.
func sortedKeys[V any](m map[string]V) []string {
	return slices.Sorted(maps.Keys(m))
}

// parseTime reads a timestamp in RFC 3339 or in the ISO 8601 variants senders
// commonly produce (a space for the T, an offset without its colon). The zero
// time Go tools send for "not set" (0001-01-01T00:00:00Z) and the empty string
// give the zero time.
func parseTime(s string) (time.Time, bool) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, true
	}
	for _, layout := range timeLayouts {
		if t, err := time.Parse(layout, s); err == nil {
			if t.Year() <= 1 {
				return time.Time{}, true
			}
			return t, true
		}
	}
	return time.Time{}, false
}

var timeLayouts = []string{
	time.RFC3339Nano,
	"2006-01-02 15:04:05.999999999Z07:00",
	"2006-01-02T15:04:05.999999999Z0700",
	"2006-01-02 15:04:05.999999999Z0700",
}

// clean makes an event's text storable before it is normalised: JSON can
// carry NUL characters (\u0000), which a database text column refuses and
// no reader needs.
func clean(ev *sitrep.AlertEvent) {
	ev.Summary = noNUL(ev.Summary)
	ev.DedupKey = noNUL(ev.DedupKey)
	for k, v := range ev.Labels {
		if ck, cv := noNUL(k), noNUL(v); ck != k || cv != v {
			delete(ev.Labels, k)
			ev.Labels[ck] = cv
		}
	}
}

func noNUL(s string) string {
	if strings.IndexByte(s, 0) < 0 {
		return s
	}
	return strings.ReplaceAll(s, "\x00", "\uFFFD")
}

// validText replaces bytes that are not UTF-8 so that what is stored and
// shown can be read: JSON decoding does this for the strings it decodes, but
// Raw is the body as it came.
func validText(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	return strings.ToValidUTF8(s, "\uFFFD")
}
