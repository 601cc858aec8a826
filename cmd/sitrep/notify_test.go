package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sitrep-ir/sitrep/app"
)

// contactOut is a contact as `sitrep user contact add|ls -o json` prints
// it.
type contactOut struct {
	ID        int64     `json:"id"`
	User      string    `json:"user"`
	Kind      string    `json:"kind"`
	Address   string    `json:"address"`
	Format    string    `json:"format"`
	CreatedAt time.Time `json:"created_at"`
	Secret    string    `json:"secret"`
}

// TestContactCommands: people add, list and remove the ways sitrep reaches
// them; administrators manage anyone's; others are refused; webhook URLs
// are shown only as far as their host; bad arguments get a message that
// says what is wrong.
func TestContactCommands(t *testing.T) {
	s := startServer(t)
	alice := s.person(t, "alice", "responder")
	bob := s.person(t, "bob", "responder")

	out := s.ok(t, alice, "user", "contact", "add", "alice", "email", "alice@example.com")
	if !regexp.MustCompile(`^Added contact \d+ of alice: email alice@example.com\n$`).MatchString(out) {
		t.Errorf("contact add email:\n%s", out)
	}
	const hook = "https://hooks.example.com/services/T0/B0/s3cret-path"
	out = s.ok(t, alice, "user", "contact", "add", "alice", "webhook", hook)
	contains(t, "contact add webhook", out, "webhook "+hook+" (json)", "shown only now", "X-Sitrep-Signature", "sha256=HEX")
	var slack contactOut
	s.okJSON(t, s.Admin, &slack, "user", "contact", "add", "alice", "webhook", hook+"-2", "--format", "slack")
	if slack.ID == 0 || slack.User != "alice" || slack.Kind != "webhook" || slack.Format != "slack" || slack.Secret != "" || slack.CreatedAt.IsZero() {
		t.Errorf("contact add --format slack -o json by an administrator: %+v; want alice's slack webhook, with no secret", slack)
	}
	var signed contactOut
	s.okJSON(t, alice, &signed, "user", "contact", "add", "alice", "webhook", hook+"-3")
	if signed.Format != "json" || len(signed.Secret) < 32 {
		t.Errorf("contact add of a JSON webhook -o json: %+v; want format json and its secret", signed)
	}

	out = s.ok(t, alice, "user", "contact", "ls", "alice")
	contains(t, "contact ls", out, "ID", "KIND", "ADDRESS", "FORMAT", "alice@example.com", "https://hooks.example.com/…", "slack")
	lacks(t, "contact ls", out, "s3cret-path", signed.Secret)
	var list struct {
		Contacts []contactOut `json:"contacts"`
	}
	s.okJSON(t, s.Admin, &list, "user", "contact", "ls", "alice")
	if len(list.Contacts) != 4 {
		t.Fatalf("contact ls -o json: %d contacts, want 4: %+v", len(list.Contacts), list.Contacts)
	}
	for _, c := range list.Contacts {
		if c.User != "alice" || c.Secret != "" || strings.Contains(c.Address, "s3cret") {
			t.Errorf("contact ls -o json shows %+v: want alice's, without secret or webhook path", c)
		}
	}

	// Someone else's contacts are theirs and the administrators' only.
	for _, args := range [][]string{
		{"user", "contact", "add", "alice", "email", "bob@example.com"},
		{"user", "contact", "ls", "alice"},
		{"user", "contact", "rm", "alice", strconv.FormatInt(slack.ID, 10)},
	} {
		contains(t, strings.Join(args, " ")+" by bob", s.fails(t, bob, 1, args...), "only alice and administrators")
	}

	for _, tt := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"user", "contact", "add", "alice", "sms", "+15550100"}, 1, `contact kind "sms" is not known: use email or webhook`},
		{[]string{"user", "contact", "add", "alice", "email", "not an address"}, 1, "is not an e-mail address"},
		{[]string{"user", "contact", "add", "alice", "webhook", "ftp://example.com/x"}, 1, "http:// or https:// URL"},
		{[]string{"user", "contact", "add", "alice", "webhook", hook, "--format", "irc"}, 1, `webhook format "irc" is not known`},
		{[]string{"user", "contact", "add", "alice", "email"}, 2, "USER, email or webhook, and the address"},
		{[]string{"user", "contact", "rm", "alice", "first"}, 2, `contact "first" is not a contact ID`},
		{[]string{"user", "contact", "rm", "alice", "999999"}, 1, "alice has no contact 999999"},
	} {
		t.Run(strings.Join(tt.args[2:], " "), func(t *testing.T) {
			contains(t, "stderr", s.fails(t, alice, tt.code, tt.args...), tt.want)
		})
	}

	out = s.ok(t, alice, "user", "contact", "rm", "alice", strconv.FormatInt(signed.ID, 10))
	if want := "Removed contact " + strconv.FormatInt(signed.ID, 10) + " of alice.\n"; out != want {
		t.Errorf("contact rm printed %q, want %q", out, want)
	}
	var removed struct {
		User    string `json:"user"`
		Contact int64  `json:"contact"`
		Removed bool   `json:"removed"`
	}
	s.okJSON(t, s.Admin, &removed, "user", "contact", "rm", "alice", strconv.FormatInt(slack.ID, 10))
	if removed.User != "alice" || removed.Contact != slack.ID || !removed.Removed {
		t.Errorf("contact rm -o json: %+v", removed)
	}
	s.okJSON(t, alice, &list, "user", "contact", "ls", "alice")
	if len(list.Contacts) != 2 {
		t.Errorf("after two removals alice has %d contacts, want 2: %+v", len(list.Contacts), list.Contacts)
	}
	contains(t, "contact ls of nobody's", s.ok(t, bob, "user", "contact", "ls", "bob"), "bob has no contact methods", "sitrep user contact add bob email ADDRESS")
	s.okJSON(t, bob, &list, "user", "contact", "ls", "bob")
	if list.Contacts == nil || len(list.Contacts) != 0 {
		t.Errorf("contact ls -o json of nobody's: %+v; want an empty list", list.Contacts)
	}
}

