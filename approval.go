package sitrep

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Communications that need Command's authorisation (ICS rule 5), and the
// plan's templates they are written from.
//
// A plan marks an audience as needing Command's authorisation with
// command_approval on a template to it. On an incident running with that
// plan, what the Information Officer publishes to the audience, from the
// template or not, becomes a draft: it reaches no one until Command approves
// it, which publishes it, or rejects it with a reason. Command publishing
// while no one is Information Officer needs no one's approval.

func init() {
	register(
		func() Change { return &CommunicationDrafted{} },
		func() Change { return &CommunicationApproved{} },
		func() Change { return &CommunicationRejected{} },
	)
}

// Draft states.
const (
	DraftPending  = "pending"  // waiting for Command
	DraftApproved = "approved" // Command approved and published it
	DraftRejected = "rejected" // Command rejected it
)

// Draft is a communication written by the Information Officer to an audience
// that needs Command's authorisation.
type Draft struct {
	ID       int       `json:"id"`
	Audience string    `json:"audience"`
	Text     string    `json:"text"`
	Template string    `json:"template,omitempty"`
	By       string    `json:"by"`
	At       time.Time `json:"at"`
	Status   string    `json:"status"`
	// DecidedBy and DecidedAt are who approved or rejected it, and when;
	// Reason why it was rejected.
	DecidedBy string     `json:"decided_by,omitempty"`
	DecidedAt *time.Time `json:"decided_at,omitempty"`
	Reason    string     `json:"reason,omitempty"`
}

// PendingDrafts returns the drafts waiting for Command, oldest first.
func (inc *Incident) PendingDrafts() []Draft {
	var out []Draft
	for _, d := range inc.Drafts {
		if d.Status == DraftPending {
			out = append(out, d)
		}
	}
	return out
}

func (inc *Incident) draft(id int) *Draft {
	for i := range inc.Drafts {
		if inc.Drafts[i].ID == id {
			return &inc.Drafts[i]
		}
	}
	return nil
}

// NeedsApproval reports whether the plan asks for Command's authorisation of
// communications to audience: a template to it has command_approval.
func (p *IncidentPlan) NeedsApproval(audience string) bool {
	return p != nil && slices.ContainsFunc(p.Communications, func(t PlanTemplate) bool {
		return t.Audience == audience && t.CommandApproval
	})
}

// needsApproval reports whether what actor publishes to audience on inc
// waits for Command: the plan says so and the actor is not Command.
func needsApproval(inc *Incident, actor *User, audience string) bool {
	return actor.Name != inc.Command && inc.Plan.NeedsApproval(audience)
}

// CommunicationDrafted records a communication that waits for Command's
// authorisation. Drafts are numbered 1, 2, 3… on the incident.
type CommunicationDrafted struct {
	Draft    int    `json:"draft"`
	Audience string `json:"audience"`
	Text     string `json:"text"`
	Template string `json:"template,omitempty"`
}

func (*CommunicationDrafted) Type() string { return "communication.drafted" }
func (c *CommunicationDrafted) apply(inc *Incident, e *Entry) error {
	if c.Draft != len(inc.Drafts)+1 {
		return fmt.Errorf("draft %d recorded out of order", c.Draft)
	}
	inc.Drafts = append(inc.Drafts, Draft{ID: c.Draft, Audience: c.Audience, Text: c.Text, Template: c.Template, By: e.Actor, At: e.At, Status: DraftPending})
	return nil
}

func (c *CommunicationDrafted) describe() string {
	return fmt.Sprintf("draft %d to %s awaits Command's approval: %s", c.Draft, c.Audience, c.Text)
}

// CommunicationApproved records Command's authorisation of a draft. The
// communication.published entry that follows publishes it.
type CommunicationApproved struct {
	Draft int `json:"draft"`
}

func (*CommunicationApproved) Type() string { return "communication.approved" }
func (c *CommunicationApproved) apply(inc *Incident, e *Entry) error {
	return decideDraft(inc, e, c.Draft, DraftApproved, "")
}

