package sitrep

import (
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"strings"
	"time"
)

// What an incoming alert event asks for. Alerts with one dedup key are one
// alert: a trigger opens it (or counts another occurrence), a resolve closes
// it, an acknowledge marks it seen.
const (
	ActionTrigger     = "trigger"
	ActionAcknowledge = "acknowledge"
	ActionResolve     = "resolve"
)

// Limits of a normalised alert event. Parsers cut longer text (marking the
// cut with "…") rather than refuse an alert that matters.
const (
	MaxAlertSummary    = 1024
	MaxAlertLabels     = 64
	MaxAlertLabelKey   = 128
	MaxAlertLabelValue = 1024
	MaxAlertDedupKey   = 255
	MaxAlertRaw        = 64 << 10
)

// AlertEvent is one event from any source in the one shape every source is
// normalised to: the uniform first alert. The intake parsers produce these.
type AlertEvent struct {
	Action   string `json:"action"`
	DedupKey string `json:"dedup_key"`
	// Severity is 1 (worst) to 4; 0 when the source did not say.
	Severity int    `json:"severity"`
	Summary  string `json:"summary"`
	// Labels describe the alert (host, service, alertname, …); dispatch
	// rules match on them.
	Labels     map[string]string `json:"labels"`
	OccurredAt time.Time         `json:"occurred_at,omitzero"`
	// Raw is the event as the sender sent it (one alert's part of a batch
	// where the format allows), cut at MaxAlertRaw.
	Raw string `json:"raw,omitempty"`
}

// Normalize applies the limits and fills what can be derived: a missing
// action is a trigger, a missing dedup key is derived from the labels (or
// the summary when there are none), over-long text is cut.
func (ev *AlertEvent) Normalize() {
	if ev.Action == "" {
		ev.Action = ActionTrigger
	}
	ev.Summary = Truncate(oneLine(ev.Summary), MaxAlertSummary)
	if !labelsWithinLimits(ev.Labels) {
		keys := make([]string, 0, len(ev.Labels))
		for k := range ev.Labels {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		labels := make(map[string]string, min(len(keys), MaxAlertLabels))
		for _, k := range keys[:min(len(keys), MaxAlertLabels)] {
			labels[Truncate(k, MaxAlertLabelKey)] = Truncate(ev.Labels[k], MaxAlertLabelValue)
		}
		ev.Labels = labels
	}
	if ev.DedupKey == "" {
		ev.DedupKey = DeriveDedupKey(ev.Summary, ev.Labels)
	}
	ev.DedupKey = Truncate(ev.DedupKey, MaxAlertDedupKey)
	if ev.Severity < 0 || ev.Severity > MaxSeverity {
		ev.Severity = 0
	}
	ev.Raw = Truncate(ev.Raw, MaxAlertRaw)
	if !ev.OccurredAt.IsZero() {
		ev.OccurredAt = ev.OccurredAt.UTC().Truncate(time.Microsecond)
	}
}

// labelsWithinLimits reports whether Normalize can keep labels as they are.
func labelsWithinLimits(labels map[string]string) bool {
	if len(labels) > MaxAlertLabels {
		return false
	}
	for k, v := range labels {
		if len(k) > MaxAlertLabelKey || len(v) > MaxAlertLabelValue {
			return false
		}
	}
	return true
}

// oneLine makes a summary one line of valid UTF-8 without control
// characters, which would garble listings and terminals.
func oneLine(s string) string {
	plain := true
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f {
			plain = false
			break
		}
	}
	if !plain {
		s = strings.Map(func(r rune) rune {
			if r < 0x20 || (r >= 0x7f && r < 0xa0) {
				return ' '
			}
			return r
		}, strings.ToValidUTF8(s, "\uFFFD"))
	}
	return strings.TrimSpace(s)
}

// DeriveDedupKey returns a stable key for an alert that came without one: a
// hash of its labels, like Alertmanager's fingerprint, or of its summary
// when it has no labels.
func DeriveDedupKey(summary string, labels map[string]string) string {
	h := sha256.New()
	if len(labels) == 0 {
		h.Write([]byte("summary\x00" + summary))
	} else {
		keys := make([]string, 0, len(labels))
		for k := range labels {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			h.Write([]byte(k + "\x00" + labels[k] + "\x00"))
		}
	}
	return "derived-" + hex.EncodeToString(h.Sum(nil))[:32]
}

// SeverityFromText maps the severity words sources use to 1 (worst)–4, or 0
// for a word it does not know: critical/fatal/emergency/alert/page → 1,
// error/high/major → 2, warning/warn/medium/minor → 3, info/low/notice/
// debug/ok → 4.
func SeverityFromText(s string) int {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "critical", "crit", "fatal", "emergency", "emerg", "alert", "page", "p1", "sev1", "disaster":
		return 1
	case "error", "err", "high", "major", "p2", "sev2":
		return 2
	case "warning", "warn", "medium", "minor", "average", "p3", "sev3":
		return 3
	case "info", "informational", "low", "notice", "debug", "ok", "none", "p4", "p5", "sev4":
		return 4
	}
	return 0
}

// Truncate cuts s to at most n bytes on a rune boundary, ending in "…" when
// it cut anything.
func Truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	const ell = "…"
	cut := n - len(ell)
	if cut < 0 {
		return s[:0]
	}
	for cut > 0 && !isRuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + ell
}

func isRuneStart(b byte) bool { return b&0xC0 != 0x80 }
