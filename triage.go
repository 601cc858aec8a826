package sitrep

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"time"
)

// Source kinds: each way an alert comes in.
var SourceKinds = []string{"generic", "alertmanager", "grafana", "pagerduty", "syslog", "email"}

// Source is a sender of alerts with its own credential: a key in the URL or
// header (webhooks), the routing key (PagerDuty format), or allowed network
// ranges and sender addresses (syslog and e-mail).
type Source struct {
	Name      string    `json:"name"`
	Kind      string    `json:"kind"`
	KeyHash   string    `json:"-"`
	Allow     []string  `json:"allow,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	CreatedBy string    `json:"created_by"`
}

// Allows reports whether a sender at addr may use the source: any address
// when the source names no ranges.
func (s *Source) Allows(addr netip.Addr) bool {
	if len(s.Allow) == 0 {
		return true
	}
	for _, a := range s.Allow {
		if p, err := netip.ParsePrefix(a); err == nil && p.Contains(addr.Unmap()) {
			return true
		}
	}
	return false
}

// Alert statuses and triage decisions.
const (
	AlertFiring       = "firing"
	AlertAcknowledged = "acknowledged"
	AlertResolved     = "resolved"

	TriagePending    = "pending"    // on the dispatcher's desk
	TriageDeclared   = "declared"   // an incident was declared from it
	TriageAttached   = "attached"   // attached to an open incident
	TriageSuppressed = "suppressed" // judged not to matter
)

// MaxAlertSamples is how many raw payloads an alert keeps: the first ones
// and the latest, so a storm of a million repetitions stays a few KB.
const MaxAlertSamples = 5

// Alert is every occurrence of one event from one source with one dedup key
// while it is open: a million repetitions are one alert with a count.
type Alert struct {
	ID         int64             `json:"id"`
	Source     string            `json:"source"`
	DedupKey   string            `json:"dedup_key"`
	Status     string            `json:"status"`
	Triage     string            `json:"triage"`
	Severity   int               `json:"severity"`
	Summary    string            `json:"summary"`
	Labels     map[string]string `json:"labels"`
	Count      int64             `json:"count"`
	FirstSeen  time.Time         `json:"first_seen"`
	LastSeen   time.Time         `json:"last_seen"`
	ResolvedAt *time.Time        `json:"resolved_at,omitempty"`
	IncidentID string            `json:"incident_id,omitempty"`
	Samples    []string          `json:"samples,omitempty"`
}

// AlertFilter selects alerts for the triage desk and listings.
type AlertFilter struct {
	Triage string // one of the Triage values; "" for any
	Open   bool   // leave out resolved alerts
	Limit  int    // 0: the store's default (500)
	// IncidentID selects the alerts on one incident: declared from it or
	// attached to it. "" for any.
	IncidentID string
	// AfterID, when above 0, selects the alerts with a larger ID and lists
	// them in the order of their IDs, oldest first: a listing in pages.
	AfterID int64
}

// Ingest is one normalised event from a source, as the intake hands it to
// the store.
type Ingest struct {
	Source     string
	Event      AlertEvent
	ReceivedAt time.Time
}

// IngestResult says what became of one ingested event.
type IngestResult struct {
	AlertID int64
	// New is true when the event opened an alert, false when it counted on
	// (or resolved) an open one.
	New bool
	// Ignored is true for an acknowledge or resolve with no open alert.
	Ignored bool
}

// Ingester stores alert events durably: it returns only once they are
// committed, with one result per event, or an error when none was stored.
// An error of kind EInvalid means the events can never be stored. It
// normalises the events in place (AlertEvent.Normalize), so that the caller
// holds them as they were stored. Every way
// in (HTTP, syslog, SMTP, exercises) stores through one: intake/ingest's
// group-commit Ingester, wrapped by the dispatcher.
type Ingester interface {
	Ingest(ctx context.Context, source string, events []AlertEvent) ([]IngestResult, error)
}

// AlertStore keeps sources and alerts. It is implemented by both stores.
type AlertStore interface {
	// CreateSource stores a source. EConflict if the name is taken.
	CreateSource(ctx context.Context, s *Source) error
	// Sources lists sources ordered by name.
	Sources(ctx context.Context) ([]*Source, error)
	// SourceByKey returns the source whose key hashes to hash. ENotFound if none.
	SourceByKey(ctx context.Context, hash string) (*Source, error)
	// DeleteSource removes a source; its alerts stay. ENotFound if none.
	DeleteSource(ctx context.Context, name string) error

	// IngestAlerts stores a batch of events in one transaction, durable
	// when it returns. A trigger with the dedup key of an open alert of the
	// same source counts on it (count, last_seen, severity if worse, a
	// bounded sample); otherwise it opens a new alert pending triage. A
	// resolve closes the open alert; an acknowledge marks it. Results are
	// in the order of the batch.
	IngestAlerts(ctx context.Context, batch []Ingest) ([]IngestResult, error)
	// Alert returns one alert. ENotFound if none.
	Alert(ctx context.Context, id int64) (*Alert, error)
	// Alerts lists alerts, most recently seen first.
	Alerts(ctx context.Context, f AlertFilter) ([]*Alert, error)
	// SetTriage records the triage decision on an alert, only if its
	// triage is from ("" for any): the condition makes taking an alert off
	// the desk atomic, so two dispatchers (or replicas) cannot both declare
	// from one alert. ENotFound if none, EConflict (see TriageConflict) if
	// its triage is not from.
	SetTriage(ctx context.Context, id int64, from, triage, incidentID string) error
	// SetTriageMany records one triage decision with no incident on many
	// alerts at once, each only if its triage is from, and returns the IDs
	// of those it changed (in any order): the others were missing or
	// taken. At most MaxTriageMany IDs.
	SetTriageMany(ctx context.Context, ids []int64, from, triage string) ([]int64, error)

	// StrandedAlerts lists the alerts declared without an incident whose
	// triage last changed before before (or before the store recorded
	// when it changes), oldest first, at most limit: alerts a declaration
	// claimed (DeclareFromAlert) and never said on which incident, as when
	// the server stopped between the two. The store records the time of
	// each change of an alert's triage or incident itself, on its own
	// clock.
	StrandedAlerts(ctx context.Context, before time.Time, limit int) ([]*Alert, error)
	// ReleaseStranded puts a stranded alert back on the triage desk
	// (pending), only if it is still declared without an incident and its
	// triage last changed before before: a declaration that claimed it
	// since is left alone. EConflict if it is not so, ENotFound if there
	// is no such alert.
	ReleaseStranded(ctx context.Context, id int64, before time.Time) error
}

// ValidateSource checks a new source's name, kind and allowed ranges.
func ValidateSource(s *Source) error {
	if err := ValidateName("name", s.Name); err != nil {
		return err
	}
	if s.Name == ExerciseSource {
		return Invalid("name", "%s is the name of sitrep's own source of exercise alerts: choose another", ExerciseSource)
	}
	if !slices.Contains(SourceKinds, s.Kind) {
		return Invalid("kind", "source kind %q is not valid: %s", clip(s.Kind, 20), joinList(SourceKinds))
	}
	for i, a := range s.Allow {
		p, err := netip.ParsePrefix(a)
		if err != nil {
			return Invalid(fmt.Sprintf("allow[%d]", i), "%q is not a network range such as 10.0.0.0/8 or 192.0.2.7/32", clip(a, 60))
		}
		s.Allow[i] = p.Masked().String()
	}
	return nil
}

// alerts returns the alert store, or an error when the store keeps none.
func (s *Service) alerts() (AlertStore, error) {
	as, ok := s.Store.(AlertStore)
	if !ok {
		return nil, &Error{Kind: EInternal, Message: "this store keeps no alerts"}
	}
	return as, nil
}

// CreateSource adds an alert source and returns its key, shown once and
// stored only hashed. Administrators add sources.
func (s *Service) CreateSource(ctx context.Context, actor *User, src Source) (*Source, string, error) {
	if !actor.IsAdmin() {
		return nil, "", Errorf(EForbidden, "source add: only administrators add alert sources")
	}
	if err := ValidateSource(&src); err != nil {
		return nil, "", err
	}
	as, err := s.alerts()
	if err != nil {
		return nil, "", err
	}
	key := newSourceKey()
	src.KeyHash = HashToken(key)
	src.CreatedAt = now(s.Clock)
	src.CreatedBy = actor.Name
	if err := as.CreateSource(ctx, &src); err != nil {
		return nil, "", fmt.Errorf("source add: %w", err)
	}
	return &src, key, nil
}

// newSourceKey returns a random source key: 32 hex digits, the form
// PagerDuty routing keys take, so senders that check the form accept it.
func newSourceKey() string {
	b := make([]byte, 16)
	rand.Read(b) // never returns an error (crypto/rand)
	return hex.EncodeToString(b)
}

// Sources lists the alert sources.
func (s *Service) Sources(ctx context.Context, actor *User) ([]*Source, error) {
	if actor == nil {
		return nil, Errorf(EUnauthorized, "sign in first")
	}
	as, err := s.alerts()
	if err != nil {
		return nil, err
	}
	return as.Sources(ctx)
}

// DeleteSource removes an alert source; its alerts stay.
func (s *Service) DeleteSource(ctx context.Context, actor *User, name string) error {
	if !actor.IsAdmin() {
		return Errorf(EForbidden, "source rm: only administrators remove alert sources")
	}
	as, err := s.alerts()
	if err != nil {
		return err
	}
	return as.DeleteSource(ctx, name)
}

// SourceByKey returns the source a key belongs to.
func (s *Service) SourceByKey(ctx context.Context, key string) (*Source, error) {
	if key == "" || len(key) > 256 {
		return nil, Errorf(EUnauthorized, "a valid source key is required")
	}
	as, err := s.alerts()
	if err != nil {
		return nil, err
	}
	src, err := as.SourceByKey(ctx, HashToken(key))
	if ErrorKind(err) == ENotFound {
		return nil, Errorf(EUnauthorized, "the source key is not valid")
	}
	return src, err
}

// Alerts lists alerts; the triage desk is the pending ones.
func (s *Service) Alerts(ctx context.Context, actor *User, f AlertFilter) ([]*Alert, error) {
	if actor == nil {
		return nil, Errorf(EUnauthorized, "sign in first")
	}
	if f.Triage != "" && !slices.Contains([]string{TriagePending, TriageDeclared, TriageAttached, TriageSuppressed}, f.Triage) {
		return nil, Invalid("triage", "triage %q is not valid: pending, declared, attached or suppressed", clip(f.Triage, 20))
	}
	if f.IncidentID != "" {
		if _, err := s.Incident(ctx, actor, f.IncidentID); err != nil {
			return nil, err
		}
	}
	as, err := s.alerts()
	if err != nil {
		return nil, err
	}
	return as.Alerts(ctx, f)
}

func (s *Service) alert(ctx context.Context, id int64) (AlertStore, *Alert, error) {
	as, err := s.alerts()
	if err != nil {
		return nil, nil, err
	}
	al, err := as.Alert(ctx, id)
	if err != nil {
		return nil, nil, err
	}
	return as, al, nil
}

// Alert returns one alert.
func (s *Service) Alert(ctx context.Context, actor *User, id int64) (*Alert, error) {
	if actor == nil {
		return nil, Errorf(EUnauthorized, "sign in first")
	}
	_, al, err := s.alert(ctx, id)
	return al, err
}

// TriageConflict is the error for an alert taken off the desk already.
func TriageConflict(al *Alert) error {
	return Errorf(EConflict, "alert %d is already %s%s", al.ID, al.Triage, onIncident(al))
}

// claim takes a pending alert off the triage desk as triage, atomically:
// of two claims at once, one fails with EConflict.
func claim(ctx context.Context, as AlertStore, al *Alert, triage, incidentID, op string) error {
	if al.Triage != TriagePending {
		return fmt.Errorf("%s: %w", op, TriageConflict(al))
	}
	if err := as.SetTriage(ctx, al.ID, TriagePending, triage, incidentID); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	return nil
}

// release puts a claimed alert back on the desk after the action it was
// claimed for failed.
func (s *Service) release(ctx context.Context, as AlertStore, id int64, from string) {
	if err := as.SetTriage(context.WithoutCancel(ctx), id, from, TriagePending, ""); err != nil {
		s.Logger.Error("put an alert back on the triage desk", "alert", id, "err", err)
	}
}

// DeclareFromAlert declares an incident from an alert on the triage desk:
// the actor is Command, and the alert is attached to it. Title and severity
// default to the alert's. Of two declarations from one alert at once, one
// is refused.
func (s *Service) DeclareFromAlert(ctx context.Context, actor *User, alertID int64, in DeclareInput) (*Incident, []Entry, error) {
	if err := requireWriter(actor, "alert declare"); err != nil {
		return nil, nil, err
	}
	as, al, err := s.alert(ctx, alertID)
	if err != nil {
		return nil, nil, err
	}
	if err := claim(ctx, as, al, TriageDeclared, "", "alert declare"); err != nil {
		return nil, nil, err
	}
	if in.Title == "" {
		in.Title = Truncate(al.Summary, MaxTitle)
	}
	if in.Severity == 0 && al.Severity > 0 {
		in.Severity = al.Severity
	}
	if ExerciseOf(al) != "" {
		in.Exercise = true // an exercise's alert makes an exercise (ICS rule 7)
	}
	in.firstAlert = al.FirstSeen
	in.FromAlert = al.ID
	inc, entries, err := s.Declare(ctx, actor, in)
	if err != nil {
		s.release(ctx, as, al.ID, TriageDeclared)
		return nil, nil, err
	}
	// The incident exists from here on: the alert stays declared even if
	// what follows fails, and says on which incident as soon as it can.
	if err := as.SetTriage(ctx, al.ID, TriageDeclared, TriageDeclared, inc.ID); err != nil {
		// A repair of stranded alerts (RepairStranded) put it back on the
		// desk, taking this declaration for one cut off by a crash: take
		// it again, for the incident that exists.
		if ErrorKind(err) != EConflict {
			return nil, nil, fmt.Errorf("alert declare: %s was declared: %w", inc.ID, err)
		}
		if err := as.SetTriage(ctx, al.ID, TriagePending, TriageDeclared, inc.ID); err != nil {
			return nil, nil, fmt.Errorf("alert declare: %s was declared, but the alert was taken meanwhile: %w", inc.ID, err)
		}
	}
	inc, more, err := s.Do(ctx, actor, inc.ID, AttachAlert{Alert: al})
	if err != nil {
		return nil, nil, fmt.Errorf("alert declare: attach alert %d to %s: %w", al.ID, inc.ID, err)
	}
	return inc, append(entries, more...), nil
}

// AttachAlertTo attaches an alert from the triage desk to an open incident.
func (s *Service) AttachAlertTo(ctx context.Context, actor *User, alertID int64, incidentID string) (*Incident, []Entry, error) {
	if err := requireWriter(actor, "alert attach"); err != nil {
		return nil, nil, err
	}
	// The incident is read once, by Do, which refuses one the actor may not
	// see or act on (the claim is released then); only a refused claim
	// looks at the incident first, so that an unknown incident is named as
	// the problem before the alert's state.
	if err := ValidateID(incidentID); err != nil {
		return nil, nil, err
	}
	as, al, err := s.alert(ctx, alertID)
	if err != nil {
		return nil, nil, err
	}
	if err := claim(ctx, as, al, TriageAttached, incidentID, "alert attach"); err != nil {
		if _, ierr := s.Incident(ctx, actor, incidentID); ierr != nil {
			return nil, nil, ierr
		}
		return nil, nil, err
	}
	inc, entries, err := s.Do(ctx, actor, incidentID, AttachAlert{Alert: al})
	if err != nil {
		s.release(ctx, as, al.ID, TriageAttached)
		return nil, nil, err
	}
	return inc, entries, nil
}

// SuppressAlert takes an alert off the triage desk as not mattering. It
// does not read the alert first: the store's conditional write is the
// check, and answers ENotFound for no such alert and EConflict for one
// taken off the desk already. Dispatch suppresses alerts the intake has
// just opened this way, without reading them at all.
func (s *Service) SuppressAlert(ctx context.Context, actor *User, alertID int64) error {
	if err := requireWriter(actor, "alert suppress"); err != nil {
		return err
	}
	as, err := s.alerts()
	if err != nil {
		return err
	}
	if err := as.SetTriage(ctx, alertID, TriagePending, TriageSuppressed, ""); err != nil {
		if ErrorKind(err) == ENotFound {
			return err
		}
		return fmt.Errorf("alert suppress: %w", err)
	}
	return nil
}

// MaxTriageMany bounds the alerts of one SetTriageMany.
const MaxTriageMany = 1000

// SuppressAlerts takes many alerts off the triage desk as not mattering, in
// one write, and returns the IDs of those it took: the others were missing
// or taken off the desk already. Dispatch suppresses in these, so that a
// rule suppressing a storm of new alerts keeps up with the intake.
func (s *Service) SuppressAlerts(ctx context.Context, actor *User, ids []int64) ([]int64, error) {
	if err := requireWriter(actor, "alert suppress"); err != nil {
		return nil, err
	}
	if len(ids) > MaxTriageMany {
		return nil, Invalid("ids", "alert suppress: %d alerts at once, more than the %d allowed", len(ids), MaxTriageMany)
	}
	as, err := s.alerts()
	if err != nil {
		return nil, err
	}
	done, err := as.SetTriageMany(ctx, ids, TriagePending, TriageSuppressed)
	if err != nil {
		return nil, fmt.Errorf("alert suppress: %w", err)
	}
	return done, nil
}

func onIncident(al *Alert) string {
	if al.IncidentID == "" {
		return ""
	}
	return " on " + al.IncidentID
}

// StrandedGrace is how long an alert may stay declared without an incident
// before RepairStranded takes it for stranded: far longer than any
// declaration takes (dispatch gives one 30 seconds), so that a declaration
// still under way is never cut short.
const StrandedGrace = 5 * time.Minute

// Repaired says what RepairStranded did with one stranded alert: linked it
// to the incident declared from it (Incident set), or put it back on the
// triage desk (Incident empty).
type Repaired struct {
	Alert    int64
	Incident string
}

// maxStranded is how many stranded alerts one repair takes up, and
// maxDeclaredSince how many of the latest incidents it looks through for
// the ones declared from them.
const (
	maxStranded      = 1000
	maxDeclaredSince = 10000
)

// RepairStranded finishes or undoes the declarations cut off between their
// claim of an alert and their record of the incident on it (see
// DeclareFromAlert), found among the alerts declared without an incident
// since before now-grace (StrandedGrace when grace is 0). An alert that
// an incident names as its origin (Incident.FromAlert), open or closed, is
// linked to it and attached, as the declaration would have done; any other
// goes back to the triage desk. The store's conditional writes make it safe
// with several replicas: a declaration that claimed the alert since, or
// recorded its incident meanwhile, is left alone. The incident's declarer
// attaches, as the declaration would have, or the actor when the declarer
// is gone; a nil actor is the dispatch account, made only when there is
// something to repair. It returns what it did, and the errors of the
// alerts it could not repair, which the next repair takes up again.
func (s *Service) RepairStranded(ctx context.Context, actor *User, grace time.Duration) ([]Repaired, error) {
	if actor != nil {
		if err := requireWriter(actor, "alert repair"); err != nil {
			return nil, err
		}
	}
	as, err := s.alerts()
	if err != nil {
		return nil, err
	}
	if grace <= 0 {
		grace = StrandedGrace
	}
	// The store stamps triage changes on its own clock, which is the
	// system's, not s.Clock: a test's clock would be of no use here.
	before := time.Now().Add(-grace)
	stranded, err := as.StrandedAlerts(ctx, before, maxStranded)
	if err != nil || len(stranded) == 0 {
		return nil, err
	}
	if actor == nil {
		if actor, err = s.Dispatcher(ctx); err != nil {
			return nil, fmt.Errorf("alert repair: %w", err)
		}
	}
	incs, err := s.Store.Incidents(ctx, IncidentFilter{Limit: maxDeclaredSince})
	if err != nil {
		return nil, fmt.Errorf("alert repair: list incidents: %w", err)
	}
	declared := map[int64]*Incident{}
	for _, inc := range incs { // most recently declared first: the oldest wins
		if inc.FromAlert != 0 {
			declared[inc.FromAlert] = inc
		}
	}
	var done []Repaired
	var errs []error
	for _, al := range stranded {
		if ctx.Err() != nil {
			break
		}
		inc := declared[al.ID]
		if inc == nil {
			err := as.ReleaseStranded(ctx, al.ID, before)
			switch {
			case ErrorKind(err) == EConflict || ErrorKind(err) == ENotFound:
				continue // claimed or linked since it was listed
			case err != nil:
				errs = append(errs, fmt.Errorf("alert repair: release alert %d: %w", al.ID, err))
				continue
			}
			done = append(done, Repaired{Alert: al.ID})
			continue
		}
		if err := as.SetTriage(ctx, al.ID, TriageDeclared, TriageDeclared, inc.ID); err != nil {
			if ErrorKind(err) != EConflict && ErrorKind(err) != ENotFound {
				errs = append(errs, fmt.Errorf("alert repair: link alert %d to %s: %w", al.ID, inc.ID, err))
			}
			continue
		}
		done = append(done, Repaired{Alert: al.ID, Incident: inc.ID})
		if !inc.Open() {
			continue // a closed incident takes no more alerts: linked only
		}
		by := actor
		if u, err := s.Store.User(ctx, inc.DeclaredBy); err == nil && requireWriter(u, "alert attach") == nil {
			by = u
		}
		if _, _, err := s.Do(ctx, by, inc.ID, AttachAlert{Alert: al}); err != nil && ErrorKind(err) != EConflict {
			errs = append(errs, fmt.Errorf("alert repair: attach alert %d to %s: %w", al.ID, inc.ID, err))
		}
	}
	return done, errors.Join(errs...)
}
