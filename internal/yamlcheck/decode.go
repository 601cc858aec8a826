package yamlcheck

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"
	"github.com/goccy/go-yaml/token"
)

// Decoder walks one parsed YAML file and collects problems with their
// positions instead of stopping at the first. Schema code asks it for
// mappings, lists and scalars; it resolves anchors, aliases and merge keys
// on the way and bounds what they may expand to.
type Decoder struct {
	// File names the file in problems.
	File string
	// Problems are the problems found so far, in the order found.
	Problems Problems

	what     string
	maxNodes int
	// anchors holds every anchor of the file in document order, so that an
	// alias resolves to the latest anchor of its name defined before it.
	anchors map[string][]anchorDef
	nodes   int
	tooBig  bool
}

type anchorDef struct {
	offset int
	node   ast.Node
}

// Pair is one key: value of a mapping.
type Pair struct {
	Key   string
	At    ast.Node // the key, for positions
	Value ast.Node
}

// Limits bound what one file may hold.
type Limits struct {
	// MaxSize is the largest file in bytes.
	MaxSize int
	// MaxNodes bounds the YAML values the file may expand to, aliases
	// included, so that a few lines of anchors cannot cost gigabytes.
	MaxNodes int
}

// Format says what a kind of file holds, for messages, and bounds it.
type Format struct {
	// What names what one file holds: "plan", "scenario".
	What string
	Limits
	// EmptyHint follows "the file holds no <What>" when the file holds no
	// document: what the least such file needs.
	EmptyHint string
	// EmptyOK makes a file without a document no problem: it holds
	// nothing, and Open returns no body.
	EmptyOK bool
	// DuplicateKeys leaves a key given twice to Mapping and the schema,
	// which report it with the others, where the YAML parser would stop
	// the whole file at the first.
	DuplicateKeys bool
}

// Open parses data, read from file, as one YAML document and returns a
// Decoder for it with the document's body. The body is nil, and the
// Decoder holds why, when the file is too large, not UTF-8, not YAML,
// empty (unless f.EmptyOK), or holds more than one document. Callers
// should defer d.Recover() around their walk of the body.
func Open(file string, data []byte, f Format) (d *Decoder, body ast.Node) {
	d = &Decoder{File: file, what: f.What, maxNodes: f.MaxNodes, anchors: map[string][]anchorDef{}}
	if d.maxNodes <= 0 {
		d.maxNodes = 100000
	}
	defer func() {
		// The YAML parser is third-party code: a crash on some input is
		// a problem of that file, not of the server.
		if r := recover(); r != nil {
			d.ProblemAt(0, 0, "the YAML parser failed on this file (%v): simplify it", r)
			body = nil
		}
	}()
	if f.MaxSize > 0 && len(data) > f.MaxSize {
		d.ProblemAt(0, 0, "the file is %d bytes long; the limit is %d", len(data), f.MaxSize)
		return d, nil
	}
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	if !utf8.Valid(data) {
		line, col := lineCol(data, firstInvalidUTF8(data))
		d.ProblemAt(line, col, "the file is not valid UTF-8 here")
		return d, nil
	}
	var opts []parser.Option
	if f.DuplicateKeys {
		opts = append(opts, parser.AllowDuplicateMapKey())
	}
	parsed, err := parser.ParseBytes(data, 0, opts...)
	if err != nil {
		if ye, ok := err.(yaml.Error); ok && ye.GetToken() != nil {
			line, col := tokenPos(ye.GetToken())
			d.ProblemAt(line, col, "YAML: %s", OneLine(ye.GetMessage()))
		} else {
			d.ProblemAt(1, 1, "YAML: %s", OneLine(err.Error()))
		}
		return d, nil
	}
	for i, doc := range parsed.Docs {
		if doc == nil || doc.Body == nil {
			continue
		}
		if body != nil {
			d.Problem(doc.Body, "a second YAML document starts here: a file holds one %s (found %d documents)", f.What, len(parsed.Docs))
			return d, nil
		}
		body = doc.Body
		d.collectAnchors(parsed.Docs[i])
	}
	if _, null := body.(*ast.NullNode); null && f.EmptyOK {
		body = nil
	}
	if body == nil && !f.EmptyOK {
		d.ProblemAt(1, 1, "the file holds no %s%s", f.What, f.EmptyHint)
	}
	return d, body
}

