package notify_test

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sitrep-ir/sitrep"
	"github.com/sitrep-ir/sitrep/app"
	"github.com/sitrep-ir/sitrep/notify"
)

// backoffs records the attempts the retry policy was asked about.
type backoffs struct {
	mu       sync.Mutex
	attempts []int
}

func (b *backoffs) policy(attempt int) time.Duration {
	b.mu.Lock()
	b.attempts = append(b.attempts, attempt)
	b.mu.Unlock()
	return 20 * time.Millisecond
}

func (b *backoffs) seen() []int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.attempts)
}

// closedAddr returns a loopback address nothing listens on.
func closedAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// failedFor waits until the incident's only notification to who has
// failed for good and returns it.
func (f *fixture) failedFor(id, who string) notify.Notification {
	f.t.Helper()
	var got notify.Notification
	f.waitFor("the notification to "+who+" to fail", func() bool {
		for _, n := range f.notifications(id) {
			if n.Recipient == who && n.Status == notify.StatusFailed {
				got = n
				return true
			}
		}
		return false
	})
	return got
}

// An SMTP relay nobody answers at: the e-mail is tried MaxAttempts times
// with the backoff between, then marked failed with the reason; the
// incident goes on meanwhile.
func TestUnreachableRelay(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db string) {
		var b backoffs
		relay := closedAddr(t)
		f := startFixture(t, db, func(c *app.Config) {
			c.Notify.Mail = &notify.MailConfig{Relay: relay, From: "sitrep@example.org"}
			c.Notify.Backoff = b.policy
		})
		alice := f.user("alice", sitrep.OrgResponder)
		f.email(alice)
		id := f.declare(f.admin, "Lost laptop")
		f.do(alice, id, sitrep.CheckIn{})
		f.do(f.admin, id, sitrep.Assign{Role: sitrep.RoleLiaison, User: "alice"})
		f.do(f.admin, id, sitrep.ChangePhase{Phase: sitrep.PhaseContainment, Reason: "Laptop wiped remotely"})

		n := f.failedFor(id, "alice")
		if n.Attempts != f.nc.MaxAttempts || !strings.Contains(n.LastError, "smtp relay "+relay) || n.SentAt != nil {
			t.Errorf("after the last try: %+v", n)
		}
		if got := b.seen(); !slices.Contains(got, 1) || !slices.Contains(got, 2) {
			t.Errorf("the backoff was asked about attempts %v, want 1 and 2", got)
		}
		inc, err := f.svc.Incident(f.ctx, f.admin, id)
		if err != nil || inc.Phase != sitrep.PhaseContainment || inc.Holder(sitrep.RoleLiaison) != "alice" {
			t.Errorf("the incident: %v, %+v", err, inc)
		}
	})
}