// notificationOut is a notification as `sitrep notifications -o json`
// and `sitrep page-ack -o json` print it.
type notificationOut struct {
	ID         int64    `json:"id"`
	IncidentID string   `json:"incident_id"`
	Seq        int64    `json:"seq"`
	Event      string   `json:"event"`
	Recipient  string   `json:"recipient"`
	Chain      string   `json:"chain"`
	Step       int      `json:"step"`
	Round      int      `json:"round"`
	Ladder     []string `json:"ladder"`
	Channel    string   `json:"channel"`
	ContactID  int64    `json:"contact_id"`
	Address    string   `json:"address"`
	Format     string   `json:"format"`
	Message    struct {
		Incident string    `json:"incident"`
		Title    string    `json:"title"`
		Severity int       `json:"severity"`
		Phase    string    `json:"phase"`
		Exercise bool      `json:"exercise"`
		Subject  string    `json:"subject"`
		Text     string    `json:"text"`
		Actor    string    `json:"actor"`
		At       time.Time `json:"at"`
	} `json:"message"`
	NeedsAck    bool       `json:"needs_ack"`
	Status      string     `json:"status"`
	Attempts    int        `json:"attempts"`
	LastError   string     `json:"last_error"`
	CreatedAt   time.Time  `json:"created_at"`
	AckDue      *time.Time `json:"ack_due"`
	SentAt      *time.Time `json:"sent_at"`
	AckedAt     *time.Time `json:"acked_at"`
	AckedBy     string     `json:"acked_by"`
	EscalatedAt *time.Time `json:"escalated_at"`
}

