package storetest

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sitrep-ir/sitrep"
	"github.com/sitrep-ir/sitrep/notify"
)

// runNotify runs the checks of notify.Store: contact methods, the server
// secret, and the outbox: planning once per entry, delivery status,
// acknowledgement and escalation once per round.
func runNotify(t *testing.T, h Harness) {
	switch s := h.New(t).(type) {
	case notify.Store[*sql.Tx]:
		testNotify[*sql.Tx](t, h)
	case notify.Store[pgx.Tx]:
		testNotify[pgx.Tx](t, h)
	default:
		t.Fatalf("%T keeps no notifications", s)
	}
}

func testNotify[TTx any](t *testing.T, h Harness) {
	t.Run("Contacts", func(t *testing.T) { testContacts(newNotifyFixture[TTx](t, h)) })
	t.Run("ServerSecret", func(t *testing.T) { testServerSecret(newNotifyFixture[TTx](t, h)) })
	t.Run("PlanOnce", func(t *testing.T) { testPlanOnce(newNotifyFixture[TTx](t, h)) })
	t.Run("PlanRollsBack", func(t *testing.T) { testPlanRollsBack(newNotifyFixture[TTx](t, h)) })
	t.Run("Delivery", func(t *testing.T) { testDelivery(newNotifyFixture[TTx](t, h)) })
	t.Run("AcknowledgeAndEscalate", func(t *testing.T) { testAcknowledgeAndEscalate(newNotifyFixture[TTx](t, h)) })
}

type notifyFixture[TTx any] struct {
	*fixture
	ns notify.Store[TTx]
	// enqueued records what enqueue was called with; fail makes it fail.
	enqueued [][]int64
	fail     error
}

func newNotifyFixture[TTx any](t *testing.T, h Harness) *notifyFixture[TTx] {
	t.Helper()
	f := newFixture(t, h)
	return &notifyFixture[TTx]{fixture: f, ns: f.store.(notify.Store[TTx])}
}

func (f *notifyFixture[TTx]) enqueue(_ context.Context, _ TTx, ids []int64) error {
	if f.fail != nil {
		return f.fail
	}
	f.enqueued = append(f.enqueued, slices.Clone(ids))
	return nil
}

func (f *notifyFixture[TTx]) contact(user, kind, address string) *notify.Contact {
	f.t.Helper()
	c := &notify.Contact{User: user, Kind: kind, Address: address, CreatedAt: f.clock.Now()}
	if kind == notify.ChannelWebhook {
		c.Format, c.Secret = notify.FormatJSON, "whsec_test"
	}
	if err := f.ns.AddContact(f.ctx, c); err != nil {
		f.t.Fatalf("add contact %s of %s: %v", address, user, err)
	}
	return c
}

// page returns a queued notification of entry seq of incident to to, as
// planning makes it.
func page(incident string, seq int64, to string, c *notify.Contact, due time.Time) *notify.Notification {
	n := &notify.Notification{
		IncidentID: incident, Seq: seq, Event: "role.assigned", Recipient: to, Chain: to, Ladder: []string{to, "admin"},
		Channel: notify.ChannelNone, Message: notify.Message{Incident: incident, Title: "t", Severity: 3, Phase: sitrep.PhaseIdentification, Subject: "s", Text: "x\ny", Actor: "admin", At: due},
		NeedsAck: true, Status: notify.StatusFailed, LastError: to + " has no contact method", CreatedAt: due.Add(-5 * time.Minute), AckDue: &due,
	}
	if c != nil {
		n.Channel, n.ContactID, n.Address, n.Format, n.Status, n.LastError = c.Kind, c.ID, c.Address, c.Format, notify.StatusQueued, ""
	}
	return n
}

