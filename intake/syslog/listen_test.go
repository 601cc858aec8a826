package syslog

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sitrep-ir/sitrep"
	"github.com/sitrep-ir/sitrep/intake/ingest"
	"github.com/sitrep-ir/sitrep/store/sqlite"
)

// These tests run the listeners on 127.0.0.1 into a real SQLite store
// through the group-commit Ingester, send with the real util-linux logger
// (and, for what logger cannot send, a plain socket), and check the alerts
// stored.

// rig is a syslog Server on loopback storing into SQLite.
type rig struct {
	store *sqlite.Store
	in    *ingest.Ingester
	srv   *Server
	reg   *prometheus.Registry
	gate  *gatedIngester
}

// syslogSource is a syslog source allowing ranges (any sender without).
func syslogSource(name string, allow ...string) sitrep.Source {
	return sitrep.Source{Name: name, Kind: "syslog", Allow: allow}
}

// newRig opens a store with sources, and a Server with cfg listening on
// UDP and TCP. It closes them all at the end of the test, in the order the
// app does: listeners, then ingester, then store.
func newRig(t testing.TB, cfg Config, sources ...sitrep.Source) *rig {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "sitrep.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	r := &rig{store: st, reg: prometheus.NewRegistry()}
	for _, src := range sources {
		r.addSource(t, src)
	}
	r.in = ingest.New(st, ingest.Options{})
	r.gate = &gatedIngester{next: r.in}
	cfg.Ingester = r.gate
	cfg.Sources = st.Sources
	cfg.Registry = r.reg
	srv, err := NewServer(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	r.srv = srv
	t.Cleanup(func() {
		r.gate.open()
		if err := srv.Close(context.Background()); err != nil {
			t.Errorf("close the listeners: %v", err)
		}
		r.in.Close()
		st.Close()
	})
	if err := srv.ListenUDP("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	if err := srv.ListenTCP("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	return r
}

func (r *rig) addSource(t testing.TB, src sitrep.Source) {
	t.Helper()
	src.KeyHash = sitrep.HashToken("key-of-" + src.Name)
	src.CreatedAt = time.Now()
	src.CreatedBy = "test"
	if err := sitrep.ValidateSource(&src); err != nil {
		t.Fatal(err)
	}
	if err := r.store.CreateSource(context.Background(), &src); err != nil {
		t.Fatal(err)
	}
}

func (r *rig) port(transport string) string {
	if transport == "udp" {
		return strconv.Itoa(r.srv.UDPAddr().(*net.UDPAddr).Port)
	}
	return strconv.Itoa(r.srv.TCPAddr().(*net.TCPAddr).Port)
}

// logger sends one message with the real logger over transport.
func (r *rig) logger(t *testing.T, transport string, args ...string) {
	t.Helper()
	logger := needLogger(t)
	args = append([]string{"--" + transport, "--server", "127.0.0.1", "--port", r.port(transport)}, args...)
	if out, err := exec.CommandContext(t.Context(), logger, args...).CombinedOutput(); err != nil {
		t.Fatalf("logger %v: %v\n%s", args, err, out)
	}
}

// metric sums the series of a metric whose labels include labels.
func (r *rig) metric(t testing.TB, name string, labels ...string) float64 {
	t.Helper()
	mfs, err := r.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	sum := 0.0
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	series:
		for _, m := range mf.GetMetric() {
			have := map[string]string{}
			for _, lp := range m.GetLabel() {
				have[lp.GetName()] = lp.GetValue()
			}
			for i := 0; i+1 < len(labels); i += 2 {
				if have[labels[i]] != labels[i+1] {
					continue series
				}
			}
			switch {
			case m.GetCounter() != nil:
				sum += m.GetCounter().GetValue()
			case m.GetGauge() != nil:
				sum += m.GetGauge().GetValue()
			case m.GetHistogram() != nil:
				sum += float64(m.GetHistogram().GetSampleCount())
			}
		}
	}
	return sum
}

// waitMetric waits until a metric reaches at least want.
func (r *rig) waitMetric(t testing.TB, want float64, name string, labels ...string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for r.metric(t, name, labels...) < want {
		if time.Now().After(deadline) {
			t.Fatalf("%s%v is %v, want %v", name, labels, r.metric(t, name, labels...), want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// waitStored waits until n messages in all were stored.
func (r *rig) waitStored(t testing.TB, n int) {
	t.Helper()
	r.waitMetric(t, float64(n), "sitrep_syslog_messages_total")
}

// alerts returns the stored alerts by summary.
func (r *rig) alerts(t testing.TB) map[string]*sitrep.Alert {
	t.Helper()
	list, err := r.store.Alerts(context.Background(), sitrep.AlertFilter{Limit: 5000})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]*sitrep.Alert{}
	for _, al := range list {
		if _, dup := out[al.Summary]; dup {
			t.Errorf("two alerts with the summary %q", al.Summary)
		}
		out[al.Summary] = al
	}
	return out
}

// alert returns the stored alert with a summary.
func (r *rig) alert(t testing.TB, summary string) *sitrep.Alert {
	t.Helper()
	al := r.alerts(t)[summary]
	if al == nil {
		t.Fatalf("no alert %q among %v", summary, keys(r.alerts(t)))
	}
	return al
}

func keys(m map[string]*sitrep.Alert) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// gatedIngester passes calls to the real Ingester, and can hold them (close)
// to let a test see what reading does while the store is busy. It records
// the size of each call.
type gatedIngester struct {
	next  Ingester
	mu    sync.Mutex
	held  chan struct{} // nil: open
	calls []int
	fails int // calls still to fail, as a store that is down does
}

func (g *gatedIngester) Ingest(ctx context.Context, source string, events []sitrep.AlertEvent) ([]sitrep.IngestResult, error) {
	g.mu.Lock()
	g.calls = append(g.calls, len(events))
	held := g.held
	fail := g.fails > 0
	if fail {
		g.fails--
	}
	g.mu.Unlock()
	if held != nil {
		<-held
	}
	if fail {
		return nil, errors.New("database is locked")
	}
	return g.next.Ingest(ctx, source, events)
}

// failNext makes the next n calls fail.
func (g *gatedIngester) failNext(n int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.fails = n
}

func (g *gatedIngester) close() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.held == nil {
		g.held = make(chan struct{})
	}
}

func (g *gatedIngester) open() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.held != nil {
		close(g.held)
		g.held = nil
	}
}

func (g *gatedIngester) callSizes() []int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]int(nil), g.calls...)
}

