package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/sitrep-ir/sitrep"
	"github.com/sitrep-ir/sitrep/plan"
)

func (c *cli) planCmd() *cobra.Command {
	cmd := group("plan", "Pre-incident plans: ls, show, lint", c.planLsCmd(), c.planShowCmd(), c.planLintCmd())
	cmd.Long = `Pre-incident plans prepare the response to a broadly defined kind of
event: the roles to staff at each severity, a checklist per phase,
communication templates, who to notify and time targets. Each is a YAML
file in the plans directory (sitrep serve --plans, default ./plans), kept
in version control. The server applies a kind's plan when an incident of
that kind is declared, and reloads the plans when their files change or
on SIGHUP.`
	return cmd
}

func (c *cli) planLsCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "ls",
		Aliases: []string{"list"},
		Short:   "List the plans the server has in force",
		Long: `List the plans the server has in force, with the kinds each answers and
its version. When the server's latest reload of its plans directory
failed, its problems follow: the plans listed are then the last good
ones, in force until the files are fixed.`,
		Example: `  sitrep plan ls
  sitrep plan ls -o json`,
		Args: noArgs(": to see one plan, sitrep plan show NAME"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			l, err := c.client().Plans(cmd.Context())
			if err != nil {
				return err
			}
			if c.json() {
				return c.printJSON(l)
			}
			if len(l.Plans) == 0 {
				c.printf("The server has no plans in force: incidents run without one (see docs/plans.md).\n")
			} else {
				t := c.table("PLAN", "KINDS", "SEVERITY", "VERSION", "TITLE")
				for _, p := range l.Plans {
					v := plan.Version{SHA256: p.SHA256, Commit: p.Commit, Modified: p.Modified}
					t.row(safe(p.Name), safe(strings.Join(p.Kinds, ",")), fmt.Sprint(p.Severity), v.String(), safe(p.Title))
				}
				_ = t.flush()
			}
			if len(l.Problems) > 0 {
				c.printf("\nThe latest reload of %s failed; the plans above stay in force until it is fixed:\n", safe(l.Dir))
				for _, p := range l.Problems {
					c.printf("  %s\n", safe(plan.Problem{File: p.File, Line: p.Line, Column: p.Column, Message: p.Message}.String()))
				}
			}
			return nil
		},
	}
}

func (c *cli) planShowCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "show NAME",
		Short: "Show a plan in force: roles, checklists, templates, notify lists, targets",
		Example: `  sitrep plan show data-breach
  sitrep plan show malware -o json`,
		Args: args(1, "NAME"),
		RunE: func(cmd *cobra.Command, a []string) error {
			raw, err := c.client().Plan(cmd.Context(), a[0])
			if err != nil {
				return err
			}
			if c.json() {
				return c.printJSON(raw)
			}
			var p plan.Plan
			if err := json.Unmarshal(raw, &p); err != nil {
				return fmt.Errorf("read plan %s from the server: %w", a[0], err)
			}
			c.printPlanDocument(&p)
			return nil
		},
	}
}

