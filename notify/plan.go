package notify

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/sitrep-ir/sitrep"
)

// page is one thing to tell one chain of people: the first on Ladder, and
// the next ones in turn while nobody acknowledges (when NeedsAck).
type page struct {
	Seq      int64
	Event    string
	Ladder   []string
	NeedsAck bool
	Message  Message
}

// people is who may be notified: the users by name. A confidential incident
// is told only to the people who may see it (ICS rule 8), and sitrep's own
// dispatcher is never told anything.
type people map[string]*sitrep.User

func (p people) filter(inc *sitrep.Incident, names ...string) []string {
	var out []string
	for _, name := range names {
		u := p[name]
		if u == nil || name == sitrep.DispatchUser || slices.Contains(out, name) || !inc.VisibleTo(u) {
			continue
		}
		out = append(out, name)
	}
	return out
}

// decide returns what entry e of inc must tell whom, and which pages it
// answers. inc is the incident's current state, at or after e: planning runs
// moments after the entry, and who is on scene is read from that state (a
// closing entry checks everyone out at its own time, which is how the people
// it demobilised are still told).
func decide(inc *sitrep.Incident, e *sitrep.Entry, who people, roster []string) ([]page, []AckRule, error) {
	c, err := sitrep.DecodeChange(e)
	if err != nil {
		return nil, nil, err
	}
	msg := Message{Incident: inc.ID, Title: inc.Title, Severity: inc.Severity, Phase: inc.Phase, Exercise: inc.Exercise, Actor: e.Actor, At: e.At}
	others := func(names ...string) []string {
		return who.filter(inc, slices.DeleteFunc(slices.Clone(names), func(n string) bool { return n == e.Actor })...)
	}
	// chain pages the first of first (never the actor: they know), then
	// escalates to the rest of first and to then.
	chain := func(first, then []string, subject, text string) []page {
		ladder := others(first...)
		if len(ladder) == 0 {
			return nil
		}
		ladder = who.filter(inc, append(ladder, then...)...)
		m := msg
		m.Subject, m.Text = subject, text
		return []page{{Seq: e.Seq, Event: e.Type, Ladder: ladder, NeedsAck: true, Message: m}}
	}
	// tell sends each of names the same message, needing no answer.
	tell := func(names []string, subject, text string) []page {
		var ps []page
		for _, name := range others(names...) {
			m := msg
			m.Subject, m.Text = subject, text
			ps = append(ps, page{Seq: e.Seq, Event: e.Type, Ladder: []string{name}, Message: m})
		}
		return ps
	}
	// escalateTo is who hears of an unanswered page: whoever gave the order.
	escalateTo := e.Actor

	switch c := c.(type) {
	case *sitrep.Declared:
		text := fmt.Sprintf("%s declared %s: %s (kind %s, severity %d).\nCommand: %s.\nCheck in with: sitrep checkin %s",
			e.Actor, inc.ID, c.Title, c.Kind, c.Severity, e.Actor, inc.ID)
		if e.Actor == sitrep.DispatchUser {
			text += fmt.Sprintf("\nA dispatch rule declared it: the first responder to take it becomes Command with: sitrep accept-command %s", inc.ID)
		}
		subject := fmt.Sprintf("%s declared: %s", inc.ID, c.Title)
		// The plan's notify lists: its responders are paged in place of
		// the roster (which follows them on the ladder), everyone else on
		// them is told.
		pageTo, tellTo, addresses := planLists(inc)
		var ps []page
		if len(others(pageTo...)) > 0 {
			ps = chain(pageTo, roster, subject, text)
		} else {
			ps = chain(roster, nil, subject, text)
		}
		var paged []string
		for _, p := range ps {
			paged = append(paged, p.Ladder[0])
		}
		tellTo = slices.DeleteFunc(tellTo, func(n string) bool { return slices.Contains(paged, n) })
		if len(tellTo) > 0 {
			ps = append(ps, tell(tellTo, subject, text+"\nYou are on the plan's notify list.")...)
		}
		for _, addr := range addresses {
			m := msg
			m.Subject, m.Text = subject, text+"\nYou are on the plan's notify list."
			if inc.Confidential {
				// ICS rule 8: an address is nobody the incident can name.
				m.Title = "confidential incident"
				m.Subject = fmt.Sprintf("%s declared: a confidential incident", inc.ID)
				m.Text = fmt.Sprintf("A confidential incident, %s (severity %d), was declared under the plan %s.\nThose named on it see it in sitrep.", inc.ID, c.Severity, inc.Plan.Name)
			}
			ps = append(ps, page{Seq: e.Seq, Event: e.Type, Ladder: []string{addr}, Message: m})
		}
		return ps, nil, nil
	case *sitrep.RoleAssigned:
		return chain([]string{c.User}, []string{escalateTo}, fmt.Sprintf("%s: you are %s", inc.ID, c.Role),
			fmt.Sprintf("%s assigned you the role %s on %s: %s.", e.Actor, c.Role, inc.ID, inc.Title)), nil, nil
	case *sitrep.TaskCreated:
		if c.Assignee == "" {
			return nil, nil, nil
		}
		return chain([]string{c.Assignee}, []string{escalateTo}, fmt.Sprintf("%s: task %d for you", inc.ID, c.ID),
			fmt.Sprintf("%s gave you task %d in %s on %s: %s", e.Actor, c.ID, c.Section, inc.ID, c.Title)), nil, nil
	case *sitrep.TaskAssigned:
		if c.Assignee == "" {
			return nil, nil, nil
		}
		title := ""
		for _, t := range inc.Tasks {
			if t.ID == c.ID {
				title = t.Title
			}
		}
		return chain([]string{c.Assignee}, []string{escalateTo}, fmt.Sprintf("%s: task %d for you", inc.ID, c.ID),
			fmt.Sprintf("%s gave you task %d on %s: %s", e.Actor, c.ID, inc.ID, title)), nil, nil
	case *sitrep.CommandOffered:
		return chain([]string{c.To}, []string{escalateTo}, fmt.Sprintf("%s: command is offered to you", inc.ID),
			fmt.Sprintf("%s offers you command of %s: %s.\nBriefing: %s\nAccept with: sitrep accept-command %s", e.Actor, inc.ID, inc.Title, c.Briefing, inc.ID)), nil, nil
	case *sitrep.CommandTransferred:
		// ICS rule 4: everyone on scene is told and acknowledges. Taking
		// command answers the declaration's page and the offer.
		acks := []AckRule{{Event: (&sitrep.Declared{}).Type(), By: c.To}, {Event: (&sitrep.CommandOffered{}).Type(), By: c.To}}
		var ps []page
		for _, u := range c.MustAck {
			ps = append(ps, chain([]string{u}, []string{c.To}, fmt.Sprintf("%s: TRANSFER OF COMMAND: %s is Command", inc.ID, c.To),
				fmt.Sprintf("%s is Command of %s (was %s).\nBriefing: %s\nAcknowledge with: sitrep ack %s", c.To, inc.ID, c.From, c.Briefing, inc.ID))...)
		}
		return ps, acks, nil
	case *sitrep.TransferAcknowledged:
		return nil, []AckRule{{Seq: c.Seq, Chain: e.Actor, By: e.Actor}}, nil
	case *sitrep.PhaseChanged:
		var onScene []string
		for _, r := range inc.Resources {
			if r.CheckedIn || (c.To == sitrep.PhaseClosed && r.LastCheckOut != nil && r.LastCheckOut.Equal(e.At)) {
				onScene = append(onScene, r.User)
			}
		}
		verb := "→"
		if c.Backward {
			verb = "back to"
		}
		return tell(onScene, fmt.Sprintf("%s: phase %s %s %s", inc.ID, c.From, verb, c.To),
			fmt.Sprintf("%s moved %s from %s to %s: %s", e.Actor, inc.ID, c.From, c.To, c.Reason)), nil, nil
	case *sitrep.Published:
		if c.Audience != "responders" {
			return nil, nil, nil
		}
		var onScene []string
		for _, r := range inc.Resources {
			if r.CheckedIn {
				onScene = append(onScene, r.User)
			}
		}
		return tell(onScene, fmt.Sprintf("%s: update to responders", inc.ID), c.Text), nil, nil
	}
	return nil, nil, nil
}

