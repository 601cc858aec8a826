package sitrep

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// Service runs incidents: it checks every command against the ICS rules and
// stores the resulting timeline entries and state together. The API, the CLI
// (through the API) and the web UI all go through it.
type Service struct {
	Store  Store
	Clock  Clock
	Logger *slog.Logger
	// Appended, when set, is called after each commit with the entries it
	// wrote, in order: live views and notifications follow it.
	Appended func(entries []Entry)
	// Plans, when set, gives the pre-incident plan applied to each
	// incident declared of a kind one answers (see plans.go).
	Plans Plans
}

// NewService returns a Service on store with the system clock.
func NewService(store Store, logger *slog.Logger) *Service {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Service{Store: store, Clock: SystemClock{}, Logger: logger}
}

// DeclareInput is what declaring an incident needs: a title alone is enough.
type DeclareInput struct {
	Title        string `json:"title"`
	Kind         string `json:"kind,omitempty"`
	Severity     int    `json:"severity,omitempty"`
	Confidential bool   `json:"confidential,omitempty"`
	Exercise     bool   `json:"exercise,omitempty"`
	// GroupKey and Rule: see Declared. Set by dispatch rules.
	GroupKey string `json:"group_key,omitempty"`
	Rule     string `json:"rule,omitempty"`
	// firstAlert is when the alert the incident is declared from was
	// first seen (DeclareFromAlert): the plan's declare target runs from it.
	firstAlert time.Time
	// FromAlert is the alert the incident is declared from (see
	// Declared.FromAlert): DeclareFromAlert sets it after claiming the
	// alert. Not taken from clients.
	FromAlert int64 `json:"-"`
}

// Default kind and severity of an incident declared with a title alone.
const (
	DefaultKind     = "unknown"
	DefaultSeverity = 3
)

func requireWriter(actor *User, action string) error {
	if actor == nil {
		return Errorf(EUnauthorized, "%s: sign in first", action)
	}
	if actor.Role == OrgViewer {
		return Errorf(EForbidden, "%s: %s is a viewer and viewers cannot change anything", action, actor.Name)
	}
	return nil
}

