package webhook

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/sitrep-ir/sitrep"
)

const amGroupKey = `{}/{team="dba"}:{alertname="DiskWillFillIn4Hours"}`

// amDisk returns the event the disk alert of db1 or db2 in the testdata
// becomes, firing or resolved.
func amDisk(db string, action string, at time.Time) sitrep.AlertEvent {
	ev := sitrep.AlertEvent{
		Action:   action,
		Severity: 1,
		Labels: map[string]string{
			"alertname": "DiskWillFillIn4Hours", "instance": db + ".example.org:9100", "job": "node",
			"mountpoint": "/var/lib/postgresql", "severity": "critical", "alertmanager_group_key": amGroupKey,
		},
		OccurredAt: at,
	}
	if db == "db1" {
		ev.DedupKey = "4f7a6b3e8c1d2a90"
		ev.Labels["device"] = "/dev/sda1"
		ev.Summary = "Disk on db1 will fill within 4 hours"
	} else {
		ev.DedupKey = "a03c5e2f9b7d4e11"
		ev.Labels["device"] = "/dev/sdb1"
		// No summary annotation: the description stands in.
		ev.Summary = "Filesystem /var/lib/postgresql on db2.example.org:9100 is predicted to run out of space within the next 4 hours."
	}
	return ev
}

func TestParseAlertmanagerTestdata(t *testing.T) {
	db1Start := time.Date(2026, 11, 25, 20, 31, 10, 512e6, time.UTC)
	db2Start := time.Date(2026, 11, 25, 20, 32, 40, 90e6, time.UTC)
	db1End := time.Date(2026, 11, 25, 21, 6, 10, 512e6, time.UTC)
	db2End := time.Date(2026, 11, 25, 21, 12, 55, 90e6, time.UTC)
	tests := []struct {
		file string
		want []sitrep.AlertEvent
	}{
		{"firing.json", []sitrep.AlertEvent{
			amDisk("db1", sitrep.ActionTrigger, db1Start),
			amDisk("db2", sitrep.ActionTrigger, db2Start),
		}},
		// The group is still firing, but one of its alerts has resolved.
		{"partly-resolved.json", []sitrep.AlertEvent{
			amDisk("db2", sitrep.ActionTrigger, db2Start),
			amDisk("db1", sitrep.ActionResolve, db1End),
		}},
		{"resolved.json", []sitrep.AlertEvent{
			amDisk("db2", sitrep.ActionResolve, db2End),
			amDisk("db1", sitrep.ActionResolve, db1End),
		}},
		// An older Alertmanager: no notification_reason, routeLabels or
		// truncatedAlerts, no annotations: alertname is the summary.
		{"older-firing.json", []sitrep.AlertEvent{{
			Action: sitrep.ActionTrigger, DedupKey: "1b2c3d4e5f607182", Summary: "InstanceDown",
			Labels: map[string]string{
				"alertname": "InstanceDown", "instance": "web3.example.org:9100", "job": "node",
				"alertmanager_group_key": `{}:{alertname="InstanceDown"}`,
			},
			OccurredAt: time.Date(2026, 11, 25, 19, 58, 1, 4e6, time.UTC),
		}}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			got, err := ParseAlertmanager(readFile(t, "testdata/alertmanager/"+tt.file))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got, ignoreRaw); diff != "" {
				t.Errorf("events (-want +got):\n%s", diff)
			}
			for i, ev := range got {
				if !strings.HasPrefix(ev.Raw, `{"status":`) || !strings.Contains(ev.Raw, `"fingerprint":"`+tt.want[i].DedupKey+`"`) {
					t.Errorf("event %d: raw is not its alert's part of the payload: %.80q", i, ev.Raw)
				}
			}
			checkEvents(t, got)
		})
	}
}