func testContacts[TTx any](f *notifyFixture[TTx]) {
	t := f.t
	f.user("alice")
	f.user("bob")
	a1 := f.contact("alice", notify.ChannelEmail, "alice@example.org")
	a2 := f.contact("alice", notify.ChannelWebhook, "https://hooks.example.org/a")
	b1 := f.contact("bob", notify.ChannelEmail, "bob@example.org")
	if a1.ID == 0 || a1.ID == a2.ID || a2.ID == b1.ID {
		t.Fatalf("IDs %d, %d, %d", a1.ID, a2.ID, b1.ID)
	}
	dup := &notify.Contact{User: "alice", Kind: notify.ChannelEmail, Address: "alice@example.org", CreatedAt: f.clock.Now()}
	if err := f.ns.AddContact(f.ctx, dup); sitrep.ErrorKind(err) != sitrep.EConflict {
		t.Errorf("duplicate contact: %v", err)
	}
	nobody := &notify.Contact{User: "nobody", Kind: notify.ChannelEmail, Address: "x@example.org", CreatedAt: f.clock.Now()}
	if err := f.ns.AddContact(f.ctx, nobody); sitrep.ErrorKind(err) != sitrep.ENotFound {
		t.Errorf("contact of a user who does not exist: %v", err)
	}
	got, err := f.ns.Contacts(f.ctx, "bob", "alice")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || got[0].ID != a1.ID || got[1].ID != a2.ID || got[2].ID != b1.ID || got[1].Secret != "whsec_test" || got[1].Format != notify.FormatJSON || !got[0].CreatedAt.Equal(a1.CreatedAt.UTC().Truncate(time.Microsecond)) {
		t.Fatalf("contacts: %+v", got)
	}
	if got, err := f.ns.Contacts(f.ctx); err != nil || len(got) != 0 {
		t.Errorf("contacts of nobody: %v, %v", got, err)
	}
	if err := f.ns.DeleteContact(f.ctx, "bob", a1.ID); sitrep.ErrorKind(err) != sitrep.ENotFound {
		t.Errorf("bob removed alice's contact: %v", err)
	}
	if err := f.ns.DeleteContact(f.ctx, "alice", a1.ID); err != nil {
		t.Fatal(err)
	}
	if got, _ := f.ns.Contacts(f.ctx, "alice"); len(got) != 1 || got[0].ID != a2.ID {
		t.Errorf("after removal: %+v", got)
	}
}

func testServerSecret[TTx any](f *notifyFixture[TTx]) {
	first, err := f.ns.ServerSecret(f.ctx, "notify", []byte("first"))
	if err != nil || string(first) != "first" {
		f.t.Fatalf("first: %q, %v", first, err)
	}
	again, err := f.ns.ServerSecret(f.ctx, "notify", []byte("second"))
	if err != nil || !bytes.Equal(again, first) {
		f.t.Fatalf("again: %q, %v", again, err)
	}
	other, err := f.ns.ServerSecret(f.ctx, "other", []byte("x"))
	if err != nil || string(other) != "x" {
		f.t.Fatalf("other: %q, %v", other, err)
	}
}

