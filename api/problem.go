package api

import (
	"encoding/json"
	"net/http"

	"github.com/sitrep-ir/sitrep"
)

// Kinds of error the API itself answers with, beside the domain's kinds.
// Their string values are stable: they end the problem type URNs.
const (
	kindPayloadTooLarge  sitrep.Kind = "payload-too-large"
	kindUnsupportedMedia sitrep.Kind = "unsupported-media-type"
	kindMethodNotAllowed sitrep.Kind = "method-not-allowed"
	kindUnavailable      sitrep.Kind = "unavailable"
)

// ProblemTypePrefix starts the type of every problem the API answers with;
// the error kind follows it: urn:sitrep:problem:not-found.
const ProblemTypePrefix = "urn:sitrep:problem:"

// Problem is an RFC 9457 problem detail, the body of every error answer
// (Content-Type application/problem+json).
type Problem struct {
	// Type is ProblemTypePrefix followed by the error kind.
	Type string `json:"type"`
	// Title is a short summary of the kind, the same for every problem of it.
	Title string `json:"title"`
	// Status repeats the HTTP status.
	Status int `json:"status"`
	// Detail says what went wrong for this request, in words safe to show:
	// for internal errors it is always "internal error".
	Detail string `json:"detail"`
	// Field names the input that is wrong, if one is.
	Field string `json:"field,omitempty"`
	// Rule names the ICS rule that refused the request, if one did.
	Rule string `json:"rule,omitempty"`
}

// problemKinds maps every error kind to its HTTP status and title. This is the
// one place where error kinds become HTTP statuses.
var problemKinds = map[sitrep.Kind]struct {
	status int
	title  string
}{
	sitrep.EInvalid:      {http.StatusBadRequest, "Invalid request"},
	sitrep.ENotFound:     {http.StatusNotFound, "Not found"},
	sitrep.EConflict:     {http.StatusConflict, "Conflict with the current state"},
	sitrep.EForbidden:    {http.StatusForbidden, "Forbidden"},
	sitrep.EUnauthorized: {http.StatusUnauthorized, "Unauthorized"},
	sitrep.EInternal:     {http.StatusInternalServerError, "Internal server error"},
	kindPayloadTooLarge:  {http.StatusRequestEntityTooLarge, "Payload too large"},
	kindUnsupportedMedia: {http.StatusUnsupportedMediaType, "Unsupported media type"},
	kindMethodNotAllowed: {http.StatusMethodNotAllowed, "Method not allowed"},
	kindUnavailable:      {http.StatusServiceUnavailable, "Service unavailable"},
}

// problemOf returns the problem that answers err. Errors without a kind, and
// kinds unknown here, are internal: their text stays in the log.
func problemOf(err error) Problem {
	kind := sitrep.ErrorKind(err)
	k, ok := problemKinds[kind]
	if !ok {
		kind = sitrep.EInternal
		k = problemKinds[kind]
	}
	p := Problem{Type: ProblemTypePrefix + string(kind), Title: k.title, Status: k.status, Detail: "internal error"}
	if kind == sitrep.EInternal {
		return p
	}
	p.Detail = k.title
	if e := sitrep.AsError(err); e != nil {
		if e.Message != "" {
			p.Detail = e.Message
		}
		p.Field, p.Rule = e.Field, e.Rule
	}
	return p
}

// writeProblem answers with p. 401s say how to authenticate (RFC 6750).
func writeProblem(w http.ResponseWriter, p Problem) {
	h := w.Header()
	h.Del("Content-Length")
	h.Set("Content-Type", "application/problem+json")
	if p.Status == http.StatusUnauthorized && h.Get("WWW-Authenticate") == "" {
		h.Set("WWW-Authenticate", `Bearer realm="sitrep"`)
	}
	w.WriteHeader(p.Status)
	// The client may be gone; there is no one left to tell.
	_ = json.NewEncoder(w).Encode(p)
}

// writeJSON answers with v as JSON.
func writeJSON(w http.ResponseWriter, status int, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
	return nil
}
