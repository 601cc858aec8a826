package ingest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/sitrep-ir/sitrep"
	"github.com/sitrep-ir/sitrep/internal/pgtest"
	"github.com/sitrep-ir/sitrep/store/postgres"
)

// BenchmarkIngest measures alerts stored per second through the ingester,
// durably (each call returns after its batch committed):
//
//   - Batch100x16: 16 goroutines each sending calls of 100 unique alerts.
//   - Single64: 64 goroutines each sending one unique alert per call.
//   - Storm: 16 goroutines sending calls of 100 triggers of one key.
//
// On SQLite always, on PostgreSQL when SITREP_TEST_POSTGRES is set.
func BenchmarkIngest(b *testing.B) {
	stores := []struct {
		name string
		open func(b *testing.B) sitrep.AlertStore
	}{
		{"SQLite", func(b *testing.B) sitrep.AlertStore { return openStore(b, filepath.Join(b.TempDir(), "sitrep.db")) }},
	}
	if os.Getenv("SITREP_TEST_POSTGRES") != "" {
		stores = append(stores, struct {
			name string
			open func(b *testing.B) sitrep.AlertStore
		}{"PostgreSQL", openPostgres})
	}
	for _, st := range stores {
		b.Run(st.name, func(b *testing.B) {
			b.Run("Batch100x16", func(b *testing.B) { benchIngest(b, st.open(b), 16, 100, false) })
			b.Run("Single64", func(b *testing.B) { benchIngest(b, st.open(b), 64, 1, false) })
			b.Run("Storm", func(b *testing.B) { benchIngest(b, st.open(b), 16, 100, true) })
		})
	}
}

// benchIngest has workers goroutines send calls of per events until b.N
// calls are done; storm sends one key, otherwise every alert is new.
func benchIngest(b *testing.B, s sitrep.AlertStore, workers, per int, storm bool) {
	in := New(s, Options{})
	defer in.Close()
	var calls, seq atomic.Int64
	raw := `{"labels":{"alertname":"DiskFull","host":"db1"},"annotations":{"summary":"disk full"}}`
	b.ResetTimer()
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			evs := make([]sitrep.AlertEvent, per)
			for calls.Add(1) <= int64(b.N) {
				for i := range evs {
					key := "storm"
					if !storm {
						key = fmt.Sprintf("disk-full-%d", seq.Add(1))
					}
					evs[i] = sitrep.AlertEvent{Action: sitrep.ActionTrigger, DedupKey: key, Severity: 2, Summary: "disk full on db1",
						Labels: map[string]string{"host": "db1", "alertname": "DiskFull"}, Raw: raw}
				}
				if _, err := in.Ingest(context.Background(), "bench", evs); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	b.ReportMetric(float64(b.N*per)/b.Elapsed().Seconds(), "alerts/s")
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "calls/s")
}

// openPostgres opens a store on a new database of the test server, dropped
// when the benchmark ends.
func openPostgres(b *testing.B) sitrep.AlertStore {
	dsn := pgtest.FreshDatabase(b)
	s, err := postgres.Open(context.Background(), dsn, nil)
	if err != nil {
		b.Fatalf("open store: %v", err)
	}
	b.Cleanup(func() { s.Close() })
	return s
}
