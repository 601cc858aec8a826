package sitrep

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"unicode/utf8"
)

// Command is a request to change an incident. Decide checks it against the
// ICS rules and the incident's state and, if it is allowed, adds the changes
// it makes; a refusal says why. Commands are the only way to change an
// incident, so the API, the CLI and the web UI all get the same answers.
type Command interface {
	// Action names the command in refusals and on the record, e.g. "assign".
	Action() string
	decide(inc *Incident, actor *User, a *appender) error
}

// Size limits of text fields, in bytes.
const (
	MaxTitle    = 200
	MaxText     = 20000
	MaxReason   = 2000
	MaxName     = 200
	MaxGroupKey = 512
	MaxSeverity = 4
)

var slugRE = regexp.MustCompile(`^[a-z][a-z0-9-]{0,31}$`)

func checkText(field, s string, max int, required bool) error {
	if required && strings.TrimSpace(s) == "" {
		return Invalid(field, "%s is required", field)
	}
	if len(s) > max {
		return Invalid(field, "%s is %d bytes long; the limit is %d", field, len(s), max)
	}
	if !utf8.ValidString(s) {
		return Invalid(field, "%s is not valid UTF-8", field)
	}
	if i := strings.IndexFunc(s, isControl); i >= 0 {
		return Invalid(field, "%s holds the control character %U at byte %d: only tab and line breaks are allowed", field, []rune(s[i:])[0], i)
	}
	return nil
}

// isControl reports the control characters text fields refuse: C0 but tab,
// newline and carriage return, DEL, and C1.
func isControl(r rune) bool {
	return (r < 0x20 && r != '\t' && r != '\n' && r != '\r') || (r >= 0x7f && r < 0xa0)
}

// ValidateKind checks an incident kind: 1–32 lower-case letters, digits and
// '-', starting with a letter, such as data-breach.
func ValidateKind(kind string) error { return checkSlug("kind", kind) }

// ValidateAudience checks the name of an audience, by the same rule as kinds:
// internal, executives, customers, regulators…
func ValidateAudience(audience string) error { return checkSlug("audience", audience) }

func checkSlug(field, s string) error {
	if !slugRE.MatchString(s) {
		return Invalid(field, "%s %q is not valid: use 1–32 lower-case letters, digits and '-', starting with a letter", field, clip(s, 40))
	}
	return nil
}

func checkSeverity(sev int) error {
	if sev < 1 || sev > MaxSeverity {
		return Invalid("severity", "severity %d is out of range: 1 (worst) to 4", sev)
	}
	return nil
}

// requireCommand refuses anyone but Command (ICS rule 3: freelancing).
func requireCommand(inc *Incident, actor *User, action string) error {
	if inc.Command != actor.Name {
		return Refuse("freelancing", "%s: only Command (%s) may %s on %s; %s", action, inc.Command, action, inc.ID, freelancingHint)
	}
	return nil
}

const freelancingHint = "freelancing is refused: ask Command"

// requireCheckedIn refuses an actor who is not on scene: ICS accountability
// means everyone acting on an incident has checked in.
func requireCheckedIn(inc *Incident, actor *User, action string) error {
	if !inc.CheckedIn(actor.Name) {
		return Refuse("check-in", "%s: you are not checked in to %s; run `sitrep checkin %s` first", action, inc.ID, inc.ID)
	}
	return nil
}

func requireOpen(inc *Incident, action string) error {
	if !inc.Open() {
		return Errorf(EConflict, "%s: %s is closed; Command can reopen it with a phase change", action, inc.ID)
	}
	return nil
}

func requireOnScene(inc *Incident, user, what string) error {
	if !inc.CheckedIn(user) {
		return &Error{Kind: EConflict, Field: "user", Message: fmt.Sprintf("%s is not checked in to %s: a person must check in before %s", user, inc.ID, what)}
	}
	return nil
}

// chiefOf reports whether user may direct section: Command, who stands
// above every section, or the person the section is delegated to.
func chiefOf(inc *Incident, user, section string) bool {
	return inc.Command == user || inc.Holder(section) == user
}

// isSectionChief reports whether user holds a delegated section role (any
// role other than the officers beside Command).
func isSectionChief(inc *Incident, user string) bool {
	for _, r := range inc.Roles {
		if r.User == user && !slices.Contains(Officers, r.Role) {
			return true
		}
	}
	return false
}

