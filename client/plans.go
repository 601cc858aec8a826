package client

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"

	"github.com/sitrep-ir/sitrep"
)

// Plans lists the pre-incident plans in force, with the problems of the
// server's latest reload of its plans directory when it failed.
func (c *Client) Plans(ctx context.Context) (*sitrep.PlanList, error) {
	var out sitrep.PlanList
	if err := c.call(ctx, http.MethodGet, path("plans"), nil, nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Plan returns the plan named name in full, as the server sends it: JSON of
// the plans' own format (the plan package's Plan).
func (c *Client) Plan(ctx context.Context, name string) (json.RawMessage, error) {
	var out json.RawMessage
	if err := c.call(ctx, http.MethodGet, path("plans", name), nil, nil, &out); err != nil {
		return nil, err
	}
	return out, nil
}

// Templates returns the communication templates of an incident's plan,
// filled in from the incident as it stands.
func (c *Client) Templates(ctx context.Context, id string) ([]sitrep.Template, error) {
	var out struct {
		Templates []sitrep.Template `json:"templates"`
	}
	if err := c.call(ctx, http.MethodGet, path("incidents", id, "templates"), nil, nil, &out); err != nil {
		return nil, err
	}
	return out.Templates, nil
}

// PublishTemplate publishes the plan's template named template, filled in
// by the server, to audience ("" for the template's own).
func (c *Client) PublishTemplate(ctx context.Context, id, audience, template string) (*sitrep.Result, error) {
	return c.result(ctx, http.MethodPost, path("incidents", id, "communications"), nil, sitrep.Publish{Audience: audience, Template: template})
}

// ApproveDraft publishes draft n on Command's authority.
func (c *Client) ApproveDraft(ctx context.Context, id string, n int) (*sitrep.Result, error) {
	return c.result(ctx, http.MethodPost, path("incidents", id, "drafts", strconv.Itoa(n), "approve"), nil, nil)
}

// RejectDraft turns draft n down with a reason.
func (c *Client) RejectDraft(ctx context.Context, id string, n int, reason string) (*sitrep.Result, error) {
	in := struct {
		Reason string `json:"reason"`
	}{reason}
	return c.result(ctx, http.MethodPost, path("incidents", id, "drafts", strconv.Itoa(n), "reject"), nil, in)
}