func testPlanOnce[TTx any](f *notifyFixture[TTx]) {
	t := f.t
	f.user("alice")
	f.user("bob")
	c := f.contact("alice", notify.ChannelEmail, "alice@example.org")
	inc := f.declare(f.admin, "Planned once")
	f.do(f.users["alice"], inc.ID, sitrep.CheckIn{})

	ids, err := f.ns.Unplanned(f.ctx, 10)
	if err != nil || !slices.Equal(ids, []string{inc.ID}) {
		t.Fatalf("unplanned: %v, %v", ids, err)
	}
	cursor, entries, err := f.ns.Pending(f.ctx, inc.ID, 100)
	if err != nil || cursor != 0 || len(entries) != 2 || entries[0].Seq != 1 {
		t.Fatalf("pending: %d, %d entries, %v", cursor, len(entries), err)
	}
	at := f.clock.Now()
	b := notify.Batch{Notifications: []*notify.Notification{page(inc.ID, 2, "alice", c, at), page(inc.ID, 2, "bob", nil, at)}}
	ok, err := f.ns.Plan(f.ctx, inc.ID, 0, 2, b, at, f.enqueue)
	if err != nil || !ok {
		t.Fatalf("plan: %t, %v", ok, err)
	}
	if len(f.enqueued) != 1 || len(f.enqueued[0]) != 1 || f.enqueued[0][0] != b.Notifications[0].ID {
		t.Fatalf("enqueued %v: only the queued one, %d", f.enqueued, b.Notifications[0].ID)
	}
	// A second planner that read the same cursor stores nothing.
	again := notify.Batch{Notifications: []*notify.Notification{page(inc.ID, 2, "alice", c, at)}}
	if ok, err := f.ns.Plan(f.ctx, inc.ID, 0, 2, again, at, f.enqueue); err != nil || ok {
		t.Fatalf("stale plan: %t, %v", ok, err)
	}
	// The same notification planned again from the new cursor is not
	// stored twice: the idempotency key.
	if ok, err := f.ns.Plan(f.ctx, inc.ID, 2, 2, again, at, f.enqueue); err != nil || !ok {
		t.Fatalf("replan: %t, %v", ok, err)
	}
	if len(f.enqueued) != 1 {
		t.Fatalf("enqueued again: %v", f.enqueued)
	}
	if ids, _ := f.ns.Unplanned(f.ctx, 10); len(ids) != 0 {
		t.Errorf("unplanned after planning: %v", ids)
	}
	if cursor, entries, _ := f.ns.Pending(f.ctx, inc.ID, 100); cursor != 2 || len(entries) != 0 {
		t.Errorf("pending after planning: %d, %d entries", cursor, len(entries))
	}
	list, err := f.ns.IncidentNotifications(f.ctx, inc.ID)
	if err != nil || len(list) != 2 {
		t.Fatalf("list: %d, %v", len(list), err)
	}
	got := list[0]
	want := b.Notifications[0]
	if got.ID != want.ID || got.Recipient != "alice" || got.Status != notify.StatusQueued || got.ContactID != c.ID || !slices.Equal(got.Ladder, want.Ladder) ||
		got.Message.Text != "x\ny" || !got.Message.At.Equal(at) || got.AckDue == nil || !got.AckDue.Equal(at.UTC().Truncate(time.Microsecond)) || got.SentAt != nil {
		t.Errorf("stored %+v", got)
	}
	if list[1].Channel != notify.ChannelNone || list[1].ContactID != 0 || list[1].Status != notify.StatusFailed || list[1].LastError != "bob has no contact method" {
		t.Errorf("stored %+v", list[1])
	}
	// A new entry makes the incident unplanned again.
	f.do(f.admin, inc.ID, sitrep.AddNote{Text: "more"})
	if ids, _ := f.ns.Unplanned(f.ctx, 10); !slices.Equal(ids, []string{inc.ID}) {
		t.Errorf("unplanned after a new entry: %v", ids)
	}
}

func testPlanRollsBack[TTx any](f *notifyFixture[TTx]) {
	t := f.t
	f.user("alice")
	c := f.contact("alice", notify.ChannelEmail, "alice@example.org")
	inc := f.declare(f.admin, "Rolled back")
	at := f.clock.Now()
	f.fail = errors.New("the queue is down")
	b := notify.Batch{Notifications: []*notify.Notification{page(inc.ID, 1, "alice", c, at)}}
	if ok, err := f.ns.Plan(f.ctx, inc.ID, 0, 1, b, at, f.enqueue); err == nil || !errors.Is(err, f.fail) || ok {
		t.Fatalf("plan with a failing enqueue: %t, %v", ok, err)
	}
	if list, _ := f.ns.IncidentNotifications(f.ctx, inc.ID); len(list) != 0 {
		t.Errorf("a failed plan stored %d notifications", len(list))
	}
	if cursor, _, _ := f.ns.Pending(f.ctx, inc.ID, 10); cursor != 0 {
		t.Errorf("a failed plan moved the cursor to %d", cursor)
	}
}