// CheckIn puts the actor on scene.
type CheckIn struct{}

func (CheckIn) Action() string { return "checkin" }
func (CheckIn) decide(inc *Incident, actor *User, a *appender) error {
	if err := requireOpen(inc, "checkin"); err != nil {
		return err
	}
	if inc.CheckedIn(actor.Name) {
		return Errorf(EConflict, "checkin: you are already checked in to %s", inc.ID)
	}
	return a.add(&CheckedIn{})
}

// CheckOut releases User (the actor when empty). People check themselves out;
// Command may release anyone. Command cannot leave without transferring command.
type CheckOut struct {
	User string `json:"user,omitempty"`
}

func (CheckOut) Action() string { return "checkout" }
func (c CheckOut) decide(inc *Incident, actor *User, a *appender) error {
	user := c.User
	if user == "" {
		user = actor.Name
	}
	if user != actor.Name {
		if err := requireCommand(inc, actor, "release other people"); err != nil {
			return err
		}
	}
	if !inc.CheckedIn(user) {
		return &Error{Kind: EConflict, Field: "user", Message: fmt.Sprintf("checkout: %s is not checked in to %s", user, inc.ID)}
	}
	if user == inc.Command {
		return Refuse("one-command", "checkout: %s is Command of %s and an incident always has one Command; transfer command first (`sitrep transfer %s --to USER --briefing TEXT`)", user, inc.ID, inc.ID)
	}
	out := &CheckedOut{User: user}
	for _, r := range inc.Roles {
		if r.User == user {
			out.ReleasedRoles = append(out.ReleasedRoles, r.Role)
		}
	}
	for _, t := range inc.Tasks {
		if t.Assignee == user && t.Status == TaskOpen {
			out.Unassigned = append(out.Unassigned, t.ID)
		}
	}
	return a.add(out)
}

// NameMember names User on the incident so they can see it while it is
// confidential and check in.
type NameMember struct {
	User string `json:"user"`
}

func (NameMember) Action() string    { return "invite" }
func (c NameMember) users() []string { return []string{c.User} }
func (c NameMember) decide(inc *Incident, actor *User, a *appender) error {
	if err := requireCommand(inc, actor, "name people on the incident"); err != nil {
		return err
	}
	if inc.Named(c.User) {
		return Errorf(EConflict, "invite: %s is already named on %s", c.User, inc.ID)
	}
	return a.add(&MemberNamed{User: c.User})
}

// Assign delegates Role to User (ICS rule 3: only Command assigns roles).
type Assign struct {
	Role string `json:"role"`
	User string `json:"user"`
}

func (Assign) Action() string    { return "assign" }
func (c Assign) users() []string { return []string{c.User} }
func (c Assign) decide(inc *Incident, actor *User, a *appender) error {
	if err := ValidateRole(c.Role); err != nil {
		return err
	}
	if err := requireCommand(inc, actor, "assign roles"); err != nil {
		return err
	}
	if err := requireOnScene(inc, c.User, "taking a role"); err != nil {
		return err
	}
	if c.User == inc.Command {
		return Errorf(EConflict, "assign: %s is Command and already holds every role that is not delegated", c.User)
	}
	if inc.delegate(c.Role) == c.User {
		return Errorf(EConflict, "assign: %s already holds %s", c.User, c.Role)
	}
	if prev := inc.delegate(c.Role); prev != "" {
		if err := a.add(&RoleUnassigned{Role: c.Role, User: prev}); err != nil {
			return err
		}
	}
	return a.add(&RoleAssigned{Role: c.Role, User: c.User})
}

// Unassign returns Role to Command.
type Unassign struct {
	Role string `json:"role"`
}

func (Unassign) Action() string { return "unassign" }
func (c Unassign) decide(inc *Incident, actor *User, a *appender) error {
	if err := ValidateRole(c.Role); err != nil {
		return err
	}
	if err := requireCommand(inc, actor, "remove roles"); err != nil {
		return err
	}
	holder := inc.delegate(c.Role)
	if holder == "" {
		return &Error{Kind: EConflict, Field: "role", Message: fmt.Sprintf("unassign: %s is not delegated on %s; Command already holds it", c.Role, inc.ID)}
	}
	return a.add(&RoleUnassigned{Role: c.Role, User: holder})
}

