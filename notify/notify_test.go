package notify_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sitrep-ir/sitrep"
	"github.com/sitrep-ir/sitrep/app"
	"github.com/sitrep-ir/sitrep/notify"
)

// A role assignment reaches the person by e-mail through the SMTP relay,
// in text and HTML with a signed link that acknowledges it.
func TestEmailPageAndSignedLink(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db string) {
		f := newFixture(t, db)
		alice := f.user("alice", sitrep.OrgResponder)
		addr := f.email(alice)
		id := f.declare(f.admin, "Ransomware on FIN-LAPTOP-7")
		f.do(alice, id, sitrep.CheckIn{})
		f.do(f.admin, id, sitrep.Assign{Role: "operations", User: "alice"})

		ns := f.settled(id, 1)
		n := ns[0]
		if n.Recipient != "alice" || n.Channel != notify.ChannelEmail || n.Status != notify.StatusSent || n.Event != "role.assigned" || !n.NeedsAck || n.SentAt == nil {
			t.Fatalf("notification: %+v", n)
		}
		msgs := f.smtp.to(addr)
		if len(msgs) != 1 {
			t.Fatalf("alice got %d e-mails, want 1", len(msgs))
		}
		m := msgs[0]
		if m.From != "sitrep@example.org" || m.Subject != id+": you are operations" {
			t.Errorf("from %q, subject %q", m.From, m.Subject)
		}
		if !strings.Contains(m.Text, "admin assigned you the role operations") || !strings.Contains(m.HTML, "Ransomware on FIN-LAPTOP-7") || !strings.Contains(m.HTML, ">Acknowledge</a>") {
			t.Errorf("text:\n%s\nhtml:\n%s", m.Text, m.HTML)
		}
		if !strings.Contains(m.MessageID, "notification-"+strconv.FormatInt(n.ID, 10)+".") {
			t.Errorf("Message-ID %q does not name the notification", m.MessageID)
		}

		// The incident's web page is linked, in text and HTML.
		incPage := f.app.URL() + "/incidents/" + id
		if !strings.Contains(m.Text, id+": "+incPage) || !strings.Contains(m.HTML, `<a href="`+incPage+`">Open `+id+`</a>`) {
			t.Errorf("the e-mail does not link %s; text:\n%s\nhtml:\n%s", incPage, m.Text, m.HTML)
		}

		link := ackLink(t, m.Text)
		if !strings.HasPrefix(link, f.app.URL()+"/ack/") {
			t.Fatalf("link %q is not on the server", link)
		}
		// Opening the link acknowledges nothing: scanners open links.
		resp, err := http.Get(link)
		if err != nil {
			t.Fatal(err)
		}
		page, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(page), `<form method="post">`) {
			t.Fatalf("GET %s: %s\n%s", link, resp.Status, page)
		}
		if got := f.notifications(id)[0]; got.Status != notify.StatusSent {
			t.Fatalf("after opening the link the status is %s", got.Status)
		}
		resp, err = http.Post(link, "application/x-www-form-urlencoded", nil)
		if err != nil {
			t.Fatal(err)
		}
		page, _ = io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(page), "Acknowledged") {
			t.Fatalf("POST %s: %s\n%s", link, resp.Status, page)
		}
		got := f.notifications(id)[0]
		if got.Status != notify.StatusAcknowledged || got.AckedBy != "alice" || got.AckedAt == nil {
			t.Fatalf("after acknowledging: %+v", got)
		}

		// An altered link is refused with a page saying so.
		bad := link[:len(link)-2] + "AA"
		if strings.HasSuffix(link, "AA") {
			bad = link[:len(link)-2] + "BB"
		}
		resp, err = http.Post(bad, "application/x-www-form-urlencoded", nil)
		if err != nil {
			t.Fatal(err)
		}
		page, _ = io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(page), "not made by this server, or was altered") {
			t.Fatalf("altered link: %s\n%s", resp.Status, page)
		}
	})
}

