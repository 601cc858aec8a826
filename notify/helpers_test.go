package notify_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net"
	"net/http"
	"net/http/httptest"
	"net/mail"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/sitrep-ir/sitrep"
	"github.com/sitrep-ir/sitrep/app"
	"github.com/sitrep-ir/sitrep/internal/pgtest"
	"github.com/sitrep-ir/sitrep/notify"
	"github.com/sitrep-ir/sitrep/store/storetest"
)

// backend is a kind of store the tests run on: db returns a fresh database.
type backend struct {
	name string
	db   func(t *testing.T) string
}

func backends() []backend {
	return []backend{
		{"sqlite", func(t *testing.T) string { return "sqlite:" + filepath.Join(t.TempDir(), "sitrep.db") }},
		{"postgres", func(t *testing.T) string { return pgtest.FreshDatabase(t) }},
	}
}

// forEachBackend runs test on SQLite and on PostgreSQL, in parallel.
func forEachBackend(t *testing.T, test func(t *testing.T, db string)) {
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			test(t, b.db(t))
		})
	}
}

var start = time.Date(2026, 5, 4, 3, 0, 0, 0, time.UTC)

// fixture is a running server with its clock, the SMTP relay it sends
// through, and people.
type fixture struct {
	t     *testing.T
	ctx   context.Context
	db    string
	clock *storetest.Clock
	smtp  *smtpSink
	nc    app.NotifyConfig
	app   *app.App
	svc   *sitrep.Service
	admin *sitrep.User
}

// quick is the notification configuration of the tests: short polls and
// retries, and a sweep the tests run by hand (Sweep) rather than wait for.
func quick(sink *smtpSink) app.NotifyConfig {
	return app.NotifyConfig{
		Mail:          &notify.MailConfig{Relay: sink.addr, From: "sitrep@example.org"},
		AckTimeout:    5 * time.Minute,
		Repeats:       1,
		SweepInterval: time.Hour,
		PollInterval:  50 * time.Millisecond,
		MaxAttempts:   3,
		Backoff:       func(int) time.Duration { return 20 * time.Millisecond },
		SendTimeout:   5 * time.Second,
	}
}

func newFixture(t *testing.T, db string) *fixture {
	t.Helper()
	f := &fixture{t: t, ctx: context.Background(), db: db, clock: storetest.NewClock(start, 0), smtp: newSMTPSink(t)}
	f.nc = quick(f.smtp)
	f.start()
	f.admin = &sitrep.User{Name: "admin", Role: sitrep.OrgAdmin}
	return f
}

// start starts a server on the fixture's database.
func (f *fixture) start() {
	f.t.Helper()
	a, err := app.New(f.ctx, app.Config{Addr: "127.0.0.1:0", DB: f.db, Clock: f.clock, Notify: f.nc, BootstrapToken: "sitrep_test-token-of-the-administrator-0123456789"})
	if err != nil {
		f.t.Fatalf("start the server: %v", err)
	}
	if err := a.Start(); err != nil {
		f.t.Fatalf("start the server: %v", err)
	}
	f.app, f.svc = a, a.Service()
	f.t.Cleanup(func() {
		if f.app == a {
			f.stop()
		}
	})
}

func (f *fixture) stop() {
	f.t.Helper()
	ctx, cancel := context.WithTimeout(f.ctx, 20*time.Second)
	defer cancel()
	if err := f.app.Stop(ctx); err != nil {
		f.t.Errorf("stop the server: %v", err)
	}
	f.app = nil
}

func (f *fixture) user(name string, role sitrep.OrgRole) *sitrep.User {
	f.t.Helper()
	u, err := f.svc.CreateUser(f.ctx, f.admin, sitrep.User{Name: name, Role: role})
	if err != nil {
		f.t.Fatalf("add user %s: %v", name, err)
	}
	return u
}

func (f *fixture) email(u *sitrep.User) string {
	f.t.Helper()
	addr := u.Name + "@example.org"
	if _, _, err := f.app.Notifier().AddContact(f.ctx, u, u.Name, notify.ContactInput{Kind: notify.ChannelEmail, Address: addr}); err != nil {
		f.t.Fatalf("add the e-mail contact of %s: %v", u.Name, err)
	}
	return addr
}

func (f *fixture) webhook(u *sitrep.User, url, format string) string {
	f.t.Helper()
	_, secret, err := f.app.Notifier().AddContact(f.ctx, u, u.Name, notify.ContactInput{Kind: notify.ChannelWebhook, Address: url, Format: format})
	if err != nil {
		f.t.Fatalf("add the webhook of %s: %v", u.Name, err)
	}
	return secret
}

func (f *fixture) declare(by *sitrep.User, title string) string {
	f.t.Helper()
	inc, _, err := f.svc.Declare(f.ctx, by, sitrep.DeclareInput{Title: title})
	if err != nil {
		f.t.Fatalf("declare: %v", err)
	}
	return inc.ID
}

func (f *fixture) do(by *sitrep.User, id string, cmd sitrep.Command) {
	f.t.Helper()
	if _, _, err := f.svc.Do(f.ctx, by, id, cmd); err != nil {
		f.t.Fatalf("%s by %s: %v", cmd.Action(), by.Name, err)
	}
}

// notifications returns the incident's notifications as the admin sees them.
func (f *fixture) notifications(id string) []notify.Notification {
	f.t.Helper()
	ns, err := f.app.Notifier().IncidentNotifications(f.ctx, f.admin, id)
	if err != nil {
		f.t.Fatalf("notifications of %s: %v", id, err)
	}
	return ns
}