// OfferCommand offers command to To with a briefing (ICS rule 4). It takes
// effect when To accepts.
type OfferCommand struct {
	To       string `json:"to"`
	Briefing string `json:"briefing"`
}

func (OfferCommand) Action() string    { return "transfer" }
func (c OfferCommand) users() []string { return []string{c.To} }
func (c OfferCommand) decide(inc *Incident, actor *User, a *appender) error {
	if err := checkText("briefing", c.Briefing, MaxText, true); err != nil {
		return err
	}
	if err := requireCommand(inc, actor, "transfer command"); err != nil {
		return err
	}
	if c.To == inc.Command {
		return Invalid("to", "transfer: %s is already Command", c.To)
	}
	if err := requireOnScene(inc, c.To, "receiving command"); err != nil {
		return err
	}
	return a.add(&CommandOffered{To: c.To, Briefing: c.Briefing})
}

// WithdrawOffer withdraws Command's pending offer of command.
type WithdrawOffer struct {
	Reason string `json:"reason,omitempty"`
}

func (WithdrawOffer) Action() string { return "withdraw transfer" }
func (c WithdrawOffer) decide(inc *Incident, actor *User, a *appender) error {
	if err := checkText("reason", c.Reason, MaxReason, false); err != nil {
		return err
	}
	if err := requireCommand(inc, actor, "withdraw an offer of command"); err != nil {
		return err
	}
	if inc.Transfer == nil {
		return Errorf(EConflict, "withdraw transfer: no transfer of command is pending on %s", inc.ID)
	}
	return a.add(&CommandOfferWithdrawn{To: inc.Transfer.To, Reason: c.Reason})
}

// AcceptCommand accepts the pending offer of command; only the person it was
// offered to may. Every other checked-in resource must acknowledge.
type AcceptCommand struct{}

func (AcceptCommand) Action() string { return "accept-command" }
func (AcceptCommand) decide(inc *Incident, actor *User, a *appender) error {
	t := inc.Transfer
	if t == nil && inc.Command == DispatchUser && actor.Name != DispatchUser {
		// Dispatch declared the incident: the first responder on scene
		// takes command, as the first arriving unit does.
		t = &TransferOffer{From: DispatchUser, To: actor.Name, Briefing: "Took command of an incident declared by dispatch" + ruleSuffix(inc.Rule) + "."}
	}
	if t == nil {
		return Errorf(EConflict, "accept-command: no transfer of command is pending on %s", inc.ID)
	}
	if t.To != actor.Name {
		return Refuse("transfer-of-command", "accept-command: command of %s was offered to %s, not to you", inc.ID, t.To)
	}
	var must []string
	for _, u := range inc.OnScene() {
		if u != actor.Name && u != DispatchUser {
			must = append(must, u)
		}
	}
	return a.add(&CommandTransferred{From: t.From, To: t.To, Briefing: t.Briefing, MustAck: must})
}

// Acknowledge acknowledges the latest transfer of command.
type Acknowledge struct{}

func (Acknowledge) Action() string { return "ack" }
func (Acknowledge) decide(inc *Incident, actor *User, a *appender) error {
	an := inc.Announcement
	if an == nil || !slices.Contains(an.Pending, actor.Name) {
		return Errorf(EConflict, "ack: you have no transfer of command to acknowledge on %s", inc.ID)
	}
	return a.add(&TransferAcknowledged{Seq: an.Seq})
}

// AddTask creates a task in Section (ICS rule 3: Command or that section's
// chief).
type AddTask struct {
	Section  string `json:"section"`
	Title    string `json:"title"`
	Assignee string `json:"assignee,omitempty"`
}

func (AddTask) Action() string { return "task add" }
func (c AddTask) users() []string {
	if c.Assignee == "" {
		return nil
	}
	return []string{c.Assignee}
}
func (c AddTask) decide(inc *Incident, actor *User, a *appender) error {
	if err := checkText("title", c.Title, MaxTitle, true); err != nil {
		return err
	}
	if c.Section == RoleCommand {
		return Invalid("section", "task add: command is not a section: give the section that does the work (%s, or a custom one)", joinList(Sections))
	}
	if err := ValidateRole(c.Section); err != nil {
		e := AsError(err)
		e.Field = "section"
		return e
	}
	if !chiefOf(inc, actor.Name, c.Section) {
		return Refuse("freelancing", "task add: only Command (%s) or the %s chief (%s) assigns work in %s; %s", inc.Command, c.Section, inc.Holder(c.Section), c.Section, freelancingHint)
	}
	if c.Assignee != "" {
		if err := requireOnScene(inc, c.Assignee, "taking a task"); err != nil {
			return err
		}
	}
	return a.add(&TaskCreated{ID: len(inc.Tasks) + 1, Title: c.Title, Section: c.Section, Assignee: c.Assignee})
}