// OneLine puts a message on one line, its spaces collapsed.
func OneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// Recover turns a panic of the walk into a problem of the file. Use it as
// defer d.Recover().
func (d *Decoder) Recover() {
	if r := recover(); r != nil {
		d.ProblemAt(0, 0, "the file could not be read (%v): simplify it", r)
	}
}

// Problem records a problem at n's position (the start of the file when n
// has none).
func (d *Decoder) Problem(n ast.Node, format string, args ...any) {
	line, col := Position(n)
	d.ProblemAt(line, col, format, args...)
}

// ProblemAt records a problem at a known position; line 0 is the whole file.
func (d *Decoder) ProblemAt(line, col int, format string, args ...any) {
	d.Problems = append(d.Problems, Problem{File: d.File, Line: line, Column: col, Message: fmt.Sprintf(format, args...)})
}

// Position returns where n starts, 1-based; 1:1 when it is unknown.
func Position(n ast.Node) (line, col int) {
	switch v := n.(type) {
	case nil:
		return 1, 1
	case *ast.DocumentNode:
		if v.Body != nil {
			return Position(v.Body)
		}
		return 1, 1
	case *ast.MappingNode:
		if len(v.Values) > 0 && v.Values[0].Key != nil {
			return Position(v.Values[0].Key)
		}
		return tokenPos(v.Start)
	case *ast.MappingValueNode:
		return Position(v.Key)
	case *ast.SequenceNode:
		return tokenPos(v.Start)
	case *ast.LiteralNode:
		return tokenPos(v.Start)
	case *ast.AnchorNode:
		return tokenPos(v.Start)
	case *ast.AliasNode:
		return tokenPos(v.Start)
	case *ast.TagNode:
		return tokenPos(v.Start)
	case *ast.MappingKeyNode:
		return tokenPos(v.Start)
	}
	if tk := n.GetToken(); tk != nil {
		return tokenPos(tk)
	}
	return 1, 1
}

func tokenPos(tk *token.Token) (int, int) {
	if tk == nil || tk.Position == nil {
		return 1, 1
	}
	return max(tk.Position.Line, 1), max(tk.Position.Column, 1)
}

// collectAnchors records every anchor in the tree under n, without
// following aliases, before the schema walk starts.
func (d *Decoder) collectAnchors(n ast.Node) {
	stack := []ast.Node{n}
	for len(stack) > 0 {
		n := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		switch v := n.(type) {
		case *ast.DocumentNode:
			stack = append(stack, v.Body)
		case *ast.MappingNode:
			for _, mv := range v.Values {
				stack = append(stack, mv.Key, mv.Value)
			}
		case *ast.MappingValueNode:
			stack = append(stack, v.Key, v.Value)
		case *ast.MappingKeyNode:
			stack = append(stack, v.Value)
		case *ast.SequenceNode:
			stack = append(stack, v.Values...)
		case *ast.TagNode:
			stack = append(stack, v.Value)
		case *ast.AnchorNode:
			if name := nodeText(v.Name); name != "" && v.Value != nil {
				d.anchors[name] = append(d.anchors[name], anchorDef{offset: offset(v), node: v.Value})
			}
			stack = append(stack, v.Value)
		}
	}
}

func offset(n ast.Node) int {
	if tk := n.GetToken(); tk != nil && tk.Position != nil {
		return tk.Position.Offset
	}
	return 0
}

// Count charges one YAML value against the file's budget, which bounds
// what anchors and aliases can expand to. It returns false once the budget
// is spent (reported once), after which the walk should read no further.
func (d *Decoder) Count() bool {
	if d.tooBig {
		return false
	}
	d.nodes++
	if d.nodes > d.maxNodes {
		d.tooBig = true
		d.ProblemAt(1, 1, "the file expands to more than %d YAML values (through aliases): a %s is far smaller; simplify its anchors and aliases", d.maxNodes, d.what)
		return false
	}
	return true
}

