package api

import (
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/sitrep-ir/sitrep"
)

// TestScenario runs an incident from declaration to close over real HTTP,
// through every route, and checks each exchange against the OpenAPI document
// (env.call does) and the state each change leaves.
func TestScenario(t *testing.T) {
	e := newEnv(t, sqliteStore)

	// Operations.
	if r := e.ok(http.StatusOK, request{method: "GET", path: "/healthz"}); string(r.body) != "ok\n" {
		t.Errorf("healthz: %s", r)
	}
	e.ok(http.StatusOK, request{method: "GET", path: "/readyz"})
	if r := e.ok(http.StatusOK, request{method: "GET", path: "/api/v1/openapi.json"}); string(r.body) != string(openAPIDocument) {
		t.Errorf("the served document is not api/openapi.json")
	}

	// People.
	alice := e.addUser("alice", sitrep.OrgResponder)
	bob := e.addUser("bob", sitrep.OrgResponder)
	carol := e.addUser("carol", sitrep.OrgResponder)
	erin := e.addUser("erin", sitrep.OrgResponder)
	var me sitrep.User
	e.ok(http.StatusOK, request{method: "GET", path: "/api/v1/me", as: alice}).decode(t, &me)
	if me.Name != "alice" || me.Role != sitrep.OrgResponder {
		t.Errorf("me: %+v", me)
	}
	var users struct{ Users []sitrep.User }
	e.ok(http.StatusOK, request{method: "GET", path: "/api/v1/users", as: bob}).decode(t, &users)
	var names []string
	for _, u := range users.Users {
		names = append(names, u.Name)
	}
	if diff := cmp.Diff([]string{"admin", "alice", "bob", "carol", "erin"}, names); diff != "" {
		t.Errorf("users (-want +got):\n%s", diff)
	}
	// A token made without a body is the caller's own, and works.
	var tok struct{ ID, User, Token string }
	e.ok(http.StatusCreated, request{method: "POST", path: "/api/v1/tokens", as: alice}).decode(t, &tok)
	if tok.User != "alice" || !strings.HasPrefix(tok.Token, sitrep.TokenPrefix) || tok.ID == "" {
		t.Errorf("own token: %+v", tok)
	}
	alice2 := &caller{name: "alice", token: tok.Token}
	e.ok(http.StatusOK, request{method: "GET", path: "/api/v1/me", as: alice2})
	// A password for the web UI; password_test.go checks who may set which.
	e.ok(http.StatusNoContent, request{method: "PUT", path: "/api/v1/users/alice/password", as: alice, body: map[string]string{"password": "alice's passphrase"}})

	// Declaration.
	r := e.ok(http.StatusCreated, request{method: "POST", path: "/api/v1/incidents", as: alice, body: sitrep.DeclareInput{Title: "Virus on the mail server"}})
	var declared sitrep.Result
	r.decode(t, &declared)
	id := declared.Incident.ID
	if got, want := r.header.Get("Location"), "/api/v1/incidents/"+id; got != want {
		t.Errorf("Location = %q, want %q", got, want)
	}
	if declared.Incident.Command != "alice" || declared.Incident.Kind != sitrep.DefaultKind || declared.Incident.Severity != sitrep.DefaultSeverity {
		t.Errorf("declared: %+v", declared.Incident.Incident)
	}
	if diff := cmp.Diff([]string{"incident.declared"}, types(declared.Entries)); diff != "" {
		t.Errorf("declaration entries (-want +got):\n%s", diff)
	}
	base := "/api/v1/incidents/" + id

	var list struct{ Incidents []sitrep.IncidentView }
	e.ok(http.StatusOK, request{method: "GET", path: "/api/v1/incidents", as: bob}).decode(t, &list)
	if len(list.Incidents) != 1 || list.Incidents[0].ID != id {
		t.Errorf("open incidents: %+v", list.Incidents)
	}
	if got := e.incident(bob, id); got.Title != "Virus on the mail server" || got.Phase != sitrep.PhaseIdentification {
		t.Errorf("incident: %+v", got.Incident)
	}

	res := e.change(alice, "PATCH", base, map[string]any{"kind": "malware", "severity": 2, "reason": "confirmed by the antivirus"})
	if res.Incident.Kind != "malware" || res.Incident.Severity != 2 {
		t.Errorf("edit: kind %q severity %d", res.Incident.Kind, res.Incident.Severity)
	}

	// Staffing.
	e.change(bob, "POST", base+"/checkin", nil)
	e.change(carol, "POST", base+"/checkin", map[string]any{})
	e.change(alice, "POST", base+"/members", map[string]any{"user": "erin"})
	e.change(erin, "POST", base+"/checkin", nil)
	e.change(alice, "POST", base+"/roles", map[string]any{"role": "operations", "user": "bob"})
	res = e.change(alice, "POST", base+"/roles", map[string]any{"role": "information", "user": "carol"})
	var roles []string
	for _, h := range res.Incident.Roles {
		roles = append(roles, h.Role+"="+h.User)
	}
	if diff := cmp.Diff([]string{"information=carol", "operations=bob"}, roles); diff != "" {
		t.Errorf("roles (-want +got):\n%s", diff)
	}

	// Work.
	res = e.change(bob, "POST", base+"/tasks", map[string]any{"section": "operations", "title": "Isolate the mail server", "assignee": "carol"})
	if len(res.Incident.Tasks) != 1 || res.Incident.Tasks[0].Assignee != "carol" || res.Incident.Tasks[0].Status != sitrep.TaskOpen {
		t.Errorf("task: %+v", res.Incident.Tasks)
	}
	e.change(bob, "PATCH", base+"/tasks/1", map[string]any{"assignee": "erin"})
	res = e.change(erin, "PATCH", base+"/tasks/1", map[string]any{"status": "done", "reason": "unplugged"})
	if task := res.Incident.Tasks[0]; task.Assignee != "erin" || task.Status != sitrep.TaskDone || task.DoneAt == nil {
		t.Errorf("task done: %+v", task)
	}
	e.change(carol, "POST", base+"/notes", map[string]any{"text": "Mail queue frozen at 03:12."})
	e.change(carol, "POST", base+"/communications", map[string]any{"audience": "internal", "text": "Mail is down while we contain a virus."})
	var comms struct{ Communications []sitrep.Communication }
	e.ok(http.StatusOK, request{method: "GET", path: base + "/communications", as: erin}).decode(t, &comms)
	if len(comms.Communications) != 1 || comms.Communications[0].By != "carol" || comms.Communications[0].Audience != "internal" {
		t.Errorf("communications: %+v", comms.Communications)
	}
	e.change(alice, "POST", base+"/assets", map[string]any{"kind": "host", "name": "mail-01"})
	e.change(bob, "POST", base+"/assets", map[string]any{"kind": "host", "name": "db 01/primary"})
	res = e.change(alice, "DELETE", base+"/assets/host/"+esc("db 01/primary")+"?reason=linked+in+error", nil)
	if len(res.Incident.Assets) != 1 || res.Incident.Assets[0].Name != "mail-01" {
		t.Errorf("assets after unlink: %+v", res.Incident.Assets)
	}
	res = e.change(alice, "DELETE", base+"/roles/information", nil)
	if h := res.Incident.Holder(sitrep.RoleInformation); h != "alice" {
		t.Errorf("information after unassign: held by %s, want Command", h)
	}

	// Transfer of command.
	e.change(alice, "POST", base+"/transfer", map[string]any{"to": "carol", "briefing": "Contained."})
	res = e.change(alice, "DELETE", base+"/transfer?reason=carol+is+needed+on+the+mail+server", nil)
	if res.Incident.Transfer != nil {
		t.Errorf("transfer after withdrawal: %+v", res.Incident.Transfer)
	}
	e.change(alice, "POST", base+"/transfer", map[string]any{"to": "bob", "briefing": "Contained; eradication next."})
	res = e.change(bob, "POST", base+"/accept-command", nil)
	if res.Incident.Command != "bob" || res.Incident.Announcement == nil {
		t.Fatalf("after accept: command %s, announcement %+v", res.Incident.Command, res.Incident.Announcement)
	}
	if diff := cmp.Diff([]string{"alice", "carol", "erin"}, res.Incident.Announcement.Pending); diff != "" {
		t.Errorf("must acknowledge (-want +got):\n%s", diff)
	}
	for _, c := range []*caller{alice, carol, erin} {
		res = e.change(c, "POST", base+"/ack", nil)
	}
	if a := res.Incident.Announcement; len(a.Pending) != 0 || a.Complete == nil {
		t.Errorf("announcement after every ack: %+v", a)
	}
	e.change(carol, "POST", base+"/checkout", nil)
	res = e.change(bob, "POST", base+"/checkout", map[string]any{"user": "erin"})
	if diff := cmp.Diff([]string{"alice", "bob"}, res.Incident.OnScene()); diff != "" {
		t.Errorf("on scene (-want +got):\n%s", diff)
	}

	// Phases, record and post mortem.
	for _, p := range []sitrep.Phase{sitrep.PhaseContainment, sitrep.PhaseEradication, sitrep.PhaseRecovery, sitrep.PhasePostMortem} {
		e.change(bob, "POST", base+"/phase", map[string]any{"phase": p, "reason": "done with the previous one"})
	}
	var page struct{ Entries []sitrep.EntryView }
	e.ok(http.StatusOK, request{method: "GET", path: base + "/timeline?after=2&limit=3", as: carol}).decode(t, &page)
	var seqs []int64
	for _, en := range page.Entries {
		seqs = append(seqs, en.Seq)
		if en.Text == "" {
			t.Errorf("entry %d has no text", en.Seq)
		}
	}
	if diff := cmp.Diff([]int64{3, 4, 5}, seqs); diff != "" {
		t.Errorf("timeline page (-want +got):\n%s", diff)
	}
	e.verified(carol, id)

	var rep sitrep.Report
	e.ok(http.StatusOK, request{method: "GET", path: base + "/report", as: carol}).decode(t, &rep)
	if rep.Incident.IncidentID != id || len(rep.Missing) == 0 || !strings.Contains(rep.Incident.NarrativeDraft, "Mail queue frozen") {
		t.Errorf("report before writing: %+v", rep)
	}
	res = e.change(bob, "PATCH", base+"/report", map[string]any{
		"accept_draft": true, "what_worked": "Isolation within minutes.", "needs_improvement": "Paging at night.",
		"follow_ups": []map[string]string{{"action": "Page the on-call by phone", "owner": "alice"}},
	})
	if res.Incident.Report.Narrative == "" || len(res.Incident.Report.FollowUps) != 1 {
		t.Errorf("report after edit: %+v", res.Incident.Report)
	}
	for _, q := range []request{
		{method: "GET", path: base + "/report?format=md", as: carol},
		{method: "GET", path: base + "/report", as: carol, header: map[string]string{"Accept": "text/markdown"}},
	} {
		md := e.ok(http.StatusOK, q)
		if ct := md.header.Get("Content-Type"); ct != "text/markdown; charset=utf-8" || !strings.HasPrefix(string(md.body), "# Incident Report: "+id) {
			t.Errorf("%s: markdown report: %s", q.path, md)
		}
	}
	res = e.change(bob, "POST", base+"/phase", map[string]any{"phase": "closed", "reason": "post mortem complete"})
	if res.Incident.Phase != sitrep.PhaseClosed || res.Incident.ClosedAt == nil {
		t.Errorf("closed: phase %s closed_at %v", res.Incident.Phase, res.Incident.ClosedAt)
	}
	e.ok(http.StatusOK, request{method: "GET", path: "/api/v1/incidents", as: bob}).decode(t, &list)
	if len(list.Incidents) != 0 {
		t.Errorf("open incidents after close: %d", len(list.Incidents))
	}
	e.ok(http.StatusOK, request{method: "GET", path: "/api/v1/incidents?all=true", as: bob}).decode(t, &list)
	if len(list.Incidents) != 1 {
		t.Errorf("all incidents after close: %d", len(list.Incidents))
	}

	// The whole record, in order, and still sound.
	want := []string{
		"incident.declared", "incident.edited", "resource.checked_in", "resource.checked_in", "member.named", "resource.checked_in",
		"role.assigned", "role.assigned", "task.created", "task.assigned", "task.status_changed", "note.added",
		"communication.published", "asset.linked", "asset.linked", "asset.unlinked", "role.unassigned",
		"command.offered", "command.offer_withdrawn", "command.offered", "command.transferred",
		"command.acknowledged", "command.acknowledged", "command.acknowledged", "resource.checked_out", "resource.checked_out",
		"phase.changed", "phase.changed", "phase.changed", "phase.changed", "report.edited", "phase.changed",
	}
	if diff := cmp.Diff(want, types(e.timeline(alice, id))); diff != "" {
		t.Errorf("timeline (-want +got):\n%s", diff)
	}
	e.verified(alice, id)

	// Metrics last, so that they count the requests above.
	e.ok(http.StatusOK, request{method: "GET", path: "/metrics"})

	var missing []string
	for _, rt := range routes {
		if !e.covered[rt.pattern()] && !triageRoute(rt) && !notifyRoute(rt) && !planRoute(rt) && !exerciseRoute(rt) { // TestTriage covers the desk, TestPlans the plans, TestExercisesAPI the exercises
			missing = append(missing, rt.pattern())
		}
	}
	slices.Sort(missing)
	if len(missing) > 0 {
		t.Errorf("the scenario did not exercise these routes with success: %s", strings.Join(missing, "; "))
	}
}
