package api

import (
	_ "embed"
	"net/http"
	"strconv"
	"strings"

	"github.com/sitrep-ir/sitrep"
	"github.com/sitrep-ir/sitrep/intake/webhook"
)

// route is one operation of the API. The table below both registers the
// routes and is checked against the OpenAPI document, so the two cannot
// drift apart.
type route struct {
	method string
	path   string // a ServeMux path pattern, which is also the OpenAPI path
	public bool   // served without a bearer token
	handle handlerFunc
}

func (rt route) pattern() string { return rt.method + " " + rt.path }

// routes is every route the API serves.
var routes = []route{
	{"GET", "/healthz", true, healthz},
	{"GET", "/readyz", true, readyz},
	{"GET", "/metrics", true, metrics},
	{"GET", "/api/v1/openapi.json", true, openAPI},

	{"GET", "/api/v1/me", false, me},
	{"GET", "/api/v1/users", false, listUsers},
	{"POST", "/api/v1/users", false, createUser},
	{"PUT", "/api/v1/users/{name}/password", false, setPassword},
	{"POST", "/api/v1/tokens", false, createToken},
	{"GET", "/api/v1/users/{name}/contacts", false, listContacts},
	{"POST", "/api/v1/users/{name}/contacts", false, addContact},
	{"DELETE", "/api/v1/users/{name}/contacts/{contact}", false, deleteContact},

	{"GET", "/api/v1/incidents", false, listIncidents},
	{"POST", "/api/v1/incidents", false, declare},
	{"GET", "/api/v1/incidents/{id}", false, getIncident},
	{"PATCH", "/api/v1/incidents/{id}", false, change(fromBody[sitrep.Edit])},
	{"POST", "/api/v1/incidents/{id}/checkin", false, change(fromOptionalBody[sitrep.CheckIn])},
	{"POST", "/api/v1/incidents/{id}/checkout", false, change(fromOptionalBody[sitrep.CheckOut])},
	{"POST", "/api/v1/incidents/{id}/ack", false, change(fromOptionalBody[sitrep.Acknowledge])},
	{"POST", "/api/v1/incidents/{id}/accept-command", false, change(fromOptionalBody[sitrep.AcceptCommand])},
	{"POST", "/api/v1/incidents/{id}/members", false, change(fromBody[sitrep.NameMember])},
	{"POST", "/api/v1/incidents/{id}/roles", false, change(fromBody[sitrep.Assign])},
	{"DELETE", "/api/v1/incidents/{id}/roles/{role}", false, change(unassign)},
	{"POST", "/api/v1/incidents/{id}/transfer", false, change(fromBody[sitrep.OfferCommand])},
	{"DELETE", "/api/v1/incidents/{id}/transfer", false, change(withdrawOffer)},
	{"POST", "/api/v1/incidents/{id}/tasks", false, change(fromBody[sitrep.AddTask])},
	{"PATCH", "/api/v1/incidents/{id}/tasks/{task}", false, change(patchTask)},
	{"POST", "/api/v1/incidents/{id}/notes", false, change(fromBody[sitrep.AddNote])},
	{"GET", "/api/v1/incidents/{id}/communications", false, listCommunications},
	{"POST", "/api/v1/incidents/{id}/communications", false, change(fromBody[sitrep.Publish])},
	{"GET", "/api/v1/incidents/{id}/templates", false, listTemplates},
	{"POST", "/api/v1/incidents/{id}/drafts/{draft}/approve", false, change(approveDraft)},
	{"POST", "/api/v1/incidents/{id}/drafts/{draft}/reject", false, change(rejectDraft)},
	{"POST", "/api/v1/incidents/{id}/assets", false, change(fromBody[sitrep.LinkAsset])},
	{"DELETE", "/api/v1/incidents/{id}/assets/{kind}/{name}", false, change(unlinkAsset)},
	{"POST", "/api/v1/incidents/{id}/phase", false, change(fromBody[sitrep.ChangePhase])},
	{"GET", "/api/v1/incidents/{id}/timeline", false, timeline},
	{"GET", "/api/v1/incidents/{id}/verify", false, verify},
	{"GET", "/api/v1/incidents/{id}/report", false, report},
	{"PATCH", "/api/v1/incidents/{id}/report", false, change(fromBody[sitrep.EditReport])},
	{"GET", "/api/v1/incidents/{id}/notifications", false, listNotifications},
	{"POST", "/api/v1/notifications/{id}/ack", false, ackNotification},
	// Signed acknowledgement links: the token is the credential.
	{"GET", "/ack/{token}", true, ackLinkPage},
	{"POST", "/ack/{token}", true, ackLink},

	{"GET", "/api/v1/plans", false, listPlans},
	{"GET", "/api/v1/plans/{name}", false, getPlan},

	{"POST", "/api/v1/exercises", false, startExercise},
	{"GET", "/api/v1/exercises/{id}", false, getExercise},
	{"GET", "/api/v1/exercises/{id}/report", false, exerciseReport},
	{"POST", "/api/v1/exercises/{id}/stop", false, stopExercise},

	{"POST", "/api/v1/sources", false, createSource},
	{"GET", "/api/v1/sources", false, listSources},
	{"DELETE", "/api/v1/sources/{name}", false, deleteSource},
	{"GET", "/api/v1/alerts", false, listAlerts},
	{"GET", "/api/v1/alerts/{alert}", false, getAlert},
	{"POST", "/api/v1/alerts/{alert}/declare", false, declareFromAlert},
	{"POST", "/api/v1/alerts/{alert}/attach", false, attachAlert},
	{"POST", "/api/v1/alerts/{alert}/suppress", false, suppressAlert},

	// The intake: each source's key authenticates its alerts.
	{"POST", "/intake/generic/{key}", true, webhookIntake("generic", webhook.ParseGeneric, http.StatusAccepted)},
	{"POST", "/intake/generic", true, webhookIntake("generic", webhook.ParseGeneric, http.StatusAccepted)},
	{"POST", "/intake/alertmanager/{key}", true, webhookIntake("alertmanager", webhook.ParseAlertmanager, http.StatusOK)},
	{"POST", "/intake/grafana/{key}", true, webhookIntake("grafana", webhook.ParseGrafana, http.StatusOK)},
	{"POST", "/v2/enqueue", true, pagerDutyIntake(webhook.ParsePagerDuty, false)},
	{"POST", "/v2/change/enqueue", true, pagerDutyIntake(webhook.ParsePagerDutyChange, true)},
}

