package app

import (
	"bufio"
	"context"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sitrep-ir/sitrep"
	"github.com/sitrep-ir/sitrep/client"
	"github.com/sitrep-ir/sitrep/internal/pgtest"
)

// replica starts a server on db, on a free port of 127.0.0.1, until the
// test ends.
func replica(t *testing.T, db, token string) *App {
	t.Helper()
	a, err := New(context.Background(), Config{Addr: "127.0.0.1:0", DB: db, BootstrapToken: token})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := a.Stop(context.Background()); err != nil {
			t.Errorf("stop: %v", err)
		}
	})
	return a
}

// session signs name in to a's web UI and returns the session secret.
func session(t *testing.T, a *App, name string) string {
	t.Helper()
	u, err := a.Service().Store.User(t.Context(), name)
	if err != nil {
		t.Fatal(err)
	}
	secret, err := a.Service().StartSession(t.Context(), u)
	if err != nil {
		t.Fatal(err)
	}
	return secret
}

// change is one "change" event of a stream, with the sequence number it
// announces.
type change struct{ seq int64 }

// openEvents opens the event stream at path on a with the session cookie
// (none if secret is empty) and returns the response status and, when it is
// 200, the events it delivers.
func openEvents(t *testing.T, a *App, path, secret string) (int, <-chan change) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	req, _ := http.NewRequestWithContext(ctx, "GET", a.URL()+path, nil)
	req.Header.Set("Accept", "text/event-stream")
	if secret != "" {
		req.AddCookie(&http.Cookie{Name: "sitrep_session", Value: secret})
	}
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		return resp.StatusCode, nil
	}
	out := make(chan change, 100)
	go func() {
		defer close(out)
		defer resp.Body.Close()
		r := bufio.NewReader(resp.Body)
		event := ""
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				return
			}
			line = strings.TrimRight(line, "\n")
			switch {
			case strings.HasPrefix(line, "event: "):
				event = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: ") && event == "change":
				// The board's events carry its version, not a number.
				seq, _ := strconv.ParseInt(strings.TrimPrefix(line, "data: "), 10, 64)
				out <- change{seq}
				event = ""
			}
		}
	}()
	return resp.StatusCode, out
}

// nextChange waits for the stream's next event; the deadline, far shorter
// than the poll interval the test sets, only keeps a broken stream from
// hanging the test.
func nextChange(t *testing.T, events <-chan change, what string) change {
	t.Helper()
	select {
	case ev, ok := <-events:
		if !ok {
			t.Fatalf("%s: the stream ended", what)
		}
		return ev
	case <-time.After(20 * time.Second):
		t.Fatalf("%s: no event", what)
	}
	return change{}
}

// TestReplicasFollowEachOtherLive runs two servers on one PostgreSQL
// database with polling for other replicas' changes set to a minute: a page
// open on B hears of a note written on A, and a board on B of an incident
// declared on A, through the database's notifications alone. The event
// stream still wants a signed-in person who may see the incident.
func TestReplicasFollowEachOtherLive(t *testing.T) {
	db := pgtest.FreshDatabase(t)
	prev := livePoll
	livePoll = time.Minute
	t.Cleanup(func() { livePoll = prev })
	const token = "sitrep_live_replicas_0123456789abcdef"
	a := replica(t, db, token)
	b := replica(t, db, token)
	onA := client.New(a.URL(), token)

	res, err := onA.Declare(t.Context(), sitrep.DeclareInput{Title: "Worm across the fleet"})
	if err != nil {
		t.Fatal(err)
	}
	id := res.Incident.ID
	admin := session(t, b, "admin")
	code, page := openEvents(t, b, "/incidents/"+id+"/events", admin)
	if code != http.StatusOK {
		t.Fatalf("the incident's events on B: %d", code)
	}
	if ev := nextChange(t, page, "start"); ev.seq != res.Incident.Seq {
		t.Fatalf("first event names entry %d, want %d", ev.seq, res.Incident.Seq)
	}
	_, board := openEvents(t, b, "/events", admin)
	nextChange(t, board, "board start")

	// The first note is heard once B listens, by the notification or by
	// the look B takes when it starts listening; the second only by its
	// notification.
	for i, text := range []string{"Isolated the first hosts.", "Patching the rest."} {
		res, err := onA.AddNote(t.Context(), id, text)
		if err != nil {
			t.Fatal(err)
		}
		ev := nextChange(t, page, "a note written on A")
		for ev.seq < res.Incident.Seq && i == 0 {
			ev = nextChange(t, page, "a note written on A")
		}
		if ev.seq != res.Incident.Seq {
			t.Fatalf("note %d: B's page was told of entry %d, want %d", i+1, ev.seq, res.Incident.Seq)
		}
	}
	// The board heard of the notes too; then of a new incident.
	for len(board) > 0 {
		<-board
	}
	if _, err := onA.Declare(t.Context(), sitrep.DeclareInput{Title: "Phishing wave"}); err != nil {
		t.Fatal(err)
	}
	nextChange(t, board, "an incident declared on A, on B's board")

	// Only those who may see an incident follow it, on any replica.
	if _, err := onA.CreateUser(t.Context(), "eve", sitrep.OrgResponder, ""); err != nil {
		t.Fatal(err)
	}
	secret, err := onA.Declare(t.Context(), sitrep.DeclareInput{Title: "Insider exfiltration", Confidential: true})
	if err != nil {
		t.Fatal(err)
	}
	path := "/incidents/" + secret.Incident.ID + "/events"
	if code, _ := openEvents(t, b, path, session(t, b, "eve")); code != http.StatusNotFound {
		t.Errorf("someone not named on a confidential incident opened its events: %d, want 404", code)
	}
	if code, _ := openEvents(t, b, path, ""); code != http.StatusUnauthorized && code != http.StatusSeeOther {
		t.Errorf("events without signing in: %d, want 401 or a redirect to sign in", code)
	}
}