// TestNotificationsAndPageAck: a declaration pages the roster's first by
// webhook; `sitrep notifications` shows it sent and `sitrep page-ack` by
// its recipient answers it. A page nobody answers escalates to the next on
// the roster, whose webhook answers 404 and so fails with the reason.
// /metrics counts exactly what the notifications list shows.
func TestNotificationsAndPageAck(t *testing.T) {
	hooks := newWebhookSink(t)
	s := startNotifyServer(t, app.NotifyConfig{
		AckTimeout: 2 * time.Second, Roster: []string{"oncall", "backup"},
		SweepInterval: 200 * time.Millisecond, PollInterval: 50 * time.Millisecond,
	})
	oncall := s.person(t, "oncall", "responder")
	s.person(t, "backup", "responder")
	s.ok(t, oncall, "user", "contact", "add", "oncall", "webhook", hooks.URL+"/oncall", "--format", "slack")
	s.ok(t, s.Admin, "user", "contact", "add", "backup", "webhook", hooks.URL+"/gone", "--format", "slack")

	id := declare(t, s, s.Admin, "Ransomware on FIN-LAPTOP-7")
	page := waitNotifications(t, s, id, func(ns []notificationOut) bool { return len(ns) == 1 && ns[0].Status == "sent" })[0]
	if page.Recipient != "oncall" || page.Channel != "webhook" || !page.NeedsAck || page.Event != "incident.declared" || page.Step != 0 {
		t.Errorf("the declaration's page: %+v; want a page to oncall by webhook", page)
	}
	if hooks.count("/oncall") != 1 {
		t.Errorf("oncall's webhook got %d deliveries, want 1", hooks.count("/oncall"))
	}
	out := s.ok(t, s.Admin, "notifications", id)
	contains(t, "notifications", out, "ID", "TO", "STATUS", "oncall", "webhook", "sent", "declared: Ransomware on FIN-LAPTOP-7", "to acknowledge by")

	n := strconv.FormatInt(page.ID, 10)
	contains(t, "page-ack by someone else", s.fails(t, s.Admin, 1, "page-ack", n), "notification "+n+" not found among yours")
	contains(t, "page-ack of a word", s.fails(t, oncall, 2, "page-ack", "first"), `"first" is not a notification number`)
	var acked notificationOut
	s.okJSON(t, oncall, &acked, "page-ack", "#"+n)
	if acked.ID != page.ID || acked.AckedBy != "oncall" || acked.AckedAt == nil {
		t.Errorf("page-ack -o json: %+v; want notification %d acknowledged by oncall", acked, page.ID)
	}
	contains(t, "page-ack again", s.ok(t, oncall, "page-ack", n), "Acknowledged notification "+n+": ")
	contains(t, "notifications after the acknowledgement", s.ok(t, s.Admin, "notifications", id), "by oncall")

	// Unanswered: after the acknowledgement timeout the page goes to
	// backup, whose webhook is gone.
	id2 := declare(t, s, s.Admin, "Worm on the build farm")
	ns := waitNotifications(t, s, id2, func(ns []notificationOut) bool {
		return len(ns) == 2 && ns[1].Status == "failed"
	})
	if ns[0].Recipient != "oncall" || ns[0].EscalatedAt == nil || ns[1].Recipient != "backup" || ns[1].Step != 1 || !strings.Contains(ns[1].LastError, "404") {
		t.Errorf("an unanswered page: %+v; want oncall's escalated to backup, failed with the 404", ns)
	}
	contains(t, "notifications of an escalated page", s.ok(t, s.Admin, "notifications", id2), "unanswered, escalated", "backup", "failed", "404")
	contains(t, "notifications of nothing", s.fails(t, s.Admin, 1, "notifications", "IR-1999-0001"), "not found")

	// The metrics count what the list shows.
	want := map[string]float64{}
	for _, n := range append(waitNotifications(t, s, id, func([]notificationOut) bool { return true }), ns...) {
		// An acknowledged page was sent first.
		outcome := "sent"
		if n.SentAt == nil {
			outcome = "failed"
		}
		want[`sitrep_notifications_total{channel="webhook",status="`+outcome+`"}`]++
		want[`sitrep_notification_attempts_total{channel="webhook",outcome="`+outcome+`"}`]++
		want[`sitrep_notification_send_seconds_count{channel="webhook",outcome="`+outcome+`"}`]++
		if n.Step > 0 {
			want[`sitrep_pages_unanswered_total{then="escalated"}`]++
		}
	}
	got := scrape(t, s.URL)
	for _, name := range []string{`sitrep_notifications_total{channel="email",status="sent"}`, `sitrep_pages_unanswered_total{then="repeated"}`} {
		if v, ok := got[name]; !ok || v != 0 {
			t.Errorf("/metrics: %s = %v (listed: %v), want listed as 0", name, v, ok)
		}
	}
	for name, v := range want {
		if got[name] != v {
			t.Errorf("/metrics: %s = %v, want %v", name, got[name], v)
		}
	}
	if got[`sitrep_notification_send_seconds_sum{channel="webhook",outcome="sent"}`] <= 0 {
		t.Errorf("/metrics: no send time observed for the webhooks sent")
	}
}