// AssignTask gives task ID to Assignee ("" to return it to the section).
type AssignTask struct {
	ID       int    `json:"id"`
	Assignee string `json:"assignee"`
}

func (AssignTask) Action() string { return "task assign" }
func (c AssignTask) users() []string {
	if c.Assignee == "" {
		return nil
	}
	return []string{c.Assignee}
}
func (c AssignTask) decide(inc *Incident, actor *User, a *appender) error {
	t, err := findTask(inc, c.ID)
	if err != nil {
		return err
	}
	if !chiefOf(inc, actor.Name, t.Section) {
		return Refuse("freelancing", "task assign: only Command (%s) or the %s chief (%s) assigns work in %s; %s", inc.Command, t.Section, inc.Holder(t.Section), t.Section, freelancingHint)
	}
	if t.Status != TaskOpen {
		return Errorf(EConflict, "task assign: task %d is %s", t.ID, t.Status)
	}
	if c.Assignee != "" {
		if err := requireOnScene(inc, c.Assignee, "taking a task"); err != nil {
			return err
		}
	}
	return a.add(&TaskAssigned{ID: c.ID, Assignee: c.Assignee})
}

// SetTaskStatus marks task ID done, cancelled or open again. The assignee may
// mark their own task done; cancelling and reopening are for Command and the
// section's chief.
type SetTaskStatus struct {
	ID     int    `json:"id"`
	Status string `json:"status"`
	Reason string `json:"reason,omitempty"`
}

func (SetTaskStatus) Action() string { return "task status" }
func (c SetTaskStatus) decide(inc *Incident, actor *User, a *appender) error {
	t, err := findTask(inc, c.ID)
	if err != nil {
		return err
	}
	if c.Status != TaskOpen && c.Status != TaskDone && c.Status != TaskCancelled {
		return Invalid("status", "task status %q is not valid: open, done or cancelled", clip(c.Status, 20))
	}
	if err := checkText("reason", c.Reason, MaxReason, false); err != nil {
		return err
	}
	chief := chiefOf(inc, actor.Name, t.Section)
	if !chief && !(c.Status == TaskDone && t.Status == TaskOpen && t.Assignee == actor.Name) {
		return Refuse("freelancing", "task %s: only the assignee, Command (%s) or the %s chief (%s) may do that with task %d; %s", c.Status, inc.Command, t.Section, inc.Holder(t.Section), t.ID, freelancingHint)
	}
	if t.Status == c.Status {
		return Errorf(EConflict, "task %d is already %s", t.ID, t.Status)
	}
	if c.Status == TaskOpen && t.Assignee != "" && !inc.CheckedIn(t.Assignee) {
		// A reopened task goes back to its section when its assignee has left.
		if err := a.add(&TaskAssigned{ID: c.ID}); err != nil {
			return err
		}
	}
	return a.add(&TaskStatusChanged{ID: c.ID, Status: c.Status, Reason: c.Reason})
}

func findTask(inc *Incident, id int) (*Task, error) {
	t := inc.task(id)
	if t == nil {
		return nil, &Error{Kind: ENotFound, Field: "task", Message: fmt.Sprintf("%s has no task %d", inc.ID, id)}
	}
	return t, nil
}

// AddNote adds free text to the timeline; anyone checked in may.
type AddNote struct {
	Text string `json:"text"`
}

func (AddNote) Action() string { return "note" }
func (c AddNote) decide(inc *Incident, _ *User, a *appender) error {
	if err := checkText("text", c.Text, MaxText, true); err != nil {
		return err
	}
	return a.add(&NoteAdded{Text: c.Text})
}

// Publish publishes a communication to an audience (ICS rule 5: one voice).
// When the incident's plan asks for Command's authorisation of the audience,
// what the Information Officer publishes waits for it as a draft (see
// approval.go).
type Publish struct {
	Audience string `json:"audience,omitempty"`
	Text     string `json:"text,omitempty"`
	// Template names a template of the incident's plan: its text, filled
	// in from the incident, is the text (give one or the other), and its
	// audience the default audience.
	Template string `json:"template,omitempty"`
}

