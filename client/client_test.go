package client_test

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/sitrep-ir/sitrep"
	"github.com/sitrep-ir/sitrep/app"
	"github.com/sitrep-ir/sitrep/client"
)

// startServer runs a real sitrep server on loopback with a SQLite file of
// the test's own, and returns its URL and the administrator's token.
func startServer(t *testing.T) (string, string) {
	t.Helper()
	a, err := app.New(context.Background(), app.Config{
		Addr:   "127.0.0.1:0",
		DB:     "sqlite:" + filepath.Join(t.TempDir(), "sitrep.db"),
		Logger: slog.New(slog.DiscardHandler),
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
	return a.URL(), a.AdminToken()
}

// TestIncident drives an incident through the client's methods and checks
// what the server answers in the domain's types.
func TestIncident(t *testing.T) {
	url, token := startServer(t)
	ctx := context.Background()
	admin := client.New(url, token)

	me, err := admin.Me(ctx)
	if err != nil || me.Name != "admin" || !me.IsAdmin() {
		t.Fatalf("Me: %+v, %v", me, err)
	}
	if _, err := admin.CreateUser(ctx, "alice", "", "alice@example.com"); err != nil {
		t.Fatalf("CreateUser: %v", err)
	}
	tok, err := admin.CreateToken(ctx, "alice", "laptop")
	if err != nil || tok.User != "alice" || tok.Label != "laptop" || !strings.HasPrefix(tok.Secret, sitrep.TokenPrefix) {
		t.Fatalf("CreateToken: %+v, %v", tok, err)
	}
	alice := client.New(url+"/", tok.Secret) // a trailing slash is fine
	if u, err := alice.Me(ctx); err != nil || u.Name != "alice" || u.Role != sitrep.OrgResponder {
		t.Fatalf("Me with the new token: %+v, %v", u, err)
	}
	users, err := alice.Users(ctx)
	if err != nil || len(users) != 2 {
		t.Fatalf("Users: %v, %v", users, err)
	}

	res, err := admin.Declare(ctx, sitrep.DeclareInput{Title: "Ransomware on FIN-LAPTOP-7", Kind: "malware", Severity: 2})
	if err != nil {
		t.Fatalf("Declare: %v", err)
	}
	id := res.Incident.ID
	if res.Incident.Command != "admin" || len(res.Entries) != 1 || res.Entries[0].Type != "incident.declared" {
		t.Fatalf("Declare: %+v", res)
	}
	steps := []struct {
		name string
		c    *client.Client
		do   func(c *client.Client) (*sitrep.Result, error)
		want string // the type of the last entry appended
	}{
		{"checkin", alice, func(c *client.Client) (*sitrep.Result, error) { return c.CheckIn(ctx, id) }, "resource.checked_in"},
		{"assign", admin, func(c *client.Client) (*sitrep.Result, error) { return c.Assign(ctx, id, "information", "alice") }, "role.assigned"},
		{"publish", alice, func(c *client.Client) (*sitrep.Result, error) { return c.Publish(ctx, id, "executives", "contained") }, "communication.published"},
		{"unassign", admin, func(c *client.Client) (*sitrep.Result, error) { return c.Unassign(ctx, id, "information") }, "role.unassigned"},
		{"note", alice, func(c *client.Client) (*sitrep.Result, error) { return c.AddNote(ctx, id, "EDR isolated it") }, "note.added"},
		{"task", admin, func(c *client.Client) (*sitrep.Result, error) {
			return c.AddTask(ctx, id, sitrep.AddTask{Section: "operations", Title: "Reimage", Assignee: "alice"})
		}, "task.created"},
		{"task unassign", admin, func(c *client.Client) (*sitrep.Result, error) { return c.AssignTask(ctx, id, 1, "") }, "task.assigned"},
		{"task done", admin, func(c *client.Client) (*sitrep.Result, error) {
			return c.SetTaskStatus(ctx, id, 1, sitrep.TaskDone, "")
		}, "task.status_changed"},
		{"asset", admin, func(c *client.Client) (*sitrep.Result, error) {
			return c.LinkAsset(ctx, id, "data-store", "share/finance?x=1#2 %41")
		}, "asset.linked"},
		{"asset rm", admin, func(c *client.Client) (*sitrep.Result, error) {
			return c.UnlinkAsset(ctx, id, "data-store", "share/finance?x=1#2 %41", "linked in error")
		}, "asset.unlinked"},
		{"edit", admin, func(c *client.Client) (*sitrep.Result, error) {
			sev := 1
			return c.Edit(ctx, id, sitrep.Edit{Severity: &sev, Reason: "worse"})
		}, "incident.edited"},
		{"offer", admin, func(c *client.Client) (*sitrep.Result, error) { return c.OfferCommand(ctx, id, "alice", "yours") }, "command.offered"},
		{"withdraw", admin, func(c *client.Client) (*sitrep.Result, error) { return c.WithdrawOffer(ctx, id, "not yet") }, "command.offer_withdrawn"},
		{"offer again", admin, func(c *client.Client) (*sitrep.Result, error) { return c.OfferCommand(ctx, id, "alice", "yours now") }, "command.offered"},
		{"accept", alice, func(c *client.Client) (*sitrep.Result, error) { return c.AcceptCommand(ctx, id) }, "command.transferred"},
		{"ack", admin, func(c *client.Client) (*sitrep.Result, error) { return c.Acknowledge(ctx, id) }, "command.acknowledged"},
		{"release", alice, func(c *client.Client) (*sitrep.Result, error) { return c.CheckOut(ctx, id, "admin") }, "resource.checked_out"},
		{"phase", alice, func(c *client.Client) (*sitrep.Result, error) {
			return c.ChangePhase(ctx, id, sitrep.PhaseContainment, "isolated")
		}, "phase.changed"},
		{"report", alice, func(c *client.Client) (*sitrep.Result, error) {
			worked := "EDR"
			return c.EditReport(ctx, id, sitrep.EditReport{WhatWorked: &worked, AcceptDraft: true})
		}, "report.edited"},
	}
	for _, st := range steps {
		res, err := st.do(st.c)
		if err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		if n := len(res.Entries); n == 0 || res.Entries[n-1].Type != st.want || res.Incident == nil || res.Incident.ID != id {
			t.Fatalf("%s: entries %+v", st.name, res.Entries)
		}
	}

	v, err := alice.Incident(ctx, id)
	if err != nil {
		t.Fatalf("Incident: %v", err)
	}
	if v.Command != "alice" || v.Severity != 1 || v.Phase != sitrep.PhaseContainment || len(v.Assets) != 0 || v.CheckedIn("admin") {
		t.Errorf("Incident: %+v", v.Incident)
	}
	comms, err := admin.Communications(ctx, id)
	if err != nil || len(comms) != 1 || comms[0].Text != "contained" {
		t.Errorf("Communications: %+v, %v", comms, err)
	}

	all, err := admin.Timeline(ctx, id, 0, 0)
	if err != nil || int64(len(all)) != v.Seq {
		t.Fatalf("Timeline: %d entries, %v; the incident has %d", len(all), err, v.Seq)
	}
	page, err := admin.Timeline(ctx, id, 3, 2)
	if err != nil {
		t.Fatalf("Timeline after 3: %v", err)
	}
	if diff := cmp.Diff(all[3:5], page); diff != "" {
		t.Errorf("Timeline(after 3, limit 2) (-want +got):\n%s", diff)
	}
	ver, err := admin.Verify(ctx, id)
	if err != nil || !ver.OK || ver.Entries != v.Seq {
		t.Errorf("Verify: %+v, %v", ver, err)
	}
	rep, err := admin.Report(ctx, id)
	if err != nil || rep.Response.WhatWorked != "EDR" || rep.Incident.Narrative == "" {
		t.Errorf("Report: %+v, %v", rep, err)
	}
	md, err := admin.ReportMarkdown(ctx, id)
	if err != nil || !strings.HasPrefix(md, "# Incident Report: "+id) {
		t.Errorf("ReportMarkdown: %q, %v", md, err)
	}
	open, err := admin.Incidents(ctx, false)
	if err != nil || len(open) != 1 || open[0].ID != id {
		t.Errorf("Incidents: %+v, %v", open, err)
	}
}

// TestErrors: every refusal of the server comes back as a *client.Error
// that is also the domain's *sitrep.Error of the same kind.
func TestErrors(t *testing.T) {
	url, token := startServer(t)
	ctx := context.Background()
	admin := client.New(url, token)
	if _, err := admin.CreateUser(ctx, "bob", sitrep.OrgResponder, ""); err != nil {
		t.Fatal(err)
	}
	tok, err := admin.CreateToken(ctx, "bob", "")
	if err != nil {
		t.Fatal(err)
	}
	bob := client.New(url, tok.Secret)
	res, err := admin.Declare(ctx, sitrep.DeclareInput{Title: "Outage"})
	if err != nil {
		t.Fatal(err)
	}
	id := res.Incident.ID
	if _, err := bob.CheckIn(ctx, id); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name   string
		call   func() error
		kind   sitrep.Kind
		status int
		field  string
		rule   string
		detail string
	}{
		{"freelancing", func() error { _, err := bob.Assign(ctx, id, "operations", "bob"); return err },
			sitrep.EForbidden, 403, "", "freelancing", "only Command (admin)"},
		{"not found", func() error { _, err := bob.Incident(ctx, "IR-2026-9999"); return err },
			sitrep.ENotFound, 404, "id", "", "incident IR-2026-9999 not found"},
		{"invalid", func() error { _, err := bob.Declare(ctx, sitrep.DeclareInput{Title: "x", Severity: 7}); return err },
			sitrep.EInvalid, 400, "severity", "", "severity 7 is out of range"},
		{"conflict", func() error { _, err := bob.CheckIn(ctx, id); return err },
			sitrep.EConflict, 409, "", "", "already checked in"},
		{"unauthorized", func() error { _, err := client.New(url, "").Me(ctx); return err },
			sitrep.EUnauthorized, 401, "", "", "bearer token"},
		{"forbidden", func() error { _, err := bob.CreateUser(ctx, "eve", "", ""); return err },
			sitrep.EForbidden, 403, "", "", "only administrators add users"},
		{"no such task", func() error { _, err := admin.SetTaskStatus(ctx, id, 42, "done", ""); return err },
			sitrep.ENotFound, 404, "task", "", "has no task 42"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call()
			var ce *client.Error
			if !errors.As(err, &ce) {
				t.Fatalf("error %v (%T) is not a *client.Error", err, err)
			}
			if ce.Status != tt.status || ce.Type != "urn:sitrep:problem:"+string(tt.kind) || ce.Kind != tt.kind {
				t.Errorf("status %d, type %q, kind %q; want %d, %s", ce.Status, ce.Type, ce.Kind, tt.status, tt.kind)
			}
			if got := sitrep.ErrorKind(err); got != tt.kind {
				t.Errorf("sitrep.ErrorKind = %q, want %q", got, tt.kind)
			}
			se := sitrep.AsError(err)
			if se == nil || se.Field != tt.field || se.Rule != tt.rule {
				t.Errorf("sitrep.AsError = %+v; want field %q, rule %q", se, tt.field, tt.rule)
			}
			if !strings.Contains(err.Error(), tt.detail) || sitrep.ErrorMessage(err) != err.Error() {
				t.Errorf("error %q, message %q; want it to say %q", err, sitrep.ErrorMessage(err), tt.detail)
			}
		})
	}
}