// A webhook answering 500 is retried: one that recovers gets the delivery
// (with the same delivery ID each time), one that does not is marked
// failed with its answer; a 404 is not retried.
func TestWebhookAnswering500(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db string) {
		f := startFixture(t, db, nil)
		var mu sync.Mutex
		calls := map[string][]string{}
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.Copy(io.Discard, r.Body)
			mu.Lock()
			calls[r.URL.Path] = append(calls[r.URL.Path], r.Header.Get(notify.HeaderDelivery))
			n := len(calls[r.URL.Path])
			mu.Unlock()
			switch {
			case r.URL.Path == "/recovers" && n >= 3:
				w.WriteHeader(http.StatusNoContent)
			case r.URL.Path == "/gone":
				http.Error(w, "no such hook", http.StatusNotFound)
			default:
				http.Error(w, "boom", http.StatusInternalServerError)
			}
		}))
		t.Cleanup(srv.Close)
		alice, bob, carol := f.user("alice", sitrep.OrgResponder), f.user("bob", sitrep.OrgResponder), f.user("carol", sitrep.OrgResponder)
		f.webhook(alice, srv.URL+"/recovers", notify.FormatJSON)
		f.webhook(bob, srv.URL+"/broken", notify.FormatSlack)
		f.webhook(carol, srv.URL+"/gone", notify.FormatTeams)
		id := f.declare(f.admin, "Payment errors")
		for _, u := range []*sitrep.User{alice, bob, carol} {
			f.do(u, id, sitrep.CheckIn{})
		}
		f.do(f.admin, id, sitrep.ChangePhase{Phase: sitrep.PhaseContainment, Reason: "Failover to the second provider"})

		ns := f.settled(id, 3)
		for _, n := range ns {
			switch n.Recipient {
			case "alice":
				if n.Status != notify.StatusSent || n.Attempts != 3 || n.LastError != "" {
					t.Errorf("the hook that recovered: %+v", n)
				}
			case "bob":
				if n.Status != notify.StatusFailed || n.Attempts != f.nc.MaxAttempts || !strings.Contains(n.LastError, "answered 500 Internal Server Error: boom") {
					t.Errorf("the broken hook: %+v", n)
				}
			case "carol":
				if n.Status != notify.StatusFailed || n.Attempts != 1 || !strings.Contains(n.LastError, "answered 404 Not Found") {
					t.Errorf("the hook that is gone: %+v", n)
				}
			}
		}
		mu.Lock()
		defer mu.Unlock()
		if got := calls["/recovers"]; len(got) != 3 || got[0] == "" || len(slices.Compact(slices.Clone(got))) != 1 {
			t.Errorf("deliveries to the hook that recovered: %q (want three with one delivery ID)", got)
		}
		if got := len(calls["/broken"]); got != f.nc.MaxAttempts {
			t.Errorf("the broken hook was tried %d times, want %d", got, f.nc.MaxAttempts)
		}
		if got := len(calls["/gone"]); got != 1 {
			t.Errorf("the hook that is gone was tried %d times, want 1", got)
		}
	})
}

// A receiver that does not answer holds one delivery until the send
// timeout, then it is retried and finally failed with the reason; other
// people's notifications and the incident go on meanwhile.
func TestSlowReceiver(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db string) {
		f := startFixture(t, db, func(c *app.Config) { c.Notify.SendTimeout = 300 * time.Millisecond })
		release := make(chan struct{})
		arrived := make(chan struct{}, 10)
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			arrived <- struct{}{}
			select {
			case <-release:
			case <-r.Context().Done():
			}
		}))
		t.Cleanup(func() {
			close(release)
			srv.Close()
		})
		alice, bob := f.user("alice", sitrep.OrgResponder), f.user("bob", sitrep.OrgResponder)
		f.webhook(alice, srv.URL+"/slow", notify.FormatJSON)
		bobAddr := f.email(bob)
		id := f.declare(f.admin, "Certificate expired")
		f.do(alice, id, sitrep.CheckIn{})
		f.do(bob, id, sitrep.CheckIn{})
		f.do(f.admin, id, sitrep.Assign{Role: sitrep.RoleOperations, User: "alice"})
		<-arrived // alice's delivery is being held

		// While it is held, the incident goes on and bob is told.
		f.do(f.admin, id, sitrep.Assign{Role: sitrep.RolePlanning, User: "bob"})
		f.waitFor("bob's e-mail", func() bool { return len(f.smtp.to(bobAddr)) == 1 })

		n := f.failedFor(id, "alice")
		if n.Attempts != f.nc.MaxAttempts || !strings.Contains(n.LastError, "webhook "+notify.RedactURL(srv.URL+"/slow")) ||
			!(strings.Contains(n.LastError, "Timeout") || strings.Contains(n.LastError, "deadline exceeded")) {
			t.Errorf("the held delivery after its last try: %+v", n)
		}
		if bobs := byRecipient(f.notifications(id), "bob"); len(bobs) != 1 || bobs[0].Status != notify.StatusSent {
			t.Errorf("bob's notification: %+v", bobs)
		}
	})
}
