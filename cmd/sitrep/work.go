package main

import (
	"fmt"
	"slices"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/sitrep-ir/sitrep"
)

func (c *cli) taskCmd() *cobra.Command {
	cmd := group("task", "Work delegated in sections: add, assign, done, cancel, reopen, ls",
		c.taskAddCmd(), c.taskLsCmd(), c.taskAssignCmd(),
		c.taskStatusCmd("done", sitrep.TaskDone, "Mark a task done (its assignee, Command or the section chief)", false),
		c.taskStatusCmd("cancel", sitrep.TaskCancelled, "Cancel a task (Command or the section chief)", true),
		c.taskStatusCmd("reopen", sitrep.TaskOpen, "Reopen a task done or cancelled (Command or the section chief)", true),
	)
	cmd.Long = `Tasks are work delegated in a section (operations, planning, logistics,
finance, or any role). Command, or the chief of that section, adds and
assigns them; anyone else is refused (freelancing).`
	cmd.Example = `  sitrep task add IR-2026-0001 --section operations --assignee carol Isolate FIN-LAPTOP-7
  sitrep task done IR-2026-0001 1
  sitrep task ls IR-2026-0001`
	return cmd
}

func (c *cli) taskAddCmd() *cobra.Command {
	var t sitrep.AddTask
	cmd := &cobra.Command{
		Use:   "add ID --section SECTION [--assignee USER] TITLE",
		Short: "Add a task to a section (Command or the section chief)",
		Example: `  sitrep task add IR-2026-0001 --section operations --assignee carol "Isolate FIN-LAPTOP-7"
  sitrep task add IR-2026-0001 --section planning Draft the executive summary`,
		Args: atLeast(2, "ID and a TITLE"),
		RunE: func(cmd *cobra.Command, a []string) error {
			if err := requireFlag(cmd, "section"); err != nil {
				return err
			}
			title, err := c.text(a[1:], "title", sitrep.MaxTitle)
			if err != nil {
				return err
			}
			t.Title = title
			res, err := c.client().AddTask(cmd.Context(), incidentID(a[0]), t)
			if err != nil {
				return err
			}
			return c.printResult(res)
		},
	}
	f := cmd.Flags()
	f.StringVar(&t.Section, "section", "", "section (or role) the task belongs to (required)")
	f.StringVar(&t.Assignee, "assignee", "", "person to do it (checked in)")
	return cmd
}

func (c *cli) taskAssignCmd() *cobra.Command {
	var none bool
	cmd := &cobra.Command{
		Use:   "assign ID TASK USER | assign ID TASK --none",
		Short: "Give a task to someone checked in (Command or the section chief)",
		Example: `  sitrep task assign IR-2026-0001 2 dave
  sitrep task assign IR-2026-0001 2 --none     # back to the section`,
		Args: func(cmd *cobra.Command, a []string) error {
			if none {
				return args(2, "ID TASK with --none")(cmd, a)
			}
			return args(3, "ID TASK USER")(cmd, a)
		},
		RunE: func(cmd *cobra.Command, a []string) error {
			n, err := taskID(a[1])
			if err != nil {
				return err
			}
			user := ""
			if !none {
				user = a[2]
			}
			res, err := c.client().AssignTask(cmd.Context(), incidentID(a[0]), n, user)
			if err != nil {
				return err
			}
			return c.printResult(res)
		},
	}
	cmd.Flags().BoolVar(&none, "none", false, "return the task to its section, unassigned")
	return cmd
}

func (c *cli) taskStatusCmd(verb, status, short string, withReason bool) *cobra.Command {
	var reason string
	use := verb + " ID TASK"
	if withReason {
		use += " [--reason TEXT]"
	}
	cmd := &cobra.Command{
		Use:     use,
		Short:   short,
		Example: fmt.Sprintf("  sitrep task %s IR-2026-0001 3", verb),
		Args:    args(2, "ID TASK"),
		RunE: func(cmd *cobra.Command, a []string) error {
			n, err := taskID(a[1])
			if err != nil {
				return err
			}
			res, err := c.client().SetTaskStatus(cmd.Context(), incidentID(a[0]), n, status, reason)
			if err != nil {
				return err
			}
			return c.printResult(res)
		},
	}
	if withReason {
		cmd.Flags().StringVar(&reason, "reason", "", "why, for the record")
	}
	return cmd
}