//go:embed openapi.json
var openAPIDocument []byte

// openAPI serves the OpenAPI document of this API.
func openAPI(_ *API, w http.ResponseWriter, _ *http.Request) error {
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(openAPIDocument)
	return nil
}

func user(r *http.Request) *sitrep.User { return UserFromContext(r.Context()) }

func me(_ *API, w http.ResponseWriter, r *http.Request) error {
	return writeJSON(w, http.StatusOK, user(r))
}

func listUsers(a *API, w http.ResponseWriter, r *http.Request) error {
	users, err := a.svc.Users(r.Context(), user(r))
	if err != nil {
		return err
	}
	if users == nil {
		users = []*sitrep.User{}
	}
	return writeJSON(w, http.StatusOK, map[string]any{"users": users})
}

// newUser is the body of POST /api/v1/users.
type newUser struct {
	Name  string         `json:"name"`
	Role  sitrep.OrgRole `json:"role"`
	Email string         `json:"email"`
}

func createUser(a *API, w http.ResponseWriter, r *http.Request) error {
	var in newUser
	if err := a.decodeBody(w, r, &in, bodyRequired); err != nil {
		return err
	}
	u, err := a.svc.CreateUser(r.Context(), user(r), sitrep.User{Name: in.Name, Role: in.Role, Email: in.Email})
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, u)
}

