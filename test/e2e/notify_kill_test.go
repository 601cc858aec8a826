package e2e

import (
	"fmt"
	"io"
	"net"
	"net/mail"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
)

// TestKillDuringNotifications: a server killed (SIGKILL) while it sends
// pages through its SMTP relay loses none of them. The relay lets the first
// few messages through and then holds each DATA unanswered, so the kill
// lands while messages are in its hands; the server restarts on the same
// store and every notification ends sent. A message is received twice only
// if the relay held it at the kill (the sender could not know it arrived),
// and then with the same Message-ID.
func TestKillDuringNotifications(t *testing.T) {
	t.Run("SQLite", func(t *testing.T) {
		t.Parallel()
		testKillDuringNotifications(t, "sqlite:"+filepath.Join(t.TempDir(), "sitrep.db"))
	})
	t.Run("PostgreSQL", func(t *testing.T) {
		t.Parallel()
		testKillDuringNotifications(t, postgresDB(t))
	})
}

func testKillDuringNotifications(t *testing.T, db string) {
	const (
		incidents = 6
		contacts  = 2  // e-mail addresses of the person paged
		passFirst = 3  // messages the relay takes before it holds
		wantHeld  = 4  // the server's delivery workers
		sendLimit = 3  // seconds one send may take
		rescue    = 8  // seconds before a killed delivery is taken over
		deadline  = 60 // seconds for everything to be sent after the restart
	)
	relay := newHoldingRelay(t, passFirst)
	token := "sitrep_notifykill_" + randomHex(16)
	env := []string{
		"SITREP_BOOTSTRAP_TOKEN=" + token,
		"SITREP_NOTIFY_SEND_TIMEOUT=" + strconv.Itoa(sendLimit) + "s",
		"SITREP_NOTIFY_RESCUE_AFTER=" + strconv.Itoa(rescue) + "s",
		"SITREP_NOTIFY_RETRY_AFTER=100ms",
	}
	args := []string{"--db", db, "--smtp-relay", relay.addr, "--mail-from", "sitrep@example.test", "--page-roster", "oncall"}
	s := startServer(t, env, args...)
	sitrep(t, s.URL, token, "user", "add", "oncall")
	for i := range contacts {
		sitrep(t, s.URL, token, "user", "contact", "add", "oncall", "email", fmt.Sprintf("oncall+%d@example.test", i))
	}
	var ids []string
	for i := range incidents {
		var res struct {
			Incident incident `json:"incident"`
		}
		jsonOf(t, sitrep(t, s.URL, token, "declare", "--title", fmt.Sprintf("Ransomware on FIN-%d", i), "--severity", "1", "-o", "json"), &res)
		ids = append(ids, res.Incident.ID)
	}

	// Kill as soon as every delivery worker is held mid-DATA, or the
	// held ones would run into their send limit.
	held := relay.waitHeld(t, wantHeld, time.Duration(sendLimit)*time.Second/2)
	if err := s.cmd.Process.Kill(); err != nil {
		t.Fatalf("kill the server: %v", err)
	}
	s.cmd.Wait()
	relay.stopHolding()
	if len(held) == 0 {
		t.Fatalf("the relay held no message before the kill; output:\n%s", s.output())
	}
	before := relay.received()

	restarted := time.Now()
	s2 := startServer(t, env, args...)
	all := waitAllSent(t, s2, token, ids, incidents*contacts, deadline*time.Second)

	// Every notification arrived, at its address, under its own
	// Message-ID; twice only if the relay held it at the kill.
	got := map[int64][]receivedMail{}
	for _, m := range relay.received() {
		id, ok := notificationOf(m.MessageID)
		if !ok {
			t.Errorf("message to %s has a Message-ID %q naming no notification", m.To, m.MessageID)
			continue
		}
		got[id] = append(got[id], m)
	}
	heldIDs := map[string]bool{}
	for _, m := range held {
		heldIDs[m.MessageID] = true
	}
	duplicates := 0
	for _, n := range all {
		ms := got[n.ID]
		switch {
		case len(ms) == 0:
			t.Errorf("notification %d to %s is recorded %s but never arrived", n.ID, n.Address, n.Status)
			continue
		case len(ms) > 2:
			t.Errorf("notification %d arrived %d times", n.ID, len(ms))
		case len(ms) == 2:
			duplicates++
			if !heldIDs[ms[0].MessageID] {
				t.Errorf("notification %d arrived twice, but the relay did not hold it at the kill", n.ID)
			}
		}
		for _, m := range ms {
			if m.To != n.Address || m.MessageID != ms[0].MessageID {
				t.Errorf("notification %d to %s arrived as %+v", n.ID, n.Address, m)
			}
		}
		delete(got, n.ID)
	}
	for id := range got {
		t.Errorf("a message arrived for notification %d, which the server does not list", id)
	}
	// The held messages were in the relay's hands with no answer: the
	// server could not know, so each goes out again.
	if duplicates != len(held) {
		t.Errorf("%d notifications arrived twice; want the %d held at the kill", duplicates, len(held))
	}
	t.Logf("%d notifications: %d arrived before the kill (%d of them held unanswered), all sent %s after the restart, %d received twice",
		len(all), len(before), len(held), time.Since(restarted).Round(100*time.Millisecond), duplicates)
}

