package webhook

import (
	"bytes"
	"strings"
	"unicode/utf8"
)

// A faster way through the generic format's common case. Decoding with
// encoding/json's reflection was most of the CPU an intake request costs
// (two thirds of it in a storm, where storing is cheap). The functions
// here read JSON that json.Valid has accepted, fill exactly what
// encoding/json would for the plain case — names and strings without
// escapes, label values that are strings, numbers or booleans — and report
// false for anything else, which then goes the encoding/json way, so that
// every answer, error messages included, stays the same. FuzzGenericFast
// holds the two ways to one result.

// fastJSON turns the fast way off (tests compare the two ways).
var fastJSON = true

// genericFields are the names of genericAlert's fields.
var genericFields = []string{"summary", "severity", "dedup_key", "status", "action", "labels", "source", "occurred_at"}

// decodeGenericFast fills in from the object raw, valid JSON, and reports
// whether it could.
func decodeGenericFast(raw []byte, in *genericAlert) bool {
	ok := true
	done := walkObject(raw, func(name []byte, value []byte) bool {
		field := plainString(name)
		switch string(field) {
		case "severity":
			in.Severity = value
			return true
		case "labels":
			in.Labels = value
			return true
		case "summary", "dedup_key", "status", "action", "source", "occurred_at":
		default:
			// encoding/json matches names without regard to case (Unicode
			// folding): a name that is not plain ASCII, or that matches a
			// field that way, is its to decide.
			if field == nil || !isASCII(field) || foldsToField(field) {
				ok = false
			}
			return ok
		}
		if value[0] == 'n' {
			return true // null leaves a string as it was
		}
		s := plainString(value)
		if s == nil {
			ok = false
			return false
		}
		text := string(s)
		switch string(field) {
		case "summary":
			in.Summary = text
		case "dedup_key":
			in.DedupKey = text
		case "status":
			in.Status = text
		case "action":
			in.Action = text
		case "source":
			in.Source = text
		case "occurred_at":
			in.OccurredAt = text
		}
		return true
	})
	return ok && done
}

// genericLabelsFast reads an object of labels, valid JSON, as genericLabels
// does, and reports whether it could: names and string values without
// escapes, values that are strings, numbers or booleans, each name once.
func genericLabelsFast(raw []byte) (map[string]string, bool) {
	labels := make(map[string]string, 8)
	ok := true
	done := walkObject(raw, func(name []byte, value []byte) bool {
		k := plainString(name)
		if k == nil || len(bytes.TrimSpace(k)) == 0 {
			ok = false
			return false
		}
		var v string
		switch value[0] {
		case '"':
			s := plainString(value)
			if s == nil {
				ok = false
				return false
			}
			v = string(s)
		case '{', '[', 'n':
			ok = false
			return false
		default: // a number, true or false: its text
			v = string(value)
		}
		key := string(k)
		if _, dup := labels[key]; dup {
			ok = false
			return false
		}
		labels[key] = v
		return true
	})
	return labels, ok && done
}

// plainString returns the text of the JSON string token s when it has no
// escapes and is valid UTF-8 (as encoding/json would decode it), else nil.
func plainString(s []byte) []byte {
	if len(s) < 2 || s[0] != '"' {
		return nil
	}
	text := s[1 : len(s)-1]
	if bytes.IndexByte(text, '\\') >= 0 || !utf8.Valid(text) {
		return nil
	}
	return text
}

func isASCII(b []byte) bool {
	for _, c := range b {
		if c >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// foldsToField reports whether encoding/json would take name, ASCII, for
// one of genericAlert's fields.
func foldsToField(name []byte) bool {
	for _, f := range genericFields {
		if strings.EqualFold(string(name), f) {
			return true
		}
	}
	return false
}

// walkObject calls member for each name (its string token) and value (its
// token, or the whole of a nested object or array) of the object raw,
// valid JSON, in order, until member returns false. It reports whether it
// saw every member.
func walkObject(raw []byte, member func(name, value []byte) bool) bool {
	i := skipSpace(raw, 0)
	if i >= len(raw) || raw[i] != '{' {
		return false
	}
	i = skipSpace(raw, i+1)
	if i < len(raw) && raw[i] == '}' {
		return true
	}
	for i < len(raw) {
		end := skipValue(raw, i)
		name := raw[i:end]
		i = skipSpace(raw, end)
		if i >= len(raw) || raw[i] != ':' {
			return false
		}
		i = skipSpace(raw, i+1)
		end = skipValue(raw, i)
		if end <= i || !member(name, raw[i:end]) {
			return false
		}
		i = skipSpace(raw, end)
		if i >= len(raw) {
			return false
		}
		if raw[i] == '}' {
			return true
		}
		i = skipSpace(raw, i+1) // past ','
	}
	return false
}

// walkArray calls elem for each element of the array raw, valid JSON.
func walkArray(raw []byte, elem func(value []byte) bool) bool {
	i := skipSpace(raw, 0)
	if i >= len(raw) || raw[i] != '[' {
		return false
	}
	i = skipSpace(raw, i+1)
	if i < len(raw) && raw[i] == ']' {
		return true
	}
	for i < len(raw) {
		end := skipValue(raw, i)
		if end <= i || !elem(raw[i:end]) {
			return false
		}
		i = skipSpace(raw, end)
		if i >= len(raw) {
			return false
		}
		if raw[i] == ']' {
			return true
		}
		i = skipSpace(raw, i+1)
	}
	return false
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// skipValue returns the end of the JSON value that starts at b[i], valid
// JSON: a string, a literal or number, or a whole object or array.
func skipValue(b []byte, i int) int {
	if i >= len(b) {
		return i
	}
	switch b[i] {
	case '"':
		return skipString(b, i)
	case '{', '[':
		depth := 0
		for i < len(b) {
			switch b[i] {
			case '"':
				i = skipString(b, i)
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1
				}
			}
			i++
		}
		return i
	}
	for i < len(b) {
		switch b[i] {
		case ',', '}', ']', ' ', '\t', '\n', '\r':
			return i
		}
		i++
	}
	return i
}

// skipString returns the end of the string token that starts at b[i].
func skipString(b []byte, i int) int {
	for i++; i < len(b); i++ {
		switch b[i] {
		case '\\':
			i++
		case '"':
			return i + 1
		}
	}
	return i
}
