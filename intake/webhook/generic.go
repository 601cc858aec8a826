package webhook

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/sitrep-ir/sitrep"
)

// MaxBatch is the most alerts one generic request may carry. A sender with
// more splits them; a larger batch is refused whole, before any is taken, so
// that the sender knows none was.
const MaxBatch = 1000

// genericAlert is sitrep's own alert format. Fields it does not name are not
// refused: they stay in the event's Raw.
type genericAlert struct {
	Summary    string          `json:"summary"`
	Severity   json.RawMessage `json:"severity"`
	DedupKey   string          `json:"dedup_key"`
	Status     string          `json:"status"`
	Action     string          `json:"action"`
	Labels     json.RawMessage `json:"labels"`
	Source     string          `json:"source"`
	OccurredAt string          `json:"occurred_at"`
}

// ParseGeneric parses sitrep's generic alert format: one JSON object, or an
// array of up to MaxBatch objects, each
//
//	{"summary": "disk full on db1", "severity": "critical" (or 1–4),
//	 "dedup_key": "db1/disk", "status": "firing" (or "action": "trigger"),
//	 "labels": {"host": "db1"}, "source": "cron", "occurred_at": "2026-01-02T03:04:05Z"}
//
// It is tolerant where a front door must be: unknown fields are kept in Raw,
// numbers and booleans in labels become their text, an unknown severity word
// means "not said" (0). It is strict where the input makes no sense: an alert
// with neither summary nor labels, a severity number outside 1–4 (likely
// another scale, where guessing would misrank it), an unknown status, a time
// that is not RFC 3339. Every error names the alert by its index.
func ParseGeneric(body []byte) ([]sitrep.AlertEvent, error) {
	switch firstByte(body) {
	case '{':
		ev, err := parseGenericAlert("", body, false)
		if err != nil {
			return nil, err
		}
		return []sitrep.AlertEvent{ev}, nil
	case '[':
		var items []json.RawMessage
		if !fastJSON || !json.Valid(body) || !walkArray(body, func(v []byte) bool { items = append(items, v); return true }) {
			items = nil
			if err := json.Unmarshal(body, &items); err != nil {
				return nil, jsonError("", err)
			}
		}
		if len(items) == 0 {
			return nil, invalid("", "the batch is empty: send at least one alert")
		}
		if len(items) > MaxBatch {
			return nil, invalid("", "the batch has %d alerts, over the limit of %d: split it", len(items), MaxBatch)
		}
		events := make([]sitrep.AlertEvent, 0, len(items))
		for i, item := range items {
			ev, err := parseGenericAlert(fmt.Sprintf("alerts[%d]", i), item, true)
			if err != nil {
				return nil, err
			}
			events = append(events, ev)
		}
		return events, nil
	case 0:
		return nil, invalid("", "the body is empty: send a JSON object or an array of objects")
	}
	if !json.Valid(body) {
		var v any
		return nil, jsonError("", json.Unmarshal(body, &v))
	}
	return nil, invalid("", "the body must be a JSON object or an array of objects")
}

// parseGenericAlert parses one alert; at names it in errors ("alerts[3]", or
// "" for a body that is a single object). valid says raw is known to be
// valid JSON.
func parseGenericAlert(at string, raw []byte, valid bool) (sitrep.AlertEvent, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || raw[0] != '{' {
		return sitrep.AlertEvent{}, invalid(at, "an alert must be a JSON object")
	}
	var in genericAlert
	if !fastJSON || !(valid || json.Valid(raw)) || !decodeGenericFast(raw, &in) {
		in = genericAlert{}
		if err := json.Unmarshal(raw, &in); err != nil {
			return sitrep.AlertEvent{}, jsonError(at, err)
		}
	}
	ev := sitrep.AlertEvent{Summary: in.Summary, DedupKey: strings.TrimSpace(in.DedupKey), Raw: validText(string(raw))}

	action, err := genericAction(at, in.Action, in.Status)
	if err != nil {
		return sitrep.AlertEvent{}, err
	}
	ev.Action = action

	if ev.Severity, err = genericSeverity(joinField(at, "severity"), in.Severity); err != nil {
		return sitrep.AlertEvent{}, err
	}
	if ev.Labels, err = genericLabels(joinField(at, "labels"), in.Labels); err != nil {
		return sitrep.AlertEvent{}, err
	}
	if src := strings.TrimSpace(in.Source); src != "" {
		if ev.Labels == nil {
			ev.Labels = map[string]string{}
		}
		if _, set := ev.Labels["source"]; !set {
			ev.Labels["source"] = src
		}
	}
	if strings.TrimSpace(ev.Summary) == "" && len(ev.Labels) == 0 {
		return sitrep.AlertEvent{}, invalid(at, "the alert has no summary and no labels: say what is wrong")
	}
	t, ok := parseTime(in.OccurredAt)
	if !ok {
		return sitrep.AlertEvent{}, invalid(joinField(at, "occurred_at"), "%q is not an RFC 3339 time such as 2026-01-02T15:04:05Z", in.OccurredAt)
	}
	ev.OccurredAt = t
	clean(&ev)
	ev.Normalize()
	return ev, nil
}

