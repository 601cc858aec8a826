package dispatch

import (
	"strings"
	"testing"
	"unicode"

	"github.com/sitrep-ir/sitrep"
)

// mustParse parses rules that must be good.
func mustParse(t testing.TB, src string) *Rules {
	t.Helper()
	rs, problems := Parse("test.yaml", []byte(src))
	if len(problems) > 0 {
		t.Fatalf("rules do not parse:\n%v", problems)
	}
	return rs
}

// alert is a test alert: key=value labels after the source and summary.
func alert(source string, severity int, summary string, labels ...string) *sitrep.Alert {
	al := &sitrep.Alert{ID: 1, Source: source, DedupKey: "k1", Severity: severity, Summary: summary, Labels: map[string]string{}}
	for _, kv := range labels {
		k, v, _ := strings.Cut(kv, "=")
		al.Labels[k] = v
	}
	return al
}

const matchRules = `rules:
  - name: by-name
    match: {source: edr}
    action: hold
  - name: by-glob
    match: {source: ["fw-*", "ids-[0-9]"]}
    action: hold
  - name: by-kind
    match: {kind: [grafana, pagerduty]}
    action: hold
  - name: worst
    match: {severity_at_most: 1}
    action: hold
  - name: mild
    match: {severity_at_least: 3, severity_at_most: 3}
    action: hold
  - name: label-exact
    match: {labels: {team: dba}}
    action: hold
  - name: label-regexp
    match: {labels: {host: "~db[0-9]+"}}
    action: hold
  - name: label-missing
    match: {labels: {env: ""}}
    action: hold
  - name: summary
    match: {summary: "(?i)disk full"}
    action: hold
  - name: excluded
    match:
      labels: {service: "~.+"}
      not:
        - labels: {env: staging}
        - summary: test
    action: hold
`

func TestMatch(t *testing.T) {
	rs := mustParse(t, matchRules)
	for _, tc := range []struct {
		name string
		al   *sitrep.Alert
		kind string
		want string // the rule, "" for none
	}{
		{"source name", alert("edr", 0, "x", "env=prod"), "generic", "by-name"},
		{"source name is exact", alert("edr2", 0, "x", "env=prod"), "generic", ""},
		{"source glob", alert("fw-dmz", 0, "x", "env=prod"), "syslog", "by-glob"},
		{"source class", alert("ids-7", 0, "x", "env=prod"), "syslog", "by-glob"},
		{"source class misses", alert("ids-x", 0, "x", "env=prod"), "syslog", ""},
		{"kind", alert("graf", 0, "x", "env=prod"), "grafana", "by-kind"},
		{"severity at most 1", alert("a", 1, "x", "env=prod"), "generic", "worst"},
		{"severity 2 is not at most 1", alert("a", 2, "x", "env=prod"), "generic", ""},
		{"severity 3 between 3 and 3", alert("a", 3, "x", "env=prod"), "generic", "mild"},
		{"unknown severity meets no bound", alert("a", 0, "x", "env=prod"), "generic", ""},
		{"label exact", alert("a", 0, "x", "env=prod", "team=dba"), "generic", "label-exact"},
		{"label exact is case-sensitive", alert("a", 0, "x", "env=prod", "team=DBA"), "generic", ""},
		{"label regexp is whole", alert("a", 0, "x", "env=prod", "host=db12"), "generic", "label-regexp"},
		{"label regexp not a part", alert("a", 0, "x", "env=prod", "host=mydb12"), "generic", ""},
		{"missing label is empty", alert("a", 0, "x"), "generic", "label-missing"},
		{"empty label is missing", alert("a", 0, "x", "env="), "generic", "label-missing"},
		{"summary found anywhere", alert("a", 0, "db1: Disk Full on /var", "env=prod"), "generic", "summary"},
		{"not: neither block", alert("a", 0, "x", "env=prod", "service=api"), "generic", "excluded"},
		{"not: first block", alert("a", 0, "x", "env=staging", "service=api"), "generic", ""},
		{"not: second block", alert("a", 0, "a test", "env=prod", "service=api"), "generic", ""},
		{"first match wins", alert("edr", 1, "disk full", "env=", "team=dba"), "grafana", "by-name"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := ""
			if r := rs.Match(tc.al, tc.kind); r != nil {
				got = r.Name
			}
			if got != tc.want {
				t.Errorf("matched rule %q, want %q", got, tc.want)
			}
		})
	}
	if r := (*Rules)(nil).Match(alert("a", 1, "x"), ""); r != nil {
		t.Errorf("nil rules matched %s", r.Name)
	}
}

