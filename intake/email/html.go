package email

import (
	"html"
	"strings"
)

// htmlToText strips an HTML body to its text: the content of script and
// style elements and comments dropped, block elements (paragraphs, line
// breaks, headings, list items, table rows) as line breaks, entities
// decoded, white space collapsed. Paragraphs, headings and tables end with
// a blank line. It is what an alert's reader needs, not a
// renderer: HTML mail from monitoring tools is simple.
func htmlToText(s string) string {
	var b strings.Builder
	b.Grow(len(s) / 2)
	for len(s) > 0 {
		lt := strings.IndexByte(s, '<')
		if lt < 0 {
			b.WriteString(s)
			break
		}
		b.WriteString(s[:lt])
		s = s[lt:]
		if strings.HasPrefix(s, "<!--") {
			end := strings.Index(s, "-->")
			if end < 0 {
				break
			}
			s = s[end+3:]
			continue
		}
		end := tagEnd(s)
		if end < 0 {
			break // a tag that never closes: the rest is markup
		}
		name, closing := tagName(s[1:end])
		s = s[end+1:]
		switch name {
		case "script", "style", "head", "title":
			if !closing {
				s = skipElement(s, name)
			}
		case "p", "h1", "h2", "h3", "h4", "h5", "h6", "table", "ul", "ol", "pre", "blockquote":
			// Paragraph-like: a blank line after (collapse keeps one).
			b.WriteByte('\n')
			if closing {
				b.WriteByte('\n')
			}
		case "br", "div", "tr", "li", "hr", "section", "article", "header", "footer":
			if !closing {
				b.WriteByte('\n')
			}
		case "td", "th":
			b.WriteByte(' ')
		}
	}
	return collapse(html.UnescapeString(b.String()))
}

// tagEnd returns the index of the '>' that ends the tag s starts with,
// skipping quoted attribute values, or -1.
func tagEnd(s string) int {
	var quote byte
	for i := 1; i < len(s); i++ {
		c := s[i]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '"' || c == '\'':
			quote = c
		case c == '>':
			return i
		}
	}
	return -1
}

// tagName returns the lower-cased name of a tag's inside ("/p", "br /",
// "a href=…") and whether it closes an element.
func tagName(inside string) (string, bool) {
	closing := strings.HasPrefix(inside, "/")
	inside = strings.TrimPrefix(inside, "/")
	end := strings.IndexAny(inside, " \t\r\n/>")
	if end >= 0 {
		inside = inside[:end]
	}
	return strings.ToLower(inside), closing
}

// skipElement returns s after the closing tag of name, or "" when it has
// none.
func skipElement(s, name string) string {
	for i := 0; ; {
		j := strings.Index(s[i:], "</")
		if j < 0 {
			return ""
		}
		j += i
		if end := j + 2 + len(name); end <= len(s) && strings.EqualFold(s[j+2:end], name) {
			if gt := strings.IndexByte(s[end:], '>'); gt >= 0 {
				return s[end+gt+1:]
			}
			return ""
		}
		i = j + 2
	}
}

// collapse trims each line, turns runs of spaces (and no-break spaces) into
// one, and keeps at most one blank line in a row.
func collapse(s string) string {
	var out []string
	blank := 0
	for line := range strings.SplitSeq(strings.ReplaceAll(s, "\u00a0", " "), "\n") {
		line = strings.Join(strings.Fields(line), " ")
		if line == "" {
			blank++
			if blank > 1 || len(out) == 0 {
				continue
			}
		} else {
			blank = 0
		}
		out = append(out, line)
	}
	return strings.TrimSpace(strings.Join(out, "\n"))
}