// Anchor returns the value of the anchor an alias names: the latest anchor
// of that name defined before the alias, or nil when there is none.
func (d *Decoder) Anchor(alias *ast.AliasNode) ast.Node {
	var target ast.Node
	at := offset(alias)
	for _, def := range d.anchors[AliasName(alias)] {
		if def.offset < at {
			target = def.node
		}
	}
	return target
}

// AliasName is the anchor name an alias refers to.
func AliasName(alias *ast.AliasNode) string { return nodeText(alias.Value) }

// Resolve follows anchors and aliases to the node they stand for. It
// returns nil, having reported why, when the node cannot be used. Every
// call counts against the file's node budget, which bounds what aliases can
// expand to.
func (d *Decoder) Resolve(n ast.Node) ast.Node {
	for hops := 0; ; hops++ {
		if !d.Count() {
			return nil
		}
		if hops > 16 {
			d.Problem(n, "aliases refer to each other in a loop")
			return nil
		}
		switch v := n.(type) {
		case *ast.AnchorNode:
			n = v.Value
		case *ast.AliasNode:
			target := d.Anchor(v)
			if target == nil {
				name := AliasName(v)
				d.Problem(v, "alias *%s refers to no anchor &%s defined before it", name, name)
				return nil
			}
			n = target
		case *ast.TagNode:
			d.Problem(v, "YAML tags such as %s are not used in %ss: write the value plainly, in quotes to make it text", Clip(v.Start.Value, 20), d.what)
			return nil
		case *ast.MappingKeyNode:
			n = v.Value
		default:
			return n
		}
	}
}

// nodeText is the text of a scalar node, "" for anything else.
func nodeText(n ast.Node) string {
	switch v := n.(type) {
	case *ast.StringNode:
		return v.Value
	case *ast.LiteralNode:
		if v.Value != nil {
			return v.Value.Value
		}
		return ""
	case *ast.IntegerNode, *ast.FloatNode, *ast.BoolNode, *ast.InfinityNode, *ast.NanNode:
		if tk := n.GetToken(); tk != nil {
			return tk.Value
		}
	}
	return ""
}

// KindOf names n's shape for messages.
func KindOf(n ast.Node) string {
	switch n.(type) {
	case nil, *ast.NullNode:
		return "nothing"
	case *ast.MappingNode, *ast.MappingValueNode:
		return "a mapping"
	case *ast.SequenceNode:
		return "a list"
	case *ast.IntegerNode:
		return "a number"
	case *ast.FloatNode, *ast.InfinityNode, *ast.NanNode:
		return "a decimal number"
	case *ast.BoolNode:
		return "true or false"
	case *ast.StringNode, *ast.LiteralNode:
		return "text"
	}
	return "a YAML " + strings.ToLower(n.Type().String())
}

// Mapping returns the pairs of the mapping n, merge keys (<<) applied, or
// false with a problem when n is not a mapping. An empty value is an empty
// mapping. A key given twice is a problem at its second place.
func (d *Decoder) Mapping(n ast.Node, what string) ([]Pair, bool) {
	return d.mappingDepth(n, what, 0)
}

func (d *Decoder) mappingDepth(n ast.Node, what string, depth int) ([]Pair, bool) {
	n = d.Resolve(n)
	var values []*ast.MappingValueNode
	switch v := n.(type) {
	case nil:
		return nil, false
	case *ast.NullNode:
		return nil, true
	case *ast.MappingNode:
		values = v.Values
	case *ast.MappingValueNode:
		values = []*ast.MappingValueNode{v}
	default:
		d.Problem(n, "%s must be a mapping (key: value lines), not %s", what, KindOf(n))
		return nil, false
	}
	var out, merged []Pair
	seen := map[string]bool{}
	for _, mv := range values {
		if mv.Key == nil {
			continue
		}
		if mv.Key.IsMergeKey() {
			if depth > 8 {
				d.Problem(mv.Key, "merge keys (<<) nest more than 8 deep")
				continue
			}
			for _, src := range d.mergeSources(mv.Value) {
				ps, _ := d.mappingDepth(src, "a merge key's value", depth+1)
				merged = append(merged, ps...)
			}
			continue
		}
		key := d.Resolve(mv.Key)
		var name string
		switch key.(type) {
		case *ast.StringNode, *ast.IntegerNode, *ast.BoolNode, *ast.FloatNode:
			name = nodeText(key)
		case nil:
			continue
		default:
			d.Problem(mv.Key, "a key in %s must be plain text, not %s", what, KindOf(key))
			continue
		}
		if seen[name] {
			d.Problem(mv.Key, "%s is given twice in %s", Clip(name, 40), what)
			continue
		}
		seen[name] = true
		out = append(out, Pair{Key: name, At: mv.Key, Value: mv.Value})
	}
	for _, p := range merged {
		if !seen[p.Key] {
			seen[p.Key] = true
			out = append(out, p)
		}
	}
	return out, true
}

