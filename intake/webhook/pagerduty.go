package webhook

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"strings"

	"github.com/sitrep-ir/sitrep"
)

// What PagerDuty's Events API v2 answers, and so what sitrep answers to the
// tools that speak it (they read these bodies, and some log them):
//
//	202 {"status":"success","message":"Event processed","dedup_key":"…"}
//	202 {"status":"success","message":"Change event processed"}
//	400 {"status":"invalid event","message":"Event object is invalid","errors":["…"]}
//
// PagerDutyAccepted, PagerDutyChangeAccepted and PagerDutyRejected build them.
const (
	pdStatusSuccess  = "success"
	pdStatusInvalid  = "invalid event"
	pdMessageOK      = "Event processed"
	pdMessageChange  = "Change event processed"
	pdMessageInvalid = "Event object is invalid"
)

// pdMaxDedupKey is the longest dedup key PagerDuty takes.
const pdMaxDedupKey = 255

// PagerDutyResponse is the JSON body of an Events API v2 answer.
type PagerDutyResponse struct {
	Status   string   `json:"status"`
	Message  string   `json:"message"`
	DedupKey string   `json:"dedup_key,omitempty"`
	Errors   []string `json:"errors,omitempty"`
}

// PagerDutyAccepted is the body of the 202 answer to an alert event: it
// tells the sender the dedup key, which it needs to acknowledge or resolve
// an event it triggered without one.
func PagerDutyAccepted(dedupKey string) PagerDutyResponse {
	return PagerDutyResponse{Status: pdStatusSuccess, Message: pdMessageOK, DedupKey: dedupKey}
}

// PagerDutyChangeAccepted is the body of the 202 answer to a change event.
func PagerDutyChangeAccepted() PagerDutyResponse {
	return PagerDutyResponse{Status: pdStatusSuccess, Message: pdMessageChange}
}

// PagerDutyRejected is the body of the 400 answer to an event that
// ParsePagerDuty or ParsePagerDutyChange refused with err: every problem
// found, in PagerDuty's words.
func PagerDutyRejected(err error) PagerDutyResponse {
	r := PagerDutyResponse{Status: pdStatusInvalid, Message: pdMessageInvalid}
	if ie, ok := errors.AsType[*InvalidEventError](err); ok {
		r.Errors = ie.Problems
	} else if err != nil {
		r.Errors = []string{sitrep.ErrorMessage(err)}
	}
	return r
}

// InvalidEventError is the error of ParsePagerDuty and ParsePagerDutyChange:
// it lists every problem of the event, as PagerDuty does in its 400 answer,
// and unwraps to a *sitrep.Error (EInvalid) whose Field is the first field at
// fault and whose Message lists them all.
type InvalidEventError struct {
	Problems []string
	err      *sitrep.Error
}

func (e *InvalidEventError) Error() string { return e.err.Error() }

// Unwrap returns the *sitrep.Error the API turns into a problem answer.
func (e *InvalidEventError) Unwrap() error { return e.err }

// problems gathers the problems of one event, the first field at fault first.
type problems struct {
	field string
	list  []string
}

func (p *problems) add(field, msg string) {
	if len(p.list) == 0 {
		p.field = field
	}
	p.list = append(p.list, msg)
}

func (p *problems) err() error {
	if len(p.list) == 0 {
		return nil
	}
	return &InvalidEventError{
		Problems: p.list,
		err:      sitrep.Invalid(p.field, "%s", strings.Join(p.list, "; ")),
	}
}

// PagerDutyEvent is one event of the Events API v2: the routing (integration)
// key it was sent with and the alert event it becomes.
type PagerDutyEvent struct {
	// RoutingKey is the integration key the sender was configured with; the
	// HTTP layer matches it against the source's key. It is not kept in the
	// event's Raw.
	RoutingKey string
	Event      sitrep.AlertEvent
	// KeyGenerated is true when the sender gave no dedup key and Event's was
	// made with NewDedupKey: the sender learns it only from the answer.
	KeyGenerated bool
}

type pdEvent struct {
	RoutingKey  string          `json:"routing_key"`
	EventAction string          `json:"event_action"`
	DedupKey    string          `json:"dedup_key"`
	Payload     json.RawMessage `json:"payload"`
	Client      string          `json:"client"`
}

type pdPayload struct {
	Summary       string          `json:"summary"`
	Source        string          `json:"source"`
	Severity      string          `json:"severity"`
	Timestamp     string          `json:"timestamp"`
	Component     string          `json:"component"`
	Group         string          `json:"group"`
	Class         string          `json:"class"`
	CustomDetails json.RawMessage `json:"custom_details"`
}

// pdSeverity maps the Events API's four severities to sitrep's 1–4.
var pdSeverity = map[string]int{"critical": 1, "error": 2, "warning": 3, "info": 4}