func (c *cli) taskLsCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "ls ID",
		Aliases: []string{"list"},
		Short:   "List an incident's tasks by section",
		Example: `  sitrep task ls IR-2026-0001`,
		Args:    args(1, "ID"),
		RunE: func(cmd *cobra.Command, a []string) error {
			v, err := c.client().Incident(cmd.Context(), incidentID(a[0]))
			if err != nil {
				return err
			}
			if c.json() {
				return c.printJSON(map[string]any{"tasks": nonNil(v.Tasks)})
			}
			if len(v.Tasks) == 0 {
				c.printf("%s has no tasks. Add one: sitrep task add %s --section SECTION TITLE\n", v.ID, v.ID)
				return nil
			}
			t := c.table("TASK", "SECTION", "STATUS", "ASSIGNEE", "TITLE")
			for _, sec := range sectionsOf(v.Tasks) {
				for _, tk := range v.Tasks {
					if tk.Section == sec {
						t.row("#"+strconv.Itoa(tk.ID), tk.Section, tk.Status, orDash(tk.Assignee), safe(tk.Title))
					}
				}
			}
			return t.flush()
		},
	}
}

// sectionsOf lists the sections tasks are in: the ICS sections in their
// order, then any other in alphabetical order.
func sectionsOf(tasks []sitrep.Task) []string {
	var out, others []string
	for _, s := range sitrep.Sections {
		if slices.ContainsFunc(tasks, func(t sitrep.Task) bool { return t.Section == s }) {
			out = append(out, s)
		}
	}
	for _, t := range tasks {
		if !slices.Contains(sitrep.Sections, t.Section) && !slices.Contains(others, t.Section) {
			others = append(others, t.Section)
		}
	}
	slices.Sort(others)
	return append(out, others...)
}

func (c *cli) noteCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "note ID TEXT",
		Short: "Add a note to the timeline (anyone checked in)",
		Long: `Add a note to the incident's timeline: what you see, what you did.
The rest of the line is the text, so quotes are optional; "-" reads it
from standard input.`,
		Example: `  sitrep note IR-2026-0001 EDR isolated the laptop at 03:12
  journalctl -u nginx --since -1h | sitrep note IR-2026-0001 -`,
		Args: atLeast(2, "ID and the TEXT"),
		RunE: func(cmd *cobra.Command, a []string) error {
			text, err := c.text(a[1:], "note", sitrep.MaxText)
			if err != nil {
				return err
			}
			res, err := c.client().AddNote(cmd.Context(), incidentID(a[0]), text)
			if err != nil {
				return err
			}
			return c.printResult(res)
		},
	}
}

func (c *cli) updateCmd() *cobra.Command {
	var audience, template string
	var dryRun bool
	cmd := &cobra.Command{
		Use:   "update ID --audience AUDIENCE TEXT | update ID [--audience AUDIENCE] --template[=NAME] [--dry-run]",
		Short: "Publish a communication (the Information Officer: one voice)",
		Long: `Publish a communication about the incident to an audience. Only the
Information Officer (or Command, while no one holds that role) speaks
for the incident; anyone else is refused: "I can't talk to people about
this incident."

Audiences: responders, internal, executives are internal; anything else
(external, regulators, customers, …) leaves the organisation, and an
exercise never reaches it.

When the incident's plan asks for Command's authorisation of the
audience, what the Information Officer publishes is a draft: it reaches
no one until Command approves it (sitrep approve ID DRAFT) or rejects it
(sitrep reject ID DRAFT --reason TEXT).

--template publishes the plan's template for the audience, filled in from
the incident; --template=NAME picks one by name when the audience has
several (sitrep update templates ID lists them). --dry-run prints the text
without publishing it.`,
		Example: `  sitrep update IR-2026-0001 --audience executives "Laptop isolated; no data loss seen so far. Next update 10:00."
  sitrep update IR-2026-0001 --audience customers --template --dry-run
  sitrep update IR-2026-0001 --template=regulator-notice
  sitrep update ls IR-2026-0001`,
		Args: func(cmd *cobra.Command, a []string) error {
			if cmd.Flags().Changed("template") {
				if len(a) > 1 {
					return usagef("%s --template takes only the ID: the template is the text (write --template=NAME to name a template)", cmd.CommandPath())
				}
				return args(1, "ID")(cmd, a)
			}
			return atLeast(2, "ID and the TEXT")(cmd, a)
		},
		RunE: func(cmd *cobra.Command, a []string) error {
			id := incidentID(a[0])
			if cmd.Flags().Changed("template") {
				return c.publishTemplate(cmd, id, audience, template, dryRun)
			}
			if err := requireFlag(cmd, "audience"); err != nil {
				return err
			}
			text, err := c.text(a[1:], "update", sitrep.MaxText)
			if err != nil {
				return err
			}
			if dryRun {
				c.printf("To %s:\n%s\n", audience, indent(safeBlock(text), "  "))
				return nil
			}
			res, err := c.client().Publish(cmd.Context(), id, audience, text)
			if err != nil {
				return err
			}
			return c.printPublished(id, res)
		},
	}
	cmd.Flags().StringVar(&template, "template", "", "publish the plan's template for --audience; `NAME` picks one by name")
	cmd.Flags().Lookup("template").NoOptDefVal = anyTemplate
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "print the text, publish nothing")
	cmd.Flags().StringVar(&audience, "audience", "", "who it is for: responders, internal, executives, external, regulators, … (required with a TEXT)")
	cmd.AddCommand(&cobra.Command{
		Use:     "ls ID",
		Aliases: []string{"list"},
		Short:   "List an incident's communications",
		Example: `  sitrep update ls IR-2026-0001`,
		Args:    args(1, "ID"),
		RunE: func(cmd *cobra.Command, a []string) error {
			comms, err := c.client().Communications(cmd.Context(), incidentID(a[0]))
			if err != nil {
				return err
			}
			if c.json() {
				return c.printJSON(map[string]any{"communications": nonNil(comms)})
			}
			if len(comms) == 0 {
				c.printf("Nothing published yet.\n")
				return nil
			}
			for i, m := range comms {
				if i > 0 {
					c.printf("\n")
				}
				c.printf("%s  to %s  by %s%s\n%s\n", when(m.At), m.Audience, m.By, flag(m.Exercise, "  [EXERCISE]"), indent(safeBlock(m.Text), "  "))
			}
			return nil
		},
	})
	cmd.AddCommand(c.updateTemplatesCmd())
	return cmd
}