// newToken is the body of POST /api/v1/tokens; both fields may be left out.
type newToken struct {
	User  string `json:"user"`
	Label string `json:"label"`
}

// createdToken answers POST /api/v1/tokens: the only time the secret is shown.
type createdToken struct {
	sitrep.Token
	Secret string `json:"token"`
}

func createToken(a *API, w http.ResponseWriter, r *http.Request) error {
	var in newToken
	if err := a.decodeBody(w, r, &in, bodyOptional); err != nil {
		return err
	}
	t, secret, err := a.svc.CreateToken(r.Context(), user(r), in.User, in.Label)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, createdToken{Token: *t, Secret: secret})
}

func listIncidents(a *API, w http.ResponseWriter, r *http.Request) error {
	all, err := queryBool(r, "all")
	if err != nil {
		return err
	}
	incs, err := a.svc.Incidents(r.Context(), user(r), sitrep.IncidentFilter{Open: !all})
	if err != nil {
		return err
	}
	views := make([]*sitrep.IncidentView, len(incs))
	for i, inc := range incs {
		views[i] = sitrep.View(inc)
	}
	return writeJSON(w, http.StatusOK, map[string]any{"incidents": views})
}

func declare(a *API, w http.ResponseWriter, r *http.Request) error {
	var in sitrep.DeclareInput
	if err := a.decodeBody(w, r, &in, bodyRequired); err != nil {
		return err
	}
	inc, entries, err := a.svc.Declare(r.Context(), user(r), in)
	if err != nil {
		return err
	}
	w.Header().Set("Location", "/api/v1/incidents/"+inc.ID)
	return writeJSON(w, http.StatusCreated, result(inc, entries))
}

func result(inc *sitrep.Incident, entries []sitrep.Entry) sitrep.Result {
	return sitrep.Result{Incident: sitrep.View(inc), Entries: sitrep.ViewEntries(entries)}
}