func (c *CommunicationApproved) describe() string {
	return fmt.Sprintf("approved draft %d for publication", c.Draft)
}

// CommunicationRejected records Command's refusal of a draft, with why.
type CommunicationRejected struct {
	Draft  int    `json:"draft"`
	Reason string `json:"reason"`
}

func (*CommunicationRejected) Type() string { return "communication.rejected" }
func (c *CommunicationRejected) apply(inc *Incident, e *Entry) error {
	return decideDraft(inc, e, c.Draft, DraftRejected, c.Reason)
}

func (c *CommunicationRejected) describe() string {
	return fmt.Sprintf("rejected draft %d%s", c.Draft, reason(c.Reason))
}

func decideDraft(inc *Incident, e *Entry, id int, status, why string) error {
	d := inc.draft(id)
	if d == nil {
		return fmt.Errorf("no draft %d", id)
	}
	if d.Status != DraftPending {
		return fmt.Errorf("draft %d is already %s", id, d.Status)
	}
	at := e.At
	d.Status, d.DecidedBy, d.DecidedAt, d.Reason = status, e.Actor, &at, why
	return nil
}

// ApproveDraft publishes a draft on Command's authority (ICS rule 5).
type ApproveDraft struct {
	Draft int `json:"draft"`
}

func (ApproveDraft) Action() string { return "approve" }
func (c ApproveDraft) decide(inc *Incident, actor *User, a *appender) error {
	d, err := pendingDraft(inc, actor, c.Draft, "approve")
	if err != nil {
		return err
	}
	if inc.Exercise && IsExternalAudience(d.Audience) {
		return Refuse("exercise", "approve: %s is an exercise, and exercises never reach an external audience (%s)", inc.ID, d.Audience)
	}
	if err := a.add(&CommunicationApproved{Draft: d.ID}); err != nil {
		return err
	}
	return a.add(&Published{Audience: d.Audience, Text: d.Text})
}

// RejectDraft turns a draft down, with a reason for its author.
type RejectDraft struct {
	Draft  int    `json:"draft"`
	Reason string `json:"reason"`
}

func (RejectDraft) Action() string { return "reject" }
func (c RejectDraft) decide(inc *Incident, actor *User, a *appender) error {
	if err := checkText("reason", c.Reason, MaxReason, true); err != nil {
		return err
	}
	d, err := pendingDraft(inc, actor, c.Draft, "reject")
	if err != nil {
		return err
	}
	return a.add(&CommunicationRejected{Draft: d.ID, Reason: c.Reason})
}

// pendingDraft returns draft id for Command to decide on.
func pendingDraft(inc *Incident, actor *User, id int, action string) (*Draft, error) {
	if actor.Name != inc.Command {
		return nil, Refuse("one-voice", "%s: only Command (%s) authorises communications on %s", action, inc.Command, inc.ID)
	}
	d := inc.draft(id)
	if d == nil {
		return nil, &Error{Kind: ENotFound, Field: "draft", Message: fmt.Sprintf("%s: %s has no draft %d", action, inc.ID, id)}
	}
	if d.Status != DraftPending {
		return nil, &Error{Kind: EConflict, Field: "draft", Message: fmt.Sprintf("%s: draft %d was already %s by %s", action, id, d.Status, d.DecidedBy)}
	}
	return d, nil
}