func testDelivery[TTx any](f *notifyFixture[TTx]) {
	t := f.t
	f.user("alice")
	c := f.contact("alice", notify.ChannelEmail, "alice@example.org")
	inc := f.declare(f.admin, "Delivered")
	at := f.clock.Now()
	b := notify.Batch{Notifications: []*notify.Notification{page(inc.ID, 1, "alice", c, at), page(inc.ID, 1, "alice", f.contact("alice", notify.ChannelEmail, "a2@example.org"), at)}}
	if ok, err := f.ns.Plan(f.ctx, inc.ID, 0, 1, b, at, f.enqueue); err != nil || !ok {
		t.Fatalf("plan: %t, %v", ok, err)
	}
	sent, failing := b.Notifications[0].ID, b.Notifications[1].ID
	if err := f.ns.Failed(f.ctx, sent, "relay down", false); err != nil {
		t.Fatal(err)
	}
	if ok, err := f.ns.Sent(f.ctx, sent, at); err != nil || !ok {
		t.Fatalf("sent: %t, %v", ok, err)
	}
	if ok, err := f.ns.Sent(f.ctx, sent, at); err != nil || ok {
		t.Fatalf("sent twice: %t, %v", ok, err)
	}
	n, err := f.ns.Notification(f.ctx, sent)
	if err != nil || n.Status != notify.StatusSent || n.Attempts != 2 || n.LastError != "" || n.SentAt == nil {
		t.Fatalf("after sending: %+v, %v", n, err)
	}
	if err := f.ns.Failed(f.ctx, failing, "550 no such user", true); err != nil {
		t.Fatal(err)
	}
	n, err = f.ns.Notification(f.ctx, failing)
	if err != nil || n.Status != notify.StatusFailed || n.Attempts != 1 || n.LastError != "550 no such user" {
		t.Fatalf("after failing: %+v, %v", n, err)
	}
	if ok, err := f.ns.Sent(f.ctx, failing, at); err != nil || ok {
		t.Errorf("a failed notification was recorded sent: %t, %v", ok, err)
	}
	if _, err := f.ns.Notification(f.ctx, 1<<40); sitrep.ErrorKind(err) != sitrep.ENotFound {
		t.Errorf("missing notification: %v", err)
	}
}