// sentNotification is what the test reads of `sitrep notifications -o json`.
type sentNotification struct {
	ID      int64  `json:"id"`
	Address string `json:"address"`
	Status  string `json:"status"`
}

// waitAllSent waits until the incidents' notifications number want and are
// all sent, and returns them.
func waitAllSent(t *testing.T, s *server, token string, ids []string, want int, limit time.Duration) []sentNotification {
	t.Helper()
	end := time.Now().Add(limit)
	for {
		var all []sentNotification
		sent := 0
		for _, id := range ids {
			var out struct {
				Notifications []sentNotification `json:"notifications"`
			}
			jsonOf(t, sitrep(t, s.URL, token, "notifications", id, "-o", "json"), &out)
			for _, n := range out.Notifications {
				if n.Status == "sent" {
					sent++
				}
			}
			all = append(all, out.Notifications...)
		}
		if len(all) == want && sent == want {
			return all
		}
		if time.Now().After(end) {
			t.Fatalf("after the restart, %d of %d notifications sent in %s: %+v\noutput:\n%s", sent, want, limit, all, s.output())
		}
		time.Sleep(200 * time.Millisecond)
	}
}

var notificationIDRE = regexp.MustCompile(`^<?notification-(\d+)\.`)

// notificationOf returns the notification a Message-ID names.
func notificationOf(messageID string) (int64, bool) {
	m := notificationIDRE.FindStringSubmatch(messageID)
	if m == nil {
		return 0, false
	}
	id, err := strconv.ParseInt(m[1], 10, 64)
	return id, err == nil
}

// receivedMail is a message the relay took (or held: it had the whole
// message when it stopped answering).
type receivedMail struct {
	To        string
	MessageID string
}

// holdingRelay is an SMTP relay that takes the first pass messages and
// then holds every DATA unanswered until stopHolding.
type holdingRelay struct {
	addr string
	pass int

	mu      sync.Mutex
	mails   []receivedMail
	held    []receivedMail
	holding bool
	heldNow chan struct{} // a message was just held
	release chan struct{}
}

func newHoldingRelay(t *testing.T, pass int) *holdingRelay {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	r := &holdingRelay{addr: ln.Addr().String(), pass: pass, holding: true, heldNow: make(chan struct{}, 64), release: make(chan struct{})}
	srv := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) { return &relaySession{r: r}, nil }))
	srv.Domain = "relay.test"
	srv.ReadTimeout = 30 * time.Second
	srv.WriteTimeout = 30 * time.Second
	srv.MaxMessageBytes = 1 << 20
	go srv.Serve(ln)
	t.Cleanup(func() {
		r.stopHolding()
		srv.Close()
	})
	return r
}

// waitHeld waits until n messages are held, or, once one is, for at most
// more; it returns the messages held.
func (r *holdingRelay) waitHeld(t *testing.T, n int, more time.Duration) []receivedMail {
	t.Helper()
	first := time.After(30 * time.Second)
	var rest <-chan time.Time
	for {
		r.mu.Lock()
		held := append([]receivedMail(nil), r.held...)
		r.mu.Unlock()
		if len(held) >= n {
			return held
		}
		select {
		case <-r.heldNow:
			if rest == nil {
				rest = time.After(more)
			}
		case <-rest:
			r.mu.Lock()
			defer r.mu.Unlock()
			return append([]receivedMail(nil), r.held...)
		case <-first:
			t.Fatalf("the relay held %d messages in 30 s, want %d", len(held), n)
		}
	}
}

// stopHolding lets the held sessions go and takes every later message.
func (r *holdingRelay) stopHolding() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.holding {
		r.holding = false
		close(r.release)
	}
}

func (r *holdingRelay) received() []receivedMail {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]receivedMail(nil), r.mails...)
}

type relaySession struct {
	r  *holdingRelay
	to string
}

func (s *relaySession) Reset()                                    { s.to = "" }
func (s *relaySession) Logout() error                             { return nil }
func (s *relaySession) Mail(string, *smtp.MailOptions) error      { return nil }
func (s *relaySession) Rcpt(to string, _ *smtp.RcptOptions) error { s.to = to; return nil }

func (s *relaySession) Data(body io.Reader) error {
	msg, err := mail.ReadMessage(body)
	if err != nil {
		return fmt.Errorf("unreadable message: %w", err)
	}
	if _, err := io.Copy(io.Discard, msg.Body); err != nil {
		return err
	}
	m := receivedMail{To: s.to, MessageID: strings.Trim(msg.Header.Get("Message-Id"), "<>")}
	r := s.r
	r.mu.Lock()
	r.mails = append(r.mails, m)
	hold := r.holding && len(r.mails) > r.pass
	if hold {
		r.held = append(r.held, m)
	}
	release := r.release
	r.mu.Unlock()
	if hold {
		r.heldNow <- struct{}{}
		<-release
	}
	return nil
}
