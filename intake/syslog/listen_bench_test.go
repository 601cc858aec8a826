package syslog

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sitrep-ir/sitrep"
)

// BenchmarkListenerTCP measures the TCP syslog path end to end over
// loopback: senders write octet-counted RFC 5424 messages as fast as they
// can, the listener parses them, batches them and stores them through the
// group-commit Ingester into SQLite. It reports messages stored per second
// and the mean messages per store call. Of every 100 messages, one opens an
// alert and 99 count on open ones, as in a storm.
func BenchmarkListenerTCP(b *testing.B) {
	for _, conns := range []int{1, 8} {
		b.Run(fmt.Sprintf("conns=%d", conns), func(b *testing.B) {
			r := newRig(b, Config{}, syslogSource("fw", "127.0.0.0/8"))
			addr := r.srv.TCPAddr().String()
			clients := make([]net.Conn, conns)
			for i := range clients {
				c, err := net.Dial("tcp", addr)
				if err != nil {
					b.Fatal(err)
				}
				defer c.Close()
				clients[i] = c
			}
			r.waitMetric(b, float64(conns), "sitrep_syslog_tcp_connections")
			b.ResetTimer()
			start := time.Now()
			var wg sync.WaitGroup
			for ci, c := range clients {
				n := b.N / conns
				if ci == 0 {
					n += b.N % conns
				}
				wg.Go(func() {
					w := bufio.NewWriterSize(c, 64<<10)
					for i := range n {
						msg := fmt.Sprintf("<11>1 2026-11-25T20:39:48.837968Z web%02d nginx 4242 - - upstream timed out for request %d", ci, (i/100)%1000)
						fmt.Fprintf(w, "%d %s", len(msg), msg)
					}
					if err := w.Flush(); err != nil {
						b.Error(err)
					}
				})
			}
			wg.Wait()
			for deadline := time.Now().Add(5 * time.Minute); r.metric(b, "sitrep_syslog_messages_total") < float64(b.N); time.Sleep(time.Millisecond) {
				if time.Now().After(deadline) {
					b.Fatalf("%v of %d messages stored after 5 minutes", r.metric(b, "sitrep_syslog_messages_total"), b.N)
				}
			}
			elapsed := time.Since(start)
			b.StopTimer()
			calls := r.gate.callSizes()
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "msgs/s")
			b.ReportMetric(float64(b.N)/float64(len(calls)), "msgs/call")
		})
	}
}

// discardIngester takes every event at once and stores nothing: the
// listener's own work, without the store's.
type discardIngester struct{ n atomic.Int64 }

func (d *discardIngester) Ingest(_ context.Context, _ string, events []sitrep.AlertEvent) ([]sitrep.IngestResult, error) {
	d.n.Add(int64(len(events)))
	return make([]sitrep.IngestResult, len(events)), nil
}

// BenchmarkListenerTCPNoStore measures the TCP listener without the store:
// the socket, the framing, the parser, the batching, into an Ingester that
// keeps nothing. Senders write prepared octet-counted RFC 5424 messages
// (as sitrep bench intake sends them) over loopback, so most of the CPU is
// the listener's. One operation is one message.
func BenchmarkListenerTCPNoStore(b *testing.B) {
	for _, conns := range []int{1, 4} {
		b.Run(fmt.Sprintf("conns=%d", conns), func(b *testing.B) {
			d := &discardIngester{}
			srv, err := NewServer(context.Background(), Config{
				Ingester: d,
				Sources: func(context.Context) ([]*sitrep.Source, error) {
					return []*sitrep.Source{{Name: "fw", Kind: "syslog", Allow: []string{"127.0.0.0/8"}}}, nil
				},
			})
			if err != nil {
				b.Fatal(err)
			}
			defer srv.Close(context.Background())
			if err := srv.ListenTCP("127.0.0.1:0"); err != nil {
				b.Fatal(err)
			}
			// A block of 1,000 messages, each a new alert, sent again and
			// again.
			var block []byte
			for i := range 1000 {
				msg := fmt.Sprintf("<11>1 2026-11-26T05:42:22.123456Z host-%d benchd 4242 - - Disk full on /var/lib/postgresql (load test x #%d)", i%997, i)
				block = fmt.Appendf(block, "%d %s", len(msg), msg)
			}
			clients := make([]net.Conn, conns)
			for i := range clients {
				if clients[i], err = net.Dial("tcp", srv.TCPAddr().String()); err != nil {
					b.Fatal(err)
				}
				defer clients[i].Close()
			}
			b.ReportAllocs()
			b.ResetTimer()
			blocks := (b.N + 999) / 1000
			var wg sync.WaitGroup
			for ci, c := range clients {
				n := blocks / conns
				if ci == 0 {
					n += blocks % conns
				}
				wg.Go(func() {
					for range n {
						if _, err := c.Write(block); err != nil {
							b.Error(err)
							return
						}
					}
				})
			}
			wg.Wait()
			for want := int64(blocks * 1000); d.n.Load() < want; {
				time.Sleep(100 * time.Microsecond)
			}
			b.StopTimer()
		})
	}
}