func getIncident(a *API, w http.ResponseWriter, r *http.Request) error {
	v, err := a.svc.IncidentView(r.Context(), user(r), r.PathValue("id"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, v)
}

// change answers a route that runs one command, read from the request by
// decode, on the incident in the path.
func change(decode func(a *API, w http.ResponseWriter, r *http.Request) (sitrep.Command, error)) handlerFunc {
	return func(a *API, w http.ResponseWriter, r *http.Request) error {
		cmd, err := decode(a, w, r)
		if err != nil {
			return err
		}
		inc, entries, err := a.svc.Do(r.Context(), user(r), r.PathValue("id"), cmd)
		if err != nil {
			return err
		}
		return writeJSON(w, http.StatusOK, result(inc, entries))
	}
}

// fromBody reads command C from the JSON body, which is required.
func fromBody[C sitrep.Command](a *API, w http.ResponseWriter, r *http.Request) (sitrep.Command, error) {
	var c C
	err := a.decodeBody(w, r, &c, bodyRequired)
	return c, err
}

// fromOptionalBody reads command C from the JSON body, which may be empty.
func fromOptionalBody[C sitrep.Command](a *API, w http.ResponseWriter, r *http.Request) (sitrep.Command, error) {
	var c C
	err := a.decodeBody(w, r, &c, bodyOptional)
	return c, err
}

func unassign(_ *API, _ http.ResponseWriter, r *http.Request) (sitrep.Command, error) {
	return sitrep.Unassign{Role: r.PathValue("role")}, nil
}

func withdrawOffer(_ *API, _ http.ResponseWriter, r *http.Request) (sitrep.Command, error) {
	return sitrep.WithdrawOffer{Reason: r.URL.Query().Get("reason")}, nil
}

func unlinkAsset(_ *API, _ http.ResponseWriter, r *http.Request) (sitrep.Command, error) {
	return sitrep.UnlinkAsset{Kind: r.PathValue("kind"), Name: r.PathValue("name"), Reason: r.URL.Query().Get("reason")}, nil
}

// taskPatch is the body of PATCH /api/v1/incidents/{id}/tasks/{task}: either
// a new assignee ("" returns the task to its section) or a new status.
type taskPatch struct {
	Assignee *string `json:"assignee"`
	Status   *string `json:"status"`
	Reason   string  `json:"reason"`
}

func patchTask(a *API, w http.ResponseWriter, r *http.Request) (sitrep.Command, error) {
	s := r.PathValue("task")
	id, err := strconv.Atoi(s)
	if err != nil || id < 1 || strings.HasPrefix(s, "+") {
		return nil, sitrep.Invalid("task", "task %q is not a task number: tasks are numbered 1, 2, 3, …", clip(s, 40))
	}
	var p taskPatch
	if err := a.decodeBody(w, r, &p, bodyRequired); err != nil {
		return nil, err
	}
	switch {
	case p.Assignee != nil && p.Status != nil:
		return nil, sitrep.Invalid("body", "task: give either an assignee or a status, not both")
	case p.Assignee != nil:
		if p.Reason != "" {
			return nil, sitrep.Invalid("reason", "task: a reason goes with a status change, not with an assignee")
		}
		return sitrep.AssignTask{ID: id, Assignee: *p.Assignee}, nil
	case p.Status != nil:
		return sitrep.SetTaskStatus{ID: id, Status: *p.Status, Reason: p.Reason}, nil
	}
	return nil, sitrep.Invalid("body", "task: nothing to change: give an assignee or a status")
}

func listCommunications(a *API, w http.ResponseWriter, r *http.Request) error {
	inc, err := a.svc.Incident(r.Context(), user(r), r.PathValue("id"))
	if err != nil {
		return err
	}
	comms := inc.Communications
	if comms == nil {
		comms = []sitrep.Communication{}
	}
	return writeJSON(w, http.StatusOK, map[string]any{"communications": comms})
}

// Timeline page sizes.
const (
	defaultTimelineLimit = 1000
	maxTimelineLimit     = 10000
)

func timeline(a *API, w http.ResponseWriter, r *http.Request) error {
	after, err := queryInt(r, "after", 0, 0, 1<<53)
	if err != nil {
		return err
	}
	limit, err := queryInt(r, "limit", defaultTimelineLimit, 1, maxTimelineLimit)
	if err != nil {
		return err
	}
	entries, err := a.svc.Timeline(r.Context(), user(r), r.PathValue("id"), after, int(limit))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{"entries": sitrep.ViewEntries(entries)})
}

func verify(a *API, w http.ResponseWriter, r *http.Request) error {
	v, err := a.svc.Verify(r.Context(), user(r), r.PathValue("id"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, v)
}

// report answers the post mortem as JSON, or as Markdown when asked with
// ?format=md or Accept: text/markdown.
func report(a *API, w http.ResponseWriter, r *http.Request) error {
	markdown := false
	switch f := r.URL.Query().Get("format"); f {
	case "md", "markdown":
		markdown = true
	case "json":
	case "":
		markdown = acceptsMarkdown(r.Header.Get("Accept"))
	default:
		return sitrep.Invalid("format", "query parameter format=%q is not valid: json or md", clip(f, 20))
	}
	rep, err := a.svc.Report(r.Context(), user(r), r.PathValue("id"))
	if err != nil {
		return err
	}
	if !markdown {
		return writeJSON(w, http.StatusOK, rep)
	}
	w.Header().Set("Content-Type", "text/markdown; charset=utf-8")
	_, _ = w.Write([]byte(rep.Markdown()))
	return nil
}

// acceptsMarkdown reports whether an Accept header asks for Markdown before
// JSON. Quality values are not weighed: clients of this API name one type.
func acceptsMarkdown(accept string) bool {
	for part := range strings.SplitSeq(accept, ",") {
		media, _, _ := strings.Cut(part, ";")
		switch strings.ToLower(strings.TrimSpace(media)) {
		case "text/markdown":
			return true
		case "application/json", "application/problem+json":
			return false
		}
	}
	return false
}