// Webhooks go out in the three forms; sitrep's own JSON is signed with the
// contact's secret over the timestamp and the body.
func TestWebhookForms(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db string) {
		f := newFixture(t, db)
		alice, bob, carol := f.user("alice", sitrep.OrgResponder), f.user("bob", sitrep.OrgResponder), f.user("carol", sitrep.OrgResponder)
		jsonHook, slackHook, teamsHook := newHook(t), newHook(t), newHook(t)
		secret := f.webhook(alice, jsonHook.srv.URL+"/sitrep", notify.FormatJSON)
		if !strings.HasPrefix(secret, "whsec_") {
			t.Fatalf("secret %q", secret)
		}
		if s := f.webhook(bob, slackHook.srv.URL+"/services/T0/B0/X", notify.FormatSlack); s != "" {
			t.Fatalf("a Slack webhook got a secret: %q", s)
		}
		f.webhook(carol, teamsHook.srv.URL+"/workflows/x", notify.FormatTeams)
		id := f.declare(f.admin, "Outage of the mail service")
		for _, u := range []*sitrep.User{alice, bob, carol} {
			f.do(u, id, sitrep.CheckIn{})
		}
		f.do(f.admin, id, sitrep.ChangePhase{Phase: sitrep.PhaseContainment, Reason: "Mail relay isolated"})

		ns := f.settled(id, 3)
		for _, n := range ns {
			if n.Status != notify.StatusSent || n.NeedsAck || n.Event != "phase.changed" {
				t.Errorf("notification: %+v", n)
			}
			if !strings.HasPrefix(n.Address, "http://127.0.0.1:") || !strings.HasSuffix(n.Address, "/…") {
				t.Errorf("the webhook URL is listed unredacted: %q", n.Address)
			}
		}

		reqs, bodies := jsonHook.deliveries()
		if len(reqs) != 1 {
			t.Fatalf("the JSON hook got %d deliveries", len(reqs))
		}
		r, body := reqs[0], bodies[0]
		ts := r.Header.Get(notify.HeaderTimestamp)
		mac := hmac.New(sha256.New, []byte(secret))
		mac.Write([]byte(ts + "." + string(body)))
		if want := "sha256=" + hex.EncodeToString(mac.Sum(nil)); r.Header.Get(notify.HeaderSignature) != want {
			t.Errorf("signature %q, want %q", r.Header.Get(notify.HeaderSignature), want)
		}
		if err := notify.Verify([]byte(secret), r.Header.Get(notify.HeaderSignature), ts, body, start, 5*time.Minute); err != nil {
			t.Errorf("Verify: %v", err)
		}
		if err := notify.Verify([]byte(secret), r.Header.Get(notify.HeaderSignature), ts, body, start.Add(time.Hour), 5*time.Minute); err == nil {
			t.Error("Verify accepted a delivery replayed an hour later")
		}
		if err := notify.Verify([]byte(secret), r.Header.Get(notify.HeaderSignature), ts, append(body, ' '), start, 5*time.Minute); err == nil {
			t.Error("Verify accepted an altered body")
		}
		var ev notify.Event
		if err := json.Unmarshal(body, &ev); err != nil {
			t.Fatal(err)
		}
		if ev.Type != "sitrep.notification" || ev.Incident.ID != id || ev.Event != "phase.changed" || ev.Recipient != "alice" || !strings.Contains(ev.Text, "Mail relay isolated") {
			t.Errorf("event: %+v", ev)
		}
		if r.Header.Get(notify.HeaderDelivery) != strconv.FormatInt(ev.ID, 10) {
			t.Errorf("delivery header %q, event id %d", r.Header.Get(notify.HeaderDelivery), ev.ID)
		}

		_, bodies = slackHook.deliveries()
		var slack struct {
			Text   string           `json:"text"`
			Blocks []map[string]any `json:"blocks"`
		}
		if len(bodies) != 1 || json.Unmarshal(bodies[0], &slack) != nil || !strings.Contains(slack.Text, "phase identification → containment") || len(slack.Blocks) == 0 {
			t.Errorf("slack: %s", bodies)
		}
		_, bodies = teamsHook.deliveries()
		var teams struct {
			Type        string `json:"type"`
			Attachments []struct {
				ContentType string `json:"contentType"`
				Content     struct {
					Type string           `json:"type"`
					Body []map[string]any `json:"body"`
				} `json:"content"`
			} `json:"attachments"`
		}
		if len(bodies) != 1 || json.Unmarshal(bodies[0], &teams) != nil || teams.Type != "message" || len(teams.Attachments) != 1 ||
			teams.Attachments[0].ContentType != "application/vnd.microsoft.card.adaptive" || teams.Attachments[0].Content.Type != "AdaptiveCard" {
			t.Errorf("teams: %s", bodies)
		}
	})
}

