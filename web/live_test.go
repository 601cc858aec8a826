package web

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sitrep-ir/sitrep"
)

// events opens an event stream as b and returns the events it delivers.
// The channel closes when the stream ends.
func (b *browser) events(t testing.TB, path string) <-chan string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	req, _ := http.NewRequestWithContext(ctx, "GET", b.e.srv.URL+path, nil)
	req.Header.Set("Accept", "text/event-stream")
	c := *b.c
	c.Timeout = 0
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("GET %s: %d %s", path, resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	out := make(chan string, 100)
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
			case line == "" && event != "":
				out <- event
				event = ""
			}
		}
	}()
	return out
}

// next waits for the stream's next event; the deadline only keeps a broken
// stream from hanging the test.
func next(t *testing.T, events <-chan string, what string) string {
	t.Helper()
	select {
	case ev, ok := <-events:
		if !ok {
			t.Fatalf("%s: the stream ended", what)
		}
		return ev
	case <-time.After(10 * time.Second):
		t.Fatalf("%s: no event", what)
	}
	return ""
}

func TestLiveEvents(t *testing.T) {
	e := newEnv(t)
	inc, ada, _, _ := staffed(e)
	b := e.signedIn("ada")
	incident := b.events(t, "/incidents/"+inc.ID+"/events")
	board := b.events(t, "/events")
	if ev := next(t, incident, "start"); ev != "change" {
		t.Fatalf("first event %q, want change (catch up)", ev)
	}
	next(t, board, "board start")

	e.do(ada, inc.ID, sitrep.AddNote{Text: "seen from the API"})
	next(t, incident, "a note through this server")
	next(t, board, "a note, on the board")

	// Another replica appends: this server hears of it only by polling.
	other := sitrep.NewService(e.svc.Store, nil)
	other.Clock = e.clock
	if _, _, err := other.Do(context.Background(), ada, inc.ID, sitrep.AddNote{Text: "written on another replica"}); err != nil {
		t.Fatal(err)
	}
	next(t, incident, "a note by another replica")
	if _, _, err := other.Declare(context.Background(), ada, sitrep.DeclareInput{Title: "Elsewhere"}); err != nil {
		t.Fatal(err)
	}
	next(t, board, "an incident declared on another replica")

	// What the page then fetches holds the notes.
	tl := b.ok(fmt.Sprintf("/incidents/%s/timeline?after=%d", inc.ID, inc.Seq+2))
	if !strings.Contains(tl, "seen from the API") || !strings.Contains(tl, "written on another replica") {
		t.Errorf("the timeline fragment lacks the new notes:\n%s", tl)
	}

	// Closing the hub ends the streams, so that the server can shut down.
	e.hub.Close()
	for _, ch := range []<-chan string{incident, board} {
		select {
		case _, ok := <-ch:
			for ok {
				_, ok = <-ch
			}
		case <-time.After(10 * time.Second):
			t.Fatal("a stream stayed open after the hub closed")
		}
	}
}

func TestHubCoalescesAndForgets(t *testing.T) {
	h := NewHub(nil, nil, time.Hour)
	a := h.Subscribe("IR-2026-0001")
	all := h.Subscribe("")
	other := h.Subscribe("IR-2026-0002")
	for i := range 100 {
		h.Publish([]sitrep.Entry{{IncidentID: "IR-2026-0001", Seq: int64(i + 1)}})
	}
	for name, s := range map[string]*Subscription{"incident": a, "board": all} {
		select {
		case <-s.C():
		default:
			t.Errorf("the %s subscription was not told", name)
		}
		select {
		case <-s.C():
			t.Errorf("the %s subscription got more than one pending signal", name)
		default:
		}
	}
	select {
	case <-other.C():
		t.Errorf("another incident's subscription was told")
	default:
	}
	a.Close()
	all.Close()
	other.Close()
	if n := h.Subscribers(); n != 0 {
		t.Errorf("%d subscribers after all closed", n)
	}
}

