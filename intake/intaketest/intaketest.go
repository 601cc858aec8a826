// Package intaketest holds the checks every intake parser's tests share:
// whatever a parser returns must respect the limits of sitrep.AlertEvent.
package intaketest

import (
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/sitrep-ir/sitrep"
)

// CheckEvent reports the first way ev breaks the limits and promises of a
// normalised sitrep.AlertEvent, or nil when it keeps them all.
func CheckEvent(ev sitrep.AlertEvent) error {
	switch ev.Action {
	case sitrep.ActionTrigger, sitrep.ActionAcknowledge, sitrep.ActionResolve:
	default:
		return fmt.Errorf("action %q is not one of the three", ev.Action)
	}
	if ev.DedupKey == "" || len(ev.DedupKey) > sitrep.MaxAlertDedupKey {
		return fmt.Errorf("dedup key of %d bytes, want 1..%d", len(ev.DedupKey), sitrep.MaxAlertDedupKey)
	}
	if len(ev.Summary) > sitrep.MaxAlertSummary {
		return fmt.Errorf("summary of %d bytes is over %d", len(ev.Summary), sitrep.MaxAlertSummary)
	}
	if ev.Summary != strings.TrimSpace(ev.Summary) {
		return fmt.Errorf("summary %q is not trimmed", ev.Summary)
	}
	if ev.Severity < 0 || ev.Severity > sitrep.MaxSeverity {
		return fmt.Errorf("severity %d is out of 0..%d", ev.Severity, sitrep.MaxSeverity)
	}
	if len(ev.Labels) > sitrep.MaxAlertLabels {
		return fmt.Errorf("%d labels, over %d", len(ev.Labels), sitrep.MaxAlertLabels)
	}
	for k, v := range ev.Labels {
		if len(k) > sitrep.MaxAlertLabelKey || len(v) > sitrep.MaxAlertLabelValue {
			return fmt.Errorf("label %.40q=%.40q is over the limits", k, v)
		}
	}
	if len(ev.Raw) > sitrep.MaxAlertRaw {
		return fmt.Errorf("raw of %d bytes, over %d", len(ev.Raw), sitrep.MaxAlertRaw)
	}
	if !ev.OccurredAt.IsZero() && ev.OccurredAt.Location().String() != "UTC" {
		return fmt.Errorf("occurred_at %v is not in UTC", ev.OccurredAt)
	}
	return nil
}

// CheckText reports text that a reader of the alert could not read, nor a
// database store: invalid UTF-8 or NUL bytes in the summary, the labels or
// Raw.
func CheckText(ev sitrep.AlertEvent) error {
	for _, s := range []string{ev.Summary, ev.Raw, ev.DedupKey} {
		if strings.IndexByte(s, 0) >= 0 {
			return fmt.Errorf("%.60q holds a NUL byte", s)
		}
	}
	if !utf8.ValidString(ev.Raw) || !utf8.ValidString(ev.DedupKey) {
		return fmt.Errorf("raw %.60q or dedup key %.60q is not valid UTF-8", ev.Raw, ev.DedupKey)
	}
	if !utf8.ValidString(ev.Summary) {
		return fmt.Errorf("summary %q is not valid UTF-8", ev.Summary)
	}
	for k, v := range ev.Labels {
		if !utf8.ValidString(k) || !utf8.ValidString(v) || strings.IndexByte(k+v, 0) >= 0 {
			return fmt.Errorf("label %q=%q is not valid UTF-8", k, v)
		}
	}
	return nil
}

// CheckError reports an error that is not a *sitrep.Error of kind EInvalid
// with a message: the contract of every parser for bad input.
func CheckError(err error) error {
	e := sitrep.AsError(err)
	if e == nil {
		return fmt.Errorf("error %v (%T) is not a *sitrep.Error", err, err)
	}
	if e.Kind != sitrep.EInvalid || e.Message == "" {
		return fmt.Errorf("error %v has kind %q and message %q, want invalid with a message", err, e.Kind, e.Message)
	}
	return nil
}
