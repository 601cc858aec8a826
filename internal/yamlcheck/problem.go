// Package yamlcheck reads user-written YAML files strictly and completely:
// it walks the parsed file, resolving anchors, aliases and merge keys within
// bounds, and collects every problem with its file, line and column instead
// of stopping at the first. A schema is written as code that asks the
// Decoder for mappings, lists and scalars; the Decoder reports what does not
// fit. Plans, scenarios and dispatch rules use it; it never panics on any
// input.
package yamlcheck

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Problem is one thing wrong in a file, where it is.
type Problem struct {
	File string `json:"file"`
	// Line and Column are 1-based; 0 when the problem is the whole file
	// (it cannot be read, it is too large).
	Line    int    `json:"line"`
	Column  int    `json:"column"`
	Message string `json:"message"`
}

// String formats the problem as compilers do: file:line:col: message.
func (p Problem) String() string {
	if p.Line <= 0 {
		return p.File + ": " + p.Message
	}
	return fmt.Sprintf("%s:%d:%d: %s", p.File, p.Line, p.Column, p.Message)
}

// Problems is every problem found in a set of files. As an error it lists
// them one per line.
type Problems []Problem

func (ps Problems) Error() string {
	var b strings.Builder
	for i, p := range ps {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(p.String())
	}
	return b.String()
}

// Strings returns each problem formatted, for logs.
func (ps Problems) Strings() []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.String()
	}
	return out
}

// Sorted returns the problems ordered by file, line, column and message,
// without exact duplicates (an alias used twice repeats its problems).
func (ps Problems) Sorted() Problems {
	slices.SortFunc(ps, func(a, b Problem) int {
		return cmp.Or(cmp.Compare(a.File, b.File), cmp.Compare(a.Line, b.Line), cmp.Compare(a.Column, b.Column), cmp.Compare(a.Message, b.Message))
	})
	return slices.Compact(ps)
}

// AsProblems returns the problems err holds, nil when it holds none.
func AsProblems(err error) Problems {
	var ps Problems
	if errors.As(err, &ps) {
		return ps
	}
	return nil
}

// Suggest returns the candidate closest to s when it is close enough to be
// the likely intent (a typo, another case, - for _), or "".
func Suggest(s string, candidates []string) string {
	best, bestD := "", 0
	norm := func(x string) string { return strings.ReplaceAll(strings.ToLower(x), "-", "_") }
	for _, c := range candidates {
		if norm(c) == norm(s) {
			return c
		}
		d := distance(s, c)
		limit := 2
		if len([]rune(c)) <= 4 {
			limit = 1
		}
		// A long shared stem is a likely intent too: containment for
		// contained.
		if commonPrefix(norm(s), norm(c)) >= 6 {
			limit = max(limit, d)
		}
		if d <= limit && (best == "" || d < bestD) {
			best, bestD = c, d
		}
	}
	return best
}

// DidYouMean is "; did you mean X?" for the closest candidate, or "".
func DidYouMean(s string, candidates []string) string {
	if c := Suggest(s, candidates); c != "" {
		return fmt.Sprintf("; did you mean %s?", c)
	}
	return ""
}

// distance is the Levenshtein distance between a and b, in runes. Inputs
// are short keys and names; a long one is simply far from everything.
func distance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	if len(ra) > 64 || len(rb) > 64 {
		return 1 << 30
	}
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(rb)]
}

func commonPrefix(a, b string) int {
	n := 0
	for n < len(a) && n < len(b) && a[n] == b[n] {
		n++
	}
	return n
}

// Clip cuts s to n runes, marking the cut with "…".
func Clip(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n]) + "…"
}