// BenchmarkFanOut measures how long one append takes to reach 100 open
// pages of one incident: Publish, and each subscriber's stream writing its
// event.
func BenchmarkFanOut(b *testing.B) {
	for _, n := range []int{100, 1000} {
		b.Run(fmt.Sprintf("subscribers=%d", n), func(b *testing.B) {
			h := NewHub(nil, nil, time.Hour)
			subs := make([]*Subscription, n)
			for i := range subs {
				subs[i] = h.Subscribe("IR-2026-0001")
			}
			entries := []sitrep.Entry{{IncidentID: "IR-2026-0001", Seq: 1}}
			var wg sync.WaitGroup
			b.ResetTimer()
			for b.Loop() {
				wg.Add(n)
				for _, s := range subs {
					go func() { <-s.C(); wg.Done() }()
				}
				h.Publish(entries)
				wg.Wait()
			}
		})
	}
}

// BenchmarkFanOutHTTP measures the same over real event streams: 100
// browsers following one incident on 127.0.0.1, each append delivered to
// all of them.
func BenchmarkFanOutHTTP(b *testing.B) {
	e := newEnv(b)
	ada := e.user("ada", sitrep.OrgResponder)
	inc := e.declare(ada, sitrep.DeclareInput{Title: "Fan-out"})
	br := e.signedIn("ada")
	const n = 100
	streams := make([]<-chan string, n)
	for i := range streams {
		streams[i] = br.events(b, "/incidents/"+inc.ID+"/events")
		<-streams[i] // the start event
	}
	entries := []sitrep.Entry{{IncidentID: inc.ID, Seq: inc.Seq}}
	b.ResetTimer()
	for b.Loop() {
		e.hub.Publish(entries)
		for _, s := range streams {
			<-s
		}
	}
}

func TestMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	e := newEnv(t, withRegistry(reg))
	inc := e.declare(e.admin, sitrep.DeclareInput{Title: "Metrics"})
	b := e.signedIn("admin")
	b.ok("/incidents/" + inc.ID)
	b.get("/no/such/page")
	events := b.events(t, "/incidents/"+inc.ID+"/events")
	next(t, events, "start")

	value := func(name string, labels map[string]string) float64 {
		t.Helper()
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, mf := range mfs {
			if mf.GetName() != name {
				continue
			}
		metrics:
			for _, m := range mf.GetMetric() {
				for _, l := range m.GetLabel() {
					if v, ok := labels[l.GetName()]; ok && v != l.GetValue() {
						continue metrics
					}
				}
				if m.Gauge != nil {
					return m.GetGauge().GetValue()
				}
				return m.GetCounter().GetValue()
			}
		}
		return 0
	}
	for _, tc := range []struct {
		route, code string
		want        float64
	}{
		{"GET /incidents/{id}", "200", 1},
		{"POST /login", "303", 1},
		{"unmatched", "404", 1},
	} {
		if got := value("sitrep_web_requests_total", map[string]string{"route": tc.route, "code": tc.code}); got != tc.want {
			t.Errorf("requests of %s answered %s: %v, want %v", tc.route, tc.code, got, tc.want)
		}
	}
	if got := value("sitrep_web_live_streams", nil); got != 1 {
		t.Errorf("live streams: %v, want 1", got)
	}
}

// TestPollCatchesUpAtOnce checks that the poll learns an incident's head in
// one step: a page following an incident with a long record written
// elsewhere is told once, not once per entry.
func TestPollCatchesUpAtOnce(t *testing.T) {
	e := newEnv(t)
	inc, ada, _, _ := staffed(e)
	other := sitrep.NewService(e.svc.Store, nil)
	other.Clock = e.clock
	for range 20 {
		if _, _, err := other.Do(context.Background(), ada, inc.ID, sitrep.AddNote{Text: "elsewhere"}); err != nil {
			t.Fatal(err)
		}
	}
	h := NewHub(e.svc.Store, nil, time.Hour)
	sub := h.Subscribe(inc.ID)
	defer sub.Close()
	signals := 0
	for range 3 {
		h.pollOnce(context.Background())
		select {
		case <-sub.C():
			signals++
		default:
		}
	}
	if signals != 1 {
		t.Errorf("three polls of an incident 20 entries ahead gave %d signals, want 1", signals)
	}
}