// waitFor polls cond until it holds, failing the test after 15 s.
func (f *fixture) waitFor(what string, cond func() bool) {
	f.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			f.t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// settled waits until the incident has want notifications, none of them
// queued, and returns them.
func (f *fixture) settled(id string, want int) []notify.Notification {
	f.t.Helper()
	var ns []notify.Notification
	f.waitFor(fmt.Sprintf("%d notifications of %s to settle", want, id), func() bool {
		ns = f.notifications(id)
		if len(ns) != want {
			return false
		}
		for _, n := range ns {
			if n.Status == notify.StatusQueued {
				return false
			}
		}
		return true
	})
	return ns
}

// sweep runs the escalation sweep now.
func (f *fixture) sweep() {
	f.t.Helper()
	if err := f.app.Notifier().Sweep(f.ctx); err != nil {
		f.t.Fatalf("sweep: %v", err)
	}
}

// advance moves the clock on by d.
func (f *fixture) advance(d time.Duration) {
	f.clock.Set(f.clock.Now().Add(d))
}

// message is an e-mail the sink accepted.
type message struct {
	From, To  string
	Subject   string
	MessageID string
	Text      string
	HTML      string
}

// smtpSink is a real SMTP server on loopback that keeps what it accepts.
// hold, when set, makes the next DATA wait until it is closed, then refuse
// the message: a relay that never got to accept it.
type smtpSink struct {
	addr     string
	mu       sync.Mutex
	messages []message
	hold     chan struct{}
	holding  chan struct{} // closed when a DATA is being held
}

func newSMTPSink(t *testing.T) *smtpSink {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	sink := &smtpSink{addr: ln.Addr().String()}
	srv := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) { return &smtpSession{sink: sink}, nil }))
	srv.Domain = "relay.test"
	srv.AllowInsecureAuth = true
	srv.ReadTimeout = 10 * time.Second
	srv.WriteTimeout = 10 * time.Second
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return sink
}

// holdNext makes the next DATA wait: holding is closed when it does, and
// the message is dropped when hold is closed.
func (s *smtpSink) holdNext() (hold, holding chan struct{}) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.hold, s.holding = make(chan struct{}), make(chan struct{})
	return s.hold, s.holding
}

func (s *smtpSink) all() []message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]message(nil), s.messages...)
}

func (s *smtpSink) to(addr string) []message {
	var out []message
	for _, m := range s.all() {
		if m.To == addr {
			out = append(out, m)
		}
	}
	return out
}

type smtpSession struct {
	sink     *smtpSink
	from, to string
}

func (s *smtpSession) Reset()        { s.from, s.to = "", "" }
func (s *smtpSession) Logout() error { return nil }
func (s *smtpSession) Mail(from string, _ *smtp.MailOptions) error {
	s.from = from
	return nil
}
func (s *smtpSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.to = to
	return nil
}

func (s *smtpSession) Data(r io.Reader) error {
	s.sink.mu.Lock()
	hold, holding := s.sink.hold, s.sink.holding
	s.sink.hold = nil
	s.sink.mu.Unlock()
	if hold != nil {
		close(holding)
		<-hold
		io.Copy(io.Discard, r)
		return errors.New("held and dropped")
	}
	raw, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	m, err := parseMessage(raw)
	if err != nil {
		return err
	}
	m.From, m.To = s.from, s.to
	s.sink.mu.Lock()
	s.sink.messages = append(s.sink.messages, m)
	s.sink.mu.Unlock()
	return nil
}

// parseMessage reads the parts of a multipart/alternative message.
func parseMessage(raw []byte) (message, error) {
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		return message{}, err
	}
	dec := new(mime.WordDecoder)
	subject, err := dec.DecodeHeader(msg.Header.Get("Subject"))
	if err != nil {
		return message{}, err
	}
	m := message{Subject: subject, MessageID: msg.Header.Get("Message-Id")}
	mt, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/alternative" {
		return message{}, fmt.Errorf("content type %q: want multipart/alternative", msg.Header.Get("Content-Type"))
	}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			return message{}, err
		}
		body, err := io.ReadAll(p)
		if err != nil {
			return message{}, err
		}
		ct, _, _ := mime.ParseMediaType(p.Header.Get("Content-Type"))
		switch ct {
		case "text/plain":
			m.Text = string(body)
		case "text/html":
			m.HTML = string(body)
		}
	}
	return m, nil
}

// hook is a real HTTP receiver of webhooks.
type hook struct {
	srv    *httptest.Server
	mu     sync.Mutex
	got    []*http.Request
	bodies [][]byte
}

func newHook(t *testing.T) *hook {
	h := &hook{}
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		h.mu.Lock()
		h.got = append(h.got, r)
		h.bodies = append(h.bodies, body)
		h.mu.Unlock()
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(h.srv.Close)
	return h
}

func (h *hook) deliveries() ([]*http.Request, [][]byte) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]*http.Request(nil), h.got...), append([][]byte(nil), h.bodies...)
}

// ackLink returns the acknowledgement link in a text body.
func ackLink(t *testing.T, text string) string {
	t.Helper()
	for line := range strings.Lines(text) {
		if rest, ok := strings.CutPrefix(strings.TrimSpace(line), "Acknowledge: "); ok {
			return rest
		}
	}
	t.Fatalf("no acknowledgement link in:\n%s", text)
	return ""
}