func TestGroupKeyAndTitle(t *testing.T) {
	rs := mustParse(t, `rules:
  - name: labels
    match: {source: a}
    action: declare
    kind: outage
    group_by: [instance, alertname]
    title: "{{ .Labels.alertname }} on {{ index .Labels \"instance\" }} ({{ .Source }}, sev {{ .Severity }}): {{ .Summary }}"
  - name: template
    match: {source: b}
    action: attach
    group_by: "host/{{ .Labels.host }}"
  - name: whole-rule
    match: {source: c}
    action: declare
    kind: outage
`)
	al := alert("a", 2, "disk\tfull", "alertname=Disk", "instance=db1:9100")
	if got, want := rs.Rules[0].GroupKey(al), `alertname="Disk",instance="db1:9100"`; got != want {
		t.Errorf("group key %q, want %q", got, want)
	}
	if got, want := rs.Rules[0].IncidentTitle(al), "Disk on db1:9100 (a, sev 2): disk full"; got != want {
		t.Errorf("title %q, want %q", got, want)
	}
	// Quoting keeps values apart that a plain join would run together.
	a1 := alert("a", 0, "", "alertname=x,instance=y")
	a2 := alert("a", 0, "", "alertname=x", "instance=y")
	if rs.Rules[0].GroupKey(a1) == rs.Rules[0].GroupKey(a2) {
		t.Errorf("two different label sets make one group key %q", rs.Rules[0].GroupKey(a1))
	}
	if got, want := rs.Rules[1].GroupKey(alert("b", 0, "", "host=fin-7")), "host/fin-7"; got != want {
		t.Errorf("template group key %q, want %q", got, want)
	}
	if got := rs.Rules[1].GroupKey(alert("b", 0, "")); got != "host/" {
		t.Errorf("template group key without the label %q, want host/", got)
	}
	if got, want := rs.Rules[2].GroupKey(alert("c", 0, "")), "rule:whole-rule"; got != want {
		t.Errorf("group key without group_by %q, want %q", got, want)
	}
	// Without a title the summary is the title; without a summary, the
	// source and key.
	if got := rs.Rules[2].IncidentTitle(alert("c", 0, "Backups failed")); got != "Backups failed" {
		t.Errorf("title %q, want the summary", got)
	}
	if got := rs.Rules[2].IncidentTitle(alert("c", 0, "  ")); got != "Alert k1 from c" {
		t.Errorf("title %q without a summary", got)
	}
	// Control characters and over-long values from labels do not reach
	// the title or the key.
	nasty := alert("a", 0, "", "alertname=\x1b[31mred\nline", "instance="+strings.Repeat("é", 2000))
	title, key := rs.Rules[0].IncidentTitle(nasty), rs.Rules[0].GroupKey(nasty)
	for what, s := range map[string]string{"title": title, "group key": key} {
		if strings.IndexFunc(s, unicode.IsControl) >= 0 {
			t.Errorf("%s %q holds a control character", what, s)
		}
	}
	if len(title) > sitrep.MaxTitle || len(key) > sitrep.MaxGroupKey {
		t.Errorf("title of %d bytes, key of %d bytes: over the limits", len(title), len(key))
	}
}
