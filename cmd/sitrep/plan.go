package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/sitrep-ir/sitrep"
	"github.com/sitrep-ir/sitrep/plan"
)

func (c *cli) planCmd() *cobra.Command {
	cmd := group("plan", "Pre-incident plans: lint", c.planLintCmd())
	cmd.Long = `Pre-incident plans prepare the response to a broadly defined kind of
event: the roles to staff at each severity, a checklist per phase,
communication templates, who to notify and time targets. Each is a YAML
file in the plans directory (sitrep serve --plans, default ./plans), kept
in version control. The server applies a kind's plan when an incident of
that kind is declared, and reloads the plans when their files change.`
	return cmd
}

func (c *cli) planLintCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "lint [DIR]",
		Short: "Check every plan of a plans directory; no server needed",
		Long: `Check every plan in DIR (default: SITREP_PLANS, else ./plans) the way the
server will when it loads them, and print each problem as
FILE:LINE:COLUMN: MESSAGE. The exit status is 1 when there is a problem,
so CI can run it on every change to the plans.

Without problems it lists the plans with the kinds they answer and their
version: the SHA-256 of the file and, in a git checkout, the commit.
With -o json it prints the problems as a list of {file, line, column,
message}: [] when there are none.`,
		Example: `  sitrep plan lint
  sitrep plan lint ops/plans
  sitrep plan lint -o json plans`,
		Args: func(cmd *cobra.Command, a []string) error {
			if len(a) > 1 {
				return usagef("%s takes at most one DIR, got %d arguments", cmd.CommandPath(), len(a))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, a []string) error {
			dir := "plans"
			if v, ok := c.lookupEnv("SITREP_PLANS"); ok && v != "" {
				dir = v
			}
			if len(a) == 1 {
				dir = a[0]
			}
			if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("plans directory %s does not exist (a server started with it runs with no plans)", dir)
			}
			set, err := plan.LoadContext(cmd.Context(), dir)
			problems := plan.AsProblems(err)
			if err != nil && problems == nil {
				return err
			}
			if c.json() {
				if problems == nil {
					problems = plan.Problems{}
				}
				if err := c.printJSON(problems); err != nil {
					return err
				}
			} else {
				for _, p := range problems {
					c.printf("%s\n", safe(p.String()))
				}
			}
			if len(problems) > 0 {
				return fmt.Errorf("%s: %d problem%s in %s", dir, len(problems), plural(len(problems)), filesOf(problems))
			}
			if !c.json() {
				c.printSet(set)
			}
			return nil
		},
	}
}

// filesOf says how many files the problems are in.
func filesOf(ps plan.Problems) string {
	files := map[string]bool{}
	for _, p := range ps {
		files[p.File] = true
	}
	if len(files) == 1 {
		return ps[0].File
	}
	return fmt.Sprintf("%d files", len(files))
}

// printSet lists the plans of a set that linted clean.
func (c *cli) printSet(set *plan.Set) {
	if set.Len() == 0 {
		c.printf("No plans in %s. Incidents run without one until you add some: see docs/plans.md.\n", set.Dir)
		return
	}
	c.printf("%d plan%s in %s, no problems", set.Len(), plural(set.Len()), set.Dir)
	if set.Commit != "" {
		c.printf(" (git %s)", set.Commit[:12])
	}
	c.printf(".\n\n")
	t := c.table("PLAN", "KINDS", "SEVERITY", "VERSION", "TITLE")
	for _, p := range set.Plans {
		t.row(p.Name, strings.Join(p.Kinds, ","), fmt.Sprint(p.Severity), p.Version.String(), safe(p.Title))
	}
	_ = t.flush()
}

// printPlan prints the plan an incident runs with: its version, the
// positions still to staff with who is suggested, the checklists opened so
// far and how the incident does against the plan's time targets.
func (c *cli) printPlan(inc *sitrep.Incident) {
	pl := inc.Plan
	if pl == nil {
		return
	}
	p := c.printf
	version := "sha256:" + short(pl.SHA256)
	if pl.Commit != "" {
		version += ", git " + short(pl.Commit)
		if pl.Modified {
			version += " modified"
		}
	}
	p("\nPlan: %s, %s (%s)\n", pl.Name, safe(pl.Title), version)
	if open := inc.OpenPositions(); len(open) > 0 {
		p("Open positions (Command holds them until assigned: sitrep assign %s ROLE USER):\n", inc.ID)
		t := c.table("  ROLE", "SUGGESTED", "WHY")
		for _, pos := range open {
			suggested := strings.Join(pos.People, ", ")
			if pos.Team != "" {
				if suggested != "" {
					suggested += "; "
				}
				suggested += safe(pos.Team)
			}
			t.row("  "+pos.Role, orDash(suggested), safe(pos.Why))
		}
		_ = t.flush()
	} else if len(pl.Positions) > 0 {
		p("Every position the plan staffs is held.\n")
	}
	if len(pl.Opened) > 0 {
		var phases []string
		for _, ph := range pl.Opened {
			phases = append(phases, string(ph))
		}
		p("Checklists opened: %s (their tasks are under Tasks)\n", strings.Join(phases, ", "))
	}
	if ts := inc.TargetStatus(time.Now()); len(ts) > 0 {
		p("Targets:\n")
		t := c.table("  TARGET", "WITHIN", "STATE", "WHEN")
		for _, s := range ts {
			at := "due " + when(s.Due)
			if s.MetAt != nil {
				at = "met " + when(*s.MetAt)
			}
			state := s.State
			if state == sitrep.TargetOverdue || state == sitrep.TargetMissed {
				state = strings.ToUpper(state)
			}
			t.row("  "+strings.ReplaceAll(s.Name, "_", " "), (time.Duration(s.Target) * time.Second).String(), state, at)
		}
		_ = t.flush()
	}
}

func short(h string) string {
	if len(h) > 12 {
		return h[:12]
	}
	return h
}
