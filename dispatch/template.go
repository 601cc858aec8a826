package dispatch

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"text/template"
	"text/template/parse"

	"github.com/sitrep-ir/sitrep"
	"github.com/sitrep-ir/sitrep/internal/yamlcheck"
)

// Template is a title or group key made from an alert. It is Go's
// text/template limited to inserting the alert's fields, so that rendering
// costs no more than the alert's own size:
//
//	{{ .Summary }}  {{ .Source }}  {{ .DedupKey }}  {{ .Severity }}
//	{{ .Labels.NAME }}  {{ index .Labels "NAME-WITH-DASHES" }}
//
// A label the alert does not have is empty.
type Template struct {
	text string
	t    *template.Template
}

// templateData is what a template sees of an alert.
type templateData struct {
	Summary  string
	Source   string
	DedupKey string
	Severity int
	Labels   map[string]string
}

var templateFields = []string{"Summary", "Source", "DedupKey", "Severity", "Labels"}

const templateHelp = "a template may only insert {{ .Summary }}, {{ .Source }}, {{ .DedupKey }}, {{ .Severity }}, {{ .Labels.NAME }} or {{ index .Labels \"NAME\" }}"

// parseTemplate parses and checks a template.
func parseTemplate(name, text string) (*Template, error) {
	t, err := template.New(name).Option("missingkey=zero").Parse(text)
	if err != nil {
		msg := err.Error()
		msg = strings.TrimPrefix(msg, "template: ")
		msg = strings.TrimPrefix(msg, name+":")
		return nil, errors.New(strings.TrimSpace(msg))
	}
	if t.Tree == nil || t.Tree.Root == nil {
		return &Template{text: text, t: t}, nil
	}
	if len(t.Templates()) > 1 {
		return nil, errors.New("define and block are not allowed: " + templateHelp)
	}
	for _, n := range t.Tree.Root.Nodes {
		if err := checkTemplateNode(n); err != nil {
			return nil, err
		}
	}
	return &Template{text: text, t: t}, nil
}

func checkTemplateNode(n parse.Node) error {
	switch v := n.(type) {
	case *parse.TextNode, *parse.CommentNode:
		return nil
	case *parse.ActionNode:
		p := v.Pipe
		if p == nil || len(p.Decl) > 0 || len(p.Cmds) != 1 {
			return fmt.Errorf("%q: %s", yamlcheck.Clip(v.String(), 60), templateHelp)
		}
		args := p.Cmds[0].Args
		switch {
		case len(args) == 1:
			if f, ok := args[0].(*parse.FieldNode); ok && validField(f.Ident) {
				return nil
			}
		case len(args) == 3:
			id, ok1 := args[0].(*parse.IdentifierNode)
			f, ok2 := args[1].(*parse.FieldNode)
			_, ok3 := args[2].(*parse.StringNode)
			if ok1 && ok2 && ok3 && id.Ident == "index" && len(f.Ident) == 1 && f.Ident[0] == "Labels" {
				return nil
			}
		}
		return fmt.Errorf("%q: %s", yamlcheck.Clip(v.String(), 60), templateHelp)
	}
	return fmt.Errorf("%q: if, range, with and template are not allowed: %s", yamlcheck.Clip(n.String(), 60), templateHelp)
}

func validField(ident []string) bool {
	switch len(ident) {
	case 1:
		return ident[0] != "Labels" && slices.Contains(templateFields, ident[0])
	case 2:
		return ident[0] == "Labels"
	}
	return false
}

// Render returns the template filled in with the alert's fields.
func (t *Template) Render(al *sitrep.Alert) string {
	if t == nil {
		return ""
	}
	var b strings.Builder
	data := templateData{Summary: al.Summary, Source: al.Source, DedupKey: al.DedupKey, Severity: al.Severity, Labels: al.Labels}
	if data.Labels == nil {
		data.Labels = map[string]string{}
	}
	// The checks of parseTemplate leave nothing that can fail on an
	// alert; an error would leave the text rendered so far.
	_ = t.t.Execute(&b, data)
	return b.String()
}

// String returns the template's text.
func (t *Template) String() string {
	if t == nil {
		return ""
	}
	return t.text
}
