package plan

import (
	"strings"
	"time"

	"github.com/goccy/go-yaml/ast"

	"github.com/sitrep-ir/sitrep/internal/yamlcheck"
)

// decoder is yamlcheck's line-numbered reader with what the plan format
// adds: the file's text, to place placeholders within block scalars, and
// its own way to read targets.
type decoder struct {
	*yamlcheck.Decoder
	src []byte
}

// duration returns a target such as 15m, 2h or 1h30m, up to MaxTarget.
func (d *decoder) duration(n ast.Node, what string) time.Duration {
	r := d.Resolve(n)
	switch v := r.(type) {
	case nil:
		return 0
	case *ast.StringNode:
		dur, err := time.ParseDuration(strings.TrimSpace(v.Value))
		switch {
		case err != nil:
			d.Problem(v, "%s %q is not a duration: write it like 15m, 2h or 1h30m", what, yamlcheck.Clip(v.Value, 20))
		case dur <= 0:
			d.Problem(v, "%s must be longer than zero", what)
		case dur > MaxTarget:
			d.Problem(v, "%s %s is longer than %s", what, v.Value, "720h (30 days)")
		default:
			return dur
		}
	case *ast.IntegerNode:
		d.Problem(v, "%s %s has no unit: write it like %sm (minutes) or %sh (hours)", what, v.Token.Value, v.Token.Value, v.Token.Value)
	default:
		d.Problem(r, "%s must be a duration like 15m, 2h or 1h30m, not %s", what, yamlcheck.KindOf(r))
	}
	return 0
}
