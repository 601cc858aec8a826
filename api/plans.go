package api

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/sitrep-ir/sitrep"
)

// The pre-incident plans in force, the templates they offer an incident, and
// Command's decisions on the drafts that wait for authorisation.

func listPlans(a *API, w http.ResponseWriter, r *http.Request) error {
	l, err := a.svc.PlanList(r.Context(), user(r))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, l)
}

func getPlan(a *API, w http.ResponseWriter, r *http.Request) error {
	doc, err := a.svc.PlanDocument(r.Context(), user(r), r.PathValue("name"))
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(append(doc, '\n'))
	return nil
}

func listTemplates(a *API, w http.ResponseWriter, r *http.Request) error {
	ts, err := a.svc.Templates(r.Context(), user(r), r.PathValue("id"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{"templates": ts})
}

// draftNumber reads the {draft} of the path: drafts are numbered 1, 2, 3…
func draftNumber(r *http.Request) (int, error) {
	s := r.PathValue("draft")
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || strings.HasPrefix(s, "+") {
		return 0, sitrep.Invalid("draft", "draft %q is not a draft number: drafts are numbered 1, 2, 3, …", clip(s, 40))
	}
	return n, nil
}

func approveDraft(_ *API, _ http.ResponseWriter, r *http.Request) (sitrep.Command, error) {
	n, err := draftNumber(r)
	if err != nil {
		return nil, err
	}
	return sitrep.ApproveDraft{Draft: n}, nil
}

// rejection is the body of POST /api/v1/incidents/{id}/drafts/{draft}/reject.
type rejection struct {
	Reason string `json:"reason"`
}

func rejectDraft(a *API, w http.ResponseWriter, r *http.Request) (sitrep.Command, error) {
	n, err := draftNumber(r)
	if err != nil {
		return nil, err
	}
	var in rejection
	if err := a.decodeBody(w, r, &in, bodyRequired); err != nil {
		return nil, err
	}
	return sitrep.RejectDraft{Draft: n, Reason: in.Reason}, nil
}
