// Package intake is sitrep's front door for alerts. Its subpackages parse
// each way in — webhook (generic JSON, Prometheus Alertmanager, Grafana,
// PagerDuty Events API v2), syslog (RFC 5424 and RFC 3164 with TCP framing)
// and email (RFC 5322 messages as an SMTP server receives them) — into the
// one shape every source is normalised to, sitrep.AlertEvent.
//
// Parsers take bytes the caller has already size-limited, never panic on any
// input, and return either normalised events or a *sitrep.Error of kind
// EInvalid naming the problem.
package intake
