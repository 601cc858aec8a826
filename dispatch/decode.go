package dispatch

import (
	"github.com/goccy/go-yaml/ast"

	"github.com/sitrep-ir/sitrep/internal/yamlcheck"
)

// decoder is yamlcheck's line-numbered reader with the rules file's own
// reading of a few things: the standard tags (!!str, !!int, …) are allowed,
// a key given twice is reported with the line of the first, and an empty
// value where a mapping or a value is expected is a problem.
type decoder struct {
	*yamlcheck.Decoder
}

// pair is one key: value of a mapping.
type pair = yamlcheck.Pair

// maxNodes bounds the YAML nodes a file may expand to, aliases included,
// so that a few lines of anchors cannot cost gigabytes.
const maxNodes = 200000

// maxMergeDepth bounds merge keys (<<) that merge mappings that merge.
const maxMergeDepth = 8

// resolve follows anchors, aliases and tags to the node that holds the
// value. It returns nil (with a problem) for an alias to no anchor.
func (d *decoder) resolve(n ast.Node) ast.Node {
	for i := 0; i < 64; i++ {
		if n == nil || !d.Count() {
			return nil
		}
		switch v := n.(type) {
		case *ast.AnchorNode:
			n = v.Value
		case *ast.TagNode:
			switch tag := v.Start.Value; tag {
			case "!!str", "!!int", "!!bool", "!!map", "!!seq", "!!null", "!!float":
			default:
				d.Problem(v, "the tag %s is not supported: leave it out", yamlcheck.Clip(tag, 40))
				return nil
			}
			n = v.Value
		case *ast.AliasNode:
			target := d.Anchor(v)
			if target == nil {
				name := yamlcheck.Clip(yamlcheck.AliasName(v), 40)
				d.Problem(v, "the alias *%s names no anchor (&%s) defined before it", name, name)
				return nil
			}
			n = target
		default:
			return n
		}
	}
	d.Problem(n, "anchors and aliases nest too deep here")
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
			d.Problem(orig, "%s is empty: it must be a mapping of keys and values", what)
			return nil, false
		}
		d.Problem(orig, "%s must be a mapping of keys and values, not %s", what, yamlcheck.KindOf(n))
		return nil, false
	}
	var own, merged []pair
	seen := map[string]ast.Node{}
	for _, mv := range m.Values {
		if !d.Count() {
			return nil, false
		}
		if mv.Key != nil && mv.Key.IsMergeKey() {
			if depth >= maxMergeDepth {
				d.Problem(mv, "merge keys (<<) nest too deep here")
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
				line, _ := yamlcheck.Position(prev)
				d.Problem(mv, "%q is given twice in %s (first on line %d)", yamlcheck.Clip(key, 60), what, line)
			}
			continue
		}
		seen[key] = mv.Key
		own = append(own, pair{Key: key, At: mv.Key, Value: mv.Value})
	}
	// Merged keys come first; a key of the mapping itself replaces one
	// merged in, as YAML's merge key says.
	var out []pair
	for _, p := range merged {
		if _, mine := seen[p.Key]; mine {
			continue
		}
		seen[p.Key] = p.At
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
		d.Problem(k, "a key must be a plain word, not %s", yamlcheck.KindOf(n))
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
		d.Problem(orig, "%s must be a list, not %s", what, yamlcheck.KindOf(n))
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
		d.Problem(orig, "%s has no value (a bare ~ or null is YAML's empty value: quote it, as in \"~...\")", field)
		return "", false
	}
	s, ok := scalarText(n)
	if !ok {
		d.Problem(orig, "%s must be a single value, not %s", field, yamlcheck.KindOf(n))
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
			d.Problem(n, "%s is an empty list: give at least one value, or leave %s out", field, field)
			return nil, nil
		}
	}
	if len(items) > limit {
		d.Problem(n, "%s has %d values; the limit is %d", field, len(items), limit)
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
		d.Problem(orig, "%s must be a whole number from %d to %d, not %s", field, lo, hi, yamlcheck.KindOf(n))
		return 0, false
	}
	var v int64
	switch x := in.Value.(type) {
	case int64:
		v = x
	case uint64:
		v = int64(min(x, 1<<62))
	default:
		d.Problem(orig, "%s must be a whole number from %d to %d", field, lo, hi)
		return 0, false
	}
	if v < int64(lo) || v > int64(hi) {
		d.Problem(orig, "%s %d is out of range: %d to %d", field, v, lo, hi)
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
