package main

import (
	"slices"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/sitrep-ir/sitrep"
)

func (c *cli) alertCmd() *cobra.Command {
	cmd := group("alert", "The triage desk: ls, show, declare, attach, suppress",
		c.alertLsCmd(), c.alertShowCmd(), c.alertDeclareCmd(), c.alertAttachCmd(), c.alertSuppressCmd())
	cmd.Long = `Every alert from every source lands on the triage desk, the dispatcher's
desk. Repetitions of one alert (the same dedup key) are one alert with a
count. For each alert the dispatcher decides: declare an incident from it
(you become Command), attach it to an open incident, or suppress it.`
	cmd.Example = `  sitrep alert ls
  sitrep alert declare 12 --kind malware
  sitrep alert attach 13 IR-2026-0001
  sitrep alert suppress 14`
	return cmd
}

// alertID parses an alert number: "12" or "#12".
func alertID(s string) (int64, error) {
	n, err := strconv.ParseInt(strings.TrimPrefix(strings.TrimSpace(s), "#"), 10, 64)
	if err != nil || n < 1 {
		return 0, usagef("alert %q is not an alert number: give the number `sitrep alert ls` shows, such as 12", clipText(s, 20))
	}
	return n, nil
}

// severityText shows an alert's severity; 0 means the source did not say.
func severityText(n int) string {
	if n == 0 {
		return "-"
	}
	return strconv.Itoa(n)
}

func (c *cli) alertLsCmd() *cobra.Command {
	var all bool
	var incident string
	cmd := &cobra.Command{
		Use:     "ls [--all] [--incident ID]",
		Aliases: []string{"list"},
		Short:   "The triage desk: alerts waiting for a decision",
		Long: `List the alerts waiting for a decision, most recently seen first: how
many times each was seen, its severity (1 worst; - when the source did
not say), its source, when it was first and last seen. --all lists every
alert with the decision taken on it; --incident ID every alert declared
from or attached to that incident.`,
		Example: `  sitrep alert ls
  sitrep alert ls --all -o json
  sitrep alert ls --incident IR-2026-0042`,
		Args: noArgs(""),
		RunE: func(cmd *cobra.Command, _ []string) error {
			f := sitrep.AlertFilter{Triage: sitrep.TriagePending}
			if incident != "" {
				all = true
				f.IncidentID = incident
				f.Limit = 5000
			}
			if all {
				f.Triage = ""
			}
			alerts, err := c.client().Alerts(cmd.Context(), f)
			if err != nil {
				return err
			}
			if c.json() {
				return c.printJSON(map[string]any{"alerts": nonNil(alerts)})
			}
			if len(alerts) == 0 {
				if all {
					c.printf("No alerts. Add a source to receive them: sitrep source add NAME --kind KIND\n")
				} else {
					c.printf("The triage desk is clear: no alert is waiting for a decision.\n")
				}
				return nil
			}
			header := []string{"ID", "COUNT", "SEV", "SOURCE", "STATUS", "FIRST SEEN", "LAST SEEN", "SUMMARY"}
			if all {
				header = slices.Insert(header, 5, "TRIAGE")
			}
			t := c.table(header...)
			for _, al := range alerts {
				row := []string{strconv.FormatInt(al.ID, 10), strconv.FormatInt(al.Count, 10), severityText(al.Severity), al.Source, al.Status,
					when(al.FirstSeen), when(al.LastSeen), clipText(safe(al.Summary), 100)}
				if all {
					row = slices.Insert(row, 5, al.Triage+onIncident(al))
				}
				t.row(row...)
			}
			if err := t.flush(); err != nil {
				return err
			}
			if !all {
				c.printf("\nDecide: sitrep alert declare ID | sitrep alert attach ID INCIDENT | sitrep alert suppress ID\n")
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&all, "all", false, "every alert, with the decision taken on it")
	cmd.Flags().StringVar(&incident, "incident", "", "the alerts declared from or attached to this incident")
	return cmd
}

func onIncident(al *sitrep.Alert) string {
	if al.IncidentID == "" {
		return ""
	}
	return " " + al.IncidentID
}

func (c *cli) alertShowCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "show ALERT",
		Short: "Show an alert: its labels, counts and latest raw payloads",
		Example: `  sitrep alert show 12
  sitrep alert show 12 -o json`,
		Args: args(1, "ALERT"),
		RunE: func(cmd *cobra.Command, a []string) error {
			id, err := alertID(a[0])
			if err != nil {
				return err
			}
			al, err := c.client().Alert(cmd.Context(), id)
			if err != nil {
				return err
			}
			if c.json() {
				return c.printJSON(al)
			}
			c.printAlert(al)
			return nil
		},
	}
}

