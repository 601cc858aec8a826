package web

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sitrep-ir/sitrep"
)

// BenchmarkLiveLoad is the load check of the live updates: 100 pages follow
// one incident over real event streams on 127.0.0.1 while 20 people add
// entries to it. Each op is one append. It reports the delay from an
// append's commit to the event that announces it at each page (p50, p99,
// max), and how much the heap grew for the 100 open streams (server and
// clients share the process, so the figure holds both ends).
//
// In "events" the pages only read their streams; in "pages" each also
// fetches what it misses on every event, as the page's script does (the
// timeline entries after its last one, then the state fragment), so the
// server renders while it delivers.
//
//	go test -run XXX -bench LiveLoad -benchtime 2000x ./web/
func BenchmarkLiveLoad(b *testing.B) {
	for _, mode := range []string{"events", "pages"} {
		b.Run(mode, func(b *testing.B) { liveLoad(b, 100, 20, mode == "pages") })
	}
}

func liveLoad(b *testing.B, pages, writers int, fetch bool) {
	e := newEnv(b)
	ada := e.user("ada", sitrep.OrgResponder)
	inc := e.declare(ada, sitrep.DeclareInput{Title: "Breach of the customer database", Severity: 1})
	var people []*sitrep.User
	for i := range writers {
		u := e.user(fmt.Sprintf("w%02d", i), sitrep.OrgResponder)
		e.do(u, inc.ID, sitrep.CheckIn{})
		people = append(people, u)
	}
	inc = e.do(ada, inc.ID, sitrep.AddNote{Text: "load starts"})
	first := inc.Seq + 1

	// The commit time of each entry, taken where the service announces
	// it: after the commit, before the hub is told.
	var mu sync.Mutex
	committed := map[int64]time.Time{}
	e.svc.Appended = func(entries []sitrep.Entry) {
		now := time.Now()
		mu.Lock()
		for _, en := range entries {
			committed[en.Seq] = now
		}
		mu.Unlock()
		e.hub.Publish(entries)
	}

	br := e.signedIn("ada")
	cookie := br.cookie()
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 2 * pages}}
	get := func(path string) error {
		req, _ := http.NewRequestWithContext(ctx, "GET", e.srv.URL+path, nil)
		req.AddCookie(cookie)
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		_, err = io.Copy(io.Discard, resp.Body)
		if err == nil && resp.StatusCode != http.StatusOK {
			err = fmt.Errorf("GET %s: %d", path, resp.StatusCode)
		}
		return err
	}
	type page struct {
		delays []time.Duration
		seen   chan int64 // the latest seq announced, coalesced, for the fetcher
		last   int64
		done   chan struct{}
	}
	target := make(chan int64, 1) // the last seq of the run, once known
	var wantLast int64
	all := make([]*page, pages)
	started := make(chan struct{}, pages)
	for i := range all {
		p := &page{seen: make(chan int64, 1), done: make(chan struct{})}
		all[i] = p
		req, _ := http.NewRequestWithContext(ctx, "GET", e.srv.URL+"/incidents/"+inc.ID+"/events", nil)
		req.AddCookie(cookie)
		req.Header.Set("Accept", "text/event-stream")
		resp, err := client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		if resp.StatusCode != http.StatusOK {
			b.Fatalf("event stream: %d", resp.StatusCode)
		}
		go func() {
			defer resp.Body.Close()
			r := bufio.NewReader(resp.Body)
			p.last = first - 1
			start := true
			for {
				line, err := r.ReadString('\n')
				if err != nil {
					return
				}
				data, ok := strings.CutPrefix(strings.TrimRight(line, "\n"), "data: ")
				if !ok {
					continue
				}
				at := time.Now()
				seq, err := strconv.ParseInt(data, 10, 64)
				if err != nil {
					b.Errorf("event data %q is not a sequence number", data)
					return
				}
				if start {
					start = false
					started <- struct{}{}
				}
				mu.Lock()
				for s := p.last + 1; s <= seq; s++ {
					if c, ok := committed[s]; ok {
						p.delays = append(p.delays, at.Sub(c))
					}
				}
				mu.Unlock()
				p.last = max(p.last, seq)
				if fetch {
					select {
					case <-p.seen:
					default:
					}
					p.seen <- p.last
				}
				select {
				case want := <-target:
					target <- want
					if p.last >= want {
						close(p.done)
						return
					}
				default:
				}
			}
		}()
		if fetch {
			go func() {
				after := first - 1
				for {
					select {
					case <-ctx.Done():
						return
					case seq := <-p.seen:
						if seq <= after {
							continue
						}
						if get(fmt.Sprintf("/incidents/%s/timeline?after=%d", inc.ID, after)) != nil || get("/incidents/"+inc.ID+"/state") != nil {
							return
						}
						after = seq
					}
				}
			}()
		}
	}
	for range pages {
		<-started
	}
	runtime.GC()
	var open runtime.MemStats
	runtime.ReadMemStats(&open)

	work := make(chan int)
	var wg sync.WaitGroup
	for _, u := range people {
		wg.Go(func() {
			for i := range work {
				if _, _, err := e.svc.Do(context.Background(), u, inc.ID, sitrep.AddNote{Text: "observation " + strconv.Itoa(i)}); err != nil {
					b.Error(err)
				}
			}
		})
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		work <- i
	}
	close(work)
	wg.Wait()
	cur, err := e.svc.Incident(context.Background(), ada, inc.ID)
	if err != nil {
		b.Fatal(err)
	}
	wantLast = cur.Seq
	target <- wantLast
	e.hub.Publish([]sitrep.Entry{{IncidentID: inc.ID, Seq: wantLast}}) // wake readers that saw the end already
	for _, p := range all {
		select {
		case <-p.done:
		case <-time.After(30 * time.Second):
			b.Fatalf("a page never saw entry %d (at %d)", wantLast, p.last)
		}
	}
	b.StopTimer()

	var delays []time.Duration
	for _, p := range all {
		delays = append(delays, p.delays...)
	}
	slices.Sort(delays)
	if len(delays) == 0 {
		b.Fatal("no delays measured")
	}
	q := func(f float64) float64 {
		return float64(delays[min(len(delays)-1, int(f*float64(len(delays))))].Microseconds()) / 1000
	}
	b.ReportMetric(q(0.50), "p50-ms")
	b.ReportMetric(q(0.99), "p99-ms")
	b.ReportMetric(float64(delays[len(delays)-1].Microseconds())/1000, "max-ms")
	b.ReportMetric(float64(int64(open.HeapInuse)-int64(before.HeapInuse))/float64(pages)/1024, "heap-KB/stream")
}
