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
// task forms ("" for the others). The values are checked by the command
// itself, as for the API.
func command(action, task string, f url.Values) (sitrep.Command, error) {
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
