package client

import (
	"context"
	"net/http"
	"net/url"
	"strconv"

	"github.com/sitrep-ir/sitrep"
)

// NewSource is an alert source just added, with its key: the only time the
// key is ever shown.
type NewSource struct {
	Source *sitrep.Source `json:"source"`
	// Key authenticates the source's alerts: in the intake URL, or as the
	// routing key of a PagerDuty Events API v2 sender.
	Key string `json:"key"`
	// URL is where to point the sending tool; "" for syslog and email
	// sources, which arrive on the server's own listeners.
	URL string `json:"url,omitempty"`
}

// CreateSource adds an alert source of kind (administrators only); allow,
// when not empty, limits its senders to those network ranges.
func (c *Client) CreateSource(ctx context.Context, name, kind string, allow []string) (*NewSource, error) {
	in := struct {
		Name  string   `json:"name"`
		Kind  string   `json:"kind"`
		Allow []string `json:"allow,omitempty"`
	}{name, kind, allow}
	var s NewSource
	if err := c.call(ctx, http.MethodPost, path("sources"), nil, in, &s); err != nil {
		return nil, err
	}
	return &s, nil
}

// Sources lists the alert sources, ordered by name.
func (c *Client) Sources(ctx context.Context) ([]*sitrep.Source, error) {
	var out struct {
		Sources []*sitrep.Source `json:"sources"`
	}
	if err := c.call(ctx, http.MethodGet, path("sources"), nil, nil, &out); err != nil {
		return nil, err
	}
	return out.Sources, nil
}

// DeleteSource removes an alert source (administrators only); its alerts
// stay.
func (c *Client) DeleteSource(ctx context.Context, name string) error {
	return c.call(ctx, http.MethodDelete, path("sources", name), nil, nil, nil)
}

// Alerts lists alerts, most recently seen first. The triage desk is
// sitrep.AlertFilter{Triage: sitrep.TriagePending}; Limit 0 lets the server
// choose.
func (c *Client) Alerts(ctx context.Context, f sitrep.AlertFilter) ([]*sitrep.Alert, error) {
	q := url.Values{}
	if f.Triage != "" {
		q.Set("triage", f.Triage)
	}
	if f.Open {
		q.Set("open", "true")
	}
	if f.Limit > 0 {
		q.Set("limit", strconv.Itoa(f.Limit))
	}
	if f.IncidentID != "" {
		q.Set("incident", f.IncidentID)
	}
	var out struct {
		Alerts []*sitrep.Alert `json:"alerts"`
	}
	if err := c.call(ctx, http.MethodGet, path("alerts"), q, nil, &out); err != nil {
		return nil, err
	}
	return out.Alerts, nil
}

// Alert returns one alert with its latest raw payloads.
func (c *Client) Alert(ctx context.Context, id int64) (*sitrep.Alert, error) {
	var a sitrep.Alert
	if err := c.call(ctx, http.MethodGet, alertPath(id), nil, nil, &a); err != nil {
		return nil, err
	}
	return &a, nil
}

// DeclareFromAlert declares an incident from a pending alert: the caller
// becomes its Command. Fields of in left empty take the alert's summary as
// the title and its severity.
func (c *Client) DeclareFromAlert(ctx context.Context, id int64, in sitrep.DeclareInput) (*sitrep.Result, error) {
	body := struct {
		Title        string `json:"title,omitempty"`
		Kind         string `json:"kind,omitempty"`
		Severity     int    `json:"severity,omitempty"`
		Confidential bool   `json:"confidential,omitempty"`
		Exercise     bool   `json:"exercise,omitempty"`
	}{in.Title, in.Kind, in.Severity, in.Confidential, in.Exercise}
	return c.result(ctx, http.MethodPost, alertPath(id)+"/declare", nil, body)
}

// AttachAlert attaches an alert to an open incident.
func (c *Client) AttachAlert(ctx context.Context, id int64, incident string) (*sitrep.Result, error) {
	in := struct {
		Incident string `json:"incident"`
	}{incident}
	return c.result(ctx, http.MethodPost, alertPath(id)+"/attach", nil, in)
}

// SuppressAlert takes a pending alert off the triage desk as not mattering
// and returns it.
func (c *Client) SuppressAlert(ctx context.Context, id int64) (*sitrep.Alert, error) {
	var a sitrep.Alert
	if err := c.call(ctx, http.MethodPost, alertPath(id)+"/suppress", nil, nil, &a); err != nil {
		return nil, err
	}
	return &a, nil
}

func alertPath(id int64) string { return path("alerts", strconv.FormatInt(id, 10)) }
