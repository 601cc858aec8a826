package dispatch

import (
	"fmt"
	"strings"

	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/token"
)

// decoder walks a parsed YAML file and collects problems with their
// positions instead of stopping at the first. The schema code (parse.go)
// asks it for mappings, lists and scalars; it resolves anchors, aliases,
// tags and merge keys on the way and bounds what they may expand to.
type decoder struct {
	file     string
	problems Problems
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

// pair is one key: value of a mapping.
type pair struct {
	key   string
	at    ast.Node // the key, for positions
	value ast.Node
}

// maxNodes bounds the YAML nodes a file may expand to, aliases included,
// so that a few lines of anchors cannot cost gigabytes.
const maxNodes = 200000

// maxMergeDepth bounds merge keys (<<) that merge mappings that merge.
const maxMergeDepth = 8

func (d *decoder) problem(n ast.Node, format string, args ...any) {
	line, col := position(n)
	d.problemAt(line, col, format, args...)
}

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
	case *ast.MappingKeyNode:
		return tokenPos(v.Start)
	}
	return tokenPos(n.GetToken())
}

func tokenPos(t *token.Token) (line, col int) {
	if t == nil || t.Position == nil || t.Position.Line <= 0 {
		return 1, 1
	}
	return t.Position.Line, max(t.Position.Column, 1)
}

func offsetOf(n ast.Node) int {
	if n == nil {
		return 0
	}
	t := n.GetToken()
	if t == nil || t.Position == nil {
		return 0
	}
	return t.Position.Offset
}

// collectAnchors records the anchors of n and everything below it.
func (d *decoder) collectAnchors(n ast.Node) {
	ast.Walk(anchorVisitor{d}, n)
}

type anchorVisitor struct{ d *decoder }

func (v anchorVisitor) Visit(n ast.Node) ast.Visitor {
	if a, ok := n.(*ast.AnchorNode); ok && a.Name != nil {
		name := a.Name.GetToken().Value
		v.d.anchors[name] = append(v.d.anchors[name], anchorDef{offset: offsetOf(a), node: a.Value})
	}
	return v
}

// count charges one node against the file's budget; false once the budget
// is spent, after which the decoder reads no further.
func (d *decoder) count(n ast.Node) bool {
	if d.tooBig {
		return false
	}
	d.nodes++
	if d.nodes > maxNodes {
		d.tooBig = true
		d.problem(n, "the file expands to more than %d YAML nodes (through anchors and aliases): simplify it", maxNodes)
		return false
	}
	return true
}

// resolve follows anchors, aliases and tags to the node that holds the
// value. It returns nil (with a problem) for an alias to no anchor.
func (d *decoder) resolve(n ast.Node) ast.Node {
	for i := 0; i < 64; i++ {
		if n == nil || !d.count(n) {
			return nil
		}
		switch v := n.(type) {
		case *ast.AnchorNode:
			n = v.Value
		case *ast.TagNode:
			switch tag := v.Start.Value; tag {
			case "!!str", "!!int", "!!bool", "!!map", "!!seq", "!!null", "!!float":
			default:
				d.problem(v, "the tag %s is not supported: leave it out", clipTo(tag, 40))
				return nil
			}
			n = v.Value
		case *ast.AliasNode:
			name := ""
			if v.Value != nil {
				name = v.Value.GetToken().Value
			}
			defs := d.anchors[name]
			var target ast.Node
			for _, def := range defs {
				if def.offset < offsetOf(v) {
					target = def.node
				}
			}
			if target == nil {
				d.problem(v, "the alias *%s names no anchor (&%s) defined before it", clipTo(name, 40), clipTo(name, 40))
				return nil
			}
			n = target
		default:
			return n
		}
	}
	d.problem(n, "anchors and aliases nest too deep here")
	return nil
}

// mapping returns the pairs of a mapping, with merge keys (<<) merged in
// (the mapping's own keys win) and duplicate keys reported. what names the
// expected thing in problems ("a rule").
func (d *decoder) mapping(n ast.Node, what string) ([]pair, bool) {
	return d.mappingDepth(n, what, 0, true)
}

func (d *decoder) mappingDepth(n ast.Node, what string, depth int, report bool) ([]pair, bool) {
	orig := n
	n = d.resolve(n)
	if n == nil {
		return nil, false
	}
	m, ok := n.(*ast.MappingNode)
	if !ok {
		if _, null := n.(*ast.NullNode); null {
			d.problem(orig, "%s is empty: it must be a mapping of keys and values", what)
			return nil, false
		}
		d.problem(orig, "%s must be a mapping of keys and values, not %s", what, describe(n))
		return nil, false
	}
	var own, merged []pair
	seen := map[string]ast.Node{}
	for _, mv := range m.Values {
		if !d.count(mv) {
			return nil, false
		}
		if mv.Key != nil && mv.Key.IsMergeKey() {
			if depth >= maxMergeDepth {
				d.problem(mv, "merge keys (<<) nest too deep here")
				continue
			}
			merged = append(merged, d.merge(mv.Value, what, depth+1)...)
			continue
		}
		key, ok := d.key(mv.Key)
		if !ok {
			continue
		}
		if prev, dup := seen[key]; dup {
			if report {
				line, _ := position(prev)
				d.problem(mv, "%q is given twice in %s (first on line %d)", clipTo(key, 60), what, line)
			}
			continue
		}
		seen[key] = mv.Key
		own = append(own, pair{key: key, at: mv.Key, value: mv.Value})
	}
	// Merged keys come first; a key of the mapping itself replaces one
	// merged in, as YAML's merge key says.
	var out []pair
	for _, p := range merged {
		if _, mine := seen[p.key]; mine {
			continue
		}
		seen[p.key] = p.at
		out = append(out, p)
	}
	return append(out, own...), true
}