// genericAction reads "action" or, for senders that speak Alertmanager's
// words, "status". When both are given they must agree.
func genericAction(at, action, status string) (string, error) {
	a, aok := actionWord(action)
	if !aok {
		return "", invalid(joinField(at, "action"), "%q is not trigger, acknowledge or resolve", action)
	}
	s, sok := actionWord(status)
	if !sok {
		return "", invalid(joinField(at, "status"), "%q is not firing, resolved, trigger, acknowledge or resolve", status)
	}
	switch {
	case a != "" && s != "" && a != s:
		return "", invalid(at, "action %q and status %q disagree", action, status)
	case a != "":
		return a, nil
	}
	return s, nil // "" is a trigger once normalised
}

// actionWord maps the words senders use to an action; "" maps to "".
func actionWord(w string) (string, bool) {
	switch strings.ToLower(strings.TrimSpace(w)) {
	case "":
		return "", true
	case "trigger", "triggered", "firing", "fire", "alert", "alerting", "problem", "open":
		return sitrep.ActionTrigger, true
	case "acknowledge", "acknowledged", "ack":
		return sitrep.ActionAcknowledge, true
	case "resolve", "resolved", "ok", "recovery", "recovered", "close", "closed":
		return sitrep.ActionResolve, true
	}
	return "", false
}

// genericSeverity reads a severity given as a word ("critical"), a number
// (1–4, or 0 for "not said") or a number in a string ("2").
func genericSeverity(field string, raw json.RawMessage) (int, error) {
	v, ok, err := labelValue(raw)
	if err != nil {
		return 0, invalid(field, "%s", err.Error())
	}
	if !ok {
		return 0, nil
	}
	v = strings.TrimSpace(v)
	// A word goes straight to its severity: ParseFloat would only build
	// an error to say it is no number.
	if mayBeNumber(v) {
		if n, err := strconv.ParseFloat(v, 64); err == nil {
			if n < 0 || n > sitrep.MaxSeverity || n != math.Trunc(n) {
				return 0, invalid(field, "%s is not a severity from 1 (worst) to %d", v, sitrep.MaxSeverity)
			}
			return int(n), nil
		}
	}
	if v == "true" || v == "false" {
		return 0, invalid(field, "%s is not a severity: use a word such as critical or a number from 1 to %d", v, sitrep.MaxSeverity)
	}
	return sitrep.SeverityFromText(v), nil
}

// mayBeNumber reports whether strconv.ParseFloat could take s: whether it
// starts as a number, an infinity or NaN does.
func mayBeNumber(s string) bool {
	if s == "" {
		return false
	}
	switch c := s[0]; {
	case '0' <= c && c <= '9', c == '+', c == '-', c == '.', c == 'i', c == 'I', c == 'n', c == 'N':
		return true
	}
	return false
}

// genericLabels reads an object of labels (or annotations): text values as
// they are, numbers and booleans as their text, null values left out.
func genericLabels(field string, raw json.RawMessage) (map[string]string, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	if raw[0] != '{' {
		return nil, invalid(field, "must be an object of names to strings")
	}
	if fastJSON {
		// The alert's JSON, labels included, was found valid.
		if labels, ok := genericLabelsFast(raw); ok {
			return labels, nil
		}
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, jsonError(field, err)
	}
	labels := make(map[string]string, len(m))
	for _, k := range sortedKeys(m) {
		if strings.TrimSpace(k) == "" {
			return nil, invalid(field, "a name is empty")
		}
		v, ok, err := labelValue(m[k])
		if err != nil {
			return nil, invalid(field, "%q %s", k, err.Error())
		}
		if ok {
			labels[k] = v
		}
	}
	return labels, nil
}