// An unanswered page is repeated, then escalated to whoever gave the order;
// an acknowledgement stops it.
func TestRepeatThenEscalate(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db string) {
		f := newFixture(t, db)
		alice := f.user("alice", sitrep.OrgResponder)
		aliceAddr, adminAddr := f.email(alice), f.email(f.admin)
		id := f.declare(f.admin, "Phishing wave")
		f.do(alice, id, sitrep.CheckIn{})
		f.do(f.admin, id, sitrep.AddTask{Section: "operations", Title: "Block the sender domain", Assignee: "alice"})
		f.settled(id, 1)

		f.sweep() // not due yet: nothing happens
		if ns := f.notifications(id); len(ns) != 1 {
			t.Fatalf("before the timeout: %d notifications", len(ns))
		}
		f.advance(5*time.Minute + time.Second)
		f.sweep()
		f.sweep() // a round escalates once
		ns := f.settled(id, 2)
		if ns[1].Recipient != "alice" || ns[1].Round != 1 || ns[0].EscalatedAt == nil {
			t.Fatalf("repeat: %+v", ns[1])
		}
		if m := f.smtp.to(aliceAddr); len(m) != 2 || m[1].Subject != "REPEAT 1: "+id+": task 1 for you" {
			t.Fatalf("alice's e-mails: %+v", m)
		}

		f.advance(5*time.Minute + time.Second)
		f.sweep()
		ns = f.settled(id, 3)
		if ns[2].Recipient != "admin" || ns[2].Step != 1 || ns[2].Chain != "alice" {
			t.Fatalf("escalation: %+v", ns[2])
		}
		m := f.smtp.to(adminAddr)
		if len(m) != 1 || m[0].Subject != "ESCALATION: alice has not acknowledged: "+id+": task 1 for you" || !strings.Contains(m[0].Text, "alice was paged about this and has not acknowledged it") {
			t.Fatalf("admin's e-mails: %+v", m)
		}

		// Command acknowledges from the API (as sitrep page-ack does): the
		// chain stops.
		if _, err := f.app.Notifier().Acknowledge(f.ctx, alice, ns[2].ID); sitrep.ErrorKind(err) != sitrep.ENotFound {
			t.Fatalf("alice acknowledged admin's page: %v", err)
		}
		got, err := f.app.Notifier().Acknowledge(f.ctx, f.admin, ns[2].ID)
		if err != nil || got.Status != notify.StatusAcknowledged || got.AckedBy != "admin" {
			t.Fatalf("acknowledge: %+v, %v", got, err)
		}
		for _, n := range f.notifications(id) {
			if n.Status != notify.StatusAcknowledged {
				t.Errorf("notification %d of the chain is %s", n.ID, n.Status)
			}
		}
		f.advance(time.Hour)
		f.sweep()
		if ns := f.notifications(id); len(ns) != 3 {
			t.Fatalf("after the acknowledgement: %d notifications", len(ns))
		}
	})
}

// A transfer of command pages everyone who must acknowledge it (ICS rule
// 4): `sitrep ack` answers the page, and acknowledging the page is the
// acknowledgement on the record.
func TestTransferOfCommandPages(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db string) {
		f := newFixture(t, db)
		alice, bob, carol := f.user("alice", sitrep.OrgResponder), f.user("bob", sitrep.OrgResponder), f.user("carol", sitrep.OrgResponder)
		for _, u := range []*sitrep.User{alice, bob, carol} {
			f.email(u)
		}
		id := f.declare(f.admin, "Data exfiltration")
		for _, u := range []*sitrep.User{alice, bob, carol} {
			f.do(u, id, sitrep.CheckIn{})
		}
		f.do(f.admin, id, sitrep.OfferCommand{To: "bob", Briefing: "Firewall rules in place"})
		f.do(bob, id, sitrep.AcceptCommand{})
		// The offer to bob, then the announcement to admin, alice and carol.
		ns := f.settled(id, 4)
		pages := map[string]notify.Notification{}
		for _, n := range ns[1:] {
			if n.Event != "command.transferred" || !n.NeedsAck {
				t.Fatalf("announcement: %+v", n)
			}
			pages[n.Recipient] = n
		}
		if ns[0].Event != "command.offered" || ns[0].Status != notify.StatusAcknowledged || ns[0].AckedBy != "bob" {
			t.Errorf("taking command did not answer the offer: %+v", ns[0])
		}

		// alice acknowledges on the record: her page is answered.
		f.do(alice, id, sitrep.Acknowledge{})
		f.waitFor("alice's page to be answered", func() bool {
			for _, n := range f.notifications(id) {
				if n.Recipient == "alice" && n.Status == notify.StatusAcknowledged {
					return true
				}
			}
			return false
		})
		// carol acknowledges the page: it is on the record.
		if _, err := f.app.Notifier().Acknowledge(f.ctx, carol, pages["carol"].ID); err != nil {
			t.Fatal(err)
		}
		inc, err := f.svc.Incident(f.ctx, f.admin, id)
		if err != nil {
			t.Fatal(err)
		}
		var acked []string
		for _, a := range inc.Announcement.Acks {
			acked = append(acked, a.User)
		}
		if strings.Join(acked, ",") != "alice,carol" || strings.Join(inc.Announcement.Pending, ",") != "admin" {
			t.Fatalf("acknowledged %v, pending %v", acked, inc.Announcement.Pending)
		}
	})
}

