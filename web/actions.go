package web

import (
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/sitrep-ir/sitrep"
)

// readForm reads a posted form of at most maxForm bytes.
func readForm(w http.ResponseWriter, r *http.Request) (url.Values, error) {
	r.Body = http.MaxBytesReader(w, r.Body, maxForm)
	if err := r.ParseForm(); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return nil, sitrep.Invalid("form", "the form is larger than %d KiB: shorten the text", maxForm>>10)
		}
		return nil, sitrep.Invalid("form", "the form could not be read")
	}
	return r.PostForm, nil
}

// command turns a form of the incident page into the command it asks for.
// action is the last part of the form's path; task the task number of the
// task forms and draft the draft number of the drafts' forms ("" for the
// others). The values are checked by the command itself, as for the API.
func command(action, task, draft string, f url.Values) (sitrep.Command, error) {
	if draft != "" {
		id, err := strconv.Atoi(draft)
		if err != nil || id < 1 || strings.HasPrefix(draft, "+") {
			return nil, sitrep.Invalid("draft", "draft %q is not a draft number", clip(draft, 20))
		}
		switch action {
		case "approve":
			return sitrep.ApproveDraft{Draft: id}, nil
		case "reject":
			return sitrep.RejectDraft{Draft: id, Reason: f.Get("reason")}, nil
		}
		return nil, sitrep.Errorf(sitrep.ENotFound, "a draft has no action %q", clip(action, 20))
	}
	if task != "" {
		id, err := strconv.Atoi(task)
		if err != nil || id < 1 || strings.HasPrefix(task, "+") {
			return nil, sitrep.Invalid("task", "task %q is not a task number", clip(task, 20))
		}
		switch action {
		case "status":
			return sitrep.SetTaskStatus{ID: id, Status: f.Get("status"), Reason: f.Get("reason")}, nil
		case "assign":
			return sitrep.AssignTask{ID: id, Assignee: f.Get("assignee")}, nil
		}
		return nil, sitrep.Errorf(sitrep.ENotFound, "a task has no action %q", clip(action, 20))
	}
	switch action {
	case "checkin":
		return sitrep.CheckIn{}, nil
	case "checkout":
		return sitrep.CheckOut{User: f.Get("user")}, nil
	case "note":
		return sitrep.AddNote{Text: f.Get("text")}, nil
	case "assign":
		return sitrep.Assign{Role: f.Get("role"), User: f.Get("user")}, nil
	case "unassign":
		return sitrep.Unassign{Role: f.Get("role")}, nil
	case "invite":
		return sitrep.NameMember{User: f.Get("user")}, nil
	case "transfer":
		return sitrep.OfferCommand{To: f.Get("to"), Briefing: f.Get("briefing")}, nil
	case "withdraw":
		return sitrep.WithdrawOffer{Reason: f.Get("reason")}, nil
	case "accept":
		return sitrep.AcceptCommand{}, nil
	case "ack":
		return sitrep.Acknowledge{}, nil
	case "tasks":
		return sitrep.AddTask{Section: f.Get("section"), Title: f.Get("title"), Assignee: f.Get("assignee")}, nil
	case "publish":
		return sitrep.Publish{Audience: f.Get("audience"), Text: f.Get("text")}, nil
	case "phase":
		return sitrep.ChangePhase{Phase: sitrep.Phase(f.Get("phase")), Reason: f.Get("reason")}, nil
	case "severity":
		sev, err := strconv.Atoi(f.Get("severity"))
		if err != nil {
			return nil, sitrep.Invalid("severity", "severity %q is not a number from 1 (worst) to 4", clip(f.Get("severity"), 20))
		}
		return sitrep.Edit{Severity: &sev, Reason: f.Get("reason")}, nil
	}
	return nil, sitrep.Errorf(sitrep.ENotFound, "an incident has no action %q", clip(action, 20))
}

// maxFollowUps bounds the follow-up rows of the report form, as the domain
// does.
const maxFollowUps = 100

// reportEdit reads the report form: every field it shows, so that what
// the person cleared is cleared. Follow-up rows left empty are dropped; a
// row with an action and no owner is kept, for the domain to refuse in its
// words. "accept" (the button that takes the narrative drafted from the
// timeline) asks for the draft instead of the typed narrative. The
// returned command is filled in even with an error, so that the form can
// show again what was typed.
func reportEdit(f url.Values) (sitrep.EditReport, error) {
	if f.Get("accept") != "" {
		return sitrep.EditReport{AcceptDraft: true}, nil
	}
	narrative, worked, improve := f.Get("narrative"), f.Get("what_worked"), f.Get("needs_improvement")
	actions, owners := f["fu_action"], f["fu_owner"]
	if len(actions) != len(owners) {
		return sitrep.EditReport{}, sitrep.Invalid("follow_ups", "the follow-up actions and their owners do not pair up: reload the page and try again")
	}
	if len(actions) > maxFollowUps+10 {
		return sitrep.EditReport{}, sitrep.Invalid("follow_ups", "%d follow-up rows; the limit is %d", len(actions), maxFollowUps)
	}
	fus, missing := []sitrep.FollowUp{}, ""
	for i := range actions {
		a, o := strings.TrimSpace(actions[i]), strings.TrimSpace(owners[i])
		if a == "" && o == "" {
			continue
		}
		if o == "" && missing == "" {
			// Said here: the service checks the names of people before
			// the report's rules, and would only say "" is no name.
			missing = a
		}
		fus = append(fus, sitrep.FollowUp{Action: a, Owner: o})
	}
	cmd := sitrep.EditReport{Narrative: &narrative, WhatWorked: &worked, NeedsImprovement: &improve, FollowUps: &fus}
	if missing != "" {
		return cmd, sitrep.Invalid("follow_ups", "follow-up %q has no owner: every follow-up action needs one", clip(missing, 60))
	}
	return cmd, nil
}

// declareInput reads the declare form (also the triage desk's).
func declareInput(f url.Values) (sitrep.DeclareInput, error) {
	in := sitrep.DeclareInput{
		Title:        strings.TrimSpace(f.Get("title")),
		Kind:         strings.TrimSpace(f.Get("kind")),
		Confidential: f.Get("confidential") != "",
		Exercise:     f.Get("exercise") != "",
	}
	if s := f.Get("severity"); s != "" {
		sev, err := strconv.Atoi(s)
		if err != nil {
			return in, sitrep.Invalid("severity", "severity %q is not a number from 1 (worst) to 4", clip(s, 20))
		}
		in.Severity = sev
	}
	return in, nil
}
