package client

import (
	"context"
	"net/http"
	"net/url"
	"strconv"

	"github.com/sitrep-ir/sitrep"
)

// Me returns the user the client's token belongs to.
func (c *Client) Me(ctx context.Context) (*sitrep.User, error) {
	var u sitrep.User
	if err := c.call(ctx, http.MethodGet, path("me"), nil, nil, &u); err != nil {
		return nil, err
	}
	return &u, nil
}

// Users lists every user, ordered by name.
func (c *Client) Users(ctx context.Context) ([]*sitrep.User, error) {
	var out struct {
		Users []*sitrep.User `json:"users"`
	}
	if err := c.call(ctx, http.MethodGet, path("users"), nil, nil, &out); err != nil {
		return nil, err
	}
	return out.Users, nil
}

// CreateUser adds a user (administrators only). An empty role means
// responder.
func (c *Client) CreateUser(ctx context.Context, name string, role sitrep.OrgRole, email string) (*sitrep.User, error) {
	in := struct {
		Name  string         `json:"name"`
		Role  sitrep.OrgRole `json:"role,omitempty"`
		Email string         `json:"email,omitempty"`
	}{name, role, email}
	var u sitrep.User
	if err := c.call(ctx, http.MethodPost, path("users"), nil, in, &u); err != nil {
		return nil, err
	}
	return &u, nil
}

// NewToken is a token just made, with its secret: the only time the secret
// is ever shown.
type NewToken struct {
	sitrep.Token
	Secret string `json:"token"`
}

// CreateToken makes a token for user ("" for the caller) with a label.
func (c *Client) CreateToken(ctx context.Context, user, label string) (*NewToken, error) {
	in := struct {
		User  string `json:"user,omitempty"`
		Label string `json:"label,omitempty"`
	}{user, label}
	var t NewToken
	if err := c.call(ctx, http.MethodPost, path("tokens"), nil, in, &t); err != nil {
		return nil, err
	}
	return &t, nil
}

// Incidents lists the incidents the caller may see, most recently declared
// first; closed ones only when all is true.
func (c *Client) Incidents(ctx context.Context, all bool) ([]*sitrep.IncidentView, error) {
	var q url.Values
	if all {
		q = url.Values{"all": {"true"}}
	}
	var out struct {
		Incidents []*sitrep.IncidentView `json:"incidents"`
	}
	if err := c.call(ctx, http.MethodGet, path("incidents"), q, nil, &out); err != nil {
		return nil, err
	}
	return out.Incidents, nil
}

// Declare opens an incident; the caller becomes its Command.
func (c *Client) Declare(ctx context.Context, in sitrep.DeclareInput) (*sitrep.Result, error) {
	return c.result(ctx, http.MethodPost, path("incidents"), nil, in)
}

// Incident returns the incident id. ENotFound also when the caller may not
// see it (a confidential incident they are not named on).
func (c *Client) Incident(ctx context.Context, id string) (*sitrep.IncidentView, error) {
	var v sitrep.IncidentView
	if err := c.call(ctx, http.MethodGet, path("incidents", id), nil, nil, &v); err != nil {
		return nil, err
	}
	return &v, nil
}

// Edit changes the incident's title, kind, severity, confidentiality or
// legal hold; nil fields stay as they are.
func (c *Client) Edit(ctx context.Context, id string, e sitrep.Edit) (*sitrep.Result, error) {
	return c.result(ctx, http.MethodPatch, path("incidents", id), nil, e)
}

// CheckIn puts the caller on scene.
func (c *Client) CheckIn(ctx context.Context, id string) (*sitrep.Result, error) {
	return c.result(ctx, http.MethodPost, path("incidents", id, "checkin"), nil, nil)
}

// CheckOut releases user, or the caller when user is "". Command releases
// others.
func (c *Client) CheckOut(ctx context.Context, id, user string) (*sitrep.Result, error) {
	var in any
	if user != "" {
		in = sitrep.CheckOut{User: user}
	}
	return c.result(ctx, http.MethodPost, path("incidents", id, "checkout"), nil, in)
}

// Acknowledge acknowledges the latest transfer of command.
func (c *Client) Acknowledge(ctx context.Context, id string) (*sitrep.Result, error) {
	return c.result(ctx, http.MethodPost, path("incidents", id, "ack"), nil, nil)
}

// AcceptCommand accepts command offered to the caller.
func (c *Client) AcceptCommand(ctx context.Context, id string) (*sitrep.Result, error) {
	return c.result(ctx, http.MethodPost, path("incidents", id, "accept-command"), nil, nil)
}

// NameMember names user on the incident, so that they can see it while it
// is confidential.
func (c *Client) NameMember(ctx context.Context, id, user string) (*sitrep.Result, error) {
	return c.result(ctx, http.MethodPost, path("incidents", id, "members"), nil, sitrep.NameMember{User: user})
}

// Assign delegates role to user.
func (c *Client) Assign(ctx context.Context, id, role, user string) (*sitrep.Result, error) {
	return c.result(ctx, http.MethodPost, path("incidents", id, "roles"), nil, sitrep.Assign{Role: role, User: user})
}

// Unassign returns role to Command.
func (c *Client) Unassign(ctx context.Context, id, role string) (*sitrep.Result, error) {
	return c.result(ctx, http.MethodDelete, path("incidents", id, "roles", role), nil, nil)
}

// OfferCommand offers command to a checked-in person with a briefing.
func (c *Client) OfferCommand(ctx context.Context, id, to, briefing string) (*sitrep.Result, error) {
	return c.result(ctx, http.MethodPost, path("incidents", id, "transfer"), nil, sitrep.OfferCommand{To: to, Briefing: briefing})
}

