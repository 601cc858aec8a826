package client

import (
	"context"
	"net/http"
	"strconv"

	"github.com/sitrep-ir/sitrep/notify"
)

// NewContact is a contact method just added; Secret, for a generic JSON
// webhook, signs its deliveries and is shown only now.
type NewContact struct {
	notify.Contact
	Secret string `json:"secret,omitempty"`
}

// AddContact adds a way to reach user: an e-mail address or a webhook URL
// (format json, slack or teams).
func (c *Client) AddContact(ctx context.Context, user string, in notify.ContactInput) (*NewContact, error) {
	var out NewContact
	if err := c.call(ctx, http.MethodPost, path("users", user, "contacts"), nil, in, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Contacts lists user's contact methods, webhook URLs redacted.
func (c *Client) Contacts(ctx context.Context, user string) ([]notify.Contact, error) {
	var out struct {
		Contacts []notify.Contact `json:"contacts"`
	}
	if err := c.call(ctx, http.MethodGet, path("users", user, "contacts"), nil, nil, &out); err != nil {
		return nil, err
	}
	return out.Contacts, nil
}

// DeleteContact removes contact id of user.
func (c *Client) DeleteContact(ctx context.Context, user string, id int64) error {
	return c.call(ctx, http.MethodDelete, path("users", user, "contacts", strconv.FormatInt(id, 10)), nil, nil, nil)
}

// Notifications lists the notifications of an incident with their delivery
// status.
func (c *Client) Notifications(ctx context.Context, id string) ([]notify.Notification, error) {
	var out struct {
		Notifications []notify.Notification `json:"notifications"`
	}
	if err := c.call(ctx, http.MethodGet, path("incidents", id, "notifications"), nil, nil, &out); err != nil {
		return nil, err
	}
	return out.Notifications, nil
}

// AcknowledgePage acknowledges page id, one of the caller's.
func (c *Client) AcknowledgePage(ctx context.Context, id int64) (*notify.Notification, error) {
	var out notify.Notification
	if err := c.call(ctx, http.MethodPost, path("notifications", strconv.FormatInt(id, 10), "ack"), nil, nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}
