package api

import (
	"net/http"
	"testing"

	"github.com/sitrep-ir/sitrep"
)

// An incident's view lists its attached alerts with their state now: the
// count goes on after the attach, and a resolve shows. The answer is
// checked against the OpenAPI document like every other.
func TestIncidentViewAlerts(t *testing.T) {
	e := newEnv(t, sqliteStore)
	alice := e.addUser("alice", sitrep.OrgResponder)
	res := e.ingest("prometheus",
		sitrep.AlertEvent{DedupKey: "disk", Summary: "Disk full on db-01", Severity: 2},
		sitrep.AlertEvent{DedupKey: "cpu", Summary: "CPU hot on db-01", Severity: 3})
	disk, cpu := res[0].AlertID, res[1].AlertID
	var declared sitrep.Result
	e.ok(http.StatusCreated, request{method: "POST", path: alertPath(disk) + "/declare", as: alice}).decode(t, &declared)
	id := declared.Incident.ID
	e.ok(http.StatusOK, request{method: "POST", path: alertPath(cpu) + "/attach", as: alice, body: map[string]string{"incident": id}})
	e.ingest("prometheus",
		sitrep.AlertEvent{DedupKey: "disk", Summary: "Disk full on db-01", Severity: 1},
		sitrep.AlertEvent{DedupKey: "disk", Summary: "Disk full on db-01"},
		sitrep.AlertEvent{DedupKey: "cpu", Action: sitrep.ActionResolve})

	v := e.incident(alice, id)
	if len(v.Alerts) != 2 {
		t.Fatalf("the view lists %d alerts, want 2", len(v.Alerts))
	}
	d, c := v.Alerts[0], v.Alerts[1]
	if d.ID != disk || d.Count != 3 || d.Severity != 1 || d.Status != sitrep.AlertFiring || d.LastSeen.IsZero() || d.AttachedBy != "alice" {
		t.Errorf("declared alert on the view: %+v", d)
	}
	if c.ID != cpu || c.Count != 1 || c.Status != sitrep.AlertResolved || c.ResolvedAt == nil {
		t.Errorf("attached alert on the view: %+v", c)
	}
	// The timeline has one entry per alert, however often it repeats.
	attached := 0
	for _, en := range e.timeline(alice, id) {
		if en.Type == "alert.attached" {
			attached++
		}
	}
	if attached != 2 {
		t.Errorf("%d alert.attached entries, want 2", attached)
	}
}