// ParsePagerDuty parses an Events API v2 alert event (POST /v2/enqueue) and
// validates it as PagerDuty does: routing_key must be set (its 32-character
// form is not required: the HTTP layer matches it against sitrep's own
// keys); event_action is trigger, acknowledge or resolve; a trigger needs a
// payload with summary, source and a severity of critical, error, warning or
// info; acknowledge and resolve need the dedup_key of what they answer; a
// dedup_key is at most 255 characters. A trigger without a dedup_key gets a
// new one from NewDedupKey (KeyGenerated says so), to be sent back in the
// answer; a summary over 1024 characters is cut, not refused.
//
// The labels are payload.source, component, group and class, the client,
// and custom_details' fields as details.<name>.
func ParsePagerDuty(body []byte) (PagerDutyEvent, error) {
	in, raw, err := decodePagerDuty(body)
	if err != nil {
		return PagerDutyEvent{}, err
	}
	var p problems
	if strings.TrimSpace(in.RoutingKey) == "" {
		p.add("routing_key", "'routing_key' is missing or blank")
	}
	ev := sitrep.AlertEvent{DedupKey: strings.TrimSpace(in.DedupKey), Raw: raw}
	switch in.EventAction {
	case "trigger":
		ev.Action = sitrep.ActionTrigger
	case "acknowledge":
		ev.Action = sitrep.ActionAcknowledge
	case "resolve":
		ev.Action = sitrep.ActionResolve
	case "":
		p.add("event_action", "'event_action' is missing or blank")
	default:
		p.add("event_action", "'event_action' is invalid (must be one of 'trigger', 'acknowledge' or 'resolve')")
	}
	if len(in.DedupKey) > pdMaxDedupKey {
		p.add("dedup_key", "'dedup_key' is too long (must be at most 255 characters)")
	}
	if (ev.Action == sitrep.ActionAcknowledge || ev.Action == sitrep.ActionResolve) && ev.DedupKey == "" {
		p.add("dedup_key", "'dedup_key' is missing or blank (required to "+in.EventAction+" an event)")
	}

	pl, plErr := decodePayload(in.Payload, ev.Action == sitrep.ActionTrigger, &p)
	ev.Labels = map[string]string{}
	if plErr == nil && pl != nil {
		if ev.Action == sitrep.ActionTrigger {
			sev, known := pdSeverity[pl.Severity]
			if strings.TrimSpace(pl.Summary) == "" {
				p.add("payload.summary", "'payload.summary' is missing or blank")
			}
			if strings.TrimSpace(pl.Source) == "" {
				p.add("payload.source", "'payload.source' is missing or blank")
			}
			switch {
			case pl.Severity == "":
				p.add("payload.severity", "'payload.severity' is missing or blank")
			case !known:
				p.add("payload.severity", "'payload.severity' is invalid (must be one of 'critical', 'error', 'warning' or 'info')")
			}
			ev.Severity = sev
		}
		ev.Summary = pl.Summary
		if t, ok := parseTime(pl.Timestamp); ok {
			ev.OccurredAt = t
		} else {
			p.add("payload.timestamp", "'payload.timestamp' is invalid (must be an ISO 8601 time such as 2026-01-02T15:04:05Z)")
		}
		for k, v := range map[string]string{"source": pl.Source, "component": pl.Component, "group": pl.Group, "class": pl.Class} {
			if v = strings.TrimSpace(v); v != "" {
				ev.Labels[k] = v
			}
		}
		addDetails(ev.Labels, pl.CustomDetails)
	}
	if c := strings.TrimSpace(in.Client); c != "" {
		ev.Labels["client"] = c
	}
	if err := p.err(); err != nil {
		return PagerDutyEvent{}, err
	}
	out := PagerDutyEvent{RoutingKey: strings.TrimSpace(in.RoutingKey)}
	if ev.DedupKey == "" {
		ev.DedupKey = NewDedupKey()
		out.KeyGenerated = true
	}
	clean(&ev)
	ev.Normalize()
	out.Event = ev
	return out, nil
}

