package api

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/sitrep-ir/sitrep"
	"github.com/sitrep-ir/sitrep/plan"
)

// planRoute reports whether rt is one of the routes testPlans covers.
func planRoute(rt route) bool {
	return strings.HasPrefix(rt.path, "/api/v1/plans") || strings.HasPrefix(rt.path, "/api/v1/incidents/{id}/drafts/") ||
		rt.path == "/api/v1/incidents/{id}/templates"
}

const breachPlan = `title: Breach of personal data
kinds: [data-breach]
severity: 2
roles:
  information:
    people: [bob]
communications:
  - name: executive-brief
    audience: executives
    text: "{{id}}: {{title}}. Speaking for us: {{information_officer}}."
  - name: customer-notice
    audience: customers
    command_approval: true
    text: We are writing to you about {{id}}.
targets:
  declare: 30m
`

func TestPlansSQLite(t *testing.T)   { testPlans(t, sqliteStore) }
func TestPlansPostgres(t *testing.T) { testPlans(t, postgresStore) }

// testPlans runs the plans routes over real HTTP against a plans directory:
// the plans in force, a plan in full, an incident's templates filled in, and
// a statement to customers that waits for Command, is rejected, drafted
// again from its template and approved. Every exchange is checked against
// the OpenAPI document.
func testPlans(t *testing.T, open storeFunc) {
	e := newEnv(t, open)
	dir := t.TempDir()
	file := filepath.Join(dir, "data-breach.yaml")
	if err := os.WriteFile(file, []byte(breachPlan), 0o644); err != nil {
		t.Fatal(err)
	}
	lib, err := plan.NewLibrary(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	alice := e.addUser("alice", sitrep.OrgResponder)
	bob := e.addUser("bob", sitrep.OrgResponder)
	vic := e.addUser("vic", sitrep.OrgViewer)

	// Without plans the list is empty and no plan is found.
	var list sitrep.PlanList
	e.ok(http.StatusOK, request{method: "GET", path: "/api/v1/plans", as: vic}).decode(t, &list)
	if len(list.Plans) != 0 || list.Plans == nil {
		t.Errorf("plans without a plans directory: %+v", list)
	}
	e.fail(http.StatusNotFound, "runs without plans", request{method: "GET", path: "/api/v1/plans/data-breach", as: vic})
	e.svc.Plans = lib

	e.ok(http.StatusOK, request{method: "GET", path: "/api/v1/plans", as: vic}).decode(t, &list)
	if len(list.Plans) != 1 || list.Plans[0].Name != "data-breach" || list.Plans[0].File != file || !cmp.Equal(list.Plans[0].Kinds, []string{"data-breach"}) || list.Problems != nil {
		t.Errorf("plans: %+v", list)
	}
	var doc plan.Plan
	e.ok(http.StatusOK, request{method: "GET", path: "/api/v1/plans/data-breach", as: vic}).decode(t, &doc)
	if doc.Title != "Breach of personal data" || len(doc.Communications) != 2 || doc.Targets.Declare != 30*time.Minute || doc.Role("information") == nil {
		t.Errorf("plan: %+v", doc)
	}
	e.fail(http.StatusNotFound, `no plan named "worm"`, request{method: "GET", path: "/api/v1/plans/worm", as: vic})
	e.fail(http.StatusUnauthorized, "", request{method: "GET", path: "/api/v1/plans"})

	// A broken edit: listed with its problems, the last good plan in force.
	if err := os.WriteFile(file, []byte(breachPlan+"severity: 9\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := lib.Reload(context.Background()); err == nil {
		t.Fatal("a broken plan loaded")
	}
	e.ok(http.StatusOK, request{method: "GET", path: "/api/v1/plans", as: vic}).decode(t, &list)
	if len(list.Plans) != 1 || len(list.Problems) == 0 || list.Problems[0].File != file || list.Problems[0].Line == 0 {
		t.Errorf("plans after a broken edit: %+v", list)
	}

	// An incident run with the plan; bob speaks for it.
	id := e.declare(alice, sitrep.DeclareInput{Title: "Customer table for sale", Kind: "data-breach"})
	inc := path(id)
	e.change(bob, "POST", inc+"/checkin", nil)
	e.change(alice, "POST", inc+"/roles", sitrep.Assign{Role: sitrep.RoleInformation, User: "bob"})

	var ts struct{ Templates []sitrep.Template }
	e.ok(http.StatusOK, request{method: "GET", path: inc + "/templates", as: vic}).decode(t, &ts)
	want := []sitrep.Template{
		{Name: "executive-brief", Audience: "executives", Text: id + ": Customer table for sale. Speaking for us: bob."},
		{Name: "customer-notice", Audience: "customers", CommandApproval: true, Text: "We are writing to you about " + id + "."},
	}
	if diff := cmp.Diff(want, ts.Templates); diff != "" {
		t.Errorf("templates (-want +got):\n%s", diff)
	}

	// bob's own words to customers wait for Command; alice rejects them.
	res := e.change(bob, "POST", inc+"/communications", sitrep.Publish{Audience: "customers", Text: "Oops."})
	if got := types(res.Entries); !slices.Equal(got, []string{"communication.drafted"}) || len(res.Incident.Communications) != 0 {
		t.Errorf("bob's statement to customers: %v, communications %+v", got, res.Incident.Communications)
	}
	e.fail(http.StatusForbidden, "only Command (alice) authorises communications", request{method: "POST", path: inc + "/drafts/1/approve", as: bob})
	e.fail(http.StatusBadRequest, "reason is required", request{method: "POST", path: inc + "/drafts/1/reject", as: alice, body: map[string]string{"reason": ""}})
	e.fail(http.StatusBadRequest, "not a draft number", request{method: "POST", path: inc + "/drafts/first/approve", as: alice})
	res = e.change(alice, "POST", inc+"/drafts/1/reject", map[string]string{"reason": "use the notice counsel cleared"})
	if d := res.Incident.Drafts[0]; d.Status != sitrep.DraftRejected || d.Reason != "use the notice counsel cleared" {
		t.Errorf("draft after rejection: %+v", d)
	}
	e.fail(http.StatusConflict, "already rejected", request{method: "POST", path: inc + "/drafts/1/approve", as: alice})

	// From the template, approved: published.
	res = e.change(bob, "POST", inc+"/communications", sitrep.Publish{Template: "customer-notice"})
	if d := res.Incident.Drafts[1]; d.Status != sitrep.DraftPending || d.Audience != "customers" || d.Text != want[1].Text || d.Template != "customer-notice" {
		t.Errorf("draft from the template: %+v", d)
	}
	res = e.change(alice, "POST", inc+"/drafts/2/approve", nil)
	if got := types(res.Entries); !slices.Equal(got, []string{"communication.approved", "communication.published"}) {
		t.Errorf("approval wrote %v", got)
	}
	if c := res.Incident.Communications; len(c) != 1 || c[0].Audience != "customers" || c[0].Text != want[1].Text {
		t.Errorf("communications after approval: %+v", c)
	}
	e.fail(http.StatusNotFound, "has no draft 3", request{method: "POST", path: inc + "/drafts/3/approve", as: alice})
	e.fail(http.StatusBadRequest, "has no template press", request{method: "POST", path: inc + "/communications", as: bob, body: sitrep.Publish{Template: "press"}})
	e.incident(vic, id)
	e.verified(alice, id)

	for _, rt := range routes {
		if planRoute(rt) && !e.covered[rt.pattern()] {
			t.Errorf("testPlans did not exercise %s with success", rt.pattern())
		}
	}
}

func path(id string) string { return "/api/v1/incidents/" + esc(id) }