// Someone with no contact method is recorded as unreachable, and a page to
// them escalates at its time as if unanswered.
func TestNoContactMethod(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db string) {
		f := newFixture(t, db)
		alice := f.user("alice", sitrep.OrgResponder)
		adminAddr := f.email(f.admin)
		id := f.declare(f.admin, "Lost laptop")
		f.do(alice, id, sitrep.CheckIn{})
		f.do(f.admin, id, sitrep.Assign{Role: "liaison", User: "alice"})
		ns := f.settled(id, 1)
		if ns[0].Channel != notify.ChannelNone || ns[0].Status != notify.StatusFailed || !strings.Contains(ns[0].LastError, "alice has no contact method") {
			t.Fatalf("%+v", ns[0])
		}
		f.advance(5*time.Minute + time.Second)
		f.sweep()
		f.advance(5*time.Minute + time.Second)
		f.sweep()
		f.settled(id, 3)
		if m := f.smtp.to(adminAddr); len(m) != 1 || !strings.HasPrefix(m[0].Subject, "ESCALATION: alice") {
			t.Fatalf("admin's e-mails: %+v", m)
		}
	})
}

// A server stopped in the middle of sending (the relay had not accepted the
// message) sends it after its restart, once.
func TestCrashMidSendDeliversOnce(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db string) {
		f := newFixture(t, db)
		alice := f.user("alice", sitrep.OrgResponder)
		addr := f.email(alice)
		id := f.declare(f.admin, "Credential stuffing")
		f.do(alice, id, sitrep.CheckIn{})
		hold, holding := f.smtp.holdNext()
		f.do(f.admin, id, sitrep.Assign{Role: "planning", User: "alice"})
		<-holding
		// The process dies mid-send: deliveries in flight are cancelled,
		// not marked done.
		if err := f.app.Notifier().Kill(f.ctx); err != nil {
			t.Fatal(err)
		}
		close(hold)
		f.stop()
		if n := len(f.smtp.to(addr)); n != 0 {
			t.Fatalf("%d e-mails accepted before the restart", n)
		}

		f.start()
		ns := f.settled(id, 1)
		if ns[0].Status != notify.StatusSent || ns[0].Attempts != 2 {
			t.Fatalf("after the restart: %+v", ns[0])
		}
		time.Sleep(300 * time.Millisecond) // several polls: nothing else goes out
		if n := len(f.smtp.to(addr)); n != 1 {
			t.Fatalf("alice got %d e-mails, want exactly 1", n)
		}
	})
}

// Entries committed by a process that died before planning them are planned
// by the sweep of the next start: nothing accepted is lost.
func TestCrashBeforePlanningLosesNothing(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db string) {
		f := newFixture(t, db)
		alice := f.user("alice", sitrep.OrgResponder)
		addr := f.email(alice)
		id := f.declare(f.admin, "Suspicious login")
		f.do(alice, id, sitrep.CheckIn{})
		f.settled(id, 0)
		f.stop()
		// Another process on the same store that never plans: the
		// commit happens, the planning does not. (While the server
		// runs, its own sweep could plan it first.)
		st, err := app.OpenStore(f.ctx, f.db, nil)
		if err != nil {
			t.Fatal(err)
		}
		bare := sitrep.NewService(st, nil)
		bare.Clock = f.clock
		if _, _, err := bare.Do(f.ctx, f.admin, id, sitrep.Assign{Role: "safety", User: "alice"}); err != nil {
			t.Fatal(err)
		}
		if err := st.Close(); err != nil {
			t.Fatal(err)
		}
		if n := len(f.smtp.to(addr)); n != 0 {
			t.Fatalf("%d e-mails before the restart", n)
		}
		f.start() // its first sweep plans what was left
		ns := f.settled(id, 1)
		if ns[0].Event != "role.assigned" || ns[0].Status != notify.StatusSent {
			t.Fatalf("%+v", ns[0])
		}
		f.sweep()
		time.Sleep(300 * time.Millisecond)
		if n := len(f.smtp.to(addr)); n != 1 {
			t.Fatalf("alice got %d e-mails, want 1", n)
		}
	})
}

