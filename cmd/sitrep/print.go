package main

import (
	"fmt"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"

	"github.com/sitrep-ir/sitrep"
)

// table writes aligned columns. Cells must be safe (one line, no tabs).
type table struct {
	tw *tabwriter.Writer
}

// table starts a table with a header row; no names means no header.
func (c *cli) table(header ...string) *table {
	t := &table{tw: tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)}
	if len(header) > 0 {
		t.row(header...)
	}
	return t
}

func (t *table) row(cells ...string) { fmt.Fprintln(t.tw, strings.Join(cells, "\t")) }

func (t *table) flush() error { return t.tw.Flush() }

// safe makes text from the server fit one line of a terminal: whitespace
// runs become one space, and control characters (which could move the
// cursor or recolour the terminal) are dropped.
func safe(s string) string {
	return strings.Join(strings.Fields(dropControl(s, false)), " ")
}

// safeBlock drops control characters but keeps lines and tabs.
func safeBlock(s string) string { return dropControl(s, true) }

func dropControl(s string, keepLines bool) string {
	return strings.Map(func(r rune) rune {
		if keepLines && (r == '\n' || r == '\t') {
			return r
		}
		if unicode.IsSpace(r) {
			return ' '
		}
		if unicode.IsControl(r) || r == unicode.ReplacementChar {
			return -1
		}
		return r
	}, s)
}

func indent(s, prefix string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	for i, l := range lines {
		lines[i] = prefix + l
	}
	return strings.Join(lines, "\n")
}