// WithdrawOffer withdraws the pending offer of command.
func (c *Client) WithdrawOffer(ctx context.Context, id, reason string) (*sitrep.Result, error) {
	var q url.Values
	if reason != "" {
		q = url.Values{"reason": {reason}}
	}
	return c.result(ctx, http.MethodDelete, path("incidents", id, "transfer"), q, nil)
}

// AddTask creates a task in a section.
func (c *Client) AddTask(ctx context.Context, id string, t sitrep.AddTask) (*sitrep.Result, error) {
	return c.result(ctx, http.MethodPost, path("incidents", id, "tasks"), nil, t)
}

// AssignTask gives a task to assignee, or back to its section when assignee
// is "".
func (c *Client) AssignTask(ctx context.Context, id string, task int, assignee string) (*sitrep.Result, error) {
	in := struct {
		Assignee string `json:"assignee"`
	}{assignee}
	return c.result(ctx, http.MethodPatch, path("incidents", id, "tasks", strconv.Itoa(task)), nil, in)
}

// SetTaskStatus marks a task open, done or cancelled.
func (c *Client) SetTaskStatus(ctx context.Context, id string, task int, status, reason string) (*sitrep.Result, error) {
	in := struct {
		Status string `json:"status"`
		Reason string `json:"reason,omitempty"`
	}{status, reason}
	return c.result(ctx, http.MethodPatch, path("incidents", id, "tasks", strconv.Itoa(task)), nil, in)
}

// AddNote adds free text to the timeline.
func (c *Client) AddNote(ctx context.Context, id, text string) (*sitrep.Result, error) {
	return c.result(ctx, http.MethodPost, path("incidents", id, "notes"), nil, sitrep.AddNote{Text: text})
}

// Communications lists what the incident has published, oldest first.
func (c *Client) Communications(ctx context.Context, id string) ([]sitrep.Communication, error) {
	var out struct {
		Communications []sitrep.Communication `json:"communications"`
	}
	if err := c.call(ctx, http.MethodGet, path("incidents", id, "communications"), nil, nil, &out); err != nil {
		return nil, err
	}
	return out.Communications, nil
}

// Publish publishes a communication to an audience.
func (c *Client) Publish(ctx context.Context, id, audience, text string) (*sitrep.Result, error) {
	return c.result(ctx, http.MethodPost, path("incidents", id, "communications"), nil, sitrep.Publish{Audience: audience, Text: text})
}

// LinkAsset links an asset to the incident.
func (c *Client) LinkAsset(ctx context.Context, id, kind, name string) (*sitrep.Result, error) {
	return c.result(ctx, http.MethodPost, path("incidents", id, "assets"), nil, sitrep.LinkAsset{Kind: kind, Name: name})
}

// UnlinkAsset removes an asset linked in error.
func (c *Client) UnlinkAsset(ctx context.Context, id, kind, name, reason string) (*sitrep.Result, error) {
	return c.result(ctx, http.MethodDelete, path("incidents", id, "assets", kind, name), url.Values{"reason": {reason}}, nil)
}

// ChangePhase moves the incident to phase.
func (c *Client) ChangePhase(ctx context.Context, id string, phase sitrep.Phase, reason string) (*sitrep.Result, error) {
	return c.result(ctx, http.MethodPost, path("incidents", id, "phase"), nil, sitrep.ChangePhase{Phase: phase, Reason: reason})
}

// Timeline returns up to limit entries with a sequence number above after;
// limit 0 lets the server choose.
func (c *Client) Timeline(ctx context.Context, id string, after int64, limit int) ([]sitrep.EntryView, error) {
	q := url.Values{}
	if after > 0 {
		q.Set("after", strconv.FormatInt(after, 10))
	}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	var out struct {
		Entries []sitrep.EntryView `json:"entries"`
	}
	if err := c.call(ctx, http.MethodGet, path("incidents", id, "timeline"), q, nil, &out); err != nil {
		return nil, err
	}
	return out.Entries, nil
}

// Verify checks the incident's hash chain and state on the server.
func (c *Client) Verify(ctx context.Context, id string) (*sitrep.Verification, error) {
	var v sitrep.Verification
	if err := c.call(ctx, http.MethodGet, path("incidents", id, "verify"), nil, nil, &v); err != nil {
		return nil, err
	}
	return &v, nil
}

// Report returns the post mortem as it stands.
func (c *Client) Report(ctx context.Context, id string) (*sitrep.Report, error) {
	var r sitrep.Report
	if err := c.call(ctx, http.MethodGet, path("incidents", id, "report"), nil, nil, &r); err != nil {
		return nil, err
	}
	return &r, nil
}

// ReportMarkdown returns the post mortem rendered by the server as Markdown.
func (c *Client) ReportMarkdown(ctx context.Context, id string) (string, error) {
	body, err := c.send(ctx, http.MethodGet, path("incidents", id, "report"), url.Values{"format": {"md"}}, nil, "text/markdown")
	if err != nil {
		return "", err
	}
	return string(body), nil
}

// EditReport sets fields of the post mortem; nil fields stay as they are.
func (c *Client) EditReport(ctx context.Context, id string, r sitrep.EditReport) (*sitrep.Result, error) {
	return c.result(ctx, http.MethodPatch, path("incidents", id, "report"), nil, r)
}

// result runs a change of an incident and returns its Result.
func (c *Client) result(ctx context.Context, method, p string, q url.Values, in any) (*sitrep.Result, error) {
	var r sitrep.Result
	if err := c.call(ctx, method, p, q, in, &r); err != nil {
		return nil, err
	}
	return &r, nil
}
