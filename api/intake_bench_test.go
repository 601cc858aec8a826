package api

import (
	"bytes"
	"context"
	"net/http"
	"sync/atomic"
	"testing"

	"github.com/sitrep-ir/sitrep"
)

// countingIngester answers every event as a new alert at once, so that a
// benchmark measures the handler around the ingester, not the store.
type countingIngester struct{ next atomic.Int64 }

func (c *countingIngester) Ingest(_ context.Context, _ string, events []sitrep.AlertEvent) ([]sitrep.IngestResult, error) {
	out := make([]sitrep.IngestResult, len(events))
	for i := range out {
		out[i] = sitrep.IngestResult{AlertID: c.next.Add(1), New: true}
	}
	return out, nil
}

// discardWriter is an http.ResponseWriter that keeps only the status.
type discardWriter struct {
	h      http.Header
	status int
}

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) WriteHeader(code int)        { w.status = code }
func (w *discardWriter) Write(b []byte) (int, error) { return len(b), nil }

// BenchmarkIntakeHandler is the server's own work on a one-alert request
// to the generic intake, from the API's ServeHTTP to its answer, without
// the connection (net/http) or the store: what the handler costs and
// allocates per request.
func BenchmarkIntakeHandler(b *testing.B) {
	e := newEnv(b, sqliteStore)
	a := New(Config{Service: e.svc, Registry: e.reg, Ingester: &countingIngester{}})
	e.api = a
	key := e.addSource("bench", "generic")
	body := []byte(`{"summary":"Disk full on host-7 (load test ab12 #42)","severity":"critical","dedup_key":"bench-ab12-42","labels":{"host":"host-7","service":"postgres","env":"load-test"}}`)
	req, err := http.NewRequest(http.MethodPost, "http://127.0.0.1/intake/generic/"+key, nil)
	if err != nil {
		b.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.RemoteAddr = "127.0.0.1:40000"
	req.ContentLength = int64(len(body))
	w := &discardWriter{h: http.Header{}}
	b.ReportAllocs()
	for b.Loop() {
		r := *req
		r.Body = readCloser{bytes.NewReader(body)}
		clear(w.h)
		w.status = 0
		a.ServeHTTP(w, &r)
		if w.status != http.StatusAccepted {
			b.Fatalf("status %d", w.status)
		}
	}
}

type readCloser struct{ *bytes.Reader }

func (readCloser) Close() error { return nil }
