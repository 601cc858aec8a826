package main

import (
	"strconv"

	"github.com/spf13/cobra"

	"github.com/sitrep-ir/sitrep"
)

func noArgs(hint string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, a []string) error {
		if len(a) > 0 {
			return usagef("%s takes no arguments, got %q%s", cmd.CommandPath(), clipText(a[0], 40), hint)
		}
		return nil
	}
}

func (c *cli) declareCmd() *cobra.Command {
	var in sitrep.DeclareInput
	cmd := &cobra.Command{
		Use:   "declare --title TEXT [--kind KIND] [--severity 1-4] [--confidential]",
		Short: "Declare an incident; you become its Command",
		Long: `Declare an incident. You become its Command, checked in, holding every
role until you delegate it. A title is enough: kind and severity can be
set later with 'sitrep edit'.

Severity runs from 1 (worst) to 4. A confidential incident is seen only
by the people named on it and by administrators.`,
		Example: `  sitrep declare --title "Ransomware on FIN-LAPTOP-7"
  sitrep declare --title "Customer data on a paste site" --kind data-breach --severity 1 --confidential`,
		Args: noArgs(`: put the title in --title "…"`),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := requireFlag(cmd, "title"); err != nil {
				return err
			}
			res, err := c.client().Declare(cmd.Context(), in)
			if err != nil {
				return err
			}
			if c.json() {
				return c.printJSON(res)
			}
			inc := res.Incident
			c.printf("Declared %s. You are Command.\n\n", inc.ID)
			c.printf("  %s\n  kind %s · severity %d · phase %s%s\n\n", safe(inc.Title), inc.Kind, inc.Severity, inc.Phase, flags(inc.Incident))
			c.printf("You hold every role until you delegate it. Next:\n")
			c.printf("  sitrep assign %s operations USER    delegate a section\n", inc.ID)
			c.printf("  sitrep note %s TEXT                 record what you see\n", inc.ID)
			c.printf("  sitrep show %s                      the whole picture\n", inc.ID)
			c.printWarnings(inc)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&in.Title, "title", "", "what is happening, in a few words (required)")
	f.StringVar(&in.Kind, "kind", "", "kind: malware, data-breach, outage, … (default "+sitrep.DefaultKind+")")
	f.IntVar(&in.Severity, "severity", 0, "1 (worst) to 4 (default "+strconv.Itoa(sitrep.DefaultSeverity)+")")
	f.BoolVar(&in.Confidential, "confidential", false, "visible only to people named on it and administrators")
	f.BoolVar(&in.Exercise, "exercise", false, "a rehearsal: marked EXERCISE, never reaches external audiences")
	return cmd
}

func (c *cli) lsCmd() *cobra.Command {
	var all bool
	cmd := &cobra.Command{
		Use:     "ls [--all]",
		Aliases: []string{"list"},
		Short:   "List open incidents",
		Example: `  sitrep ls
  sitrep ls --all`,
		Args: noArgs(""),
		RunE: func(cmd *cobra.Command, _ []string) error {
			incs, err := c.client().Incidents(cmd.Context(), all)
			if err != nil {
				return err
			}
			if c.json() {
				return c.printJSON(map[string]any{"incidents": nonNil(incs)})
			}
			if len(incs) == 0 {
				if all {
					c.printf("No incidents.\n")
				} else {
					c.printf("No open incidents. Declare one: sitrep declare --title TEXT\n")
				}
				return nil
			}
			t := c.table("ID", "SEV", "PHASE", "COMMAND", "DECLARED", "TITLE")
			for _, v := range incs {
				t.row(v.ID, strconv.Itoa(v.Severity), string(v.Phase), v.Command, when(v.DeclaredAt), safe(v.Title)+flags(v.Incident))
			}
			return t.flush()
		},
	}
	cmd.Flags().BoolVar(&all, "all", false, "include closed incidents")
	return cmd
}