// merge reads the value of a merge key: a mapping or a list of mappings.
func (d *decoder) merge(n ast.Node, what string, depth int) []pair {
	v := d.resolve(n)
	if v == nil {
		return nil
	}
	if seq, ok := v.(*ast.SequenceNode); ok {
		var out []pair
		for _, e := range seq.Values {
			ps, _ := d.mappingDepth(e, what, depth, false)
			out = append(out, ps...)
		}
		return out
	}
	ps, _ := d.mappingDepth(n, what, depth, false)
	return ps
}

// key returns a mapping key as text: keys must be scalars.
func (d *decoder) key(k ast.MapKeyNode) (string, bool) {
	var n ast.Node = k
	if mk, ok := k.(*ast.MappingKeyNode); ok {
		n = mk.Value
	}
	n = d.resolve(n)
	if n == nil {
		return "", false
	}
	s, ok := scalarText(n)
	if !ok {
		d.problem(k, "a key must be a plain word, not %s", describe(n))
		return "", false
	}
	return s, true
}

// list returns the items of a sequence.
func (d *decoder) list(n ast.Node, what string) ([]ast.Node, bool) {
	orig := n
	n = d.resolve(n)
	if n == nil {
		return nil, false
	}
	seq, ok := n.(*ast.SequenceNode)
	if !ok {
		d.problem(orig, "%s must be a list, not %s", what, describe(n))
		return nil, false
	}
	return seq.Values, true
}

// scalar returns the text of a scalar value as written (a number or a
// boolean as its digits or word). A missing value is a problem.
func (d *decoder) scalar(n ast.Node, field string) (string, bool) {
	orig := n
	n = d.resolve(n)
	if n == nil {
		return "", false
	}
	if _, null := n.(*ast.NullNode); null {
		d.problem(orig, "%s has no value (a bare ~ or null is YAML's empty value: quote it, as in \"~...\")", field)
		return "", false
	}
	s, ok := scalarText(n)
	if !ok {
		d.problem(orig, "%s must be a single value, not %s", field, describe(n))
		return "", false
	}
	return s, true
}

// scalars returns a value that is one scalar or a list of scalars, with
// each item's node for positions.
func (d *decoder) scalars(n ast.Node, field string, limit int) ([]string, []ast.Node) {
	v := d.resolve(n)
	if v == nil {
		return nil, nil
	}
	items := []ast.Node{n}
	if seq, ok := v.(*ast.SequenceNode); ok {
		items = seq.Values
		if len(items) == 0 {
			d.problem(n, "%s is an empty list: give at least one value, or leave %s out", field, field)
			return nil, nil
		}
	}
	if len(items) > limit {
		d.problem(n, "%s has %d values; the limit is %d", field, len(items), limit)
		return nil, nil
	}
	var out []string
	var at []ast.Node
	for _, it := range items {
		s, ok := d.scalar(it, field)
		if ok {
			out = append(out, s)
			at = append(at, it)
		}
	}
	return out, at
}

// integer reads a whole number within [lo, hi].
func (d *decoder) integer(n ast.Node, field string, lo, hi int) (int, bool) {
	orig := n
	n = d.resolve(n)
	if n == nil {
		return 0, false
	}
	in, ok := n.(*ast.IntegerNode)
	if !ok {
		d.problem(orig, "%s must be a whole number from %d to %d, not %s", field, lo, hi, describe(n))
		return 0, false
	}
	var v int64
	switch x := in.Value.(type) {
	case int64:
		v = x
	case uint64:
		v = int64(min(x, 1<<62))
	default:
		d.problem(orig, "%s must be a whole number from %d to %d", field, lo, hi)
		return 0, false
	}
	if v < int64(lo) || v > int64(hi) {
		d.problem(orig, "%s %d is out of range: %d to %d", field, v, lo, hi)
		return 0, false
	}
	return int(v), true
}

// scalarText returns a scalar's value as text: a string's value, anything
// else as written in the file.
func scalarText(n ast.Node) (string, bool) {
	switch v := n.(type) {
	case *ast.StringNode:
		return v.Value, true
	case *ast.LiteralNode:
		if v.Value == nil {
			return "", true
		}
		return v.Value.Value, true
	case *ast.IntegerNode, *ast.FloatNode, *ast.BoolNode, *ast.InfinityNode, *ast.NanNode:
		return n.GetToken().Value, true
	}
	return "", false
}

// describe names the kind of a node for problems.
func describe(n ast.Node) string {
	switch n.(type) {
	case *ast.MappingNode:
		return "a mapping"
	case *ast.SequenceNode:
		return "a list"
	case *ast.NullNode:
		return "empty"
	case *ast.IntegerNode, *ast.FloatNode, *ast.InfinityNode, *ast.NanNode:
		return "a number"
	case *ast.BoolNode:
		return "true or false"
	case *ast.StringNode, *ast.LiteralNode:
		return "text"
	}
	return "a " + strings.ToLower(n.Type().String())
}

// clipTo cuts s to n runes for quoting in problems.
func clipTo(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n]) + "…"
}

// node is a YAML node of the parsed file.
type node = ast.Node

type yamlSeq = ast.SequenceNode

func isNull(n node) bool {
	_, ok := n.(*ast.NullNode)
	return ok
}

func isSeq(n node) bool {
	_, ok := n.(*ast.SequenceNode)
	return ok
}