func TestListenerLoggerTCP(t *testing.T) {
	r := newRig(t, Config{}, syslogSource("fw", "127.0.0.0/8"))
	host := hostname(t)

	r.logger(t, "tcp", "--rfc5424", "-t", "backup", "-p", "local0.err", "--msgid", "DISK", "disk full on /var/backups")
	r.logger(t, "tcp", "--rfc5424", "--octet-count", "-t", "app", "line one\nline two")
	r.logger(t, "tcp", "--rfc3164", "--octet-count", "-t", "nginx", "-p", "daemon.warning", "upstream timed out")
	r.waitStored(t, 3)

	al := r.alert(t, "disk full on /var/backups")
	if al.Source != "fw" || al.Severity != 2 || al.Count != 1 || al.Triage != sitrep.TriagePending {
		t.Errorf("alert %+v", al)
	}
	want := map[string]string{"host": host, "app": "backup", "msgid": "DISK", "facility": "local0", "sender": "127.0.0.1"}
	for k, v := range want {
		if al.Labels[k] != v {
			t.Errorf("label %s = %q, want %q (labels %v)", k, al.Labels[k], v, al.Labels)
		}
	}

	// Octet counting keeps a message with a newline inside whole.
	multi := sitrep.AlertEvent{Summary: "line one\nline two"}
	multi.Normalize()
	al = r.alert(t, multi.Summary)
	if len(al.Samples) == 0 || !strings.Contains(al.Samples[0], "line one\nline two") {
		t.Errorf("the multi-line message's raw sample: %q", al.Samples)
	}

	if al := r.alert(t, "upstream timed out"); al.Severity != 3 || al.Labels["app"] != "nginx" || al.Labels["facility"] != "daemon" {
		t.Errorf("RFC 3164 alert %+v", al)
	}

	// The same line again is the same alert, seen twice.
	r.logger(t, "tcp", "--rfc5424", "-t", "backup", "-p", "local0.err", "disk full on /var/backups")
	r.waitStored(t, 4)
	if al := r.alert(t, "disk full on /var/backups"); al.Count != 2 {
		t.Errorf("count %d after the same line twice, want 2", al.Count)
	}
	if n := len(r.alerts(t)); n != 3 {
		t.Errorf("%d alerts, want 3", n)
	}
	if got := r.metric(t, "sitrep_syslog_messages_total", "transport", "tcp", "format", "rfc5424"); got != 3 {
		t.Errorf("RFC 5424 messages counted %v, want 3", got)
	}
}