func (c *cli) showCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "show ID",
		Short: "Show an incident: Command, organisation, resources, tasks, warnings",
		Long: `Show an incident as Command needs to see it: who is Command, who holds
each role ("(Command)" where no one does), who is checked in, any
transfer of command and who has not acknowledged it, tasks by section,
assets, the latest communications, and every span-of-control WARNING.`,
		Example: `  sitrep show IR-2026-0001
  sitrep show IR-2026-0001 -o json`,
		Args: args(1, "ID"),
		RunE: func(cmd *cobra.Command, a []string) error {
			cl := c.client()
			v, err := cl.Incident(cmd.Context(), incidentID(a[0]))
			if err != nil {
				return err
			}
			if c.json() {
				return c.printJSON(v)
			}
			me := ""
			if an := v.Announcement; an != nil && len(an.Pending) > 0 {
				// Only to tell the reader whether they still owe an ack.
				if u, err := cl.Me(cmd.Context()); err == nil {
					me = u.Name
				}
			}
			c.printIncident(v, me)
			return nil
		},
	}
}

func (c *cli) editCmd() *cobra.Command {
	var e sitrep.Edit
	var title, kind string
	var severity int
	var confidential, legalHold bool
	cmd := &cobra.Command{
		Use:   "edit ID [--title TEXT] [--kind KIND] [--severity 1-4] [--confidential=BOOL] [--legal-hold=BOOL] [--reason TEXT]",
		Short: "Change an incident's title, kind, severity, confidentiality or legal hold",
		Long: `Change what an incident is: Command edits it. An administrator may also
place a legal hold, and only an administrator lifts one. Under a legal
hold nothing the incident holds may be deleted.`,
		Example: `  sitrep edit IR-2026-0001 --kind malware --severity 2 --reason "EDR confirmed ransomware"
  sitrep edit IR-2026-0001 --legal-hold --reason "counsel asked"`,
		Args: args(1, "ID"),
		RunE: func(cmd *cobra.Command, a []string) error {
			f := cmd.Flags()
			if changed(f, "title") {
				e.Title = &title
			}
			if changed(f, "kind") {
				e.Kind = &kind
			}
			if changed(f, "severity") {
				e.Severity = &severity
			}
			if changed(f, "confidential") {
				e.Confidential = &confidential
			}
			if changed(f, "legal-hold") {
				e.LegalHold = &legalHold
			}
			if e.Title == nil && e.Kind == nil && e.Severity == nil && e.Confidential == nil && e.LegalHold == nil {
				return usagef("edit: nothing to change: give --title, --kind, --severity, --confidential or --legal-hold")
			}
			res, err := c.client().Edit(cmd.Context(), incidentID(a[0]), e)
			if err != nil {
				return err
			}
			return c.printResult(res)
		},
	}
	f := cmd.Flags()
	f.StringVar(&title, "title", "", "new title")
	f.StringVar(&kind, "kind", "", "new kind: malware, data-breach, outage, …")
	f.IntVar(&severity, "severity", 0, "new severity: 1 (worst) to 4")
	f.BoolVar(&confidential, "confidential", false, "make it confidential (--confidential=false to open it)")
	f.BoolVar(&legalHold, "legal-hold", false, "place a legal hold (--legal-hold=false lifts it: administrators)")
	f.StringVar(&e.Reason, "reason", "", "why, for the record")
	return cmd
}

func (c *cli) phaseCmd() *cobra.Command {
	var reason string
	cmd := &cobra.Command{
		Use:   "phase ID PHASE --reason TEXT",
		Short: "Move an incident to another phase (Command)",
		Long: `Move an incident to another phase. The phases are identification,
containment, eradication, recovery, post-mortem and closed. Going back
(a re-infection) is allowed with a reason. An incident closes only from
post-mortem, and only when its report is complete: the refusal names
what is missing.`,
		Example: `  sitrep phase IR-2026-0001 containment --reason "laptop isolated by EDR"
  sitrep phase IR-2026-0001 identification --reason "re-infection on FIN-LAPTOP-9"
  sitrep phase IR-2026-0001 closed --reason "post mortem reviewed"`,
		Args: args(2, "ID PHASE"),
		RunE: func(cmd *cobra.Command, a []string) error {
			if err := requireFlag(cmd, "reason"); err != nil {
				return err
			}
			res, err := c.client().ChangePhase(cmd.Context(), incidentID(a[0]), sitrep.Phase(a[1]), reason)
			if err != nil {
				return err
			}
			return c.printResult(res)
		},
	}
	cmd.Flags().StringVar(&reason, "reason", "", "why, for the record (required)")
	return cmd
}

// nonNil returns s, or an empty slice for nil, so JSON shows [] not null.
func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
