package notify

import (
	"context"
	"net/mail"
	"net/url"
	"strings"
	"time"

	"github.com/sitrep-ir/sitrep"
)

// The ways a notification goes out. ChannelNone records a notification for
// someone with no contact method: it fails at once with a reason that says
// so, and a page to them escalates as if they had not answered.
const (
	ChannelEmail   = "email"
	ChannelWebhook = "webhook"
	ChannelNone    = "none"
)

// The forms of a webhook contact: sitrep's own JSON signed with HMAC-SHA256,
// the message of a Slack-compatible incoming webhook, and the Adaptive Card
// of a Microsoft Teams (Workflows) incoming webhook.
const (
	FormatJSON  = "json"
	FormatSlack = "slack"
	FormatTeams = "teams"
)

// The delivery statuses of a notification. A notification is queued until
// it is sent or has failed for good (after its retries, with the reason in
// LastError); a page that its recipient acknowledged is acknowledged
// whatever its delivery did.
const (
	StatusQueued       = "queued"
	StatusSent         = "sent"
	StatusFailed       = "failed"
	StatusAcknowledged = "acknowledged"
)

// Limits of contact methods.
const (
	MaxAddress        = 2048 // bytes of an e-mail address or webhook URL
	MaxContactsOfUser = 20
)

// Contact is one way to reach a person.
type Contact struct {
	ID      int64  `json:"id"`
	User    string `json:"user"`
	Kind    string `json:"kind"`    // ChannelEmail or ChannelWebhook
	Address string `json:"address"` // the e-mail address, or the webhook URL (shown redacted, see Redacted)
	Format  string `json:"format,omitempty"`
	// Secret signs the generic JSON webhook (X-Sitrep-Signature). It is
	// shown once, when the contact is added.
	Secret    string    `json:"-"`
	CreatedAt time.Time `json:"created_at"`
}

// Redacted returns c for listings: a webhook URL is a credential (anyone
// who has a chat channel's incoming webhook URL can post to the channel), so
// only its scheme and host are shown.
func (c Contact) Redacted() Contact {
	if c.Kind == ChannelWebhook {
		c.Address = RedactURL(c.Address)
	}
	return c
}

// RedactURL returns scheme://host/… of a URL.
func RedactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "…"
	}
	return u.Scheme + "://" + u.Host + "/…"
}

// ContactInput is what adding a contact method takes.
type ContactInput struct {
	Kind    string `json:"kind"`
	Address string `json:"address"`
	// Format of a webhook: json (default), slack or teams.
	Format string `json:"format,omitempty"`
}

// Validate checks a contact method and returns it in stored form.
func (in ContactInput) Validate() (ContactInput, error) {
	if len(in.Address) > MaxAddress {
		return in, sitrep.Invalid("address", "the address is longer than %d bytes", MaxAddress)
	}
	switch in.Kind {
	case ChannelEmail:
		if in.Format != "" {
			return in, sitrep.Invalid("format", "an e-mail contact has no format: formats are for webhooks")
		}
		a, err := mail.ParseAddress(in.Address)
		if err != nil || a.Address != in.Address || len(in.Address) > 254 || strings.ContainsAny(in.Address, "\r\n") {
			return in, sitrep.Invalid("address", "%q is not an e-mail address such as alice@example.com", clip(in.Address, 80))
		}
	case ChannelWebhook:
		if in.Format == "" {
			in.Format = FormatJSON
		}
		if in.Format != FormatJSON && in.Format != FormatSlack && in.Format != FormatTeams {
			return in, sitrep.Invalid("format", "webhook format %q is not known: use json, slack or teams", clip(in.Format, 20))
		}
		u, err := url.Parse(in.Address)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil || u.Fragment != "" || strings.ContainsAny(in.Address, " \t\r\n") {
			return in, sitrep.Invalid("address", "a webhook address must be an http:// or https:// URL without credentials or fragment")
		}
	default:
		return in, sitrep.Invalid("kind", "contact kind %q is not known: use email or webhook", clip(in.Kind, 20))
	}
	return in, nil
}

// Notification is one message to one contact method of one person, and its
// delivery status. A page (a notification that needs acknowledging) belongs
// to a chain: the person it was first for (Chain), repeated (Round) and then
// escalated along Ladder (Step) until someone acknowledges it.
type Notification struct {
	ID         int64  `json:"id"`
	IncidentID string `json:"incident_id"`
	// Seq is the timeline entry that caused the notification; Event is
	// its type, such as "role.assigned".
	Seq       int64    `json:"seq"`
	Event     string   `json:"event"`
	Recipient string   `json:"recipient"`
	Chain     string   `json:"chain"`
	Step      int      `json:"step"`
	Round     int      `json:"round"`
	Ladder    []string `json:"ladder,omitempty"`
	Channel   string   `json:"channel"`
	ContactID int64    `json:"contact_id,omitempty"`
	Address   string   `json:"address,omitempty"`
	Format    string   `json:"format,omitempty"`
	Message   Message  `json:"message"`
	NeedsAck  bool     `json:"needs_ack"`
	Status    string   `json:"status"`
	Attempts  int      `json:"attempts"`
	// LastError is why the last attempt failed ("" once sent).
	LastError   string     `json:"last_error,omitempty"`
	CreatedAt   time.Time  `json:"created_at"`
	AckDue      *time.Time `json:"ack_due,omitempty"`
	SentAt      *time.Time `json:"sent_at,omitempty"`
	AckedAt     *time.Time `json:"acked_at,omitempty"`
	AckedBy     string     `json:"acked_by,omitempty"`
	EscalatedAt *time.Time `json:"escalated_at,omitempty"`
}

