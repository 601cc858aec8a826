package plan

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzParse checks that no input crashes the parser or yields a plan with
// problems, and that every problem has a place and a message.
func FuzzParse(f *testing.F) {
	f.Add([]byte(goodPlan))
	f.Add([]byte("title: X\nkinds: [a]\nroles:\n  liaison: &b {severity: 1}\n  finance: {<<: *b}\n"))
	f.Add([]byte("a: &a [*a]\n"))
	f.Add([]byte("- [{\n"))
	f.Add([]byte("title: !!binary aGk=\n"))
	files, _ := filepath.Glob(filepath.Join("..", "plans", "*.yaml"))
	for _, file := range files {
		if data, err := os.ReadFile(file); err == nil {
			f.Add(data)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		p, problems := Parse("fuzz.yaml", data)
		if (p == nil) == (problems == nil) {
			t.Fatalf("plan %v with problems %v: want exactly one", p, problems)
		}
		for _, pr := range problems {
			if pr.File != "fuzz.yaml" || pr.Line < 0 || pr.Column < 0 || strings.TrimSpace(pr.Message) == "" {
				t.Fatalf("bad problem %+v", pr)
			}
		}
		if p != nil {
			if p.Title == "" || len(p.Kinds) == 0 || p.Severity < 1 || p.Severity > 4 {
				t.Fatalf("a plan without problems lacks what it needs: %+v", p)
			}
		}
	})
}

// FuzzRender holds the renderer the server uses to the scanner that checks
// placeholders when a plan loads: every placeholder the scanner finds, and
// only those, is filled in.
func FuzzRender(f *testing.F) {
	for _, s := range []string{"", "{{id}}", "{{ title }} {{", "{{{id}}}", "a {{b\n}} {{c}}", "}}{{}}", "{{id}}{{id}}x{{ id}}"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		values := map[string]string{}
		for _, ph := range scanPlaceholders(text) {
			if !ph.unclosed {
				values[ph.name] = "<" + strings.ToUpper(ph.name) + ">"
			}
		}
		if got, want := Render(text, values), renderScanned(text, values); got != want {
			t.Fatalf("Render(%q) = %q; the scanner reads it as %q", text, got, want)
		}
	})
}

// renderScanned fills text by the placeholders scanPlaceholders finds.
func renderScanned(text string, values map[string]string) string {
	var b strings.Builder
	pos := 0
	for _, ph := range scanPlaceholders(text) {
		if ph.unclosed {
			continue
		}
		i := pos + strings.Index(text[pos:], ph.raw)
		b.WriteString(text[pos:i])
		b.WriteString(values[ph.name])
		pos = i + len(ph.raw)
	}
	b.WriteString(text[pos:])
	return b.String()
}