// TestBaseURL: a server address that cannot be one is an EInvalid error
// on the first call, naming the field.
func TestBaseURL(t *testing.T) {
	for _, base := range []string{"", "127.0.0.1:8080", "ftp://example.com", "http://", "http://user:pw@example.com", "http://example.com/?x=1", "http://[::1"} {
		t.Run(base, func(t *testing.T) {
			_, err := client.New(base, "t").Me(context.Background())
			if sitrep.ErrorKind(err) != sitrep.EInvalid || sitrep.AsError(err).Field != "server" {
				t.Errorf("Me via %q: %v", base, err)
			}
			if strings.Contains(err.Error(), "pw") {
				t.Errorf("the error shows the password: %v", err)
			}
		})
	}
	if got := client.New("https://sitrep.example.com/base/", "").BaseURL(); got != "https://sitrep.example.com/base" {
		t.Errorf("BaseURL = %q", got)
	}
}

// recorder is an HTTP server on loopback that answers as a proxy or a
// broken server would, and records what it was sent.
type recorder struct {
	mu      sync.Mutex
	reqs    []*http.Request
	handler http.HandlerFunc
}

func (r *recorder) start(t *testing.T) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.mu.Lock()
		r.reqs = append(r.reqs, req)
		r.mu.Unlock()
		r.handler(w, req)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// TestNotSitrep: answers that are not sitrep's problem documents (a