// planLists returns who the incident's plan tells of its declaration, from
// the plan's notify lists at the incident's severity (chosen when the plan
// was applied): the users of lists to the responders, who are paged; the
// users of the other lists, who are told; and the bare e-mail addresses of
// every list, which are sent the declaration. An exercise leaves out the
// lists of external audiences (ICS rule 7).
func planLists(inc *sitrep.Incident) (pageTo, tellTo, addresses []string) {
	if inc.Plan == nil {
		return nil, nil, nil
	}
	for _, l := range inc.Plan.Notify {
		if inc.Exercise && sitrep.IsExternalAudience(l.Audience) {
			continue
		}
		for _, to := range l.To {
			switch {
			case isAddress(to):
				if !slices.Contains(addresses, to) {
					addresses = append(addresses, to)
				}
			case l.Audience == "responders":
				if !slices.Contains(pageTo, to) {
					pageTo = append(pageTo, to)
				}
			case !slices.Contains(tellTo, to):
				tellTo = append(tellTo, to)
			}
		}
	}
	tellTo = slices.DeleteFunc(tellTo, func(n string) bool { return slices.Contains(pageTo, n) })
	return pageTo, tellTo, addresses
}

// isAddress reports whether a recipient is a bare e-mail address rather
// than a user (user names have no '@').
func isAddress(to string) bool { return strings.Contains(to, "@") }