// Declare opens an incident; the actor becomes Command, checked in.
func (s *Service) Declare(ctx context.Context, actor *User, in DeclareInput) (*Incident, []Entry, error) {
	if err := requireWriter(actor, "declare"); err != nil {
		return nil, nil, err
	}
	if in.Kind == "" {
		in.Kind = DefaultKind
	}
	spec := s.planDefaults(&in)
	if in.Severity == 0 {
		in.Severity = DefaultSeverity
	}
	if err := checkText("title", in.Title, MaxTitle, true); err != nil {
		return nil, nil, err
	}
	if err := checkSlug("kind", in.Kind); err != nil {
		return nil, nil, err
	}
	if err := checkSeverity(in.Severity); err != nil {
		return nil, nil, err
	}
	if err := checkText("group_key", in.GroupKey, MaxGroupKey, false); err != nil {
		return nil, nil, err
	}
	if in.Rule != "" {
		if err := ValidateName("rule", in.Rule); err != nil {
			return nil, nil, err
		}
	}
	at := now(s.Clock)
	var inc *Incident
	var entries []Entry
	err := s.Store.CreateIncident(ctx, at.Year(), func(number int) (*Incident, []Entry, error) {
		if in.GroupKey != "" {
			// Declarations are serialised here (see Store.CreateIncident),
			// so of two dispatchers declaring for one group at once the
			// second finds the first's incident and is refused.
			if id, err := s.openGroup(ctx, in.GroupKey); err != nil {
				return nil, nil, err
			} else if id != "" {
				return nil, nil, &Error{Kind: EConflict, Field: "group_key", Message: fmt.Sprintf("%s is open with group key %q: attach to it instead", id, clip(in.GroupKey, 80))}
			}
		}
		inc = &Incident{ID: FormatID(at.Year(), number)}
		a := &appender{inc: inc, actor: actor.Name, at: at}
		if err := a.add(&Declared{Title: in.Title, Kind: in.Kind, Severity: in.Severity, Confidential: in.Confidential, Exercise: in.Exercise, GroupKey: in.GroupKey, Rule: in.Rule, FromAlert: in.FromAlert}); err != nil {
			return nil, nil, err
		}
		if err := applyPlan(a, spec, in.firstAlert); err != nil {
			return nil, nil, err
		}
		entries = a.entries
		return inc, entries, nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("declare: %w", err)
	}
	s.Logger.Info("incident declared", "incident", inc.ID, "by", actor.Name, "severity", inc.Severity, "kind", inc.Kind)
	s.appended(entries)
	return inc, entries, nil
}

// openGroup returns the oldest open incident with group key key, or "".
func (s *Service) openGroup(ctx context.Context, key string) (string, error) {
	open, err := s.Store.Incidents(ctx, IncidentFilter{Open: true, GroupKey: key, Limit: maxOpenGroups})
	if err != nil {
		return "", fmt.Errorf("look up group %q: %w", clip(key, 80), err)
	}
	if len(open) == 0 {
		return "", nil
	}
	return open[len(open)-1].ID, nil // most recently declared first
}

// maxOpenGroups bounds the open incidents of one group openGroup reads:
// there is one, unless incidents were declared with it by hand.
const maxOpenGroups = 100

// Incident returns an incident the actor may see. A confidential incident the
// actor may not see is reported as not found (ICS rule 8).
func (s *Service) Incident(ctx context.Context, actor *User, id string) (*Incident, error) {
	if err := ValidateID(id); err != nil {
		return nil, err
	}
	inc, err := s.Store.Incident(ctx, id)
	if err != nil {
		return nil, err
	}
	if !inc.VisibleTo(actor) {
		return nil, notFound(id)
	}
	return inc, nil
}

func notFound(id string) error {
	return &Error{Kind: ENotFound, Field: "id", Message: fmt.Sprintf("incident %s not found", id)}
}

// Incidents lists the incidents the actor may see.
func (s *Service) Incidents(ctx context.Context, actor *User, f IncidentFilter) ([]*Incident, error) {
	all, err := s.Store.Incidents(ctx, f)
	if err != nil {
		return nil, fmt.Errorf("list incidents: %w", err)
	}
	out := all[:0]
	for _, inc := range all {
		if inc.VisibleTo(actor) {
			out = append(out, inc)
		}
	}
	return out, nil
}

// Timeline returns up to limit entries after seq after.
func (s *Service) Timeline(ctx context.Context, actor *User, id string, after int64, limit int) ([]Entry, error) {
	if _, err := s.Incident(ctx, actor, id); err != nil {
		return nil, err
	}
	if limit <= 0 || limit > 10000 {
		limit = 10000
	}
	return s.Store.Entries(ctx, id, after, limit)
}

// users is implemented by commands that name people, who must exist.
type users interface{ users() []string }

// Do runs cmd on incident id as actor. It returns the incident's state after
// the command and the entries it appended. A refusal by an ICS rule is itself
// recorded on the timeline.
func (s *Service) Do(ctx context.Context, actor *User, id string, cmd Command) (*Incident, []Entry, error) {
	if err := requireWriter(actor, cmd.Action()); err != nil {
		return nil, nil, err
	}
	if u, ok := cmd.(users); ok {
		for _, name := range u.users() {
			if err := ValidateName("user", name); err != nil {
				return nil, nil, err
			}
			if _, err := s.Store.User(ctx, name); err != nil {
				if ErrorKind(err) == ENotFound {
					return nil, nil, &Error{Kind: EInvalid, Field: "user", Message: fmt.Sprintf("%s: no user named %s", cmd.Action(), name)}
				}
				return nil, nil, fmt.Errorf("%s: %w", cmd.Action(), err)
			}
		}
	}
	if er, ok := cmd.(EditReport); ok && er.AcceptDraft {
		draft, err := s.draftNarrative(ctx, actor, id)
		if err != nil {
			return nil, nil, err
		}
		er.draft = draft
		cmd = er
	}
	if err := ValidateID(id); err != nil {
		return nil, nil, err
	}
	var result *Incident
	var entries []Entry
	err := s.Store.UpdateIncident(ctx, id, func(inc *Incident) ([]Entry, error) {
		if !inc.VisibleTo(actor) {
			return nil, notFound(id)
		}
		if err := s.allowed(inc, actor, cmd); err != nil {
			return nil, err
		}
		a := &appender{inc: inc, actor: actor.Name, at: now(s.Clock)}
		if err := cmd.decide(inc, actor, a); err != nil {
			return nil, err
		}
		if err := openChecklist(a); err != nil { // a phase change opens that phase's checklist
			return nil, err
		}
		result, entries = inc, a.entries
		return a.entries, nil
	})
	if err != nil {
		if e := AsError(err); e != nil && e.Rule != "" {
			s.recordRefusal(ctx, actor, id, cmd, e)
		}
		return nil, nil, err
	}
	s.appended(entries)
	return result, entries, nil
}

// allowed applies the checks every command shares: the incident is open and
// the actor is on scene (ICS accountability). An administrator placing or
// lifting a legal hold needs neither.
func (s *Service) allowed(inc *Incident, actor *User, cmd Command) error {
	switch c := cmd.(type) {
	case CheckIn:
		return nil
	case AttachAlert:
		return requireOpen(inc, cmd.Action())
	case Edit:
		if actor.IsAdmin() && c.Title == nil && c.Kind == nil && c.Severity == nil && c.Confidential == nil {
			return nil
		}
	case ChangePhase:
		// Closing demobilised everyone: Command reopens a closed incident
		// with a phase change without checking in first.
		if !inc.Open() {
			return nil
		}
	}
	if err := requireOpen(inc, cmd.Action()); err != nil {
		return err
	}
	return requireCheckedIn(inc, actor, cmd.Action())
}

// recordRefusal appends a rule.refused entry: the record keeps freelancing
// attempts as evidence. Failing to record one is logged, not returned: the
// caller's answer is the refusal either way.
func (s *Service) recordRefusal(ctx context.Context, actor *User, id string, cmd Command, refusal *Error) {
	var entries []Entry
	err := s.Store.UpdateIncident(ctx, id, func(inc *Incident) ([]Entry, error) {
		if !inc.VisibleTo(actor) {
			return nil, notFound(id)
		}
		a := &appender{inc: inc, actor: actor.Name, at: now(s.Clock)}
		if err := a.add(&Refused{Rule: refusal.Rule, Action: cmd.Action(), Message: refusal.Message}); err != nil {
			return nil, err
		}
		entries = a.entries
		return a.entries, nil
	})
	if err != nil {
		s.Logger.Warn("record refusal", "incident", id, "err", err)
		return
	}
	s.appended(entries)
}

func (s *Service) appended(entries []Entry) {
	if s.Appended != nil && len(entries) > 0 {
		s.Appended(entries)
	}
}

// Verification is the result of checking an incident's record.
type Verification struct {
	IncidentID string `json:"incident_id"`
	OK         bool   `json:"ok"`
	Entries    int64  `json:"entries"`
	Head       string `json:"head"`
	// BrokenSeq is the first entry that does not hold up, 0 when OK.
	BrokenSeq int64  `json:"broken_seq,omitempty"`
	Problem   string `json:"problem,omitempty"`
}

// Verify recomputes the incident's hash chain from its first entry, replays
// every entry and checks that the stored state is what the record says. It
// names the first entry that does not hold up.
func (s *Service) Verify(ctx context.Context, actor *User, id string) (*Verification, error) {
	stored, err := s.Incident(ctx, actor, id)
	if err != nil {
		return nil, err
	}
	v := &Verification{IncidentID: id}
	replay := &Incident{}
	prev := ""
	var n int64
	errBroken := errors.New("broken")
	// Entries appended after the state was read are not part of it: the
	// replay stops at the state's sequence number.
	errEnough := errors.New("enough")
	fail := func(seq int64, format string, args ...any) error {
		v.BrokenSeq = seq
		v.Problem = fmt.Sprintf(format, args...)
		return errBroken
	}
	err = s.Store.EachEntry(ctx, id, func(e *Entry) error {
		if n == stored.Seq {
			return errEnough
		}
		n++
		if e.Seq != n {
			return fail(n, "entry %d is missing: the next stored entry is %d", n, e.Seq)
		}
		if e.PrevHash != prev {
			return fail(e.Seq, "entry %d does not follow entry %d: its prev_hash is %.12s…, entry %d's hash is %.12s…", e.Seq, e.Seq-1, e.PrevHash, e.Seq-1, prev)
		}
		if h := e.ComputeHash(); h != e.Hash {
			return fail(e.Seq, "entry %d was altered: its content hashes to %.12s…, the record says %.12s…", e.Seq, h, e.Hash)
		}
		if err := Apply(replay, e); err != nil {
			return fail(e.Seq, "entry %d cannot be replayed: %v", e.Seq, err)
		}
		prev = e.Hash
		return nil
	})
	v.Entries = n
	v.Head = prev
	if errors.Is(err, errBroken) {
		return v, nil
	}
	if err != nil && !errors.Is(err, errEnough) {
		return nil, fmt.Errorf("verify %s: %w", id, err)
	}
	if stored.Seq != n || stored.Head != prev {
		v.BrokenSeq = n + 1
		v.Problem = fmt.Sprintf("the incident records %d entries ending in %.12s…, but the timeline holds %d ending in %.12s…: entries after %d are missing", stored.Seq, stored.Head, n, prev, n)
		return v, nil
	}
	if diff := stateDiff(stored, replay); diff != "" {
		v.Problem = "the stored state differs from the state the timeline replays to: " + diff
		v.BrokenSeq = n
		return v, nil
	}
	v.OK = true
	return v, nil
}
