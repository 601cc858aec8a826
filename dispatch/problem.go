package dispatch

import "github.com/sitrep-ir/sitrep/internal/yamlcheck"

// Problem is one thing wrong in a rules file, where it is.
type Problem = yamlcheck.Problem

// Problems is every problem found in a rules file, in the order of the
// file. As an error it lists them one per line.
type Problems = yamlcheck.Problems

// AsProblems returns the problems err holds, nil when it holds none.
func AsProblems(err error) Problems { return yamlcheck.AsProblems(err) }