func TestParseAlertmanager(t *testing.T) {
	tests := []struct {
		name string
		body string
		want []sitrep.AlertEvent
	}{
		{"no fingerprint: the key is derived from the alert's labels, not the group's",
			`{"groupKey":"g","alerts":[{"status":"firing","labels":{"alertname":"A","severity":"warning"}}]}`,
			[]sitrep.AlertEvent{{Action: "trigger", Summary: "A", Severity: 3,
				DedupKey: sitrep.DeriveDedupKey("A", map[string]string{"alertname": "A", "severity": "warning"}),
				Labels:   map[string]string{"alertname": "A", "severity": "warning", "alertmanager_group_key": "g"}}}},
		{"no group key: no group key label",
			`{"alerts":[{"status":"resolved","labels":{"alertname":"A"},"fingerprint":"f","endsAt":"2026-01-02T03:04:05Z"}]}`,
			[]sitrep.AlertEvent{{Action: "resolve", Summary: "A", DedupKey: "f", Labels: map[string]string{"alertname": "A"},
				OccurredAt: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}}},
		{"resolved without endsAt: when it started",
			`{"alerts":[{"status":"resolved","labels":{"alertname":"A"},"fingerprint":"f","startsAt":"2026-01-02T03:04:05+02:00"}]}`,
			[]sitrep.AlertEvent{{Action: "resolve", Summary: "A", DedupKey: "f", Labels: map[string]string{"alertname": "A"},
				OccurredAt: time.Date(2026, 1, 2, 1, 4, 5, 0, time.UTC)}}},
		{"summary beats description beats alertname",
			`{"alerts":[{"status":"firing","fingerprint":"f","labels":{"alertname":"A"},"annotations":{"description":"d","summary":" "}}]}`,
			[]sitrep.AlertEvent{{Action: "trigger", Summary: "d", DedupKey: "f", Labels: map[string]string{"alertname": "A"}}}},
		{"a number as a label value is its text",
			`{"alerts":[{"status":"firing","fingerprint":"f","labels":{"alertname":"A","code":500}}]}`,
			[]sitrep.AlertEvent{{Action: "trigger", Summary: "A", DedupKey: "f", Labels: map[string]string{"alertname": "A", "code": "500"}}}},
		{"unknown severity word",
			`{"alerts":[{"status":"firing","fingerprint":"f","labels":{"alertname":"A","severity":"page-me-maybe"}}]}`,
			[]sitrep.AlertEvent{{Action: "trigger", Summary: "A", DedupKey: "f", Labels: map[string]string{"alertname": "A", "severity": "page-me-maybe"}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseAlertmanager([]byte(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got, ignoreRaw); diff != "" {
				t.Errorf("events (-want +got):\n%s", diff)
			}
			checkEvents(t, got)
		})
	}
}

func TestParseAlertmanagerRefuses(t *testing.T) {
	alert := `{"status":"firing","labels":{"alertname":"A"}}`
	tests := []struct {
		name, body, field, want string
	}{
		{"empty", "  ", "", "the body is empty: send the webhook's JSON object"},
		{"an array", `[` + alert + `]`, "", "the body must be a JSON object with an alerts array"},
		{"not JSON", `version=4`, "", "not valid JSON: invalid character 'v' looking for beginning of value (at byte 1)"},
		{"no alerts", `{"version":"4","status":"firing"}`, "alerts", "alerts: missing: the payload has no alerts array"},
		{"empty alerts", `{"version":"4","alerts":[]}`, "alerts", "alerts: the payload's alerts array is empty"},
		{"alerts not an array", `{"alerts":{}}`, "alerts", "alerts: is a JSON object, want an array"},
		{"alert not an object", `{"alerts":[` + alert + `,"x"]}`, "alerts[1]", "alerts[1]: an alert must be a JSON object"},
		{"unknown status", `{"alerts":[` + alert + `,` + alert + `,` + alert + `,{"status":"flaming","labels":{"alertname":"A"}}]}`,
			"alerts[3]", `alerts[3]: status "flaming" is not firing or resolved`},
		{"no status", `{"alerts":[{"labels":{"alertname":"A"}}]}`, "alerts[0].status", "alerts[0].status: missing: an alert's status is firing or resolved"},
		{"label value an object", `{"alerts":[{"status":"firing","labels":{"alertname":"A","code":{"http":500}}}]}`,
			"alerts[0].labels", `alerts[0].labels: "code" is an object, want a string or a number`},
		{"label with an empty name", `{"alerts":[{"status":"firing","labels":{"":"A"}}]}`, "alerts[0].labels", "alerts[0].labels: a name is empty"},
		{"nothing to say", `{"alerts":[{"status":"firing","labels":{},"annotations":{"runbook_url":"u"}}]}`, "alerts[0]", "alerts[0]: the alert has no labels and no summary"},
		{"bad startsAt", `{"alerts":[{"status":"firing","labels":{"alertname":"A"},"startsAt":"now"}]}`, "alerts[0].startsAt", `alerts[0].startsAt: "now" is not an RFC 3339 time`},
		{"bad endsAt", `{"alerts":[{"status":"resolved","labels":{"alertname":"A"},"endsAt":"2026-13-01T00:00:00Z"}]}`, "alerts[0].endsAt", `alerts[0].endsAt: "2026-13-01T00:00:00Z" is not an RFC 3339 time`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseAlertmanager([]byte(tt.body))
			checkRefusal(t, got, err, tt.field, tt.want)
		})
	}
}

func TestParseGrafanaTestdata(t *testing.T) {
	labels := func() map[string]string {
		return map[string]string{
			"alertname": "High CPU", "grafana_folder": "Infrastructure", "host": "web1", "severity": "critical", "team": "web",
			"grafana_group_key": `{}/{__grafana_autogenerated__="true"}/{__grafana_receiver__="sitrep"}:{alertname="High CPU", grafana_folder="Infrastructure"}`,
			"grafana_org_id":    "1",
		}
	}
	tests := []struct {
		file string
		want sitrep.AlertEvent
	}{
		{"firing.json", sitrep.AlertEvent{Action: "trigger", DedupKey: "c6eadffa33fcdf37", Severity: 1, Summary: "CPU above 90% on web1",
			Labels: labels(), OccurredAt: time.Date(2026, 11, 25, 20, 40, 0, 0, time.UTC)}},
		{"resolved.json", sitrep.AlertEvent{Action: "resolve", DedupKey: "c6eadffa33fcdf37", Severity: 1, Summary: "CPU above 90% on web1",
			Labels: labels(), OccurredAt: time.Date(2026, 11, 25, 21, 5, 0, 0, time.UTC)}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			got, err := ParseGrafana(readFile(t, "testdata/grafana/"+tt.file))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff([]sitrep.AlertEvent{tt.want}, got, ignoreRaw); diff != "" {
				t.Errorf("events (-want +got):\n%s", diff)
			}
			if !strings.Contains(got[0].Raw, `"valueString":`) {
				t.Errorf("raw lost Grafana's own fields: %.100q", got[0].Raw)
			}
			checkEvents(t, got)
		})
	}
}

func TestParseGrafanaRefuses(t *testing.T) {
	tests := []struct {
		name, body, field, want string
	}{
		{"legacy alerting payload", `{"title":"[Alerting] Test notification","ruleId":0,"state":"alerting","evalMatches":[]}`,
			"alerts", "alerts: missing: the payload has no alerts array"},
		{"alerting state is not a status", `{"alerts":[{"status":"alerting","labels":{"alertname":"A"}}]}`,
			"alerts[0]", `alerts[0]: status "alerting" is not firing or resolved`},
		{"annotations not an object", `{"alerts":[{"status":"firing","labels":{"alertname":"A"},"annotations":"x"}]}`,
			"alerts[0].annotations", "alerts[0].annotations: must be an object of names to strings"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseGrafana([]byte(tt.body))
			checkRefusal(t, got, err, tt.field, tt.want)
		})
	}
}