// mergeSources returns the mappings a merge key's value names: one mapping
// or a list of them.
func (d *Decoder) mergeSources(n ast.Node) []ast.Node {
	r := d.Resolve(n)
	if s, ok := r.(*ast.SequenceNode); ok {
		return s.Values
	}
	if r == nil {
		return nil
	}
	return []ast.Node{n}
}

// List returns the items of the list n, or nil with a problem when n is not
// a list. An empty value is an empty list. Items past limit are dropped
// with a problem.
func (d *Decoder) List(n ast.Node, what string, limit int) []ast.Node {
	r := d.Resolve(n)
	switch v := r.(type) {
	case nil, *ast.NullNode:
		return nil
	case *ast.SequenceNode:
		if len(v.Values) > limit {
			d.Problem(v, "%s has %d items; the limit is %d", what, len(v.Values), limit)
			return v.Values[:limit]
		}
		return v.Values
	case *ast.StringNode:
		d.Problem(r, "%s must be a list: write [%s] or one \"- item\" per line", what, Clip(v.Value, 40))
	default:
		d.Problem(r, "%s must be a list, not %s", what, KindOf(r))
	}
	return nil
}

// Scalar returns the text of a scalar, and the node it came from (for
// positions). Numbers and booleans count as their text. It reports a
// problem for a mapping or a list.
func (d *Decoder) Scalar(n ast.Node, what string) (string, ast.Node, bool) {
	r := d.Resolve(n)
	switch v := r.(type) {
	case nil:
		return "", n, false
	case *ast.NullNode:
		return "", v, true
	case *ast.StringNode, *ast.LiteralNode, *ast.IntegerNode, *ast.FloatNode, *ast.BoolNode, *ast.InfinityNode, *ast.NanNode:
		return nodeText(v), v, true
	default:
		d.Problem(r, "%s must be text, not %s", what, KindOf(r))
		return "", r, false
	}
}

// Text returns a text field. One-line fields are trimmed; others keep their
// line breaks. Both refuse control characters and invalid UTF-8 and are
// bounded by max bytes.
func (d *Decoder) Text(n ast.Node, what string, max int, oneLine, required bool) string {
	s, at, ok := d.Scalar(n, what)
	if !ok {
		return ""
	}
	if oneLine {
		s = strings.TrimSpace(s)
	}
	switch {
	case required && strings.TrimSpace(s) == "":
		d.Problem(at, "%s is empty", what)
	case len(s) > max:
		d.Problem(at, "%s is %d bytes long; the limit is %d", what, len(s), max)
	case !utf8.ValidString(s):
		d.Problem(at, "%s is not valid UTF-8", what)
	case oneLine && strings.ContainsAny(s, "\r\n"):
		d.Problem(at, "%s must be one line", what)
	default:
		if i := strings.IndexFunc(s, isControl); i >= 0 {
			d.Problem(at, "%s holds the control character %U: only tabs and line breaks are allowed", what, []rune(s[i:])[0])
			return ""
		}
		return s
	}
	return ""
}

// isControl reports control characters text refuses: C0 but tab, newline
// and carriage return, DEL, and C1 (the domain's rule for text).
func isControl(r rune) bool {
	return (r < 0x20 && r != '\t' && r != '\n' && r != '\r') || (r >= 0x7f && r < 0xa0)
}