func (Publish) Action() string { return "update" }
func (c Publish) decide(inc *Incident, actor *User, a *appender) error {
	if c.Template != "" {
		filled, err := c.fromTemplate(inc)
		if err != nil {
			return err
		}
		c = filled
	}
	if err := ValidateAudience(c.Audience); err != nil {
		return err
	}
	if err := checkText("text", c.Text, MaxText, true); err != nil {
		return err
	}
	if io := inc.Holder(RoleInformation); io != actor.Name {
		who := "the Information Officer (" + io + ")"
		if inc.delegate(RoleInformation) == "" {
			who = "Command (" + io + "), while no one is Information Officer,"
		}
		return Refuse("one-voice", "I can't talk to people about this incident: only %s publishes communications on %s", who, inc.ID)
	}
	if inc.Exercise && IsExternalAudience(c.Audience) {
		return Refuse("exercise", "update: %s is an exercise, and exercises never reach an external audience (%s)", inc.ID, c.Audience)
	}
	if needsApproval(inc, actor, c.Audience) {
		return a.add(&CommunicationDrafted{Draft: len(inc.Drafts) + 1, Audience: c.Audience, Text: c.Text, Template: c.Template})
	}
	return a.add(&Published{Audience: c.Audience, Text: c.Text})
}

// LinkAsset links an asset: Command or a section chief.
type LinkAsset struct {
	Kind string `json:"kind"`
	Name string `json:"name"`
}

func (LinkAsset) Action() string { return "asset add" }
func (c LinkAsset) decide(inc *Incident, actor *User, a *appender) error {
	if err := checkAsset(c.Kind, c.Name); err != nil {
		return err
	}
	if inc.Command != actor.Name && !isSectionChief(inc, actor.Name) {
		return Refuse("freelancing", "asset add: only Command (%s) or a section chief links assets; %s", inc.Command, freelancingHint)
	}
	for _, as := range inc.Assets {
		if as.Kind == c.Kind && as.Name == c.Name {
			return Errorf(EConflict, "asset add: %s %s is already linked to %s", c.Kind, c.Name, inc.ID)
		}
	}
	return a.add(&AssetLinked{Kind: c.Kind, Name: c.Name})
}

// UnlinkAsset removes an asset linked in error; refused under legal hold
// (ICS rule 8).
type UnlinkAsset struct {
	Kind   string `json:"kind"`
	Name   string `json:"name"`
	Reason string `json:"reason"`
}

func (UnlinkAsset) Action() string { return "asset rm" }
func (c UnlinkAsset) decide(inc *Incident, actor *User, a *appender) error {
	if err := checkAsset(c.Kind, c.Name); err != nil {
		return err
	}
	if err := checkText("reason", c.Reason, MaxReason, true); err != nil {
		return err
	}
	if inc.Command != actor.Name && !isSectionChief(inc, actor.Name) {
		return Refuse("freelancing", "asset rm: only Command (%s) or a section chief unlinks assets; %s", inc.Command, freelancingHint)
	}
	if inc.LegalHold {
		return Refuse("legal-hold", "asset rm: %s is under legal hold; nothing it holds may be deleted", inc.ID)
	}
	if !slices.ContainsFunc(inc.Assets, func(as Asset) bool { return as.Kind == c.Kind && as.Name == c.Name }) {
		return &Error{Kind: ENotFound, Field: "name", Message: fmt.Sprintf("asset rm: %s %s is not linked to %s", c.Kind, c.Name, inc.ID)}
	}
	return a.add(&AssetUnlinked{Kind: c.Kind, Name: c.Name, Reason: c.Reason})
}

func checkAsset(kind, name string) error {
	if !slices.Contains(AssetKinds, kind) {
		return Invalid("kind", "asset kind %q is not valid: %s", clip(kind, 20), joinList(AssetKinds))
	}
	return checkText("name", name, MaxName, true)
}

// ChangePhase moves the incident to Phase with a reason. Going back (a
// re-infection) is allowed; closing needs the post mortem complete.
type ChangePhase struct {
	Phase  Phase  `json:"phase"`
	Reason string `json:"reason"`
}

