package plan

import (
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/token"
)

// decoder walks a parsed YAML file and collects problems with their
// positions instead of stopping at the first. The schema code (parse.go)
// asks it for mappings, lists and scalars; it resolves anchors, aliases and
// merge keys on the way and bounds what they may expand to.
type decoder struct {
	file     string
	src      []byte
	problems Problems
	// anchors holds every anchor of the file in document order, so an
	// alias resolves to the latest anchor of its name defined before it.
	anchors map[string][]anchorDef
	nodes   int
	tooBig  bool
}

type anchorDef struct {
	offset int
	node   ast.Node
}

// pair is one key: value of a mapping.
type pair struct {
	key   string
	at    ast.Node // the key, for positions
	value ast.Node
}

// problem records a problem at n's position (the start of the file when n
// has none).
func (d *decoder) problem(n ast.Node, format string, args ...any) {
	line, col := position(n)
	d.problems = append(d.problems, Problem{File: d.file, Line: line, Column: col, Message: fmt.Sprintf(format, args...)})
}

// problemAt records a problem at a known position.
func (d *decoder) problemAt(line, col int, format string, args ...any) {
	d.problems = append(d.problems, Problem{File: d.file, Line: line, Column: col, Message: fmt.Sprintf(format, args...)})
}

// position returns where n starts, 1-based; 1:1 when it is unknown.
func position(n ast.Node) (line, col int) {
	switch v := n.(type) {
	case nil:
		return 1, 1
	case *ast.DocumentNode:
		if v.Body != nil {
			return position(v.Body)
		}
		return 1, 1
	case *ast.MappingNode:
		if len(v.Values) > 0 && v.Values[0].Key != nil {
			return position(v.Values[0].Key)
		}
		return tokenPos(v.Start)
	case *ast.MappingValueNode:
		return position(v.Key)
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
func (d *decoder) collectAnchors(n ast.Node) {
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

// resolve follows anchors and aliases to the node they stand for. It
// returns nil, having reported why, when the node cannot be used. Every
// call counts against the file's node budget, which bounds what aliases can
// expand to.
func (d *decoder) resolve(n ast.Node) ast.Node {
	for hops := 0; ; hops++ {
		if d.tooBig {
			return nil
		}
		d.nodes++
		if d.nodes > maxNodes {
			d.tooBig = true
			d.problemAt(1, 1, "the file expands to more than %d YAML values (through aliases): a plan is far smaller; simplify its anchors and aliases", maxNodes)
			return nil
		}
		if hops > 16 {
			d.problem(n, "aliases refer to each other in a loop")
			return nil
		}
		switch v := n.(type) {
		case *ast.AnchorNode:
			n = v.Value
		case *ast.AliasNode:
			name := nodeText(v.Value)
			var target ast.Node
			at := offset(v)
			for _, def := range d.anchors[name] {
				if def.offset < at {
					target = def.node
				}
			}
			if target == nil {
				d.problem(v, "alias *%s refers to no anchor &%s defined before it", name, name)
				return nil
			}
			n = target
		case *ast.TagNode:
			d.problem(v, "YAML tags such as %s are not used in plans: write the value plainly, in quotes to make it text", clipTo(v.Start.Value, 20))
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

// kindOf names n's shape for messages.
func kindOf(n ast.Node) string {
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

// mapping returns the pairs of the mapping n, merge keys (<<) applied, or
// nil with a problem when n is not a mapping. An empty value is an empty
// mapping.
func (d *decoder) mapping(n ast.Node, what string) ([]pair, bool) {
	return d.mappingDepth(n, what, 0)
}

func (d *decoder) mappingDepth(n ast.Node, what string, depth int) ([]pair, bool) {
	n = d.resolve(n)
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
		d.problem(n, "%s must be a mapping (key: value lines), not %s", what, kindOf(n))
		return nil, false
	}
	var out, merged []pair
	seen := map[string]bool{}
	for _, mv := range values {
		if mv.Key == nil {
			continue
		}
		if mv.Key.IsMergeKey() {
			if depth > 8 {
				d.problem(mv.Key, "merge keys (<<) nest more than 8 deep")
				continue
			}
			for _, src := range d.mergeSources(mv.Value) {
				ps, _ := d.mappingDepth(src, "a merge key's value", depth+1)
				merged = append(merged, ps...)
			}
			continue
		}
		key := d.resolve(mv.Key)
		var name string
		switch key.(type) {
		case *ast.StringNode, *ast.IntegerNode, *ast.BoolNode, *ast.FloatNode:
			name = nodeText(key)
		case nil:
			continue
		default:
			d.problem(mv.Key, "a key in %s must be plain text, not %s", what, kindOf(key))
			continue
		}
		seen[name] = true
		out = append(out, pair{key: name, at: mv.Key, value: mv.Value})
	}
	for _, p := range merged {
		if !seen[p.key] {
			seen[p.key] = true
			out = append(out, p)
		}
	}
	return out, true
}

// mergeSources returns the mappings a merge key's value names: one mapping
// or a list of them.
func (d *decoder) mergeSources(n ast.Node) []ast.Node {
	r := d.resolve(n)
	if s, ok := r.(*ast.SequenceNode); ok {
		return s.Values
	}
	if r == nil {
		return nil
	}
	return []ast.Node{n}
}

// list returns the items of the list n, or nil with a problem when n is not
// a list. An empty value is an empty list.
func (d *decoder) list(n ast.Node, what string, limit int) []ast.Node {
	r := d.resolve(n)
	switch v := r.(type) {
	case nil, *ast.NullNode:
		return nil
	case *ast.SequenceNode:
		if len(v.Values) > limit {
			d.problem(v, "%s has %d items; the limit is %d", what, len(v.Values), limit)
			return v.Values[:limit]
		}
		return v.Values
	case *ast.StringNode:
		d.problem(r, "%s must be a list: write [%s] or one \"- item\" per line", what, clipTo(v.Value, 40))
	default:
		d.problem(r, "%s must be a list, not %s", what, kindOf(r))
	}
	return nil
}

// scalar returns the text of a scalar, and the node it came from (for
// positions). Numbers and booleans count as their text: a title of 2024 is
// the text "2024". It reports a problem for a mapping or a list.
func (d *decoder) scalar(n ast.Node, what string) (string, ast.Node, bool) {
	r := d.resolve(n)
	switch v := r.(type) {
	case nil:
		return "", n, false
	case *ast.NullNode:
		return "", v, true
	case *ast.StringNode, *ast.LiteralNode, *ast.IntegerNode, *ast.FloatNode, *ast.BoolNode, *ast.InfinityNode, *ast.NanNode:
		return nodeText(v), v, true
	default:
		d.problem(r, "%s must be text, not %s", what, kindOf(r))
		return "", r, false
	}
}

// text returns a text field. Line fields are one line (trimmed); others
// keep their line breaks. Both refuse control characters and invalid UTF-8
// and are bounded by max bytes.
func (d *decoder) text(n ast.Node, what string, max int, oneLine, required bool) string {
	s, at, ok := d.scalar(n, what)
	if !ok {
		return ""
	}
	if oneLine {
		s = strings.TrimSpace(s)
	}
	switch {
	case required && strings.TrimSpace(s) == "":
		d.problem(at, "%s is empty", what)
	case len(s) > max:
		d.problem(at, "%s is %d bytes long; the limit is %d", what, len(s), max)
	case !utf8.ValidString(s):
		d.problem(at, "%s is not valid UTF-8", what)
	case oneLine && strings.ContainsAny(s, "\r\n"):
		d.problem(at, "%s must be one line", what)
	default:
		if i := strings.IndexFunc(s, isControl); i >= 0 {
			d.problem(at, "%s holds the control character %U: only tabs and line breaks are allowed", what, []rune(s[i:])[0])
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

// integer returns an integer field within [lo, hi].
func (d *decoder) integer(n ast.Node, what string, lo, hi int) (int, bool) {
	r := d.resolve(n)
	v, ok := r.(*ast.IntegerNode)
	if !ok {
		if r != nil {
			d.problem(r, "%s must be a whole number from %d to %d, not %s", what, lo, hi, kindOf(r))
		}
		return 0, false
	}
	i, err := strconv.ParseInt(strings.ReplaceAll(v.Token.Value, "_", ""), 0, 64)
	if err != nil || i < int64(lo) || i > int64(hi) {
		d.problem(v, "%s %s is out of range: %d to %d", what, clipTo(v.Token.Value, 20), lo, hi)
		return 0, false
	}
	return int(i), true
}

// boolean returns a true/false field.
func (d *decoder) boolean(n ast.Node, what string) bool {
	r := d.resolve(n)
	v, ok := r.(*ast.BoolNode)
	if !ok {
		if r != nil {
			d.problem(r, "%s must be true or false, not %s", what, kindOf(r))
		}
		return false
	}
	return v.Value
}

// duration returns a duration field such as 15m, 2h or 1h30m.
func (d *decoder) duration(n ast.Node, what string) time.Duration {
	r := d.resolve(n)
	switch v := r.(type) {
	case nil:
		return 0
	case *ast.StringNode:
		dur, err := time.ParseDuration(strings.TrimSpace(v.Value))
		switch {
		case err != nil:
			d.problem(v, "%s %q is not a duration: write it like 15m, 2h or 1h30m", what, clipTo(v.Value, 20))
		case dur <= 0:
			d.problem(v, "%s must be longer than zero", what)
		case dur > MaxTarget:
			d.problem(v, "%s %s is longer than %s", what, v.Value, "720h (30 days)")
		default:
			return dur
		}
	case *ast.IntegerNode:
		d.problem(v, "%s %s has no unit: write it like %sm (minutes) or %sh (hours)", what, v.Token.Value, v.Token.Value, v.Token.Value)
	default:
		d.problem(r, "%s must be a duration like 15m, 2h or 1h30m, not %s", what, kindOf(r))
	}
	return 0
}

// unknown reports a key that is not part of the format here.
func (d *decoder) unknown(p pair, where string, known []string) {
	d.problem(p.at, "unknown field %q in %s%s (known: %s)", clipTo(p.key, 40), where, didYouMean(p.key, known), strings.Join(known, ", "))
}

func clipTo(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n]) + "…"
}