// printPlanDocument prints a whole plan for people.
func (c *cli) printPlanDocument(p *plan.Plan) {
	pr := c.printf
	pr("%s: %s\n", safe(p.Name), safe(p.Title))
	pr("kinds %s · severity %d%s%s · %s · %s\n", safe(strings.Join(p.Kinds, ", ")), p.Severity,
		flag(p.Confidential, " · CONFIDENTIAL"), flag(p.LegalHold, " · LEGAL HOLD"), safe(p.File), p.Version.String())
	if d := strings.TrimSpace(p.Description); d != "" {
		pr("\n%s\n", indent(safeBlock(d), "  "))
	}

	pr("\nRoles to staff (Command holds each until assigned):\n")
	if len(p.Roles) == 0 {
		pr("  none: Command holds every role\n")
	} else {
		t := c.table("  ROLE", "STAFFED", "SUGGESTED", "WHY")
		for _, r := range p.Roles {
			suggested := strings.Join(r.People, ", ")
			if r.Team != "" {
				if suggested != "" {
					suggested += "; "
				}
				suggested += r.Team
			}
			t.row("  "+safe(r.Name)+flag(r.Added, " (added)"), atSeverity(r.Severity), orDash(safe(suggested)), clipText(safe(r.Why), 80))
		}
		_ = t.flush()
	}

	pr("\nChecklists:\n")
	if len(p.Checklists) == 0 {
		pr("  none\n")
	}
	for _, cl := range p.Checklists {
		pr("  %s\n", cl.Phase)
		t := c.table()
		for _, it := range cl.Items {
			var extra []string
			if it.Severity < sitrep.MaxSeverity {
				extra = append(extra, atSeverity(it.Severity))
			}
			if it.Assignee != "" {
				extra = append(extra, "to "+it.Assignee)
			}
			note := ""
			if len(extra) > 0 {
				note = " (" + strings.Join(extra, ", ") + ")"
			}
			t.row("    "+safe(it.Section), safe(it.Task)+note)
		}
		_ = t.flush()
	}

	pr("\nCommunication templates:\n")
	if len(p.Communications) == 0 {
		pr("  none\n")
	}
	for _, tp := range p.Communications {
		approval := ""
		if tp.CommandApproval {
			approval = ", with Command's approval"
		}
		phase := ""
		if tp.Phase != "" {
			phase = ", in " + string(tp.Phase)
		}
		pr("  %s: to %s%s%s\n%s\n", safe(tp.Name), safe(tp.Audience), phase, approval, indent(safeBlock(strings.TrimRight(tp.Text, "\n")), "    "))
	}

	pr("\nNotify on declaration:\n")
	if len(p.Notify) == 0 {
		pr("  no one\n")
	} else {
		t := c.table()
		for _, n := range p.Notify {
			t.row("  "+safe(n.Audience), atSeverity(n.Severity), safe(strings.Join(n.To, ", ")))
		}
		_ = t.flush()
	}

	var targets []string
	for _, tg := range []struct {
		name string
		d    time.Duration
	}{{"declare", p.Targets.Declare}, {"command", p.Targets.Command}, {"information officer", p.Targets.InformationOfficer},
		{"first internal update", p.Targets.FirstInternalUpdate}, {"contained", p.Targets.Contained}} {
		if tg.d > 0 {
			targets = append(targets, tg.name+" "+plan.FormatDuration(tg.d))
		}
	}
	if len(targets) > 0 {
		pr("\nTargets: %s\n", strings.Join(targets, " · "))
	}
}

// atSeverity says at which severities a part of a plan applies.
func atSeverity(sev int) string {
	switch {
	case sev >= sitrep.MaxSeverity:
		return "always"
	case sev <= 1:
		return "severity 1"
	}
	return fmt.Sprintf("severity 1–%d", sev)
}

// anyTemplate is --template without a name: the template for --audience.
const anyTemplate = "*"

// publishTemplate publishes (or, dry, prints) the plan's template named
// name, or the only one for audience when name is anyTemplate.
func (c *cli) publishTemplate(cmd *cobra.Command, id, audience, name string, dryRun bool) error {
	ts, err := c.client().Templates(cmd.Context(), id)
	if err != nil {
		return err
	}
	t, err := chooseTemplate(id, ts, audience, name)
	if err != nil {
		return err
	}
	if dryRun {
		if c.json() {
			return c.printJSON(t)
		}
		c.printf("Template %s to %s%s:\n%s\n", t.Name, t.Audience, flag(t.CommandApproval, " (from the Information Officer it waits for Command's approval)"),
			indent(safeBlock(strings.TrimRight(t.Text, "\n")), "  "))
		return nil
	}
	res, err := c.client().PublishTemplate(cmd.Context(), id, audience, t.Name)
	if err != nil {
		return err
	}
	return c.printPublished(id, res)
}

// chooseTemplate finds the template to publish: by name, or the one for
// audience.
func chooseTemplate(id string, ts []sitrep.Template, audience, name string) (*sitrep.Template, error) {
	var all []string
	for _, t := range ts {
		all = append(all, fmt.Sprintf("%s (to %s)", t.Name, t.Audience))
	}
	known := "it has none"
	if len(all) > 0 {
		known = "its templates are " + strings.Join(all, ", ")
	}
	if name != anyTemplate {
		i := slices.IndexFunc(ts, func(t sitrep.Template) bool { return t.Name == name })
		if i < 0 {
			return nil, fmt.Errorf("the plan of %s has no template %s: %s", id, clipText(name, 40), known)
		}
		if audience != "" && ts[i].Audience != audience {
			return nil, fmt.Errorf("template %s is for %s, not %s", name, ts[i].Audience, clipText(audience, 40))
		}
		return &ts[i], nil
	}
	if audience == "" {
		return nil, usagef("--template needs --audience to find the template, or a name: --template=NAME")
	}
	var match []string
	for _, t := range ts {
		if t.Audience == audience {
			match = append(match, t.Name)
		}
	}
	switch len(match) {
	case 0:
		return nil, fmt.Errorf("the plan of %s has no template for %s: %s", id, clipText(audience, 40), known)
	case 1:
		return chooseTemplate(id, ts, "", match[0])
	}
	return nil, usagef("the plan of %s has %d templates for %s (%s): choose one with --template=NAME", id, len(match), audience, strings.Join(match, ", "))
}