// Redacted returns n for listings, with a webhook URL redacted.
func (n Notification) Redacted() Notification {
	if n.Channel == ChannelWebhook {
		n.Address = RedactURL(n.Address)
	}
	return n
}

// Message is what a notification says, decided when it is planned and
// stored with it, so that every retry sends the same thing.
type Message struct {
	Incident string       `json:"incident"`
	Title    string       `json:"title"`
	Severity int          `json:"severity"`
	Phase    sitrep.Phase `json:"phase"`
	Exercise bool         `json:"exercise,omitempty"`
	// Subject is one line: an e-mail's subject, a chat message's head.
	Subject string `json:"subject"`
	// Text is the body, plain text, one paragraph per line.
	Text  string    `json:"text"`
	Actor string    `json:"actor"`
	At    time.Time `json:"at"`
}

// AckRule acknowledges, when its entry is planned, the open pages of the
// incident it matches: pages of entry Seq (0: any) of type Event (""
// any) in chain Chain ("" any), as acknowledged By.
type AckRule struct {
	Seq   int64
	Event string
	Chain string
	By    string
}

// Batch is what planning a run of an incident's entries decides.
type Batch struct {
	Notifications []*Notification
	Acks          []AckRule
}

// Enqueue inserts the delivery jobs of the notifications with ids in tx, the
// caller's open transaction, so that they commit or roll back together.
type Enqueue[TTx any] func(ctx context.Context, tx TTx, ids []int64) error

// Store keeps contacts and notifications. TTx is the store's transaction
// type, in which delivery jobs are inserted (see Enqueue).
//
// Methods return an *sitrep.Error of kind ENotFound for a missing user,
// contact or notification and EConflict for a duplicate contact.
type Store[TTx any] interface {
	// AddContact stores c and sets its ID. ENotFound if the user does not
	// exist; EConflict if the user has this contact method already.
	AddContact(ctx context.Context, c *Contact) error
	// Contacts lists the contact methods of users, by user then ID.
	Contacts(ctx context.Context, users ...string) ([]*Contact, error)
	// DeleteContact removes contact id of user. ENotFound if there is none.
	DeleteContact(ctx context.Context, user string, id int64) error

	// ServerSecret returns the secret called name, storing fresh as its
	// value first if there is none yet: every replica gets the same one.
	ServerSecret(ctx context.Context, name string, fresh []byte) ([]byte, error)

	// Unplanned lists up to limit incidents whose timeline has entries
	// after their notification cursor.
	Unplanned(ctx context.Context, limit int) ([]string, error)
	// Pending returns the incident's notification cursor and up to limit
	// entries after it.
	Pending(ctx context.Context, incidentID string, limit int) (cursor int64, entries []sitrep.Entry, err error)
	// Plan stores batch for entries (from, to] of the incident in one
	// transaction: it inserts the notifications that are not already
	// stored (same incident, seq, chain, step, round, channel and address),
	// acknowledges what b.Acks match, moves the cursor to to and calls
	// enqueue with the IDs of the notifications inserted and still
	// queued. It returns false, storing nothing, when the cursor is no
	// longer at from (another process planned first).
	Plan(ctx context.Context, incidentID string, from, to int64, b Batch, at time.Time, enqueue Enqueue[TTx]) (bool, error)

	// Notification returns notification id. ENotFound if there is none.
	Notification(ctx context.Context, id int64) (*Notification, error)
	// IncidentNotifications lists the incident's notifications by ID.
	IncidentNotifications(ctx context.Context, incidentID string) ([]*Notification, error)
	// Sent records a delivery: a queued notification becomes sent; an
	// acknowledged one keeps its status. It returns false if the
	// notification was no longer queued or acknowledged-and-unsent (it was
	// sent already).
	Sent(ctx context.Context, id int64, at time.Time) (bool, error)
	// Failed records a failed attempt and its reason; final marks the
	// notification failed, else it stays queued for the next attempt.
	Failed(ctx context.Context, id int64, reason string, final bool) error
	// Acknowledge acknowledges the page of notification id and the rest of
	// its chain (every notification of the same incident, entry and chain
	// not yet acknowledged), as by at at. It returns the notification.
	// ENotFound if there is none; EConflict if it is not a page.
	Acknowledge(ctx context.Context, id int64, by string, at time.Time) (*Notification, error)
	// Due lists up to limit pages not acknowledged nor escalated whose
	// acknowledgement was due at or before now, one per chain round.
	Due(ctx context.Context, now time.Time, limit int) ([]*Notification, error)
	// Escalate marks the round of n (every notification of its incident,
	// entry, chain, step and round) escalated at at, inserts next, and
	// enqueues those still queued, in one transaction. It returns false,
	// storing nothing, when the round was acknowledged or escalated
	// already.
	Escalate(ctx context.Context, n *Notification, at time.Time, next []*Notification, enqueue Enqueue[TTx]) (bool, error)
}

func clip(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n]) + "…"
}
