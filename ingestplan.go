package sitrep

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"
)

// The rules both stores follow when they store a batch of alert events:
// which writes a batch needs, and which raw payloads an alert keeps. The
// stores run the writes in their own SQL; the plan is made once, here, so
// that both backends give the same answer to the same batch.

// AlertFirstSamples is how many of the first raw payloads an alert keeps;
// the rest of its MaxAlertSamples are the latest ones.
const AlertFirstSamples = 2

// IngestOp is one write of an ingest batch: the triggers of one key that no
// acknowledge or resolve of that key separates, collapsed into one upsert,
// or one acknowledge or resolve. Its text is as a text column keeps it (see
// ColumnString).
type IngestOp struct {
	Action      string
	Source, Key string
	// Count is how many triggers the write stands for (0 for an
	// acknowledge or resolve).
	Count int64
	// Severity is the worst (lowest) non-zero severity of the triggers.
	Severity int
	// Summary and Labels (JSON) are the first trigger's.
	Summary string
	Labels  string
	// First and Last are the earliest and latest times of receipt.
	First, Last time.Time
	// Samples is the JSON array of the kept raw payloads: "[]" when the
	// triggers carried none.
	Samples string

	// What the store found, set by the store as it writes: the alert the
	// write touched, whether the write opened it, and (for an acknowledge
	// or resolve) that there was no open alert to touch.
	AlertID  int64
	Inserted bool
	Ignored  bool

	firstEvent int // the index in the batch of the op's first event
	raws       []string
}

// IngestPlan is the writes of one batch, in an order that keeps each key's
// events in batch order.
type IngestPlan struct {
	// Ops are the writes. A store may reorder ops of different keys, but
	// must keep the order of the ops of one key.
	Ops []*IngestOp
	// opOf is, per event of the batch, the index in ops of its write.
	opOf []int32
	ops  []IngestOp
}

// PlanIngest checks a batch and turns it into writes: the triggers of a key
// collapse into one write until an acknowledge or resolve of the key comes,
// after which a trigger starts a new write (and, after a resolve, a new
// alert). So a storm of one key costs one row write per batch.
func PlanIngest(batch []Ingest) (*IngestPlan, error) {
	type key struct{ source, key string }
	p := &IngestPlan{opOf: make([]int32, len(batch)), ops: make([]IngestOp, 0, len(batch))}
	open := make(map[key]int32, min(len(batch), 1024)) // the trigger group each key collects into
	for i := range batch {
		in := &batch[i]
		if err := CheckIngest(i, in); err != nil {
			return nil, err
		}
		ev := &in.Event
		k := key{ColumnString(in.Source), ColumnString(ev.DedupKey)}
		seen := in.ReceivedAt.UTC().Truncate(time.Microsecond)
		if ev.Action != ActionTrigger {
			delete(open, k)
			p.opOf[i] = int32(len(p.ops))
			p.ops = append(p.ops, IngestOp{Action: ev.Action, Source: k.source, Key: k.key, First: seen, Last: seen, firstEvent: i})
			continue
		}
		n, ok := open[k]
		if !ok {
			labels, err := labelsJSON(ev.Labels)
			if err != nil {
				return nil, fmt.Errorf("ingest event %d: encode labels: %w", i, err)
			}
			n = int32(len(p.ops))
			open[k] = n
			p.ops = append(p.ops, IngestOp{Action: ev.Action, Source: k.source, Key: k.key, Summary: ColumnString(ev.Summary),
				Labels: labels, First: seen, Last: seen, firstEvent: i})
		}
		p.opOf[i] = n
		op := &p.ops[n]
		op.Count++
		if seen.Before(op.First) {
			op.First = seen
		}
		if seen.After(op.Last) {
			op.Last = seen
		}
		if ev.Severity != 0 && (op.Severity == 0 || ev.Severity < op.Severity) {
			op.Severity = ev.Severity
		}
		op.raws = AddAlertSample(op.raws, ev.Raw)
	}
	p.Ops = make([]*IngestOp, len(p.ops))
	for n := range p.ops {
		op := &p.ops[n]
		p.Ops[n] = op
		if op.Action != ActionTrigger {
			continue
		}
		b := append(make([]byte, 0, 64), '[')
		for n, raw := range op.raws {
			if n > 0 {
				b = append(b, ',')
			}
			var err error
			if b, err = appendJSONString(b, raw); err != nil {
				return nil, fmt.Errorf("ingest: encode samples: %w", err)
			}
		}
		op.Samples, op.raws = string(append(b, ']')), nil
	}
	return p, nil
}