// fromTemplate returns the communication with the text of its template,
// filled in from the incident as it stands. The audience defaults to the
// template's.
func (c Publish) fromTemplate(inc *Incident) (Publish, error) {
	if err := ValidateName("template", c.Template); err != nil {
		return c, err
	}
	if c.Text != "" {
		return c, Invalid("text", "update: give a text or a template, not both")
	}
	if inc.Plan == nil {
		return c, Invalid("template", "update: %s runs with no plan, so it has no templates: write the text", inc.ID)
	}
	i := slices.IndexFunc(inc.Plan.Communications, func(t PlanTemplate) bool { return t.Name == c.Template })
	if i < 0 {
		var names []string
		for _, t := range inc.Plan.Communications {
			names = append(names, t.Name)
		}
		known := "it has none"
		if len(names) > 0 {
			known = "its templates are " + joinList(names)
		}
		return c, Invalid("template", "update: plan %s has no template %s; %s", inc.Plan.Name, c.Template, known)
	}
	t := inc.Plan.Communications[i]
	switch c.Audience {
	case "":
		c.Audience = t.Audience
	case t.Audience:
	default:
		return c, Invalid("audience", "update: template %s is for %s, not %s", t.Name, t.Audience, clip(c.Audience, 40))
	}
	c.Text = RenderTemplate(t.Text, inc.TemplateValues())
	return c, nil
}

// Template is a communication template of the incident's plan, its text
// filled in from the incident as it stands.
type Template struct {
	Name     string `json:"name"`
	Audience string `json:"audience"`
	Phase    Phase  `json:"phase,omitempty"`
	// CommandApproval: what the Information Officer publishes to the
	// audience waits for Command's authorisation.
	CommandApproval bool   `json:"command_approval"`
	Text            string `json:"text"`
}

// Templates returns the plan's templates filled in from the incident, in the
// plan's order; none without a plan.
func (inc *Incident) Templates() []Template {
	out := []Template{}
	if inc.Plan == nil {
		return out
	}
	values := inc.TemplateValues()
	for _, t := range inc.Plan.Communications {
		out = append(out, Template{Name: t.Name, Audience: t.Audience, Phase: t.Phase,
			CommandApproval: inc.Plan.NeedsApproval(t.Audience), Text: RenderTemplate(t.Text, values)})
	}
	return out
}

// Placeholders are the names a template's text may use as {{name}}, filled
// in from the incident:
//
//	id                   the incident's ID, IR-2026-0042
//	title                its title
//	kind                 its kind
//	severity             its severity, 1 to 4
//	phase                its current phase
//	command              who is Command
//	information_officer  who is the Information Officer (Command while no one is)
//	declared_at          when it was declared, UTC
//	plan                 the plan's title
var Placeholders = []string{"id", "title", "kind", "severity", "phase", "command", "information_officer", "declared_at", "plan"}

// TemplateValues returns the value of each of Placeholders for the incident
// as it stands.
func (inc *Incident) TemplateValues() map[string]string {
	plan := ""
	if inc.Plan != nil {
		plan = inc.Plan.Title
	}
	return map[string]string{
		"id":                  inc.ID,
		"title":               inc.Title,
		"kind":                inc.Kind,
		"severity":            strconv.Itoa(inc.Severity),
		"phase":               string(inc.Phase),
		"command":             inc.Command,
		"information_officer": inc.Holder(RoleInformation),
		"declared_at":         inc.DeclaredAt.UTC().Format("2006-01-02 15:04 UTC"),
		"plan":                plan,
	}
}

// RenderTemplate fills text's {{placeholders}} from values. Spaces inside
// the braces are allowed ({{ title }} is {{title}}); a placeholder without a
// value becomes empty; braces not closed on their line are left as written.
func RenderTemplate(text string, values map[string]string) string {
	var b strings.Builder
	for {
		i := strings.Index(text, "{{")
		if i < 0 {
			break
		}
		end := strings.Index(text[i+2:], "}}")
		if nl := strings.IndexByte(text[i+2:], '\n'); end < 0 || (nl >= 0 && nl < end) {
			// Not closed on its line: kept as text.
			b.WriteString(text[:i+2])
			text = text[i+2:]
			continue
		}
		b.WriteString(text[:i])
		b.WriteString(values[strings.TrimSpace(text[i+2:i+2+end])])
		text = text[i+2+end+2:]
	}
	b.WriteString(text)
	return b.String()
}