func (ChangePhase) Action() string { return "phase" }
func (c ChangePhase) decide(inc *Incident, actor *User, a *appender) error {
	if c.Phase.Index() < 0 {
		return Invalid("phase", "phase %q is not valid: %s", clip(string(c.Phase), 20), joinPhases())
	}
	if err := checkText("reason", c.Reason, MaxReason, true); err != nil {
		return err
	}
	if err := requireCommand(inc, actor, "change the phase"); err != nil {
		return err
	}
	if c.Phase == inc.Phase {
		return Errorf(EConflict, "phase: %s is already in %s", inc.ID, inc.Phase)
	}
	if c.Phase == PhaseClosed {
		if inc.Phase != PhasePostMortem {
			return Errorf(EConflict, "phase: %s must be in post-mortem before it closes: every incident ends in the same post mortem", inc.ID)
		}
		var open []string
		for _, t := range inc.Tasks {
			if t.Status == TaskOpen {
				open = append(open, fmt.Sprint(t.ID))
			}
		}
		if len(open) > 0 {
			return &Error{Kind: EConflict, Field: "tasks", Message: fmt.Sprintf("phase: %s cannot close: tasks %s are still open: mark them done or cancel them (follow-up work belongs in the report's follow-up actions)", inc.ID, strings.Join(open, ", "))}
		}
		if missing := inc.ReportMissing(); len(missing) > 0 {
			return &Error{Kind: EConflict, Field: "report", Message: fmt.Sprintf("phase: %s cannot close: the report is incomplete: %s", inc.ID, strings.Join(missing, "; "))}
		}
	}
	return a.add(&PhaseChanged{From: inc.Phase, To: c.Phase, Reason: c.Reason, Backward: c.Phase.Index() < inc.Phase.Index()})
}

func joinPhases() string {
	s := make([]string, len(Phases))
	for i, p := range Phases {
		s[i] = string(p)
	}
	return joinList(s)
}

// Edit changes the incident's title, kind, severity, confidentiality or legal
// hold. Command edits; an administrator may also set or clear a legal hold,
// and only an administrator clears one.
type Edit struct {
	Title        *string `json:"title,omitempty"`
	Kind         *string `json:"kind,omitempty"`
	Severity     *int    `json:"severity,omitempty"`
	Confidential *bool   `json:"confidential,omitempty"`
	LegalHold    *bool   `json:"legal_hold,omitempty"`
	Reason       string  `json:"reason,omitempty"`
}

func (Edit) Action() string { return "edit" }
func (c Edit) decide(inc *Incident, actor *User, a *appender) error {
	if c.Title == nil && c.Kind == nil && c.Severity == nil && c.Confidential == nil && c.LegalHold == nil {
		return Invalid("", "edit: nothing to change: give a title, kind, severity, confidential or legal_hold")
	}
	if c.Title != nil {
		if err := checkText("title", *c.Title, MaxTitle, true); err != nil {
			return err
		}
	}
	if c.Kind != nil {
		if err := ValidateKind(*c.Kind); err != nil {
			return err
		}
	}
	if c.Severity != nil {
		if err := checkSeverity(*c.Severity); err != nil {
			return err
		}
	}
	if err := checkText("reason", c.Reason, MaxReason, false); err != nil {
		return err
	}
	onlyHold := c.Title == nil && c.Kind == nil && c.Severity == nil && c.Confidential == nil
	if !(onlyHold && actor.IsAdmin()) {
		if err := requireCommand(inc, actor, "edit the incident"); err != nil {
			return err
		}
	}
	if c.LegalHold != nil && !*c.LegalHold && inc.LegalHold && !actor.IsAdmin() {
		return Refuse("legal-hold", "edit: only an administrator lifts a legal hold on %s", inc.ID)
	}
	return a.add(&Edited{Title: c.Title, Kind: c.Kind, Severity: c.Severity, Confidential: c.Confidential, LegalHold: c.LegalHold, Reason: c.Reason})
}

// EditReport sets fields of the post mortem: Command or the Planning chief.
// AcceptDraft saves the narrative drafted from the timeline.
type EditReport struct {
	Narrative        *string     `json:"narrative,omitempty"`
	WhatWorked       *string     `json:"what_worked,omitempty"`
	NeedsImprovement *string     `json:"needs_improvement,omitempty"`
	FollowUps        *[]FollowUp `json:"follow_ups,omitempty"`
	// draft is the narrative drafted from the timeline, set by the service
	// when AcceptDraft is asked for.
	AcceptDraft bool `json:"accept_draft,omitempty"`
	draft       string
}

