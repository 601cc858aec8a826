package notify

import (
	"bytes"
	"encoding/json"
	"fmt"
	"html/template"
	"strings"
	"time"
)

// Links are the URLs a notification carries: the incident, and the signed
// link that acknowledges the page ("" when it needs no acknowledgement).
type Links struct {
	Incident string
	Ack      string
}

// Email is a rendered e-mail: a subject, a plain-text body and the same as
// HTML.
type Email struct {
	Subject string
	Text    string
	HTML    string
}

var emailHTML = template.Must(template.New("email").Parse(`<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>{{.Subject}}</title></head>
<body style="font-family: sans-serif; line-height: 1.4">
{{if .Exercise}}<p style="background: #fde68a; padding: 4px 8px"><strong>EXERCISE</strong>: this is a rehearsal, not a real incident.</p>{{end}}
{{if .Escalation}}<p style="background: #fecaca; padding: 4px 8px"><strong>{{.Chain}} was paged about this and has not acknowledged it.</strong> You are next in line: please take it, or reach {{.Chain}}.</p>{{end}}
<h2 style="margin-bottom: 0">{{.Incident}}: {{.Title}}</h2>
<p style="color: #555; margin-top: 4px">severity {{.Severity}} · phase {{.Phase}} · {{.At}} by {{.Actor}}</p>
{{range .Paragraphs}}<p>{{.}}</p>
{{end}}{{if .Ack}}<p><a href="{{.Ack}}" style="display: inline-block; background: #1d4ed8; color: #fff; padding: 8px 16px; text-decoration: none; border-radius: 4px">Acknowledge</a></p>
<p style="color: #555">Or: <code>sitrep page-ack {{.ID}}</code></p>{{end}}
{{if .IncidentURL}}<p><a href="{{.IncidentURL}}">Open {{.Incident}}</a></p>{{end}}
<p style="color: #888; font-size: small">Notification {{.ID}} from sitrep.</p>
</body></html>
`))

// RenderEmail renders notification n as an e-mail.
func RenderEmail(n *Notification, l Links) (Email, error) {
	text := n.Body()
	if l.Ack != "" {
		text += fmt.Sprintf("\nAcknowledge: %s\n(or: sitrep page-ack %d)\n", l.Ack, n.ID)
	}
	if l.Incident != "" {
		text += fmt.Sprintf("\n%s: %s\n", n.Message.Incident, l.Incident)
	}
	text += fmt.Sprintf("\n-- \nNotification %d from sitrep.\n", n.ID)
	var b bytes.Buffer
	err := emailHTML.Execute(&b, map[string]any{
		"Subject": n.Headline(), "Exercise": n.Message.Exercise, "Escalation": n.Step > 0, "Chain": n.Chain,
		"Incident": n.Message.Incident, "Title": n.Message.Title, "Severity": n.Message.Severity, "Phase": n.Message.Phase,
		"At": n.Message.At.UTC().Format("2006-01-02 15:04 MST"), "Actor": n.Message.Actor,
		"Paragraphs": strings.Split(n.Message.Text, "\n"), "Ack": template.URL(l.Ack), "IncidentURL": template.URL(l.Incident), "ID": n.ID,
	})
	if err != nil {
		return Email{}, fmt.Errorf("render e-mail of notification %d: %w", n.ID, err)
	}
	return Email{Subject: n.Headline(), Text: text, HTML: b.String()}, nil
}

// Event is the body of a generic JSON webhook delivery.
type Event struct {
	Type         string        `json:"type"` // always "sitrep.notification"
	ID           int64         `json:"id"`
	Incident     EventIncident `json:"incident"`
	Event        string        `json:"event"`
	Seq          int64         `json:"seq"`
	Recipient    string        `json:"recipient"`
	Subject      string        `json:"subject"`
	Text         string        `json:"text"`
	Actor        string        `json:"actor"`
	At           time.Time     `json:"at"`
	NeedsAck     bool          `json:"needs_ack"`
	AckURL       string        `json:"ack_url,omitempty"`
	Repeat       int           `json:"repeat,omitempty"`
	EscalatedFor string        `json:"escalated_for,omitempty"`
}

// EventIncident is the incident an Event is about.
type EventIncident struct {
	ID       string `json:"id"`
	Title    string `json:"title"`
	Severity int    `json:"severity"`
	Phase    string `json:"phase"`
	Exercise bool   `json:"exercise"`
	URL      string `json:"url,omitempty"`
}

