package status

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"html/template"
	"net/url"
	"strings"
	"time"

	"github.com/sitrep-ir/sitrep"
)

// pageHTML is the page: no script, one small style sheet, readable on a
// phone.
var pageHTML = template.Must(template.New("status").Funcs(template.FuncMap{
	"when":  func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04 UTC") },
	"iso":   func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
	"lines": func(s string) []string { return strings.Split(strings.TrimSpace(s), "\n") },
}).Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Page.Title}}</title>
<link rel="alternate" type="application/atom+xml" title="{{.Page.Title}}" href="{{.Feed}}">
<style>
body { font-family: system-ui, sans-serif; line-height: 1.5; margin: 0 auto; max-width: 44rem; padding: 1rem; color: #111; }
h1 { font-size: 1.5rem; margin: 0 0 .25rem; }
.meta { color: #555; font-size: .9rem; margin: 0; }
section { border-top: 1px solid #ddd; padding: .75rem 0; }
h2 { font-size: 1.1rem; margin: 0; }
.badge { display: inline-block; border-radius: .25rem; padding: 0 .4rem; font-size: .85rem; background: #eee; }
.sev-critical { background: #fecaca; } .sev-high { background: #fed7aa; } .resolved { background: #bbf7d0; }
ol { list-style: none; padding: 0; margin: .5rem 0 0; }
li { margin: 0 0 .75rem; overflow-wrap: anywhere; }
time { color: #555; font-size: .9rem; }
p.text { margin: .1rem 0; white-space: pre-wrap; }
</style></head>
<body>
<header><h1>{{.Page.Title}}</h1>
<p class="meta">{{if .Page.Incidents}}Last update {{when .Page.Updated}}.{{else}}No incidents to report.{{end}} <a href="{{.Feed}}">Atom feed</a></p></header>
<main>
{{range .Page.Incidents}}<section id="{{.ID}}">
<h2>{{.ID}} <span class="badge{{if .Resolved}} resolved{{end}}">{{.Phase}}</span> <span class="badge sev-{{.Severity}}">severity {{.Severity}}</span></h2>
<p class="meta">First update <time datetime="{{iso .First}}">{{when .First}}</time>{{if ne (iso .First) (iso .Last)}}, latest <time datetime="{{iso .Last}}">{{when .Last}}</time>{{end}}</p>
<ol>{{range .Updates}}
<li><time datetime="{{iso .At}}">{{when .At}}</time>{{range lines .Text}}<p class="text">{{.}}</p>{{end}}</li>{{end}}
</ol>{{if .More}}<p class="meta">{{.More}} earlier update{{if gt .More 1}}s{{end}} not shown.</p>{{end}}
</section>
{{end}}</main>
</body></html>
`))

// The Atom feed (RFC 4287).
type feed struct {
	XMLName xml.Name    `xml:"http://www.w3.org/2005/Atom feed"`
	ID      string      `xml:"id"`
	Title   string      `xml:"title"`
	Updated string      `xml:"updated"`
	Author  feedPerson  `xml:"author"`
	Links   []feedLink  `xml:"link"`
	Entries []feedEntry `xml:"entry"`
}

type feedPerson struct {
	Name string `xml:"name"`
}

type feedLink struct {
	Rel  string `xml:"rel,attr"`
	Type string `xml:"type,attr,omitempty"`
	Href string `xml:"href,attr"`
}

type feedText struct {
	Type string `xml:"type,attr"`
	Text string `xml:",chardata"`
}

type feedEntry struct {
	ID        string     `xml:"id"`
	Title     string     `xml:"title"`
	Updated   string     `xml:"updated"`
	Published string     `xml:"published"`
	Links     []feedLink `xml:"link"`
	Content   feedText   `xml:"content"`
}

// renderFeed writes p as an Atom feed. The IDs are tag URIs (RFC 4151) of
// the base URL's host, the incident and the update's entry on its
// timeline: the same across restarts and replicas.
func renderFeed(p *Page, base string, clock sitrep.Clock) ([]byte, error) {
	u, err := url.Parse(base)
	if err != nil || u.Hostname() == "" {
		return nil, fmt.Errorf("base URL %q has no host", base)
	}
	authority := strings.ToLower(u.Hostname())
	updated := p.Updated
	if updated.IsZero() {
		updated = clock.Now().UTC().Truncate(time.Second)
	}
	f := feed{
		ID:      "tag:" + authority + ",2026:status",
		Title:   p.Title,
		Updated: updated.UTC().Format(time.RFC3339),
		Author:  feedPerson{Name: p.Title},
		Links: []feedLink{
			{Rel: "self", Type: "application/atom+xml", Href: base + "/status/feed.atom"},
			{Rel: "alternate", Type: "text/html", Href: base + "/status"},
		},
	}
	for _, inc := range p.Incidents {
		for _, up := range inc.Updates {
			at := up.At.UTC().Format(time.RFC3339Nano)
			f.Entries = append(f.Entries, feedEntry{
				ID:        fmt.Sprintf("tag:%s,2026:%s/%d", authority, inc.ID, up.Seq),
				Title:     fmt.Sprintf("%s: %s (severity %s)", inc.ID, inc.Phase, inc.Severity),
				Updated:   at,
				Published: at,
				Links:     []feedLink{{Rel: "alternate", Type: "text/html", Href: base + "/status#" + inc.ID}},
				Content:   feedText{Type: "text", Text: up.Text},
			})
		}
	}
	var b bytes.Buffer
	b.WriteString(xml.Header)
	enc := xml.NewEncoder(&b)
	enc.Indent("", " ")
	if err := enc.Encode(f); err != nil {
		return nil, err
	}
	b.WriteString("\n")
	return b.Bytes(), nil
}