// Contacts are validated, belong to their person, and webhook URLs are
// shown whole only to whoever added them.
func TestContacts(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db string) {
		f := newFixture(t, db)
		alice, bob := f.user("alice", sitrep.OrgResponder), f.user("bob", sitrep.OrgResponder)
		n := f.app.Notifier()
		for _, in := range []notify.ContactInput{
			{Kind: "sms", Address: "+1555"},
			{Kind: "email", Address: "not an address"},
			{Kind: "email", Address: "Alice <alice@example.org>"},
			{Kind: "webhook", Address: "ftp://example.org/x"},
			{Kind: "webhook", Address: "https://user:pw@example.org/x"},
			{Kind: "webhook", Address: "https://example.org/x", Format: "discord"},
			{Kind: "email", Address: "alice@example.org", Format: "slack"},
		} {
			if _, _, err := n.AddContact(f.ctx, alice, "alice", in); sitrep.ErrorKind(err) != sitrep.EInvalid {
				t.Errorf("%+v: %v, want invalid", in, err)
			}
		}
		if _, _, err := n.AddContact(f.ctx, bob, "alice", notify.ContactInput{Kind: "email", Address: "bob@example.org"}); sitrep.ErrorKind(err) != sitrep.EForbidden {
			t.Errorf("bob added a contact of alice: %v", err)
		}
		c, _, err := n.AddContact(f.ctx, alice, "alice", notify.ContactInput{Kind: "webhook", Address: "https://hooks.example.org/services/T0/B0/secret", Format: "slack"})
		if err != nil || c.Address != "https://hooks.example.org/services/T0/B0/secret" {
			t.Fatalf("add: %+v, %v", c, err)
		}
		if _, _, err := n.AddContact(f.ctx, f.admin, "alice", notify.ContactInput{Kind: "webhook", Address: "https://hooks.example.org/services/T0/B0/secret", Format: "slack"}); sitrep.ErrorKind(err) != sitrep.EConflict {
			t.Errorf("duplicate: %v", err)
		}
		if _, _, err := n.AddContact(f.ctx, f.admin, "nobody", notify.ContactInput{Kind: "email", Address: "x@example.org"}); sitrep.ErrorKind(err) != sitrep.ENotFound {
			t.Errorf("contact of nobody: %v", err)
		}
		cs, err := n.Contacts(f.ctx, alice, "alice")
		if err != nil || len(cs) != 1 || cs[0].Address != "https://hooks.example.org/…" {
			t.Fatalf("list: %+v, %v", cs, err)
		}
		if err := n.DeleteContact(f.ctx, bob, "alice", c.ID); sitrep.ErrorKind(err) != sitrep.EForbidden {
			t.Errorf("bob removed alice's contact: %v", err)
		}
		if err := n.DeleteContact(f.ctx, alice, "alice", c.ID); err != nil {
			t.Fatal(err)
		}
		if err := n.DeleteContact(f.ctx, alice, "alice", c.ID); sitrep.ErrorKind(err) != sitrep.ENotFound {
			t.Errorf("second removal: %v", err)
		}
	})
}

func TestAckTokens(t *testing.T) {
	s := notify.NewAckSigner([]byte("server secret"))
	now := time.Unix(1_800_000_000, 0)
	tok := s.Token(42, now.Add(time.Hour))
	if id, err := s.Check(tok, now); err != nil || id != 42 {
		t.Fatalf("check: %d, %v", id, err)
	}
	if _, err := s.Check(tok, now.Add(2*time.Hour)); sitrep.ErrorKind(err) != sitrep.EInvalid || !strings.Contains(err.Error(), "expired") {
		t.Errorf("expired token: %v", err)
	}
	if _, err := notify.NewAckSigner([]byte("another server")).Check(tok, now); sitrep.ErrorKind(err) != sitrep.EInvalid {
		t.Errorf("token of another server: %v", err)
	}
	for _, bad := range []string{"", "x", strings.Repeat("A", 500), url.PathEscape(tok + "=")} {
		if _, err := s.Check(bad, now); sitrep.ErrorKind(err) != sitrep.EInvalid {
			t.Errorf("Check(%q): %v", bad, err)
		}
	}
}

func FuzzAckToken(f *testing.F) {
	s := notify.NewAckSigner([]byte("server secret"))
	now := time.Unix(1_800_000_000, 0)
	f.Add(s.Token(1, now.Add(time.Hour)))
	f.Add("AQAAAAAAAAAB")
	f.Fuzz(func(t *testing.T, tok string) {
		id, err := s.Check(tok, now)
		if err == nil && s.Token(id, now.Add(time.Hour)) == "" {
			t.Fatal("accepted a token it cannot make")
		}
		if err != nil && sitrep.ErrorKind(err) != sitrep.EInvalid {
			t.Fatalf("error of kind %s", sitrep.ErrorKind(err))
		}
	})
}