// ParsePagerDutyChange parses an Events API v2 change event (POST
// /v2/change/enqueue): routing_key and payload.summary are required,
// payload.source, payload.timestamp, custom_details and links are optional.
// A change (a deploy, a configuration push) is not a problem but context for
// whoever works an incident, so it becomes an informational event (severity
// 4) labelled event_type=change, with its own new dedup key: every change is
// a distinct event.
func ParsePagerDutyChange(body []byte) (PagerDutyEvent, error) {
	in, raw, err := decodePagerDuty(body)
	if err != nil {
		return PagerDutyEvent{}, err
	}
	var p problems
	if strings.TrimSpace(in.RoutingKey) == "" {
		p.add("routing_key", "'routing_key' is missing or blank")
	}
	ev := sitrep.AlertEvent{Action: sitrep.ActionTrigger, Severity: 4, Raw: raw, Labels: map[string]string{"event_type": "change"}}
	pl, plErr := decodePayload(in.Payload, true, &p)
	if plErr == nil && pl != nil {
		if strings.TrimSpace(pl.Summary) == "" {
			p.add("payload.summary", "'payload.summary' is missing or blank")
		}
		ev.Summary = pl.Summary
		if t, ok := parseTime(pl.Timestamp); ok {
			ev.OccurredAt = t
		} else {
			p.add("payload.timestamp", "'payload.timestamp' is invalid (must be an ISO 8601 time such as 2026-01-02T15:04:05Z)")
		}
		if s := strings.TrimSpace(pl.Source); s != "" {
			ev.Labels["source"] = s
		}
		addDetails(ev.Labels, pl.CustomDetails)
	}
	if err := p.err(); err != nil {
		return PagerDutyEvent{}, err
	}
	ev.DedupKey = NewDedupKey()
	clean(&ev)
	ev.Normalize()
	return PagerDutyEvent{RoutingKey: strings.TrimSpace(in.RoutingKey), Event: ev, KeyGenerated: true}, nil
}

// decodePagerDuty decodes the envelope of an event and returns its Raw: the
// body with the routing key blanked out, since the key is a credential and
// Raw is stored and shown.
func decodePagerDuty(body []byte) (pdEvent, string, error) {
	var in pdEvent
	switch firstByte(body) {
	case '{':
	case 0:
		return in, "", pdInvalid("", "the body is empty: send an event object")
	default:
		if !json.Valid(body) {
			var v any
			return in, "", pdJSONError(json.Unmarshal(body, &v))
		}
		return in, "", pdInvalid("", "the body must be a JSON object")
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(body, &fields); err != nil {
		return in, "", pdJSONError(err)
	}
	if err := json.Unmarshal(body, &in); err != nil {
		return in, "", pdJSONError(err)
	}
	raw := validText(string(body))
	if _, ok := fields["routing_key"]; ok {
		fields["routing_key"] = json.RawMessage(`"(hidden)"`)
		var b bytes.Buffer
		enc := json.NewEncoder(&b)
		enc.SetEscapeHTML(false) // keep <, > and & as the sender wrote them
		if err := enc.Encode(fields); err == nil {
			raw = validText(strings.TrimSuffix(b.String(), "\n"))
		}
	}
	return in, raw, nil
}

// decodePayload decodes the event's payload object; required says whether a
// missing payload is a problem (it is for triggers and changes).
func decodePayload(raw json.RawMessage, required bool, p *problems) (*pdPayload, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		if required {
			p.add("payload", "'payload' is missing or not an object")
		}
		return nil, nil
	}
	if raw[0] != '{' {
		p.add("payload", "'payload' is missing or not an object")
		return nil, errors.New("payload is not an object")
	}
	var pl pdPayload
	if err := json.Unmarshal(raw, &pl); err != nil {
		e := jsonError("payload", err)
		p.add(e.Field, "'"+e.Field+"' is invalid ("+strings.TrimPrefix(e.Message, e.Field+": ")+")")
		return nil, err
	}
	return &pl, nil
}

// addDetails adds custom_details as labels details.<name>: text as it is,
// other values as their JSON. Only as many as leave room for the event's own
// labels are kept (the rest stay in Raw), so details never push out source.
func addDetails(labels map[string]string, raw json.RawMessage) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return
	}
	if raw[0] != '{' {
		if v, ok, err := labelValue(raw); ok && err == nil {
			labels["details"] = v
		} else {
			labels["details"] = string(raw)
		}
		return
	}
	var m map[string]json.RawMessage
	if json.Unmarshal(raw, &m) != nil {
		return
	}
	room := sitrep.MaxAlertLabels - len(labels) - 1 // and the client
	for _, k := range sortedKeys(m) {
		if room <= 0 {
			break
		}
		if strings.TrimSpace(k) == "" {
			continue
		}
		v, ok, err := labelValue(m[k])
		if err != nil {
			v, ok = string(bytes.TrimSpace(m[k])), true
		}
		if ok {
			labels["details."+k] = v
			room--
		}
	}
}

func pdInvalid(field, msg string) error {
	var p problems
	p.add(field, msg)
	return p.err()
}

func pdJSONError(err error) error {
	e := jsonError("", err)
	return pdInvalid(e.Field, e.Message)
}

// NewDedupKey returns a new random dedup key of 32 hexadecimal digits, the
// form PagerDuty gives to events sent without one.
func NewDedupKey() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	return hex.EncodeToString(b[:])
}
