package dispatch

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/sitrep-ir/sitrep"
	"github.com/sitrep-ir/sitrep/internal/pgtest"
	"github.com/sitrep-ir/sitrep/store/postgres"
)

// Two replicas on one PostgreSQL database, each with its own dispatcher,
// receive alerts of one group at the same moment. Both look up the group,
// find no incident and declare; the declarations are serialised by the
// store, and the second, re-checking the group under the store's
// transaction, is refused and attaches to the first's incident instead. So
// each group has exactly one incident, holding the alerts of both.
func TestTwoReplicasDeclareOneGroupOnce(t *testing.T) {
	dsn := pgtest.FreshDatabase(t)
	open := func() sitrep.Store {
		s, err := postgres.Open(context.Background(), dsn, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	a := newEnvOn(t, open(), deskRules)
	b := newEnvOn(t, open(), deskRules)
	a.start(Options{})
	b.start(Options{})

	const groups = 10
	ids := make([][2]int64, groups)
	for g := range groups {
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i, e := range []*env{a, b} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				res, err := e.d.Ingest(context.Background(), "am", []sitrep.AlertEvent{
					ev(fmt.Sprintf("replica%d-%d", i, g), "Disk fills", fmt.Sprintf("alertname=Disk%d", g), fmt.Sprintf("instance=db%d", i)),
				})
				if err != nil {
					t.Error(err)
					return
				}
				ids[g][i] = res[0].AlertID
			}()
		}
		close(start)
		wg.Wait()
	}
	a.flush()
	b.flush()

	incs := a.incidents()
	if len(incs) != groups {
		t.Errorf("%d incidents for %d groups, want one each", len(incs), groups)
	}
	byGroup := map[string]*sitrep.Incident{}
	for _, inc := range incs {
		if prev := byGroup[inc.GroupKey]; prev != nil {
			t.Errorf("group %s has two incidents: %s and %s", inc.GroupKey, prev.ID, inc.ID)
		}
		byGroup[inc.GroupKey] = inc
	}
	for g := range groups {
		inc := byGroup[fmt.Sprintf(`alertname="Disk%d"`, g)]
		if inc == nil {
			t.Errorf("group %d has no incident", g)
			continue
		}
		if len(inc.Alerts) != 2 {
			t.Errorf("%s holds %d alerts, want the 2 of its group", inc.ID, len(inc.Alerts))
		}
		for _, id := range ids[g] {
			if al := a.alert(id); al.IncidentID != inc.ID {
				t.Errorf("alert %d is %s on %q, want it on %s", id, al.Triage, al.IncidentID, inc.ID)
			}
		}
	}
	t.Logf("declarations: %v by one replica, %v by the other; attachments: %v and %v",
		a.decisions("declare", "disk"), b.decisions("declare", "disk"), a.decisions("attach", "disk"), b.decisions("attach", "disk"))
}