// WebhookBody renders notification n in its webhook's form.
func WebhookBody(n *Notification, l Links) ([]byte, error) {
	var v any
	switch n.Format {
	case FormatSlack:
		v = slackMessage(n, l)
	case FormatTeams:
		v = teamsMessage(n, l)
	case FormatJSON, "":
		ev := Event{
			Type: "sitrep.notification", ID: n.ID, Event: n.Event, Seq: n.Seq, Recipient: n.Recipient,
			Incident: EventIncident{ID: n.Message.Incident, Title: n.Message.Title, Severity: n.Message.Severity, Phase: string(n.Message.Phase), Exercise: n.Message.Exercise, URL: l.Incident},
			Subject:  n.Headline(), Text: n.Body(), Actor: n.Message.Actor, At: n.Message.At, NeedsAck: n.NeedsAck, AckURL: l.Ack, Repeat: n.Round,
		}
		if n.Step > 0 {
			ev.EscalatedFor = n.Chain
		}
		v = ev
	default:
		return nil, fmt.Errorf("webhook format %q is not known", n.Format)
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("render webhook of notification %d: %w", n.ID, err)
	}
	return b, nil
}

// slackEscape escapes the three characters Slack's mrkdwn gives meaning.
var slackEscape = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")

// slackMessage is the body a Slack incoming webhook (and the chat tools
// that copy its form, such as Mattermost and Rocket.Chat) posts: text is the
// message and the fallback of its blocks.
func slackMessage(n *Notification, l Links) map[string]any {
	head := "*" + slackEscape.Replace(n.Headline()) + "*"
	body := slackEscape.Replace(strings.TrimSpace(n.Body()))
	text := head + "\n" + body
	if l.Ack != "" {
		text += fmt.Sprintf("\n<%s|Acknowledge> (or `sitrep page-ack %d`)", l.Ack, n.ID)
	}
	if l.Incident != "" {
		text += fmt.Sprintf("\n<%s|Open %s>", l.Incident, n.Message.Incident)
	}
	blocks := []map[string]any{
		{"type": "section", "text": map[string]any{"type": "mrkdwn", "text": clipRunes(head+"\n"+body, 2900)}},
	}
	var buttons []map[string]any
	if l.Ack != "" {
		buttons = append(buttons, map[string]any{"type": "button", "style": "primary", "text": map[string]any{"type": "plain_text", "text": "Acknowledge"}, "url": l.Ack})
	}
	if l.Incident != "" {
		buttons = append(buttons, map[string]any{"type": "button", "text": map[string]any{"type": "plain_text", "text": "Open " + n.Message.Incident}, "url": l.Incident})
	}
	if len(buttons) > 0 {
		blocks = append(blocks, map[string]any{"type": "actions", "elements": buttons})
	}
	return map[string]any{"text": text, "blocks": blocks}
}

// teamsMessage is the body a Microsoft Teams incoming webhook (a Workflows
// "post to a channel when a webhook request is received" flow) posts: a
// message with one Adaptive Card.
func teamsMessage(n *Notification, l Links) map[string]any {
	body := []map[string]any{
		{"type": "TextBlock", "text": n.Headline(), "weight": "Bolder", "size": "Medium", "wrap": true},
		{"type": "TextBlock", "text": fmt.Sprintf("severity %d · phase %s · by %s", n.Message.Severity, n.Message.Phase, n.Message.Actor), "isSubtle": true, "wrap": true},
	}
	for _, p := range strings.Split(strings.TrimSpace(n.Body()), "\n") {
		if p != "" {
			body = append(body, map[string]any{"type": "TextBlock", "text": p, "wrap": true})
		}
	}
	var actions []map[string]any
	if l.Ack != "" {
		actions = append(actions, map[string]any{"type": "Action.OpenUrl", "title": "Acknowledge", "url": l.Ack})
	}
	if l.Incident != "" {
		actions = append(actions, map[string]any{"type": "Action.OpenUrl", "title": "Open " + n.Message.Incident, "url": l.Incident})
	}
	card := map[string]any{
		"$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
		"type":    "AdaptiveCard", "version": "1.4", "body": body,
	}
	if len(actions) > 0 {
		card["actions"] = actions
	}
	return map[string]any{
		"type": "message",
		"attachments": []map[string]any{{
			"contentType": "application/vnd.microsoft.card.adaptive",
			"content":     card,
		}},
	}
}

func clipRunes(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}