// when formats a time for people, in the local zone.
func when(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.Local().Format("2006-01-02 15:04")
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func flag(b bool, s string) string {
	if b {
		return s
	}
	return ""
}

// flags marks an incident's exceptional state after its title.
func flags(inc *sitrep.Incident) string {
	return flag(inc.Exercise, " [EXERCISE]") + flag(inc.Confidential, " [CONFIDENTIAL]") + flag(inc.LegalHold, " [LEGAL HOLD]")
}

func joinComma(s []string) string { return strings.Join(s, ", ") }

// printResult prints the outcome of a change: the entries it put on the
// timeline, then notes, then the incident's warnings. With -o json it
// prints the API's Result.
func (c *cli) printResult(res *sitrep.Result, notes ...string) error {
	if c.json() {
		return c.printJSON(res)
	}
	for _, e := range res.Entries {
		c.printf("%s #%d  %s\n", e.IncidentID, e.Seq, safe(e.Text))
	}
	for _, n := range notes {
		c.printf("%s\n", n)
	}
	if res.Incident != nil {
		c.printWarnings(res.Incident)
	}
	return nil
}

// printWarnings prints every advisory of the incident on a line of its own
// that starts with WARNING, so that no one misses a span of control gone
// wide.
func (c *cli) printWarnings(v *sitrep.IncidentView) {
	for _, w := range v.Warnings {
		c.printf("WARNING: %s\n", safe(w.Message))
	}
}

// printIncident prints an incident as Command needs to see it. me, when
// known, is the reader: they are told if they still owe an acknowledgement.
func (c *cli) printIncident(v *sitrep.IncidentView, me string) {
	inc := v.Incident
	p := c.printf
	p("%s  %s%s\n", inc.ID, safe(inc.Title), flags(inc))
	p("kind %s · severity %d · phase %s since %s · declared %s by %s\n", inc.Kind, inc.Severity, inc.Phase, when(inc.PhaseChangedAt), when(inc.DeclaredAt), inc.DeclaredBy)
	if inc.ClosedAt != nil {
		p("closed %s\n", when(*inc.ClosedAt))
	}
	if inc.Rule != "" {
		p("declared by dispatch rule %s for the alerts of group %s\n", inc.Rule, safe(inc.GroupKey))
	}
	c.printWarnings(v)
	p("\nCommand: %s\n", inc.Command)
	if inc.Command == sitrep.DispatchUser && inc.Open() {
		p("  Dispatch holds command until a responder on scene takes it: sitrep checkin %s, then sitrep accept-command %s\n", inc.ID, inc.ID)
	}

	// Transfer of command: an open offer, then the latest announcement
	// while anyone still owes an acknowledgement.
	if t := inc.Transfer; t != nil {
		p("Transfer of command offered by %s to %s at %s: waiting for %s to accept (sitrep accept-command %s)\n", t.From, t.To, when(t.At), t.To, inc.ID)
		p("  Briefing: %s\n", safe(t.Briefing))
	}
	if an := inc.Announcement; an != nil {
		if len(an.Pending) > 0 {
			p("Transfer of command %s → %s at %s: awaiting acknowledgement from: %s\n", an.From, an.To, when(an.At), strings.Join(an.Pending, ", "))
			if slices.Contains(an.Pending, me) {
				p("  You have not acknowledged it: sitrep ack %s\n", inc.ID)
			}
		} else if an.Complete != nil {
			p("Transfer of command %s → %s at %s: acknowledged by everyone on scene.\n", an.From, an.To, when(an.At))
		}
	}

	p("\nOrganisation:\n")
	t := c.table("  ROLE", "HELD BY")
	t.row("  command", inc.Command)
	standard := append(slices.Clone(sitrep.Officers), sitrep.Sections...)
	for _, role := range standard {
		holder := "(Command)"
		if i := slices.IndexFunc(inc.Roles, func(r sitrep.RoleHolder) bool { return r.Role == role }); i >= 0 {
			holder = inc.Roles[i].User
		}
		t.row("  "+role, holder)
	}
	for _, r := range inc.Roles {
		if !slices.Contains(standard, r.Role) {
			t.row("  "+r.Role, r.User)
		}
	}
	t.flush()
	c.printPlan(inc)

	on := inc.OnScene()
	p("\nOn scene (%d):\n", len(on))
	t = c.table("  USER", "ROLES", "SINCE")
	for _, r := range inc.Resources {
		if !r.CheckedIn {
			continue
		}
		since := "-"
		if r.Since != nil {
			since = when(*r.Since)
		}
		t.row("  "+r.User, orDash(strings.Join(inc.RolesOf(r.User), ", ")), since)
	}
	t.flush()
	var out []string
	for _, r := range inc.Resources {
		if !r.CheckedIn {
			out = append(out, r.User)
		}
	}
	if len(out) > 0 {
		p("Checked out: %s\n", strings.Join(out, ", "))
	}

	p("\nTasks:\n")
	if len(inc.Tasks) == 0 {
		p("  none yet (sitrep task add %s --section SECTION TITLE)\n", inc.ID)
	}
	for _, sec := range sectionsOf(inc.Tasks) {
		chief := inc.Holder(sec)
		if chief == inc.Command {
			chief += ", Command"
		}
		p("  %s (chief: %s)\n", sec, chief)
		t = c.table()
		for _, tk := range inc.Tasks {
			if tk.Section == sec {
				t.row("    #"+fmt.Sprint(tk.ID), tk.Status, orDash(tk.Assignee), safe(tk.Title))
			}
		}
		t.flush()
	}

	p("\nAssets:\n")
	if len(inc.Assets) == 0 {
		p("  none linked (sitrep asset add %s KIND NAME)\n", inc.ID)
	}
	t = c.table()
	for _, as := range inc.Assets {
		t.row("  "+as.Kind, safe(as.Name))
	}
	t.flush()

	c.printAlerts(v)

	const latest = 3
	comms := inc.Communications
	p("\nCommunications")
	if len(comms) > latest {
		p(" (latest %d of %d; all: sitrep update ls %s)", latest, len(comms), inc.ID)
		comms = comms[len(comms)-latest:]
	}
	p(":\n")
	if len(comms) == 0 {
		p("  none published\n")
	}
	for _, m := range comms {
		p("  %s to %s by %s%s: %s\n", when(m.At), m.Audience, m.By, flag(m.Exercise, " [EXERCISE]"), clipText(safe(m.Text), 120))
	}
	if drafts := inc.PendingDrafts(); len(drafts) > 0 {
		p("Drafts waiting for Command's approval (sitrep approve %s DRAFT, or sitrep reject %s DRAFT --reason TEXT):\n", inc.ID, inc.ID)
		for _, d := range drafts {
			p("  #%d %s to %s by %s: %s\n", d.ID, when(d.At), d.Audience, d.By, clipText(safe(d.Text), 120))
		}
	}

	if inc.Phase == sitrep.PhasePostMortem {
		// What stands between the post mortem and closing; the server
		// decides, this only saves a refused attempt.
		var open []string
		for _, tk := range inc.Tasks {
			if tk.Status == sitrep.TaskOpen {
				open = append(open, fmt.Sprintf("#%d", tk.ID))
			}
		}
		missing := inc.ReportMissing()
		if len(open) == 0 && len(missing) == 0 {
			p("\nPost mortem: complete. Command closes: sitrep phase %s closed --reason TEXT\n", inc.ID)
			return
		}
		p("\nPost mortem: before it can close:\n")
		if len(open) > 0 {
			p("  - open tasks: %s (done or cancel them)\n", strings.Join(open, ", "))
		}
		for _, m := range missing {
			p("  - %s\n", m)
		}
	}
}

// maxAlertsShown is how many attached alerts show lists; -o json has all.
const maxAlertsShown = 20

// printAlerts lists the incident's attached alerts, most recently seen
// first, with their running count and status.
func (c *cli) printAlerts(v *sitrep.IncidentView) {
	if len(v.Alerts) == 0 {
		return
	}
	alerts := slices.Clone(v.Alerts)
	slices.SortStableFunc(alerts, func(a, b sitrep.AlertOnIncident) int { return b.LastSeen.Compare(a.LastSeen) })
	c.printf("\nAlerts (%d", len(alerts))
	if len(alerts) > maxAlertsShown {
		c.printf(", the %d seen last; all: sitrep show %s -o json", maxAlertsShown, v.ID)
		alerts = alerts[:maxAlertsShown]
	}
	c.printf("):\n")
	t := c.table("  ID", "SOURCE", "SEEN", "LAST SEEN", "STATUS", "SUMMARY")
	for _, al := range alerts {
		seen, last := "-", "-"
		if al.Count > 0 {
			seen = fmt.Sprintf("%d×", al.Count)
			last = when(al.LastSeen)
		}
		t.row(fmt.Sprintf("  %d", al.ID), safe(al.Source), seen, last, orDash(al.Status), clipText(safe(al.Summary), 80))
	}
	t.flush()
}
