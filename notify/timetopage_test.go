package notify_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/sitrep-ir/sitrep"
	"github.com/sitrep-ir/sitrep/app"
	"github.com/sitrep-ir/sitrep/internal/pgtest"
	"github.com/sitrep-ir/sitrep/notify"
)

// declareRule declares an incident of every generic alert, one per host.
const declareRule = `rules:
  - name: page-on-disk
    match:
      kind: generic
    action: declare
    kind: outage
    severity: 2
    title: "{{ .Summary }}"
    group_by: [host]
`

// arrivals is an SMTP server on loopback that tells, for each message, its
// subject and when its DATA ended.
type arrivals struct {
	addr string
	mu   sync.Mutex
	at   map[string]chan time.Time
}

func newArrivals(b testing.TB) *arrivals {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	a := &arrivals{addr: ln.Addr().String(), at: map[string]chan time.Time{}}
	srv := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) { return &arrivalSession{a: a}, nil }))
	srv.Domain = "relay.test"
	srv.AllowInsecureAuth = true
	go srv.Serve(ln)
	b.Cleanup(func() { srv.Close() })
	return a
}

// expect returns the channel the arrival of a message whose subject
// contains key is sent on.
func (a *arrivals) expect(key string) chan time.Time {
	a.mu.Lock()
	defer a.mu.Unlock()
	c := make(chan time.Time, 1)
	a.at[key] = c
	return c
}

type arrivalSession struct{ a *arrivals }

func (s *arrivalSession) Reset()                               {}
func (s *arrivalSession) Logout() error                        { return nil }
func (s *arrivalSession) Mail(string, *smtp.MailOptions) error { return nil }
func (s *arrivalSession) Rcpt(string, *smtp.RcptOptions) error { return nil }
func (s *arrivalSession) Data(r io.Reader) error {
	raw, err := io.ReadAll(r)
	end := time.Now()
	if err != nil {
		return err
	}
	m, err := parseMessage(raw)
	if err != nil {
		return err
	}
	s.a.mu.Lock()
	defer s.a.mu.Unlock()
	for key, c := range s.a.at {
		if strings.Contains(m.Subject, key) {
			c <- end
			delete(s.a.at, key)
		}
	}
	return nil
}

// BenchmarkTimeToPage measures, over loopback, from the POST of an alert
// to the generic intake to the end of the SMTP DATA of the page its
// declaration sends: intake, group commit, a dispatch rule that declares,
// planning, the job queue and the SMTP relay. It reports the 50th and 99th
// percentiles. SITREP_BENCH_POLL overrides the job queue's poll interval.
func BenchmarkTimeToPage(b *testing.B) {
	dbs := []struct {
		name string
		db   func(b *testing.B) string
	}{
		{"sqlite", func(b *testing.B) string { return "sqlite:" + filepath.Join(b.TempDir(), "sitrep.db") }},
		{"postgres", func(b *testing.B) string { return pgtest.FreshDatabase(b) }},
	}
	for _, d := range dbs {
		b.Run(d.name, func(b *testing.B) {
			benchTimeToPage(b, d.db(b))
		})
	}
}

func benchTimeToPage(b *testing.B, db string) {
	ctx := context.Background()
	sink := newArrivals(b)
	plans := b.TempDir()
	if err := os.WriteFile(filepath.Join(plans, "dispatch.yaml"), []byte(declareRule), 0o644); err != nil {
		b.Fatal(err)
	}
	nc := app.NotifyConfig{Mail: &notify.MailConfig{Relay: sink.addr, From: "sitrep@example.org"}, SweepInterval: time.Hour}
	if p := os.Getenv("SITREP_BENCH_POLL"); p != "" {
		d, err := time.ParseDuration(p)
		if err != nil {
			b.Fatalf("SITREP_BENCH_POLL: %v", err)
		}
		nc.PollInterval = d
	}
	a, err := app.New(ctx, app.Config{Addr: "127.0.0.1:0", DB: db, Plans: plans, Notify: nc, BootstrapToken: "sitrep_test-token-of-the-administrator-0123456789"})
	if err != nil {
		b.Fatal(err)
	}
	if err := a.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		defer cancel()
		a.Stop(ctx)
	})
	admin := &sitrep.User{Name: "admin", Role: sitrep.OrgAdmin}
	if _, _, err := a.Notifier().AddContact(ctx, admin, "admin", notify.ContactInput{Kind: notify.ChannelEmail, Address: "admin@example.org"}); err != nil {
		b.Fatal(err)
	}
	_, key, err := a.Service().CreateSource(ctx, admin, sitrep.Source{Name: "monitor", Kind: "generic"})
	if err != nil {
		b.Fatal(err)
	}
	url := a.URL() + "/intake/generic/" + key
	var took []time.Duration
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		summary := fmt.Sprintf("disk full on host-%d", i)
		arrived := sink.expect(summary)
		body := fmt.Sprintf(`{"summary": %q, "severity": 2, "dedup_key": "host-%d/disk", "labels": {"host": "host-%d"}}`, summary, i, i)
		t0 := time.Now()
		resp, err := http.Post(url, "application/json", strings.NewReader(body))
		if err != nil {
			b.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusAccepted {
			b.Fatalf("post the alert: %s", resp.Status)
		}
		select {
		case end := <-arrived:
			took = append(took, end.Sub(t0))
		case <-time.After(30 * time.Second):
			b.Fatalf("no page for %q after 30 s", summary)
		}
	}
	b.StopTimer()
	slices.Sort(took)
	if len(took) > 0 {
		pct := func(p float64) time.Duration { return took[min(len(took)-1, int(p*float64(len(took))))] }
		b.ReportMetric(float64(pct(0.50).Microseconds())/1000, "p50-ms")
		b.ReportMetric(float64(pct(0.99).Microseconds())/1000, "p99-ms")
		b.ReportMetric(float64(took[len(took)-1].Microseconds())/1000, "max-ms")
	}
}
