package api

import (
	"context"
	"html/template"
	"net/http"
	"strconv"
	"strings"

	"github.com/sitrep-ir/sitrep"
	"github.com/sitrep-ir/sitrep/notify"
)

// Notifier is the notification service the API serves: contact methods,
// the notifications of an incident with their delivery status, and the
// acknowledgement of pages.
type Notifier interface {
	AddContact(ctx context.Context, actor *sitrep.User, user string, in notify.ContactInput) (*notify.Contact, string, error)
	Contacts(ctx context.Context, actor *sitrep.User, user string) ([]notify.Contact, error)
	DeleteContact(ctx context.Context, actor *sitrep.User, user string, id int64) error
	IncidentNotifications(ctx context.Context, actor *sitrep.User, incidentID string) ([]notify.Notification, error)
	Acknowledge(ctx context.Context, actor *sitrep.User, id int64) (*notify.Notification, error)
	CheckLink(ctx context.Context, token string) (*notify.Notification, error)
	AcknowledgeLink(ctx context.Context, token string) (*notify.Notification, error)
}

func (a *API) notifier() (Notifier, error) {
	if a.notify == nil {
		return nil, sitrep.Errorf(sitrep.ENotFound, "notifications are not enabled on this server")
	}
	return a.notify, nil
}

// createdContact answers POST /api/v1/users/{name}/contacts: the only time
// a webhook's signing secret is shown.
type createdContact struct {
	notify.Contact
	Secret string `json:"secret,omitempty"`
}

func addContact(a *API, w http.ResponseWriter, r *http.Request) error {
	n, err := a.notifier()
	if err != nil {
		return err
	}
	var in notify.ContactInput
	if err := a.decodeBody(w, r, &in, bodyRequired); err != nil {
		return err
	}
	c, secret, err := n.AddContact(r.Context(), user(r), r.PathValue("name"), in)
	if err != nil {
		return err
	}
	// The whole address once, to whoever just gave it.
	return writeJSON(w, http.StatusCreated, createdContact{Contact: *c, Secret: secret})
}

func listContacts(a *API, w http.ResponseWriter, r *http.Request) error {
	n, err := a.notifier()
	if err != nil {
		return err
	}
	cs, err := n.Contacts(r.Context(), user(r), r.PathValue("name"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{"contacts": cs})
}

func deleteContact(a *API, w http.ResponseWriter, r *http.Request) error {
	n, err := a.notifier()
	if err != nil {
		return err
	}
	id, err := pathID(r, "contact", "contact")
	if err != nil {
		return err
	}
	if err := n.DeleteContact(r.Context(), user(r), r.PathValue("name"), id); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func listNotifications(a *API, w http.ResponseWriter, r *http.Request) error {
	n, err := a.notifier()
	if err != nil {
		return err
	}
	ns, err := n.IncidentNotifications(r.Context(), user(r), r.PathValue("id"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{"notifications": ns})
}

func ackNotification(a *API, w http.ResponseWriter, r *http.Request) error {
	n, err := a.notifier()
	if err != nil {
		return err
	}
	id, err := pathID(r, "id", "notification")
	if err != nil {
		return err
	}
	no, err := n.Acknowledge(r.Context(), user(r), id)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, no)
}

// pathID parses a positive number in the path.
func pathID(r *http.Request, name, what string) (int64, error) {
	s := r.PathValue(name)
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil || id < 1 || strings.HasPrefix(s, "+") {
		return 0, sitrep.Invalid(name, "%q is not a %s number: they are numbered 1, 2, 3, …", clip(s, 40), what)
	}
	return id, nil
}

var ackPage = template.Must(template.New("ack").Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer"><title>{{.Title}} · sitrep</title>
<style>body{font-family:sans-serif;max-width:36em;margin:2em auto;padding:0 1em;line-height:1.4}
button{font-size:1.1em;padding:.5em 1.2em;background:#1d4ed8;color:#fff;border:0;border-radius:4px}
.muted{color:#555}</style></head><body>
<h1>{{.Title}}</h1>
{{if .N}}<p><strong>{{.N.Headline}}</strong></p>
<p class="muted">Notification {{.N.ID}} to {{.N.Recipient}} · {{.N.Message.Incident}}</p>{{end}}
<p>{{.Text}}</p>
{{if .Form}}<form method="post"><button type="submit">Acknowledge</button></form>{{end}}
</body></html>
`))

type ackView struct {
	Title string
	N     *notify.Notification
	Text  string
	Form  bool
}

func writeAckPage(w http.ResponseWriter, status int, v ackView) error {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'")
	w.Header().Set("Referrer-Policy", "no-referrer")
	w.WriteHeader(status)
	return ackPage.Execute(w, v)
}

// ackLinkPage answers GET /ack/{token}: the page behind the link in a
// message. It acknowledges nothing by itself: mail scanners and link
// previews fetch links, and must not answer a page for the person. The
// button posts the form to the same URL.
func ackLinkPage(a *API, w http.ResponseWriter, r *http.Request) error {
	n, err := a.notifier()
	if err != nil {
		return err
	}
	no, err := n.CheckLink(r.Context(), r.PathValue("token"))
	if err != nil {
		return ackError(a, w, r, err)
	}
	if no.AckedAt != nil {
		return writeAckPage(w, http.StatusOK, ackView{Title: "Already acknowledged", N: no, Text: "This page was acknowledged by " + no.AckedBy + " at " + no.AckedAt.UTC().Format("2006-01-02 15:04 MST") + "."})
	}
	return writeAckPage(w, http.StatusOK, ackView{Title: "Acknowledge this page?", N: no, Text: "Acknowledging tells sitrep you have it: the page stops repeating and is not escalated to the next person.", Form: true})
}

// ackLink answers POST /ack/{token}: it acknowledges the page as its
// recipient.
func ackLink(a *API, w http.ResponseWriter, r *http.Request) error {
	n, err := a.notifier()
	if err != nil {
		return err
	}
	no, err := n.AcknowledgeLink(r.Context(), r.PathValue("token"))
	if err != nil {
		return ackError(a, w, r, err)
	}
	return writeAckPage(w, http.StatusOK, ackView{Title: "Acknowledged", N: no, Text: "Thank you: " + no.AckedBy + " acknowledged this page. It will not be repeated or escalated."})
}

func ackError(a *API, w http.ResponseWriter, r *http.Request, err error) error {
	p := problemOf(err)
	if p.Status >= 500 {
		a.log.Error("request failed", "method", r.Method, "route", "/ack/{token}", "err", err)
	}
	return writeAckPage(w, p.Status, ackView{Title: "This link does not work", Text: sitrep.ErrorMessage(err)})
}