func testAcknowledgeAndEscalate[TTx any](f *notifyFixture[TTx]) {
	t := f.t
	f.user("alice")
	email := f.contact("alice", notify.ChannelEmail, "alice@example.org")
	hook := f.contact("alice", notify.ChannelWebhook, "https://hooks.example.org/a")
	inc := f.declare(f.admin, "Escalated")
	due := f.clock.Now().Add(5 * time.Minute)
	b := notify.Batch{Notifications: []*notify.Notification{page(inc.ID, 1, "alice", email, due), page(inc.ID, 1, "alice", hook, due)}}
	if ok, err := f.ns.Plan(f.ctx, inc.ID, 0, 1, b, due, f.enqueue); err != nil || !ok {
		t.Fatalf("plan: %t, %v", ok, err)
	}
	if list, err := f.ns.Due(f.ctx, due.Add(-time.Second), 10); err != nil || len(list) != 0 {
		t.Fatalf("due early: %d, %v", len(list), err)
	}
	list, err := f.ns.Due(f.ctx, due, 10)
	if err != nil || len(list) != 1 || list[0].ID != b.Notifications[0].ID {
		t.Fatalf("due: one per round, %+v, %v", list, err)
	}
	// Escalate to admin, once.
	next := page(inc.ID, 1, "alice", nil, due.Add(5*time.Minute))
	next.Recipient, next.Step = "admin", 1
	ok, err := f.ns.Escalate(f.ctx, list[0], due, []*notify.Notification{next}, f.enqueue)
	if err != nil || !ok {
		t.Fatalf("escalate: %t, %v", ok, err)
	}
	if ok, err := f.ns.Escalate(f.ctx, list[0], due, []*notify.Notification{next}, f.enqueue); err != nil || ok {
		t.Fatalf("escalated twice: %t, %v", ok, err)
	}
	all, _ := f.ns.IncidentNotifications(f.ctx, inc.ID)
	if len(all) != 3 || all[0].EscalatedAt == nil || all[1].EscalatedAt == nil || all[2].Recipient != "admin" || all[2].Step != 1 {
		t.Fatalf("after escalating: %+v", all)
	}
	if list, _ := f.ns.Due(f.ctx, due, 10); len(list) != 0 {
		t.Errorf("an escalated round is due again: %+v", list)
	}
	// Acknowledging any notification of the chain acknowledges it all.
	n, err := f.ns.Acknowledge(f.ctx, all[1].ID, "alice", due)
	if err != nil || n.Status != notify.StatusAcknowledged || n.AckedBy != "alice" || n.AckedAt == nil {
		t.Fatalf("acknowledge: %+v, %v", n, err)
	}
	all, _ = f.ns.IncidentNotifications(f.ctx, inc.ID)
	for _, n := range all {
		if n.Status != notify.StatusAcknowledged || n.AckedBy != "alice" {
			t.Errorf("after acknowledging: %+v", n)
		}
	}
	if list, _ := f.ns.Due(f.ctx, due.Add(time.Hour), 10); len(list) != 0 {
		t.Errorf("an acknowledged chain is due: %+v", list)
	}
	// An acknowledged page still records its delivery, keeping its status.
	if ok, err := f.ns.Sent(f.ctx, all[0].ID, due); err != nil || !ok {
		t.Fatalf("sent after acknowledgement: %t, %v", ok, err)
	}
	if n, _ := f.ns.Notification(f.ctx, all[0].ID); n.Status != notify.StatusAcknowledged || n.SentAt == nil {
		t.Errorf("%+v", n)
	}
	// An acknowledged round does not escalate.
	if ok, err := f.ns.Escalate(f.ctx, all[2], due, nil, f.enqueue); err != nil || ok {
		t.Errorf("escalated an acknowledged chain: %t, %v", ok, err)
	}
	// Pages answered by a later entry: an ack rule in a plan.
	later := page(inc.ID, 2, "bob", nil, due)
	later.Chain = "bob"
	f.do(f.admin, inc.ID, sitrep.AddNote{Text: "second"})
	rule := notify.Batch{Notifications: []*notify.Notification{later}, Acks: []notify.AckRule{{Event: "role.assigned", Chain: "bob", By: "bob"}}}
	if ok, err := f.ns.Plan(f.ctx, inc.ID, 1, 2, rule, due, f.enqueue); err != nil || !ok {
		t.Fatalf("plan with an ack rule: %t, %v", ok, err)
	}
	if n, _ := f.ns.Notification(f.ctx, later.ID); n.Status != notify.StatusAcknowledged || n.AckedBy != "bob" {
		t.Errorf("ack rule: %+v", n)
	}
	note := page(inc.ID, 2, "carol", nil, due)
	note.NeedsAck, note.AckDue = false, nil
	f.do(f.admin, inc.ID, sitrep.AddNote{Text: "third"})
	if ok, err := f.ns.Plan(f.ctx, inc.ID, 2, 3, notify.Batch{Notifications: []*notify.Notification{note}}, due, f.enqueue); err != nil || !ok {
		t.Fatalf("plan: %t, %v", ok, err)
	}
	if _, err := f.ns.Acknowledge(f.ctx, note.ID, "carol", due); sitrep.ErrorKind(err) != sitrep.EConflict {
		t.Errorf("acknowledged a notification that is not a page: %v", err)
	}
}