func (EditReport) Action() string { return "report edit" }
func (c EditReport) users() []string {
	if c.FollowUps == nil {
		return nil
	}
	var us []string
	for _, f := range *c.FollowUps {
		us = append(us, f.Owner)
	}
	return us
}
func (c EditReport) decide(inc *Incident, actor *User, a *appender) error {
	if c.AcceptDraft {
		if c.Narrative != nil {
			return Invalid("narrative", "report edit: give a narrative or accept the draft, not both")
		}
		c.Narrative = &c.draft
	}
	if c.Narrative == nil && c.WhatWorked == nil && c.NeedsImprovement == nil && c.FollowUps == nil {
		return Invalid("", "report edit: nothing to change")
	}
	for _, f := range []struct {
		name string
		v    *string
	}{{"narrative", c.Narrative}, {"what_worked", c.WhatWorked}, {"needs_improvement", c.NeedsImprovement}} {
		if f.v != nil {
			if err := checkText(f.name, *f.v, MaxText*5, false); err != nil {
				return err
			}
		}
	}
	if c.FollowUps != nil {
		if len(*c.FollowUps) > 100 {
			return Invalid("follow_ups", "%d follow-up actions; the limit is 100", len(*c.FollowUps))
		}
		for i, f := range *c.FollowUps {
			if err := checkText(fmt.Sprintf("follow_ups[%d].action", i), f.Action, MaxReason, true); err != nil {
				return err
			}
			if f.Owner == "" {
				return Invalid(fmt.Sprintf("follow_ups[%d].owner", i), "follow-up %q has no owner: every follow-up action needs one", clip(f.Action, 60))
			}
		}
	}
	if actor.Name != inc.Command && inc.delegate(RolePlanning) != actor.Name {
		return Refuse("freelancing", "report edit: only Command (%s) or the planning chief writes the post mortem; %s", inc.Command, freelancingHint)
	}
	return a.add(&ReportEdited{Narrative: c.Narrative, WhatWorked: c.WhatWorked, NeedsImprovement: c.NeedsImprovement, FollowUps: c.FollowUps})
}

// ReportMissing lists the post-mortem fields that are still empty: an
// incident closes only when this list is empty.
func (inc *Incident) ReportMissing() []string {
	var m []string
	if inc.Kind == "" || inc.Kind == "unknown" {
		m = append(m, "type: the incident's kind is unknown (sitrep edit ID --kind KIND)")
	}
	if len(inc.Assets) == 0 {
		m = append(m, "assets involved: none linked (sitrep asset add ID KIND NAME)")
	}
	if strings.TrimSpace(inc.Report.Narrative) == "" {
		m = append(m, "narrative is empty")
	}
	if strings.TrimSpace(inc.Report.WhatWorked) == "" {
		m = append(m, "what worked is empty")
	}
	if strings.TrimSpace(inc.Report.NeedsImprovement) == "" {
		m = append(m, "what needs improvement is empty")
	}
	return m
}

// AttachAlert links an alert to the incident. The dispatcher's desk does
// this, so it needs no check-in: passing information to an incident is not
// acting on it.
type AttachAlert struct {
	Alert *Alert `json:"-"`
}

func (AttachAlert) Action() string { return "alert attach" }
func (c AttachAlert) decide(inc *Incident, _ *User, a *appender) error {
	if c.Alert == nil {
		return Invalid("alert", "alert attach: no alert given")
	}
	for _, al := range inc.Alerts {
		if al.ID == c.Alert.ID {
			return Errorf(EConflict, "alert attach: alert %d is already attached to %s", c.Alert.ID, inc.ID)
		}
	}
	if (ExerciseOf(c.Alert) != "") != inc.Exercise {
		return Errorf(EConflict, "alert attach: alert %d and %s are not both exercises: an exercise's alerts and a real incident's never mix", c.Alert.ID, inc.ID)
	}
	al := c.Alert
	return a.add(&AlertAttached{AlertID: al.ID, Source: al.Source, DedupKey: al.DedupKey, Summary: al.Summary, Severity: al.Severity, Count: al.Count, FirstSeen: al.FirstSeen})
}

func ruleSuffix(rule string) string {
	if rule == "" {
		return ""
	}
	return " (rule " + rule + ")"
}