func TestListenerLoggerUDP(t *testing.T) {
	r := newRig(t, Config{}, syslogSource("hosts"))
	r.logger(t, "udp", "--rfc3164", "-i", "-t", "cron", "-p", "cron.warning", "job nightly-report failed")
	r.logger(t, "udp", "--rfc5424", "-t", "sshd", "-p", "auth.crit", "possible break-in attempt")
	r.waitStored(t, 2)
	if al := r.alert(t, "job nightly-report failed"); al.Source != "hosts" || al.Severity != 3 || al.Labels["app"] != "cron" || al.Labels["host"] != hostname(t) {
		t.Errorf("RFC 3164 alert %+v", al)
	}
	if al := r.alert(t, "possible break-in attempt"); al.Severity != 1 || al.Labels["facility"] != "auth" {
		t.Errorf("RFC 5424 alert %+v", al)
	}
	if got := r.metric(t, "sitrep_syslog_messages_total", "transport", "udp"); got != 2 {
		t.Errorf("UDP messages counted %v, want 2", got)
	}
}

// TestListenerRefusedSender: with only a source for 192.0.2.0/24, what
// 127.0.0.1 sends is refused, counted, and stored nowhere.
func TestListenerRefusedSender(t *testing.T) {
	r := newRig(t, Config{}, syslogSource("dmz", "192.0.2.0/24"), sitrep.Source{Name: "mail", Kind: "email"})
	r.logger(t, "udp", "--rfc5424", "-t", "app", "from the wrong network")
	r.logger(t, "tcp", "--rfc5424", "-t", "app", "from the wrong network")
	r.waitMetric(t, 1, "sitrep_syslog_refused_total", "transport", "udp", "reason", "no_source")
	r.waitMetric(t, 1, "sitrep_syslog_refused_total", "transport", "tcp", "reason", "no_source")
	if n := len(r.alerts(t)); n != 0 {
		t.Errorf("%d alerts stored from a refused sender", n)
	}

	// A source added for the sender works at once (the sources are
	// reloaded when a sender is not found, and what it sends meanwhile
	// waits for that).
	r.addSource(t, syslogSource("lab", "127.0.0.1/32"))
	r.logger(t, "udp", "--rfc5424", "-t", "app", "now allowed")
	r.logger(t, "tcp", "--rfc5424", "-t", "app", "now allowed")
	r.waitStored(t, 2)
	if al := r.alert(t, "now allowed"); al.Source != "lab" || al.Count != 2 {
		t.Errorf("alert from source %q seen %d times, want lab, 2", al.Source, al.Count)
	}
	if got := r.metric(t, "sitrep_syslog_refused_total", "reason", "no_source"); got != 2 {
		t.Errorf("%v refusals, want the 2 from before the source was added", got)
	}
}

