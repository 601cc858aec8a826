package webhook

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/sitrep-ir/sitrep"
)

// groupPayload is what Prometheus Alertmanager's webhook receiver sends
// (version "4") and, with a few more fields, Grafana's webhook contact point
// (version "1"). Only what sitrep uses is named here; the rest (receiver,
// commonLabels, notification_reason, routeLabels, title, message, …) is
// ignored, so that older and newer senders are both accepted.
type groupPayload struct {
	Version  string            `json:"version"`
	GroupKey string            `json:"groupKey"`
	Status   string            `json:"status"`
	Receiver string            `json:"receiver"`
	OrgID    json.RawMessage   `json:"orgId"`
	Alerts   []json.RawMessage `json:"alerts"`
}

// groupAlert is one alert of a group.
type groupAlert struct {
	Status      string          `json:"status"`
	Labels      json.RawMessage `json:"labels"`
	Annotations json.RawMessage `json:"annotations"`
	StartsAt    string          `json:"startsAt"`
	EndsAt      string          `json:"endsAt"`
	Fingerprint string          `json:"fingerprint"`
}

// ParseAlertmanager parses a Prometheus Alertmanager webhook notification
// into one event per alert of the group: a firing alert is a trigger, a
// resolved one a resolve (a group whose status is "firing" may hold resolved
// alerts: each alert's own status counts). The dedup key is the alert's
// fingerprint (a hash of its labels, so the same alert in any group is one
// alert), or one derived from its labels when the sender left it out; the
// summary is annotations.summary, else annotations.description, else
// labels.alertname; the severity comes from labels.severity; the labels are
// the alert's own plus alertmanager_group_key. Payloads with and without the
// newer notification_reason and routeLabels fields are accepted alike.
func ParseAlertmanager(body []byte) ([]sitrep.AlertEvent, error) {
	return parseGroup(body, "alertmanager_group_key", nil)
}

// ParseGrafana parses a Grafana alerting webhook contact point notification
// the way ParseAlertmanager does an Alertmanager one (Grafana's format extends
// it). The labels carry grafana_group_key and grafana_org_id instead of
// alertmanager_group_key; Grafana's values, valueString, silenceURL and the
// deprecated title, state and message stay in the event's Raw.
func ParseGrafana(body []byte) ([]sitrep.AlertEvent, error) {
	return parseGroup(body, "grafana_group_key", func(p *groupPayload, labels map[string]string) {
		if org, ok, err := labelValue(p.OrgID); ok && err == nil && org != "" {
			labels["grafana_org_id"] = org
		}
	})
}

// parseGroup parses an Alertmanager-shaped group. groupKeyLabel names the
// label that carries the group key; extra adds labels of the sender's own.
func parseGroup(body []byte, groupKeyLabel string, extra func(*groupPayload, map[string]string)) ([]sitrep.AlertEvent, error) {
	switch firstByte(body) {
	case '{':
	case 0:
		return nil, invalid("", "the body is empty: send the webhook's JSON object")
	default:
		if !json.Valid(body) {
			var v any
			return nil, jsonError("", json.Unmarshal(body, &v))
		}
		return nil, invalid("", "the body must be a JSON object with an alerts array")
	}
	var p groupPayload
	if err := json.Unmarshal(body, &p); err != nil {
		return nil, jsonError("", err)
	}
	if p.Alerts == nil {
		return nil, invalid("alerts", "missing: the payload has no alerts array")
	}
	if len(p.Alerts) == 0 {
		return nil, invalid("alerts", "the payload's alerts array is empty")
	}
	events := make([]sitrep.AlertEvent, 0, len(p.Alerts))
	for i, raw := range p.Alerts {
		at := fmt.Sprintf("alerts[%d]", i)
		var a groupAlert
		if firstByte(raw) != '{' {
			return nil, invalid(at, "an alert must be a JSON object")
		}
		if err := json.Unmarshal(raw, &a); err != nil {
			return nil, jsonError(at, err)
		}
		ev, err := groupEvent(at, &a)
		if err != nil {
			return nil, err
		}
		ev.Raw = validText(string(raw))
		if p.GroupKey != "" {
			ev.Labels[groupKeyLabel] = p.GroupKey
		}
		if extra != nil {
			extra(&p, ev.Labels)
		}
		clean(&ev)
		ev.Normalize()
		events = append(events, ev)
	}
	return events, nil
}

// groupEvent turns one alert of a group into an event (not yet normalised).
func groupEvent(at string, a *groupAlert) (sitrep.AlertEvent, error) {
	var ev sitrep.AlertEvent
	switch a.Status {
	case "firing":
		ev.Action = sitrep.ActionTrigger
	case "resolved":
		ev.Action = sitrep.ActionResolve
	case "":
		return ev, invalid(joinField(at, "status"), "missing: an alert's status is firing or resolved")
	default:
		return ev, invalid(at, "status %q is not firing or resolved", a.Status)
	}
	// Alertmanager sends only text; numbers from hand-made payloads are
	// taken as their text, like the generic format does.
	labels, err := genericLabels(joinField(at, "labels"), a.Labels)
	if err != nil {
		return ev, err
	}
	annotations, err := genericLabels(joinField(at, "annotations"), a.Annotations)
	if err != nil {
		return ev, err
	}
	ev.Summary = firstText(annotations["summary"], annotations["description"], labels["alertname"])
	if ev.Summary == "" && len(labels) == 0 {
		return ev, invalid(at, "the alert has no labels and no summary")
	}
	ev.Severity = sitrep.SeverityFromText(labels["severity"])
	ev.DedupKey = strings.TrimSpace(a.Fingerprint)
	if ev.DedupKey == "" {
		// Derived from the alert's own labels, before the group's are added:
		// the same alert in another group must get the same key.
		ev.DedupKey = sitrep.DeriveDedupKey(ev.Summary, labels)
	}
	if labels == nil {
		labels = make(map[string]string, 2)
	}
	ev.Labels = labels

	starts, ok := parseTime(a.StartsAt)
	if !ok {
		return ev, invalid(joinField(at, "startsAt"), "%q is not an RFC 3339 time", a.StartsAt)
	}
	ends, ok := parseTime(a.EndsAt)
	if !ok {
		return ev, invalid(joinField(at, "endsAt"), "%q is not an RFC 3339 time", a.EndsAt)
	}
	// A resolve happened when the alert ended; a trigger when it started.
	ev.OccurredAt = starts
	if ev.Action == sitrep.ActionResolve && !ends.IsZero() {
		ev.OccurredAt = ends
	}
	return ev, nil
}

// firstText returns the first of texts that is not blank.
func firstText(texts ...string) string {
	for _, t := range texts {
		if strings.TrimSpace(t) != "" {
			return t
		}
	}
	return ""
}