// printPublished prints the result of an update and, when it became a
// draft, says that it waits for Command.
func (c *cli) printPublished(id string, res *sitrep.Result) error {
	var notes []string
	for _, e := range res.Entries {
		var d sitrep.CommunicationDrafted
		if e.Type != d.Type() || json.Unmarshal(e.Data, &d) != nil {
			continue
		}
		command := "Command"
		if res.Incident != nil {
			command += " (" + res.Incident.Command + ")"
		}
		notes = append(notes, fmt.Sprintf("Draft %d waits for Command's approval: it reaches no one until %s runs sitrep approve %s %d, or sitrep reject %s %d --reason TEXT.",
			d.Draft, command, id, d.Draft, id, d.Draft))
	}
	return c.printResult(res, notes...)
}

func (c *cli) updateTemplatesCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "templates ID",
		Short:   "List the communication templates of the incident's plan, filled in",
		Example: `  sitrep update templates IR-2026-0001`,
		Args:    args(1, "ID"),
		RunE: func(cmd *cobra.Command, a []string) error {
			id := incidentID(a[0])
			ts, err := c.client().Templates(cmd.Context(), id)
			if err != nil {
				return err
			}
			if c.json() {
				return c.printJSON(map[string]any{"templates": nonNil(ts)})
			}
			if len(ts) == 0 {
				c.printf("%s has no templates: it runs without a plan, or its plan has none.\n", id)
				return nil
			}
			for i, t := range ts {
				if i > 0 {
					c.printf("\n")
				}
				c.printf("%s  to %s%s\n%s\n", t.Name, t.Audience, flag(t.CommandApproval, "  (needs Command's approval)"), indent(safeBlock(strings.TrimRight(t.Text, "\n")), "  "))
			}
			c.printf("\nPublish one: sitrep update %s --template=NAME\n", id)
			return nil
		},
	}
}

// draftNumber parses a draft number: "2" or "#2".
func draftNumber(s string) (int, error) {
	n, err := strconv.Atoi(strings.TrimPrefix(strings.TrimSpace(s), "#"))
	if err != nil || n < 1 {
		return 0, usagef("draft %q is not a draft number: give the number `sitrep show ID` lists under drafts, such as 2", clipText(s, 20))
	}
	return n, nil
}

func (c *cli) approveCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "approve ID DRAFT",
		Short: "Approve a draft communication: it is published (Command)",
		Long: `When the incident's plan asks for Command's authorisation of an audience,
what the Information Officer publishes to it waits as a draft. Command
approves it, which publishes it, or rejects it with a reason. Anyone
else is refused.`,
		Example: `  sitrep approve IR-2026-0001 1`,
		Args:    args(2, "ID DRAFT"),
		RunE: func(cmd *cobra.Command, a []string) error {
			n, err := draftNumber(a[1])
			if err != nil {
				return err
			}
			res, err := c.client().ApproveDraft(cmd.Context(), incidentID(a[0]), n)
			if err != nil {
				return err
			}
			return c.printResult(res)
		},
	}
}

func (c *cli) rejectCmd() *cobra.Command {
	var reason string
	cmd := &cobra.Command{
		Use:     "reject ID DRAFT --reason TEXT",
		Short:   "Reject a draft communication, saying why (Command)",
		Example: `  sitrep reject IR-2026-0001 1 --reason "counsel has not cleared the wording"`,
		Args:    args(2, "ID DRAFT"),
		RunE: func(cmd *cobra.Command, a []string) error {
			if err := requireFlag(cmd, "reason"); err != nil {
				return err
			}
			n, err := draftNumber(a[1])
			if err != nil {
				return err
			}
			res, err := c.client().RejectDraft(cmd.Context(), incidentID(a[0]), n, reason)
			if err != nil {
				return err
			}
			return c.printResult(res)
		},
	}
	cmd.Flags().StringVar(&reason, "reason", "", "why, for the draft's author (required)")
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
