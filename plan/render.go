package plan

import (
	"strings"

	"github.com/sitrep-ir/sitrep"
)

// Placeholders are the names a template's text may use as {{name}}, filled
// in from the incident when the statement is drafted: the domain's
// sitrep.Placeholders, where each is described.
var Placeholders = sitrep.Placeholders

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

// Render fills a template's {{placeholders}} from values, as the server does
// when it offers a plan's templates (sitrep.RenderTemplate); a placeholder
// without a value becomes empty. Plans are checked when loaded, so every
// placeholder in a loaded plan is one of Placeholders.
func Render(text string, values map[string]string) string {
	return sitrep.RenderTemplate(text, values)
}