// TestListenerRawAndBadFrames sends what logger will not: a line without
// any syslog header, a frame over the size limit, an empty message and a
// broken octet count, on one connection.
func TestListenerRawAndBadFrames(t *testing.T) {
	r := newRig(t, Config{MaxMessage: 1024}, syslogSource("fw", "127.0.0.0/8"))
	conn, err := net.Dial("tcp", r.srv.TCPAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	stream := "printer on fire\n" +
		"<13>1 - host app - - - " + strings.Repeat("x", 2000) + "\n" + // over the limit: skipped
		"<13>Oct 11 22:14:15 host app: after the long one\n" +
		"   \n" + // blank: nothing
		"<13>\n" // a priority and no text: refused
	if _, err := conn.Write([]byte(stream)); err != nil {
		t.Fatal(err)
	}
	conn.Close()
	r.waitStored(t, 2)
	r.waitMetric(t, 1, "sitrep_syslog_refused_total", "transport", "tcp", "reason", "too_large")
	r.waitMetric(t, 1, "sitrep_syslog_refused_total", "transport", "tcp", "reason", "malformed")

	al := r.alert(t, "printer on fire")
	if al.Labels["host"] != "127.0.0.1" || al.Labels["format"] != "raw" || al.Severity != 0 {
		t.Errorf("raw alert %+v", al)
	}
	if got := r.metric(t, "sitrep_syslog_messages_total", "format", "raw"); got != 1 {
		t.Errorf("raw messages counted %v, want 1", got)
	}
	r.alert(t, "after the long one")

	// Octet counting that loses its count closes the connection; what came
	// before is kept.
	conn, err = net.Dial("tcp", r.srv.TCPAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	counted := "<13>1 - h a - - - counted!"
	if _, err := fmt.Fprintf(conn, "%d %s12x garbage", len(counted), counted); err != nil {
		t.Fatal(err)
	}
	r.waitStored(t, 3)
	r.waitMetric(t, 2, "sitrep_syslog_refused_total", "transport", "tcp", "reason", "malformed")
	r.alert(t, "counted!")
	_ = conn.SetReadDeadline(time.Now().Add(20 * time.Second))
	if n, err := conn.Read(make([]byte, 1)); err == nil {
		t.Errorf("read %d bytes from the server, want the connection closed", n)
	}
}

// TestListenerBatchesAndPushesBack: while the store is busy, a connection
// gathers what it reads into the next batch, and stops reading once a
// whole batch waits.
func TestListenerBatchesAndPushesBack(t *testing.T) {
	const maxBatch = 10
	r := newRig(t, Config{MaxBatch: maxBatch}, syslogSource("fw"))
	b := newBatcher(r.srv, "tcp")
	ev := func(i int) item {
		e, _, err := readEvent(fmt.Appendf(nil, "<11>1 - host app - - - message %d", i), netip.MustParseAddr("127.0.0.1"))
		if err != nil {
			t.Fatal(err)
		}
		return item{source: "fw", format: format5424, ev: e}
	}

	r.gate.close()
	b.add(ev(0)) // taken at once; its store call is held
	deadline := time.Now().Add(20 * time.Second)
	for len(r.gate.callSizes()) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the first message was not handed to the store")
		}
		time.Sleep(time.Millisecond)
	}
	for i := 1; i <= maxBatch; i++ {
		b.add(ev(i)) // pending: room for a whole batch
	}
	added := make(chan struct{})
	go func() {
		b.add(ev(maxBatch + 1)) // no room: waits for the store
		close(added)
	}()
	select {
	case <-added:
		t.Fatal("a message past a whole pending batch was taken while the store was busy")
	case <-time.After(100 * time.Millisecond):
	}
	r.gate.open()
	<-added
	b.close()

	if got, want := r.gate.callSizes(), []int{1, maxBatch, 1}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("store calls of %v messages, want %v", got, want)
	}
	if n := len(r.alerts(t)); n != maxBatch+2 {
		t.Errorf("%d alerts, want %d", n, maxBatch+2)
	}
}

