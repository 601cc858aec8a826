package syslog

import (
	"bufio"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"
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