// startNotifyServer starts a server on a fresh SQLite file with the
// notification settings nc, stopped when the test ends.
func startNotifyServer(t *testing.T, nc app.NotifyConfig) *server {
	t.Helper()
	db := filepath.Join(t.TempDir(), "sitrep.db")
	a, err := app.New(context.Background(), app.Config{
		Addr: "127.0.0.1:0", DB: "sqlite:" + db, Logger: slog.New(slog.DiscardHandler), Notify: nc,
	})
	if err != nil {
		t.Fatalf("app.New: %v", err)
	}
	if err := a.Start(); err != nil {
		t.Fatalf("start: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := a.Stop(ctx); err != nil {
			t.Errorf("stop: %v", err)
		}
	})
	return &server{URL: a.URL(), Admin: a.AdminToken(), DB: db}
}

// declare declares an incident as the holder of token and returns its ID.
func declare(t *testing.T, s *server, token, title string) string {
	t.Helper()
	var res struct {
		Incident struct {
			ID string `json:"id"`
		} `json:"incident"`
	}
	out := s.ok(t, token, "declare", "--title", title, "-o", "json")
	if err := json.Unmarshal([]byte(out), &res); err != nil || res.Incident.ID == "" {
		t.Fatalf("declare -o json: %v\n%s", err, out)
	}
	return res.Incident.ID
}

// waitNotifications lists the incident's notifications with `sitrep
// notifications -o json` until done says they are as awaited.
func waitNotifications(t *testing.T, s *server, id string, done func([]notificationOut) bool) []notificationOut {
	t.Helper()
	end := time.Now().Add(20 * time.Second)
	for {
		var out struct {
			Notifications []notificationOut `json:"notifications"`
		}
		s.okJSON(t, s.Admin, &out, "notifications", id)
		if done(out.Notifications) {
			return out.Notifications
		}
		if time.Now().After(end) {
			t.Fatalf("notifications of %s after 20 s: %+v", id, out.Notifications)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// webhookSink is a webhook receiver: it answers 200 on /oncall and 404
// elsewhere, counting deliveries by path.
type webhookSink struct {
	URL string
	mu  sync.Mutex
	got map[string]int
}

func newWebhookSink(t *testing.T) *webhookSink {
	t.Helper()
	h := &webhookSink{got: map[string]int{}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, io.LimitReader(r.Body, 1<<20))
		h.mu.Lock()
		h.got[r.URL.Path]++
		h.mu.Unlock()
		if r.URL.Path != "/oncall" {
			http.Error(w, "no such hook", http.StatusNotFound)
		}
	}))
	t.Cleanup(srv.Close)
	h.URL = srv.URL
	return h
}

func (h *webhookSink) count(path string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.got[path]
}

// scrape reads the server's /metrics: each sample by its name and labels.
func scrape(t *testing.T, server string) map[string]float64 {
	t.Helper()
	resp, err := http.Get(server + "/metrics")
	if err != nil {
		t.Fatalf("GET /metrics: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %s", resp.Status)
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if i < 0 || err != nil {
			t.Fatalf("/metrics: unreadable line %q", line)
		}
		out[line[:i]] = v
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("read /metrics: %v", err)
	}
	return out
}