func (c *cli) assetCmd() *cobra.Command {
	var reason string
	rm := &cobra.Command{
		Use:   "rm ID KIND NAME --reason TEXT",
		Short: "Unlink an asset linked in error (Command or a section chief)",
		Long: `Unlink an asset linked in error. The timeline keeps both the link and
its removal; under a legal hold nothing may be removed.`,
		Example: `  sitrep asset rm IR-2026-0001 host FIN-LAPTOP-8 --reason "typo: it is FIN-LAPTOP-7"`,
		Args:    args(3, "ID KIND NAME"),
		RunE: func(cmd *cobra.Command, a []string) error {
			if err := requireFlag(cmd, "reason"); err != nil {
				return err
			}
			res, err := c.client().UnlinkAsset(cmd.Context(), incidentID(a[0]), a[1], a[2], reason)
			if err != nil {
				return err
			}
			return c.printResult(res)
		},
	}
	rm.Flags().StringVar(&reason, "reason", "", "why it is removed (required)")
	cmd := group("asset", "Assets involved: hosts, services, data stores, customer sets",
		&cobra.Command{
			Use:   "add ID KIND NAME",
			Short: "Link an asset to the incident (Command or a section chief)",
			Long: `Link an asset involved in the incident. Kinds: ` + joinComma(sitrep.AssetKinds) + `.
The Incident Report lists the assets involved; an incident cannot close
without one.`,
			Example: `  sitrep asset add IR-2026-0001 host FIN-LAPTOP-7
  sitrep asset add IR-2026-0001 data-store "finance share"`,
			Args: args(3, "ID KIND NAME"),
			RunE: func(cmd *cobra.Command, a []string) error {
				res, err := c.client().LinkAsset(cmd.Context(), incidentID(a[0]), a[1], a[2])
				if err != nil {
					return err
				}
				return c.printResult(res)
			},
		},
		rm,
		&cobra.Command{
			Use:     "ls ID",
			Aliases: []string{"list"},
			Short:   "List the assets involved",
			Example: `  sitrep asset ls IR-2026-0001`,
			Args:    args(1, "ID"),
			RunE: func(cmd *cobra.Command, a []string) error {
				v, err := c.client().Incident(cmd.Context(), incidentID(a[0]))
				if err != nil {
					return err
				}
				if c.json() {
					return c.printJSON(map[string]any{"assets": nonNil(v.Assets)})
				}
				if len(v.Assets) == 0 {
					c.printf("No assets linked to %s. Link one: sitrep asset add %s KIND NAME\n", v.ID, v.ID)
					return nil
				}
				t := c.table("KIND", "NAME", "LINKED BY", "AT")
				for _, as := range v.Assets {
					t.row(as.Kind, safe(as.Name), as.LinkedBy, when(as.LinkedAt))
				}
				return t.flush()
			},
		},
	)
	return cmd
}