// TestListenerManyMessagesOneConnection: a connection sending fast has all
// its messages stored, in batches of up to MaxBatch.
func TestListenerManyMessagesOneConnection(t *testing.T) {
	n := 1000
	if testing.Short() {
		n = 300
	}
	r := newRig(t, Config{MaxBatch: 200}, syslogSource("fw", "127.0.0.0/8"))
	conn, err := net.Dial("tcp", r.srv.TCPAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	var buf strings.Builder
	for i := range n {
		msg := fmt.Sprintf("<14>1 2026-11-25T20:39:48Z web%d app - - - request %d failed", i%100%7, i%100)
		fmt.Fprintf(&buf, "%d %s", len(msg), msg)
	}
	if _, err := conn.Write([]byte(buf.String())); err != nil {
		t.Fatal(err)
	}
	conn.Close()
	r.waitStored(t, n)
	alerts := r.alerts(t)
	total := int64(0)
	for _, al := range alerts {
		total += al.Count
	}
	if len(alerts) != min(n, 100) || total != int64(n) {
		t.Errorf("%d alerts counting %d messages, want 100 counting %d", len(alerts), total, n)
	}
	for _, size := range r.gate.callSizes() {
		if size > 200 {
			t.Errorf("a store call of %d messages, over MaxBatch", size)
		}
	}
}

// TestListenerStoreErrorsRetried: when the store fails, the batch is tried
// again until it is stored: nothing read is lost or counted as not stored.
func TestListenerStoreErrorsRetried(t *testing.T) {
	const n = 200
	r := newRig(t, Config{MaxBatch: 50}, syslogSource("fw", "127.0.0.0/8"))
	r.gate.failNext(3)
	conn, err := net.Dial("tcp", r.srv.TCPAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	var buf strings.Builder
	for i := range n {
		fmt.Fprintf(&buf, "<13>1 - host app - - - store down, message %d\n", i)
	}
	if _, err := conn.Write([]byte(buf.String())); err != nil {
		t.Fatal(err)
	}
	conn.Close()
	r.waitStored(t, n)
	if got := len(r.alerts(t)); got != n {
		t.Errorf("%d alerts, want %d", got, n)
	}
	if got := r.metric(t, "sitrep_syslog_refused_total", "reason", "not_stored"); got != 0 {
		t.Errorf("%v messages counted as not stored", got)
	}
	if calls := r.gate.callSizes(); len(calls) < 4 {
		t.Errorf("store calls %v: want the 3 that failed and those that stored", calls)
	}
}

// TestListenerCloseStoresWhatWasSent: Close stores every message read
// before it returns, though the store is busy when it is called.
func TestListenerCloseStoresWhatWasSent(t *testing.T) {
	r := newRig(t, Config{}, syslogSource("fw", "127.0.0.0/8"))
	conn, err := net.Dial("tcp", r.srv.TCPAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	r.gate.close()
	var buf strings.Builder
	for i := range 200 {
		fmt.Fprintf(&buf, "<13>1 - host app - - - shutdown message %d\n", i)
	}
	if _, err := conn.Write([]byte(buf.String())); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for r.srv.read.Load() < 200 {
		if time.Now().After(deadline) {
			t.Fatalf("%d of 200 messages read", r.srv.read.Load())
		}
		time.Sleep(time.Millisecond)
	}
	closed := make(chan error, 1)
	go func() { closed <- r.srv.Close(context.Background()) }()
	r.gate.open()
	if err := <-closed; err != nil {
		t.Fatal(err)
	}
	if got := r.metric(t, "sitrep_syslog_messages_total"); got != 200 {
		t.Errorf("%v messages stored by the time Close returned, want 200", got)
	}
	if err := r.srv.ListenTCP("127.0.0.1:0"); err == nil {
		t.Error("a closed server listened again")
	}
}

// TestListenerConnectionLimit: a connection over MaxConns is closed at once
// and counted; the ones within the limit go on.
func TestListenerConnectionLimit(t *testing.T) {
	r := newRig(t, Config{MaxConns: 1}, syslogSource("fw"))
	first, err := net.Dial("tcp", r.srv.TCPAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	r.waitMetric(t, 1, "sitrep_syslog_tcp_connections")
	second, err := net.Dial("tcp", r.srv.TCPAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer second.Close()
	_ = second.SetReadDeadline(time.Now().Add(20 * time.Second))
	if n, err := second.Read(make([]byte, 1)); err == nil {
		t.Errorf("read %d bytes on a connection over the limit, want it closed", n)
	}
	r.waitMetric(t, 1, "sitrep_syslog_refused_total", "reason", "too_many_connections")
	if _, err := first.Write([]byte("<13>1 - h a - - - still here\n")); err != nil {
		t.Fatal(err)
	}
	r.waitStored(t, 1)
	r.alert(t, "still here")
}

// TestListenerUDPDropsReported: when the socket's buffer overflows while
// the store is busy, the kernel's drops are counted (Linux).
func TestListenerUDPDropsReported(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the kernel reports drops on Linux only")
	}
	r := newRig(t, Config{MaxBatch: 1, ReadBuffer: 4096}, syslogSource("fw"))
	r.gate.close()
	conn, err := net.Dial("udp", r.srv.UDPAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	msg := []byte("<13>1 - host app - - - " + strings.Repeat("flood ", 100))
	for range 500 {
		_, _ = conn.Write(msg) // far more than 4 KiB while nothing is read
	}
	r.gate.open()
	deadline := time.Now().Add(20 * time.Second)
	for r.metric(t, "sitrep_syslog_udp_dropped_total") == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no drops reported after overflowing the receive buffer")
		}
		_, _ = conn.Write(msg) // the next datagram queued carries the count
		time.Sleep(5 * time.Millisecond)
	}
}

// TestListenerUDPReadsWhileStoreBusy: UDP readers do not wait for a batch
// being stored: while the store is held they read on, up to their queue of
// udpQueue batches, and every datagram read is stored once it is free.
func TestListenerUDPReadsWhileStoreBusy(t *testing.T) {
	const maxBatch = 5 // a queue of udpQueue*5 = 80 datagrams
	r := newRig(t, Config{MaxBatch: maxBatch}, syslogSource("fw"))
	r.gate.close()
	conn, err := net.Dial("udp", r.srv.UDPAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	const n = 60 // more than two batches: a reader waiting for the store would stop at 11
	for i := range n {
		if _, err := fmt.Fprintf(conn, "<13>1 - host app - - - datagram %d", i); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(20 * time.Second)
	for r.srv.read.Load() < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d datagrams read while the store was busy", r.srv.read.Load(), n)
		}
		time.Sleep(time.Millisecond)
	}
	r.gate.open()
	r.waitStored(t, n)
	if got := len(r.alerts(t)); got != n {
		t.Errorf("%d alerts, want %d", got, n)
	}
	for _, size := range r.gate.callSizes() {
		if size > maxBatch {
			t.Errorf("a store call of %d messages, over MaxBatch", size)
		}
	}
}

// TestSourceMatch: the most specific range wins; a source without ranges
// takes the rest; other kinds never match.
func TestSourceMatch(t *testing.T) {
	sn := newSnapshot([]*sitrep.Source{
		{Name: "corp", Kind: "syslog", Allow: []string{"10.0.0.0/8"}},
		{Name: "dc", Kind: "syslog", Allow: []string{"10.1.0.0/16", "2001:db8::/32"}},
		{Name: "fw1", Kind: "syslog", Allow: []string{"10.1.2.3/32"}},
		{Name: "b-rest", Kind: "syslog"},
		{Name: "a-rest", Kind: "syslog"},
		{Name: "hook", Kind: "generic", Allow: []string{"192.0.2.0/24"}},
		{Name: "mail", Kind: "email"},
	})
	for addr, want := range map[string]string{
		"10.9.9.9":           "corp",
		"10.1.9.9":           "dc",
		"10.1.2.3":           "fw1",
		"::ffff:10.1.2.3":    "fw1", // IPv4 on an IPv6 socket
		"2001:db8::1":        "dc",
		"fe80::1%eth0":       "a-rest",
		"192.0.2.1":          "a-rest", // a generic source's range is no syslog source's
		"127.0.0.1":          "a-rest",
		"2001:db9::1":        "a-rest",
		"::ffff:192.168.0.1": "a-rest",
	} {
		if got, ok := sn.match(netip.MustParseAddr(addr)); got != want || !ok {
			t.Errorf("%s: %q, %v; want %q", addr, got, ok, want)
		}
	}
	strict := newSnapshot([]*sitrep.Source{{Name: "dmz", Kind: "syslog", Allow: []string{"192.0.2.0/24"}}})
	if got, ok := strict.match(netip.MustParseAddr("127.0.0.1")); ok {
		t.Errorf("127.0.0.1 matched %q with only 192.0.2.0/24 allowed", got)
	}
}

// FuzzReadEvent: whatever arrives, the listener either refuses it with a
// clear error or makes an event within the limits, with its sender.
func FuzzReadEvent(f *testing.F) {
	for _, s := range []string{"", "hello", "<13>1 - h a - - - x", "<13>Oct 11 22:14:15 h a: x", "<999>x", "\x00\xff\n", "<13>"} {
		f.Add([]byte(s))
	}
	from := netip.MustParseAddr("192.0.2.7")
	f.Fuzz(func(t *testing.T, msg []byte) {
		ev, format, err := readEvent(msg, from)
		if err != nil {
			if e := sitrep.AsError(err); e == nil || e.Kind != sitrep.EInvalid {
				t.Fatalf("error %v is not EInvalid", err)
			}
			return
		}
		checkEvent(t, ev)
		if ev.Labels["sender"] != "192.0.2.7" || format == "" {
			t.Fatalf("labels %v, format %q", ev.Labels, format)
		}
	})
}