// Results returns what became of each event of the batch, from what the
// store set on the ops: the first trigger of a write opened the alert if
// the write inserted it; the others counted on it.
func (p *IngestPlan) Results() []IngestResult {
	results := make([]IngestResult, len(p.opOf))
	for i, n := range p.opOf {
		op := &p.ops[n]
		if op.Ignored {
			results[i] = IngestResult{Ignored: true}
			continue
		}
		results[i] = IngestResult{AlertID: op.AlertID, New: op.Inserted && i == op.firstEvent}
	}
	return results
}

// CheckIngest refuses an event the store cannot keep as asked. The intake
// normalises events before they get here, so this catches a caller's bug.
func CheckIngest(i int, in *Ingest) error {
	field := func(name string) string { return fmt.Sprintf("batch[%d].%s", i, name) }
	ev := &in.Event
	switch {
	case in.Source == "":
		return Invalid(field("source"), "event %d of the batch names no source", i)
	case ev.Action != ActionTrigger && ev.Action != ActionAcknowledge && ev.Action != ActionResolve:
		return Invalid(field("action"), "event %d: action %.20q is not trigger, acknowledge or resolve", i, ev.Action)
	case ev.DedupKey == "" || len(ev.DedupKey) > MaxAlertDedupKey:
		return Invalid(field("dedup_key"), "event %d: the dedup key must be 1–%d bytes, not %d", i, MaxAlertDedupKey, len(ev.DedupKey))
	case ev.Severity < 0 || ev.Severity > MaxSeverity:
		return Invalid(field("severity"), "event %d: severity %d is not 0–%d", i, ev.Severity, MaxSeverity)
	case in.ReceivedAt.IsZero():
		return Invalid(field("received_at"), "event %d has no time of receipt", i)
	}
	return nil
}

// ColumnString returns s as a text column keeps it: without NUL characters
// and with invalid UTF-8 replaced, which PostgreSQL's text refuses. Both
// backends store keys and summaries so, so that they agree on them.
func ColumnString(s string) string {
	return strings.ToValidUTF8(strings.ReplaceAll(s, "\x00", ""), "\uFFFD")
}

// AddAlertSample adds raw to the kept samples: the first AlertFirstSamples
// payloads stay, and the newest replace the oldest of the rest.
func AddAlertSample(samples []string, raw string) []string {
	if raw == "" {
		return samples
	}
	if len(samples) < MaxAlertSamples {
		return append(samples, raw)
	}
	copy(samples[AlertFirstSamples:], samples[AlertFirstSamples+1:])
	samples[len(samples)-1] = raw
	return samples
}

// MergeAlertSamples adds the samples of a later batch to an alert's.
func MergeAlertSamples(old, later []string) []string {
	old = slices.Clip(old)
	for _, raw := range later {
		old = AddAlertSample(old, raw)
	}
	return old
}

// labelsJSON encodes labels as encoding/json does (keys sorted), "{}" when
// there are none. Labels are encoded once per alert that a batch writes,
// so this skips reflection.
func labelsJSON(labels map[string]string) (string, error) {
	if len(labels) == 0 {
		return "{}", nil
	}
	keys := make([]string, 0, len(labels))
	size := 2
	for k, v := range labels {
		keys = append(keys, k)
		size += len(k) + len(v) + 6
	}
	slices.Sort(keys)
	b := append(make([]byte, 0, size), '{')
	for n, k := range keys {
		if n > 0 {
			b = append(b, ',')
		}
		var err error
		if b, err = appendJSONString(b, k); err != nil {
			return "", err
		}
		b = append(b, ':')
		if b, err = appendJSONString(b, labels[k]); err != nil {
			return "", err
		}
	}
	return string(append(b, '}')), nil
}

// appendJSONString appends s as a JSON string, exactly as encoding/json
// writes it: the printable ASCII of most text is escaped here, and a
// string with other bytes is left to encoding/json.
func appendJSONString(b []byte, s string) ([]byte, error) {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x80 {
			enc, err := json.Marshal(s)
			return append(b, enc...), err
		}
	}
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); i++ {
		var esc string
		switch s[i] {
		case '"':
			esc = `\"`
		case '\\':
			esc = `\\`
		case '<':
			esc = `\u003c`
		case '>':
			esc = `\u003e`
		case '&':
			esc = `\u0026`
		default:
			continue
		}
		b = append(append(b, s[start:i]...), esc...)
		start = i + 1
	}
	return append(append(b, s[start:]...), '"'), nil
}
