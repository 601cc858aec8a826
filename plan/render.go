package plan

import "strings"

// Placeholders are the names a template's text may use as {{name}}, filled
// in from the incident when the statement is drafted:
//
//	id                   the incident's ID, IR-2026-0042
//	title                its title
//	kind                 its kind
//	severity             its severity, 1 to 4
//	phase                its current phase
//	command              who is Command
//	information_officer  who is the Information Officer (Command while no one is)
//	declared_at          when it was declared, UTC
//	plan                 the plan's title
var Placeholders = []string{"id", "title", "kind", "severity", "phase", "command", "information_officer", "declared_at", "plan"}

type placeholder struct {
	name     string
	raw      string // as written, {{ name }}
	line     int    // 0-based line within the text
	unclosed bool
}

// scanPlaceholders finds every {{…}} in text. Spaces inside the braces are
// allowed: {{ title }} is {{title}}.
func scanPlaceholders(text string) []placeholder {
	var out []placeholder
	line := 0
	for i := 0; i < len(text); {
		if text[i] == '\n' {
			line++
			i++
			continue
		}
		if !strings.HasPrefix(text[i:], "{{") {
			i++
			continue
		}
		end := strings.Index(text[i+2:], "}}")
		nl := strings.IndexByte(text[i+2:], '\n')
		if end < 0 || (nl >= 0 && nl < end) {
			raw := text[i:]
			if j := strings.IndexByte(raw, '\n'); j >= 0 {
				raw = raw[:j]
			}
			out = append(out, placeholder{raw: raw, line: line, unclosed: true})
			i += 2
			continue
		}
		raw := text[i : i+2+end+2]
		out = append(out, placeholder{name: strings.TrimSpace(raw[2 : len(raw)-2]), raw: raw, line: line})
		i += len(raw)
	}
	return out
}

// Render fills a template's {{placeholders}} from values; a placeholder
// without a value becomes empty. Plans are checked when loaded, so every
// placeholder in a loaded plan is one of Placeholders.
func Render(text string, values map[string]string) string {
	var b strings.Builder
	last := 0
	pos := 0
	for _, ph := range scanPlaceholders(text) {
		if ph.unclosed {
			continue
		}
		i := strings.Index(text[pos:], ph.raw)
		if i < 0 {
			continue
		}
		i += pos
		b.WriteString(text[last:i])
		b.WriteString(values[ph.name])
		last = i + len(ph.raw)
		pos = last
	}
	b.WriteString(text[last:])
	return b.String()
}
