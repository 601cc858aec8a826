package postgres_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/sitrep-ir/sitrep"
)

// TestReplicasIngestOneNewKey has two replicas (two stores, two pools)
// ingest batches that open the same new keys at once: the upsert on the
// partial unique index keeps one open alert per key, with every event
// counted, and the batches, which hold several keys, do not deadlock.
func TestReplicasIngestOneNewKey(t *testing.T) {
	dsn := freshDatabase(t)
	stores := [2]sitrep.AlertStore{openStore(t, dsn), openStore(t, dsn)}
	const rounds, keys = 20, 5
	at := time.Date(2026, 3, 14, 9, 0, 0, 0, time.UTC)
	var wg sync.WaitGroup
	for r, s := range stores {
		wg.Go(func() {
			for round := range rounds {
				var batch []sitrep.Ingest
				// Each replica walks the keys in its own order.
				for k := range keys {
					if r == 1 {
						k = keys - 1 - k
					}
					ev := sitrep.AlertEvent{Action: sitrep.ActionTrigger, DedupKey: fmt.Sprintf("round%d-key%d", round, k), Summary: "disk full"}
					batch = append(batch, sitrep.Ingest{Source: "edr", Event: ev, ReceivedAt: at})
				}
				if _, err := s.IngestAlerts(t.Context(), batch); err != nil {
					t.Errorf("replica %d round %d: %v", r, round, err)
					return
				}
			}
		})
	}
	wg.Wait()
	list, err := stores[0].Alerts(t.Context(), sitrep.AlertFilter{Open: true, Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != rounds*keys {
		t.Errorf("%d open alerts, want %d (one per key)", len(list), rounds*keys)
	}
	for _, al := range list {
		if al.Count != 2 {
			t.Errorf("alert %s counts %d, want 2 (one per replica)", al.DedupKey, al.Count)
		}
	}
}
