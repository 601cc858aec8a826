package api

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/sitrep-ir/sitrep"
)

// The triage desk: alert sources, the alerts they send, and the
// dispatcher's decisions on them (declare, attach, suppress).

// newSource is the body of POST /api/v1/sources.
type newSource struct {
	Name  string   `json:"name"`
	Kind  string   `json:"kind"`
	Allow []string `json:"allow"`
}

// createdSource answers POST /api/v1/sources: the only time the key is
// shown. URL is where to point the sending tool; empty for the kinds that
// do not arrive over HTTP (syslog, email).
type createdSource struct {
	Source *sitrep.Source `json:"source"`
	Key    string         `json:"key"`
	URL    string         `json:"url,omitempty"`
}

// maxAllow bounds the network ranges of one source: a list longer than
// this is a mistake, and every intake request walks it.
const maxAllow = 64

func createSource(a *API, w http.ResponseWriter, r *http.Request) error {
	var in newSource
	if err := a.decodeBody(w, r, &in, bodyRequired); err != nil {
		return err
	}
	if len(in.Allow) > maxAllow {
		return sitrep.Invalid("allow", "allow: %d network ranges, more than the limit of %d", len(in.Allow), maxAllow)
	}
	src, key, err := a.svc.CreateSource(r.Context(), user(r), sitrep.Source{Name: in.Name, Kind: in.Kind, Allow: in.Allow})
	if err != nil {
		return err
	}
	a.sourcesChanged(r.Context())
	w.Header().Set("Location", "/api/v1/sources/"+url.PathEscape(src.Name))
	return writeJSON(w, http.StatusCreated, createdSource{Source: src, Key: key, URL: intakeURL(a.baseURL(r), src.Kind, key)})
}

// intakeURL returns the URL a tool of kind sends its alerts to. PagerDuty
// senders carry the key in the body (routing_key), so their URL has none.
func intakeURL(base, kind, key string) string {
	switch kind {
	case "generic", "alertmanager", "grafana":
		return base + "/intake/" + kind + "/" + url.PathEscape(key)
	case "pagerduty":
		return base + "/v2/enqueue"
	}
	return ""
}

// baseURL returns the URL senders reach this server at: Config.PublicURL,
// else the scheme and Host of the request, which is right when the admin
// talks to the server the way the tools will.
func (a *API) baseURL(r *http.Request) string {
	if a.publicURL != "" {
		return a.publicURL
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

func listSources(a *API, w http.ResponseWriter, r *http.Request) error {
	srcs, err := a.svc.Sources(r.Context(), user(r))
	if err != nil {
		return err
	}
	if srcs == nil {
		srcs = []*sitrep.Source{}
	}
	return writeJSON(w, http.StatusOK, map[string]any{"sources": srcs})
}

func deleteSource(a *API, w http.ResponseWriter, r *http.Request) error {
	if err := a.svc.DeleteSource(r.Context(), user(r), r.PathValue("name")); err != nil {
		return err
	}
	a.sources.forget()
	a.sourcesChanged(r.Context())
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// Alert listing page sizes.
const (
	defaultAlertLimit = 500
	maxAlertLimit     = 5000
)

func listAlerts(a *API, w http.ResponseWriter, r *http.Request) error {
	open, err := queryBool(r, "open")
	if err != nil {
		return err
	}
	limit, err := queryInt(r, "limit", defaultAlertLimit, 1, maxAlertLimit)
	if err != nil {
		return err
	}
	f := sitrep.AlertFilter{Triage: r.URL.Query().Get("triage"), Open: open, Limit: int(limit), IncidentID: r.URL.Query().Get("incident")}
	if f.IncidentID != "" {
		if err := sitrep.ValidateID(f.IncidentID); err != nil {
			return err
		}
	}
	alerts, err := a.svc.Alerts(r.Context(), user(r), f)
	if err != nil {
		return err
	}
	if alerts == nil {
		alerts = []*sitrep.Alert{}
	}
	for _, al := range alerts {
		tidyAlert(al)
	}
	return writeJSON(w, http.StatusOK, map[string]any{"alerts": alerts})
}

// tidyAlert gives an alert's labels as an object even when it has none, as
// the document promises.
func tidyAlert(al *sitrep.Alert) *sitrep.Alert {
	if al.Labels == nil {
		al.Labels = map[string]string{}
	}
	return al
}

// alertID parses the alert number in the path.
func alertID(r *http.Request) (int64, error) {
	s := r.PathValue("alert")
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil || id < 1 || strings.HasPrefix(s, "+") {
		return 0, sitrep.Invalid("alert", "alert %q is not an alert number: alerts are numbered 1, 2, 3, …", clip(s, 40))
	}
	return id, nil
}

// findAlert returns one alert to a signed-in caller.
//
// The service has no single-alert read, so this reads the alert store the
// service runs on; what may be read is the same as for the listing: every
// signed-in user sees the triage desk.
func (a *API) findAlert(r *http.Request, id int64) (*sitrep.Alert, error) {
	if user(r) == nil {
		return nil, sitrep.Errorf(sitrep.EUnauthorized, "sign in first")
	}
	as, ok := a.svc.Store.(sitrep.AlertStore)
	if !ok {
		return nil, &sitrep.Error{Kind: sitrep.EInternal, Message: "this store keeps no alerts"}
	}
	al, err := as.Alert(r.Context(), id)
	if err != nil {
		return nil, err
	}
	return tidyAlert(al), nil
}

func getAlert(a *API, w http.ResponseWriter, r *http.Request) error {
	id, err := alertID(r)
	if err != nil {
		return err
	}
	al, err := a.findAlert(r, id)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, al)
}

// declareFromAlert declares an incident from an alert on the desk: the
// caller is its Command. The body (a DeclareInput) may be left out: the
// title and severity default to the alert's.
func declareFromAlert(a *API, w http.ResponseWriter, r *http.Request) error {
	id, err := alertID(r)
	if err != nil {
		return err
	}
	var in sitrep.DeclareInput
	if err := a.decodeBody(w, r, &in, bodyOptional); err != nil {
		return err
	}
	inc, entries, err := a.svc.DeclareFromAlert(r.Context(), user(r), id, in)
	if err != nil {
		return err
	}
	w.Header().Set("Location", "/api/v1/incidents/"+inc.ID)
	return writeJSON(w, http.StatusCreated, result(inc, entries))
}

// attachTo is the body of POST /api/v1/alerts/{alert}/attach.
type attachTo struct {
	Incident string `json:"incident"`
}

func attachAlert(a *API, w http.ResponseWriter, r *http.Request) error {
	id, err := alertID(r)
	if err != nil {
		return err
	}
	var in attachTo
	if err := a.decodeBody(w, r, &in, bodyRequired); err != nil {
		return err
	}
	if in.Incident == "" {
		return sitrep.Invalid("incident", "attach: give the incident to attach the alert to, such as IR-2026-0001")
	}
	inc, entries, err := a.svc.AttachAlertTo(r.Context(), user(r), id, in.Incident)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, result(inc, entries))
}

func suppressAlert(a *API, w http.ResponseWriter, r *http.Request) error {
	id, err := alertID(r)
	if err != nil {
		return err
	}
	var in struct{}
	if err := a.decodeBody(w, r, &in, bodyOptional); err != nil {
		return err
	}
	if err := a.svc.SuppressAlert(r.Context(), user(r), id); err != nil {
		return err
	}
	al, err := a.findAlert(r, id)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, al)
}