// Integer returns an integer field within [lo, hi].
func (d *Decoder) Integer(n ast.Node, what string, lo, hi int) (int, bool) {
	r := d.Resolve(n)
	v, ok := r.(*ast.IntegerNode)
	if !ok {
		if r != nil {
			d.Problem(r, "%s must be a whole number from %d to %d, not %s", what, lo, hi, KindOf(r))
		}
		return 0, false
	}
	i, err := strconv.ParseInt(strings.ReplaceAll(v.Token.Value, "_", ""), 0, 64)
	if err != nil || i < int64(lo) || i > int64(hi) {
		d.Problem(v, "%s %s is out of range: %d to %d", what, Clip(v.Token.Value, 20), lo, hi)
		return 0, false
	}
	return int(i), true
}

// Boolean returns a true/false field.
func (d *Decoder) Boolean(n ast.Node, what string) bool {
	r := d.Resolve(n)
	v, ok := r.(*ast.BoolNode)
	if !ok {
		if r != nil {
			d.Problem(r, "%s must be true or false, not %s", what, KindOf(r))
		}
		return false
	}
	return v.Value
}

// Duration returns a duration field such as 90s, 15m, 2h or 1h30m, from
// zero (when zeroOK) up to max. It returns false, with a problem, when the
// value is not such a duration.
func (d *Decoder) Duration(n ast.Node, what string, zeroOK bool, max time.Duration) (time.Duration, bool) {
	r := d.Resolve(n)
	switch v := r.(type) {
	case nil:
		return 0, false
	case *ast.StringNode:
		dur, err := time.ParseDuration(strings.TrimSpace(v.Value))
		switch {
		case err != nil:
			d.Problem(v, "%s %q is not a duration: write it like 90s, 15m, 2h or 1h30m", what, Clip(v.Value, 20))
		case dur < 0 || (dur == 0 && !zeroOK):
			d.Problem(v, "%s must be longer than zero", what)
		case dur > max:
			d.Problem(v, "%s %s is longer than the limit of %s", what, Clip(v.Value, 20), FormatDuration(max))
		default:
			return dur, true
		}
	case *ast.IntegerNode:
		if zeroOK && v.Token.Value == "0" {
			return 0, true
		}
		d.Problem(v, "%s %s has no unit: write it like %ss (seconds), %sm (minutes) or %sh (hours)", what, v.Token.Value, v.Token.Value, v.Token.Value, v.Token.Value)
	default:
		d.Problem(r, "%s must be a duration like 15m, 2h or 1h30m, not %s", what, KindOf(r))
	}
	return 0, false
}

// FormatDuration writes d the way files give durations: 1h30m, 15m, 90s
// (2m30s rather than Go's 2m30s0ms forms).
func FormatDuration(d time.Duration) string {
	if d == 0 {
		return "0s"
	}
	s := d.Round(time.Second).String()
	s = strings.Replace(s, "m0s", "m", 1)
	s = strings.Replace(s, "h0m", "h", 1)
	return s
}

// Unknown reports a key that is not part of the format where it is.
func (d *Decoder) Unknown(p Pair, where string, known []string) {
	d.Problem(p.At, "unknown field %q in %s%s (known: %s)", Clip(p.Key, 40), where, DidYouMean(p.Key, known), strings.Join(known, ", "))
}

// Empty reports whether n is an empty value or an empty list.
func (d *Decoder) Empty(n ast.Node) bool {
	switch v := d.Resolve(n).(type) {
	case *ast.NullNode:
		return true
	case *ast.SequenceNode:
		return len(v.Values) == 0
	}
	return false
}

// lineCol returns the 1-based line and column, in runes, of byte offset off.
func lineCol(data []byte, off int) (line, col int) {
	line = 1 + bytes.Count(data[:off], []byte("\n"))
	start := bytes.LastIndexByte(data[:off], '\n') + 1
	return line, 1 + utf8.RuneCount(data[start:off])
}

func firstInvalidUTF8(b []byte) int {
	for i := 0; i < len(b); {
		r, size := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && size <= 1 {
			return i
		}
		i += size
	}
	return len(b)
}
