package notify

import (
	"context"
	"fmt"

	"github.com/sitrep-ir/sitrep"
)

// mayManage checks that actor may manage user's contact methods: their own,
// or anyone's for an administrator.
func mayManage(actor *sitrep.User, user, action string) error {
	if actor == nil {
		return sitrep.Errorf(sitrep.EUnauthorized, "%s: sign in first", action)
	}
	if actor.Name != user && !actor.IsAdmin() {
		return sitrep.Errorf(sitrep.EForbidden, "%s: only %s and administrators manage %s's contact methods", action, user, user)
	}
	return sitrep.ValidateName("user", user)
}

// AddContact adds a way to reach user. It returns the contact and, for a
// generic JSON webhook, the secret its deliveries are signed with, which
// is shown only now.
func (n *Notifier[TTx]) AddContact(ctx context.Context, actor *sitrep.User, user string, in ContactInput) (*Contact, string, error) {
	if err := mayManage(actor, user, "contact add"); err != nil {
		return nil, "", err
	}
	in, err := in.Validate()
	if err != nil {
		return nil, "", err
	}
	existing, err := n.store.Contacts(ctx, user)
	if err != nil {
		return nil, "", fmt.Errorf("contact add: %w", err)
	}
	if len(existing) >= MaxContactsOfUser {
		return nil, "", sitrep.Errorf(sitrep.EConflict, "contact add: %s has %d contact methods, the most there can be: remove one first", user, len(existing))
	}
	c := &Contact{User: user, Kind: in.Kind, Address: in.Address, Format: in.Format, CreatedAt: n.now()}
	if in.Kind == ChannelWebhook && in.Format == FormatJSON {
		c.Secret = NewSecret()
	}
	if err := n.store.AddContact(ctx, c); err != nil {
		if sitrep.AsError(err) != nil {
			return nil, "", err
		}
		return nil, "", fmt.Errorf("contact add: %w", err)
	}
	return c, c.Secret, nil
}

// Contacts lists user's contact methods, webhook URLs redacted.
func (n *Notifier[TTx]) Contacts(ctx context.Context, actor *sitrep.User, user string) ([]Contact, error) {
	if err := mayManage(actor, user, "contact ls"); err != nil {
		return nil, err
	}
	if _, err := n.svc.Store.User(ctx, user); err != nil {
		return nil, err
	}
	cs, err := n.store.Contacts(ctx, user)
	if err != nil {
		return nil, fmt.Errorf("contact ls: %w", err)
	}
	out := make([]Contact, len(cs))
	for i, c := range cs {
		out[i] = c.Redacted()
	}
	return out, nil
}

// DeleteContact removes contact id of user. Notifications queued for it
// fail with a reason rather than going out.
func (n *Notifier[TTx]) DeleteContact(ctx context.Context, actor *sitrep.User, user string, id int64) error {
	if err := mayManage(actor, user, "contact rm"); err != nil {
		return err
	}
	return n.store.DeleteContact(ctx, user, id)
}

// IncidentNotifications lists the notifications of an incident the actor
// may see, with their delivery status.
func (n *Notifier[TTx]) IncidentNotifications(ctx context.Context, actor *sitrep.User, incidentID string) ([]Notification, error) {
	if _, err := n.svc.Incident(ctx, actor, incidentID); err != nil {
		return nil, err
	}
	ns, err := n.store.IncidentNotifications(ctx, incidentID)
	if err != nil {
		return nil, fmt.Errorf("notifications of %s: %w", incidentID, err)
	}
	out := make([]Notification, len(ns))
	for i, no := range ns {
		out[i] = no.Redacted()
	}
	return out, nil
}

// Acknowledge acknowledges page id as actor, who must be its recipient.
func (n *Notifier[TTx]) Acknowledge(ctx context.Context, actor *sitrep.User, id int64) (*Notification, error) {
	if actor == nil {
		return nil, sitrep.Errorf(sitrep.EUnauthorized, "page-ack: sign in first")
	}
	no, err := n.store.Notification(ctx, id)
	if err != nil {
		return nil, err
	}
	if no.Recipient != actor.Name {
		// Not found rather than forbidden: a page says what it is about,
		// which may be a confidential incident.
		return nil, sitrep.Errorf(sitrep.ENotFound, "notification %d not found among yours", id)
	}
	return n.ack(ctx, no)
}

// CheckLink returns the page a signed acknowledgement link is for.
func (n *Notifier[TTx]) CheckLink(ctx context.Context, token string) (*Notification, error) {
	id, err := n.signer.Check(token, n.cfg.Clock.Now())
	if err != nil {
		return nil, err
	}
	no, err := n.store.Notification(ctx, id)
	if err != nil {
		return nil, err
	}
	r := no.Redacted()
	return &r, nil
}

// AcknowledgeLink acknowledges the page of a signed link, as its recipient.
func (n *Notifier[TTx]) AcknowledgeLink(ctx context.Context, token string) (*Notification, error) {
	id, err := n.signer.Check(token, n.cfg.Clock.Now())
	if err != nil {
		return nil, err
	}
	no, err := n.store.Notification(ctx, id)
	if err != nil {
		return nil, err
	}
	return n.ack(ctx, no)
}

// ack acknowledges no's chain as its recipient. Acknowledging the page of a
// transfer of command is the ICS acknowledgement too (rule 4): it goes on
// the incident's timeline like sitrep ack.
func (n *Notifier[TTx]) ack(ctx context.Context, no *Notification) (*Notification, error) {
	if !no.NeedsAck {
		return nil, sitrep.Errorf(sitrep.EConflict, "notification %d needs no acknowledgement", no.ID)
	}
	if no.AckedAt != nil {
		r := no.Redacted()
		return &r, nil
	}
	acked, err := n.store.Acknowledge(ctx, no.ID, no.Recipient, n.now())
	if err != nil {
		return nil, err
	}
	if no.Event == (&sitrep.CommandTransferred{}).Type() && no.Recipient == no.Chain {
		u, err := n.svc.Store.User(ctx, no.Recipient)
		var inc *sitrep.Incident
		if err == nil {
			inc, err = n.svc.Store.Incident(ctx, no.IncidentID)
		}
		// Only the announcement this page is about: a later transfer has
		// its own page.
		if err == nil && inc.Announcement != nil && inc.Announcement.Seq == no.Seq {
			_, _, err = n.svc.Do(ctx, u, no.IncidentID, sitrep.Acknowledge{})
		}
		if err != nil && sitrep.ErrorKind(err) != sitrep.EConflict {
			n.log.Warn("record the acknowledgement of a transfer of command", "incident", no.IncidentID, "user", no.Recipient, "err", err)
		}
	}
	r := acked.Redacted()
	return &r, nil
}
