package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/sitrep-ir/sitrep/dispatch"
)

func (c *cli) dispatchCmd() *cobra.Command {
	cmd := group("dispatch", "Dispatch rules: what becomes of each new alert", c.dispatchLintCmd())
	cmd.Long = `Dispatch rules decide what becomes of each new alert: declare an incident
of a kind (with its plan), attach the alert to the open incident of its
group, hold it on the triage desk for a person, or suppress it. They live in
dispatch.yaml of the plans directory (sitrep serve --plans), are read in
order (the first rule that matches decides) and are reloaded while the
server runs, when the file changes or on SIGHUP.`
	cmd.Example = `  sitrep dispatch lint
  sitrep dispatch lint plans/dispatch.yaml -o json`
	return cmd
}

// lintResult is what dispatch lint prints with -o json.
type lintResult struct {
	File     string             `json:"file"`
	OK       bool               `json:"ok"`
	Rules    []lintRule         `json:"rules"`
	Problems []dispatch.Problem `json:"problems"`
}

type lintRule struct {
	Name    string `json:"name"`
	Line    int    `json:"line"`
	Action  string `json:"action"`
	Kind    string `json:"kind,omitempty"`
	GroupBy string `json:"group_by,omitempty"`
}

func (c *cli) dispatchLintCmd() *cobra.Command {
	var plans string
	cmd := &cobra.Command{
		Use:   "lint [FILE]",
		Short: "Check a dispatch rules file, offline",
		Long: `Check a dispatch rules file without a server: every problem is printed
as FILE:LINE:COLUMN: MESSAGE, and the exit status is 1 when there is any.
FILE defaults to dispatch.yaml of the plans directory (--plans, or
SITREP_PLANS, or ./plans). A file the server cannot load leaves the rules it
uses as they were, so lint before you save.`,
		Example: `  sitrep dispatch lint
  sitrep dispatch lint --plans /etc/sitrep/plans
  sitrep dispatch lint plans/dispatch.yaml -o json`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, a []string) error {
			file := ""
			if len(a) == 1 {
				file = a[0]
			} else {
				if !cmd.Flags().Changed("plans") {
					if v, ok := c.lookupEnv("SITREP_PLANS"); ok && v != "" {
						plans = v
					}
				}
				file = filepath.Join(plans, dispatch.FileName)
			}
			return c.lintDispatch(file)
		},
	}
	cmd.Flags().StringVar(&plans, "plans", "./plans", "plans directory whose dispatch.yaml to check (env SITREP_PLANS)")
	return cmd
}

func (c *cli) lintDispatch(file string) error {
	res := lintResult{File: file, Rules: []lintRule{}, Problems: []dispatch.Problem{}}
	if st, err := os.Stat(file); errors.Is(err, fs.ErrNotExist) {
		res.Problems = append(res.Problems, dispatch.Problem{File: file, Message: "no such file (without one, every new alert waits on the triage desk)"})
	} else if err == nil && st.IsDir() {
		res.Problems = append(res.Problems, dispatch.Problem{File: file, Message: "a directory, not a rules file"})
	}
	if len(res.Problems) == 0 {
		rs, err := dispatch.Load(file)
		if err != nil {
			res.Problems = dispatch.AsProblems(err)
			if res.Problems == nil {
				return fmt.Errorf("read %s: %w", file, err)
			}
		} else {
			for _, r := range rs.Rules {
				lr := lintRule{Name: r.Name, Line: r.Line, Action: r.Action, Kind: r.Kind}
				switch {
				case len(r.GroupBy.Labels) > 0:
					lr.GroupBy = strings.Join(r.GroupBy.Labels, ", ")
				case r.GroupBy.Template != nil:
					lr.GroupBy = r.GroupBy.Template.String()
				case r.Action == dispatch.ActionDeclare:
					lr.GroupBy = "(the rule: one open incident)"
				}
				res.Rules = append(res.Rules, lr)
			}
		}
	}
	res.OK = len(res.Problems) == 0
	if c.json() {
		if err := c.printJSON(res); err != nil {
			return err
		}
	} else {
		c.printLint(res)
	}
	if !res.OK {
		return fmt.Errorf("%s: %d problem%s; the server keeps the rules it uses until the file is fixed", file, len(res.Problems), plural(len(res.Problems)))
	}
	return nil
}

func (c *cli) printLint(res lintResult) {
	for _, p := range res.Problems {
		c.printf("%s\n", p.String())
	}
	if !res.OK {
		return
	}
	if len(res.Rules) == 0 {
		c.printf("%s: no rules: every new alert waits on the triage desk\n", res.File)
		return
	}
	c.printf("%s: %d rule%s, no problems. The first that matches an alert decides:\n", res.File, len(res.Rules), plural(len(res.Rules)))
	t := c.table("  #", "RULE", "LINE", "ACTION", "KIND", "GROUP BY")
	for i, r := range res.Rules {
		t.row(fmt.Sprintf("  %d", i+1), r.Name, fmt.Sprint(r.Line), r.Action, orDash(r.Kind), orDash(safe(r.GroupBy)))
	}
	t.flush()
	c.printf("An alert no rule matches waits on the triage desk.\n")
}