// Planner turns pages into notifications, one per contact method.
type planner struct {
	ackTimeout time.Duration
	repeats    int
}

const noContact = "has no contact method: add one with sitrep user contact add %s email ADDRESS (or webhook URL)"

// expand returns the notifications of round round of step step of p.
func (pl planner) expand(p page, step, round int, contacts []*Contact, at time.Time) []*Notification {
	to := p.Ladder[step]
	base := Notification{
		IncidentID: p.Message.Incident, Seq: p.Seq, Event: p.Event, Recipient: to, Chain: p.Ladder[0],
		Step: step, Round: round, Ladder: p.Ladder, Message: p.Message, NeedsAck: p.NeedsAck,
		Status: StatusQueued, CreatedAt: at,
	}
	if p.NeedsAck {
		due := at.Add(pl.ackTimeout)
		base.AckDue = &due
	}
	if isAddress(to) {
		// A plan's bare address: e-mailed as it is.
		n := base
		n.Channel, n.Address = ChannelEmail, to
		return []*Notification{&n}
	}
	var out []*Notification
	for _, c := range contacts {
		if c.User != to {
			continue
		}
		n := base
		n.Channel, n.ContactID, n.Address, n.Format = c.Kind, c.ID, c.Address, c.Format
		out = append(out, &n)
	}
	if len(out) == 0 {
		n := base
		n.Channel, n.Status, n.LastError = ChannelNone, StatusFailed, to+" "+fmt.Sprintf(noContact, to)
		out = append(out, &n)
	}
	return out
}

// next returns what follows an unanswered round of the chain of n: the
// same person again while repeats last, then the next person on the
// ladder. ok is false when the ladder is exhausted.
func (pl planner) next(n *Notification) (step, round int, ok bool) {
	if n.Round < pl.repeats {
		return n.Step, n.Round + 1, true
	}
	if n.Step+1 < len(n.Ladder) {
		return n.Step + 1, 0, true
	}
	return 0, 0, false
}

func (n *Notification) page() page {
	return page{Seq: n.Seq, Event: n.Event, Ladder: n.Ladder, NeedsAck: n.NeedsAck, Message: n.Message}
}

// Headline returns the subject a notification goes out with: the message's,
// marked when it is a repeat or an escalation, and when the incident is an
// exercise (ICS rule 7: everything an exercise sends says so).
func (n *Notification) Headline() string {
	var b strings.Builder
	if n.Message.Exercise {
		b.WriteString("[EXERCISE] ")
	}
	if n.Step > 0 {
		fmt.Fprintf(&b, "ESCALATION: %s has not acknowledged: ", n.Chain)
	} else if n.Round > 0 {
		fmt.Fprintf(&b, "REPEAT %d: ", n.Round)
	}
	b.WriteString(n.Message.Subject)
	return b.String()
}

// Body returns the plain text of a notification.
func (n *Notification) Body() string {
	var b strings.Builder
	if n.Message.Exercise {
		b.WriteString("EXERCISE: this is a rehearsal, not a real incident.\n\n")
	}
	if n.Step > 0 {
		fmt.Fprintf(&b, "%s was paged about this and has not acknowledged it. You are next in line: please take it, or reach %s.\n\n", n.Chain, n.Chain)
	}
	b.WriteString(n.Message.Text)
	b.WriteString("\n")
	return b.String()
}