func (c *cli) printAlert(al *sitrep.Alert) {
	p := c.printf
	p("Alert %d  %s\n", al.ID, safe(al.Summary))
	p("source %s · severity %s · %s · seen %d time%s, first %s, last %s\n", al.Source, severityText(al.Severity), al.Status,
		al.Count, plural(int(min(al.Count, 2))), when(al.FirstSeen), when(al.LastSeen))
	if al.ResolvedAt != nil {
		p("resolved %s\n", when(*al.ResolvedAt))
	}
	p("dedup key %s\n", safe(al.DedupKey))
	switch al.Triage {
	case sitrep.TriagePending:
		p("\nWaiting for a decision:\n")
		p("  sitrep alert declare %d            declare an incident; you are Command\n", al.ID)
		p("  sitrep alert attach %d INCIDENT    add it to an open incident\n", al.ID)
		p("  sitrep alert suppress %d           it does not matter\n", al.ID)
	case sitrep.TriageSuppressed:
		p("\nSuppressed: it did not matter.\n")
	case sitrep.TriageDeclared:
		p("\nDeclared as %s (sitrep show %s)\n", al.IncidentID, al.IncidentID)
	case sitrep.TriageAttached:
		p("\nAttached to %s (sitrep show %s)\n", al.IncidentID, al.IncidentID)
	default:
		p("\nTriage: %s%s\n", safe(al.Triage), onIncident(al))
	}
	if len(al.Labels) > 0 {
		p("\nLabels:\n")
		keys := make([]string, 0, len(al.Labels))
		for k := range al.Labels {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		t := c.table()
		for _, k := range keys {
			t.row("  "+safe(k), clipText(safe(al.Labels[k]), 200))
		}
		t.flush()
	}
	if len(al.Samples) > 0 {
		p("\nAs sent (%d sample%s):\n", len(al.Samples), plural(len(al.Samples)))
		for _, s := range al.Samples {
			p("%s\n", indent(clipText(safeBlock(s), 2000), "  "))
		}
	}
}

func (c *cli) alertDeclareCmd() *cobra.Command {
	var in sitrep.DeclareInput
	cmd := &cobra.Command{
		Use:   "declare ALERT [--title TEXT] [--kind KIND] [--severity 1-4] [--confidential]",
		Short: "Declare an incident from an alert; you become its Command",
		Long: `Declare an incident from an alert on the triage desk. You become its
Command, checked in, and the alert goes on its record. The title defaults
to the alert's summary and the severity to the alert's.`,
		Example: `  sitrep alert declare 12
  sitrep alert declare 12 --title "Ransomware on FIN-LAPTOP-7" --kind malware --severity 2`,
		Args: args(1, "ALERT"),
		RunE: func(cmd *cobra.Command, a []string) error {
			id, err := alertID(a[0])
			if err != nil {
				return err
			}
			res, err := c.client().DeclareFromAlert(cmd.Context(), id, in)
			if err != nil {
				return err
			}
			if c.json() {
				return c.printJSON(res)
			}
			inc := res.Incident
			c.printf("Declared %s from alert %d. You are Command.\n\n", inc.ID, id)
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
	f.StringVar(&in.Title, "title", "", "what is happening, in a few words (default: the alert's summary)")
	f.StringVar(&in.Kind, "kind", "", "kind: malware, data-breach, outage, … (default "+sitrep.DefaultKind+")")
	f.IntVar(&in.Severity, "severity", 0, "1 (worst) to 4 (default: the alert's, else "+strconv.Itoa(sitrep.DefaultSeverity)+")")
	f.BoolVar(&in.Confidential, "confidential", false, "visible only to people named on it and administrators")
	f.BoolVar(&in.Exercise, "exercise", false, "a rehearsal: marked EXERCISE, never reaches external audiences")
	return cmd
}

func (c *cli) alertAttachCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "attach ALERT INCIDENT",
		Short: "Attach an alert to an open incident",
		Long: `Attach an alert to an open incident: it goes on the incident's record
once, however often it repeats. Passing information to an incident is
not acting on it, so you need not be checked in.`,
		Example: `  sitrep alert attach 13 IR-2026-0001`,
		Args:    args(2, "ALERT INCIDENT"),
		RunE: func(cmd *cobra.Command, a []string) error {
			id, err := alertID(a[0])
			if err != nil {
				return err
			}
			res, err := c.client().AttachAlert(cmd.Context(), id, incidentID(a[1]))
			if err != nil {
				return err
			}
			return c.printResult(res)
		},
	}
}

func (c *cli) alertSuppressCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "suppress ALERT",
		Short:   "Take an alert off the triage desk: it does not matter",
		Example: `  sitrep alert suppress 14`,
		Args:    args(1, "ALERT"),
		RunE: func(cmd *cobra.Command, a []string) error {
			id, err := alertID(a[0])
			if err != nil {
				return err
			}
			al, err := c.client().SuppressAlert(cmd.Context(), id)
			if err != nil {
				return err
			}
			if c.json() {
				return c.printJSON(al)
			}
			c.printf("Suppressed alert %d: %s\n", al.ID, clipText(safe(al.Summary), 100))
			return nil
		},
	}
}