// proxy's error page, an endless body, a server that never answers) give
// clear errors, not hangs or unbounded memory.
func TestNotSitrep(t *testing.T) {
	ctx := context.Background()
	t.Run("proxy error page", func(t *testing.T) {
		rec := &recorder{handler: func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "text/plain")
			w.WriteHeader(http.StatusBadGateway)
			w.Write([]byte("upstream\nconnect error"))
		}}
		_, err := client.New(rec.start(t), "tok").Incidents(ctx, true)
		var ce *client.Error
		if !errors.As(err, &ce) || ce.Status != 502 || ce.Kind != sitrep.EInternal {
			t.Fatalf("error %v", err)
		}
		if want := "GET /api/v1/incidents: the server answered 502 Bad Gateway: upstream connect error"; err.Error() != want {
			t.Errorf("error %q, want %q", err, want)
		}
	})
	t.Run("problem of an unknown kind", func(t *testing.T) {
		rec := &recorder{handler: func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/problem+json")
			w.WriteHeader(http.StatusRequestEntityTooLarge)
			w.Write([]byte(`{"type":"urn:sitrep:problem:payload-too-large","title":"Payload too large","status":413,"detail":"body: larger than the limit","field":"body"}`))
		}}
		_, err := client.New(rec.start(t), "tok").AddNote(ctx, "IR-2026-0001", "x")
		if sitrep.ErrorKind(err) != sitrep.EInvalid || err.Error() != "body: larger than the limit" || sitrep.AsError(err).Field != "body" {
			t.Errorf("error %v (kind %s)", err, sitrep.ErrorKind(err))
		}
	})
	t.Run("body over the cap", func(t *testing.T) {
		rec := &recorder{handler: func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.Write([]byte(`{"users":[` + strings.Repeat(`{"name":"x"},`, 1000) + `{"name":"y"}]}`))
		}}
		_, err := client.New(rec.start(t), "tok", client.WithMaxResponseBytes(1000)).Users(ctx)
		if err == nil || !strings.Contains(err.Error(), "larger than the 1000 bytes this client accepts") {
			t.Errorf("error %v", err)
		}
	})
	t.Run("no answer", func(t *testing.T) {
		rec := &recorder{handler: func(_ http.ResponseWriter, r *http.Request) { <-r.Context().Done() }}
		_, err := client.New(rec.start(t), "tok", client.WithTimeout(50*time.Millisecond)).Me(ctx)
		if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "did not answer within 50ms") {
			t.Errorf("error %v, want a deadline", err)
		}
	})
	t.Run("request", func(t *testing.T) {
		rec := &recorder{handler: func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.Write([]byte(`{"incident":null,"entries":[]}`))
		}}
		c := client.New(rec.start(t), "sitrep_secret", client.WithUserAgent("sitrep-cli/v9"))
		if _, err := c.UnlinkAsset(ctx, "IR-2026-0001", "host", "a/b c?d", "typo & more"); err != nil {
			t.Fatal(err)
		}
		if _, err := c.CheckIn(ctx, "IR-2026-0001"); err != nil {
			t.Fatal(err)
		}
		rec.mu.Lock()
		defer rec.mu.Unlock()
		r := rec.reqs[0]
		got := []string{r.Method, r.URL.EscapedPath(), r.URL.Query().Get("reason"), r.Header.Get("Authorization"), r.Header.Get("User-Agent")}
		want := []string{"DELETE", "/api/v1/incidents/IR-2026-0001/assets/host/a%2Fb%20c%3Fd", "typo & more", "Bearer sitrep_secret", "sitrep-cli/v9"}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("request (-want +got):\n%s", diff)
		}
		if r.ContentLength != 0 || rec.reqs[1].ContentLength != 0 || rec.reqs[1].Header.Get("Content-Type") != "" {
			t.Errorf("a request without a body sent one")
		}
	})
}
