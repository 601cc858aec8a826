package api

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/riverqueue/river/riverdriver/riversqlite"

	"github.com/sitrep-ir/sitrep"
	"github.com/sitrep-ir/sitrep/notify"
	"github.com/sitrep-ir/sitrep/store/sqlite"
)

func init() {
	// The pages behind acknowledgement links are HTML: checked as strings.
	openapi3filter.RegisterBodyDecoder("text/html", openapi3filter.FileBodyDecoder)
}

// notifyRoute reports whether rt is a route of notifications, which
// TestNotifyRoutes covers with a running notifier.
func notifyRoute(rt route) bool {
	return strings.Contains(rt.path, "/contacts") || strings.Contains(rt.path, "notifications") || strings.HasPrefix(rt.path, "/ack/")
}

// withNotifier gives e's API a running notifier on its SQLite store.
func withNotifier(t *testing.T, e *env) {
	t.Helper()
	store := e.store.(*sqlite.Store)
	ctx := context.Background()
	n, err := notify.New[*sql.Tx](ctx, store, e.svc, riversqlite.New(store.NotifyDB()), notify.Config{
		PollOnly: true, PollInterval: 50 * time.Millisecond, SweepInterval: time.Hour,
		BaseURL: func() string { return e.srv.URL },
	})
	if err != nil {
		t.Fatalf("notifier: %v", err)
	}
	if err := n.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Stop(context.Background()) })
	e.api.notify = n
	e.svc.Appended = n.Appended
}

// Every notification route, against the OpenAPI document.
func TestNotifyRoutes(t *testing.T) {
	e := newEnv(t, sqliteStore)
	withNotifier(t, e)
	alice := e.addUser("alice", sitrep.OrgResponder)
	var mu sync.Mutex
	var bodies [][]byte
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		bodies = append(bodies, b)
		mu.Unlock()
	}))
	t.Cleanup(hook.Close)

	r := e.ok(http.StatusCreated, request{method: "POST", path: "/api/v1/users/alice/contacts", as: alice, body: map[string]any{"kind": "webhook", "address": hook.URL + "/x"}})
	var created struct {
		ID     int64  `json:"id"`
		Secret string `json:"secret"`
	}
	if err := json.Unmarshal(r.body, &created); err != nil || created.Secret == "" {
		t.Fatalf("created %s: %v", r.body, err)
	}
	e.ok(http.StatusOK, request{method: "GET", path: "/api/v1/users/alice/contacts", as: alice})
	e.fail(http.StatusForbidden, "", request{method: "POST", path: "/api/v1/users/admin/contacts", as: alice, body: map[string]any{"kind": "email", "address": "a@example.org"}})
	e.fail(http.StatusBadRequest, "", request{method: "POST", path: "/api/v1/users/alice/contacts", as: alice, body: map[string]any{"kind": "sms", "address": "+1"}})

	id := e.declare(e.admin, sitrep.DeclareInput{Title: "Notified"})
	e.change(alice, "POST", "/api/v1/incidents/"+id+"/checkin", nil)
	e.change(e.admin, "POST", "/api/v1/incidents/"+id+"/roles", map[string]any{"role": "operations", "user": "alice"})
	var ev notify.Event
	deadline := time.Now().Add(15 * time.Second)
	for {
		mu.Lock()
		n := len(bodies)
		if n > 0 {
			json.Unmarshal(bodies[0], &ev)
		}
		mu.Unlock()
		if n > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no webhook delivery")
		}
		time.Sleep(20 * time.Millisecond)
	}
	r = e.ok(http.StatusOK, request{method: "GET", path: "/api/v1/incidents/" + id + "/notifications", as: alice})
	if !strings.Contains(string(r.body), `"recipient":"alice"`) {
		t.Fatalf("notifications: %s", r.body)
	}
	if ev.AckURL == "" || !strings.HasPrefix(ev.AckURL, e.srv.URL+"/ack/") {
		t.Fatalf("ack url %q", ev.AckURL)
	}
	link := strings.TrimPrefix(ev.AckURL, e.srv.URL)
	e.ok(http.StatusOK, request{method: "GET", path: link})
	e.fail(http.StatusNotFound, "", request{method: "POST", path: fmt.Sprintf("/api/v1/notifications/%d/ack", ev.ID), as: e.admin})
	e.ok(http.StatusOK, request{method: "POST", path: fmt.Sprintf("/api/v1/notifications/%d/ack", ev.ID), as: alice})
	e.ok(http.StatusOK, request{method: "POST", path: link})
	if resp := e.call(request{method: "GET", path: "/ack/not-a-token"}); resp.status != http.StatusBadRequest {
		t.Errorf("a bad link: %d", resp.status)
	}
	e.ok(http.StatusNoContent, request{method: "DELETE", path: fmt.Sprintf("/api/v1/users/alice/contacts/%d", created.ID), as: alice})
}
