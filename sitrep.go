// Package sitrep holds the domain of the sitrep incident response platform:
// incidents run by the Incident Command System, their hash-chained timeline,
// the ICS rules that decide every change, and the interfaces its adapters
// implement. It imports only the standard library.
package sitrep

import (
	"context"
	"regexp"
	"time"
)

// Clock tells the time. Tests inject one that they move by hand.
type Clock interface {
	Now() time.Time
}

// SystemClock is the wall clock.
type SystemClock struct{}

// Now returns the current time.
func (SystemClock) Now() time.Time { return time.Now() }

// now returns c's time in the form the record keeps: UTC, microseconds, which
// both storage backends hold exactly, so that hashes survive a round trip.
func now(c Clock) time.Time { return c.Now().UTC().Truncate(time.Microsecond) }

// OrgRole is a user's role in the organisation, as opposed to an ICS role on
// an incident.
type OrgRole string

// The organisation roles.
const (
	OrgAdmin     OrgRole = "admin"     // manages users and sees every incident
	OrgResponder OrgRole = "responder" // declares and works incidents
	OrgViewer    OrgRole = "viewer"    // reads, changes nothing
)

// Valid reports whether r is a known organisation role.
func (r OrgRole) Valid() bool { return r == OrgAdmin || r == OrgResponder || r == OrgViewer }

// User is a person (or a program) known to sitrep.
type User struct {
	Name      string    `json:"name"`
	Role      OrgRole   `json:"role"`
	Email     string    `json:"email,omitempty"`
	CreatedAt time.Time `json:"created_at"`
}

// IsAdmin reports whether u administers sitrep.
func (u *User) IsAdmin() bool { return u != nil && u.Role == OrgAdmin }

// Token is an API credential. Only the SHA-256 of its secret is stored.
type Token struct {
	ID        string    `json:"id"`
	User      string    `json:"user"`
	Label     string    `json:"label,omitempty"`
	Hash      string    `json:"-"`
	CreatedAt time.Time `json:"created_at"`
}

var nameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,63}$`)

// ValidateName checks a user name: 1–64 characters of lower-case letters,
// digits, '.', '_' and '-', starting with a letter or digit.
func ValidateName(field, name string) error {
	if !nameRE.MatchString(name) {
		return Invalid(field, "%s %q is not a valid name: use 1–64 lower-case letters, digits, '.', '_' or '-'", field, clip(name, 80))
	}
	return nil
}

// IncidentFilter selects incidents for a listing.
type IncidentFilter struct {
	// Open, when true, leaves out closed incidents.
	Open bool
	// Limit caps the number returned; 0 means the store's default (500).
	Limit int
	// GroupKey, when set, selects the incidents declared with that group
	// key (see Declared).
	GroupKey string
}

// Store keeps users, tokens, incidents and their timelines. The two
// implementations (SQLite and PostgreSQL) pass one conformance suite; neither
// holds business logic: ICS rules, hashing and state changes are decided here.
//
// Every method returns an *Error of kind ENotFound for a missing user,
// incident or token, EConflict for a duplicate name, and wraps any other fault.
type Store interface {
	// CreateUser stores a new user. EConflict if the name is taken.
	CreateUser(ctx context.Context, u *User) error
	// User returns the named user. ENotFound if there is none.
	User(ctx context.Context, name string) (*User, error)
	// Users lists all users ordered by name.
	Users(ctx context.Context) ([]*User, error)
	// CreateToken stores a token for an existing user. ENotFound if the user
	// does not exist.
	CreateToken(ctx context.Context, t *Token) error
	// TokenUser returns the user owning the token with this hash. ENotFound if
	// no token has it.
	TokenUser(ctx context.Context, hash string) (*User, error)

	// CreateIncident allocates the next incident number of year (1, 2, …),
	// calls build with it and stores the incident it returns, with its first
	// timeline entries, in one transaction. build's error is returned as is.
	// Creations of one year are serialised: build runs after every earlier
	// creation has committed, so what build reads through the store's other
	// methods includes the incidents created before it.
	CreateIncident(ctx context.Context, year int, build func(number int) (*Incident, []Entry, error)) error
	// UpdateIncident runs fn on the incident's current state while holding the
	// incident exclusively, then stores the state as fn left it and appends the
	// entries fn returned, in one transaction. Concurrent updates of one
	// incident are serialised. When fn returns an error nothing is stored and
	// the error is returned as is. ENotFound if the incident does not exist.
	UpdateIncident(ctx context.Context, id string, fn func(*Incident) ([]Entry, error)) error
	// Incident returns the incident's current state. ENotFound if none.
	Incident(ctx context.Context, id string) (*Incident, error)
	// Incidents lists incidents, most recently declared first.
	Incidents(ctx context.Context, f IncidentFilter) ([]*Incident, error)
	// Entries returns up to limit timeline entries of the incident with a
	// sequence number greater than after, in order.
	Entries(ctx context.Context, id string, after int64, limit int) ([]Entry, error)
	// EachEntry calls fn with every entry of the incident in order, streaming
	// rather than loading the whole timeline; it stops at fn's first error.
	EachEntry(ctx context.Context, id string, fn func(*Entry) error) error

	// Ping reports whether the store can serve requests.
	Ping(ctx context.Context) error
	// Close releases the store's resources.
	Close() error
}

func clip(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n]) + "…"
}
