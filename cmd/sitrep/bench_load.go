package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"math"
	"math/bits"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// benchReport is what a run measured. Its JSON (-o json) is for scripts.
type benchReport struct {
	Path        string  `json:"path"`
	Batch       int     `json:"batch"`
	Keys        string  `json:"keys"`
	Concurrency int     `json:"concurrency"`
	Rate        float64 `json:"rate,omitempty"`
	Store       string  `json:"store,omitempty"`
	// Seconds is the run's length: from the first send to the last answer
	// (HTTP), or to the moment the server's stored count stopped growing
	// (syslog). SendSeconds is how long sending took.
	Seconds     float64 `json:"seconds"`
	SendSeconds float64 `json:"send_seconds"`
	Sent        int64   `json:"alerts_sent"`
	// Accepted counts the alerts of requests answered 2xx: stored
	// durably. Syslog has no answer: there it is Stored.
	Accepted int64 `json:"alerts_accepted"`
	// Stored is what the server counted stored during the run (its
	// sitrep_intake_events_total and sitrep_syslog_messages_total), -1
	// when its /metrics could not be read.
	Stored         int64            `json:"alerts_stored"`
	Lost           int64            `json:"alerts_lost"`
	LossRate       float64          `json:"loss_rate"`
	Requests       int64            `json:"requests"`
	AlertsPerSec   float64          `json:"alerts_per_s"`
	RequestsPerSec float64          `json:"requests_per_s"`
	Latency        *latencyReport   `json:"latency_ms,omitempty"`
	Errors         map[string]int64 `json:"errors"`
	Server         serverReport     `json:"server"`
	Tool           toolReport       `json:"tool"`
	DB             dbReport         `json:"db"`
	Probe          *probeReport     `json:"probe,omitempty"`
}

// latencyReport gives percentiles of the answers' latency in milliseconds.
type latencyReport struct {
	Count int64   `json:"count"`
	P50   float64 `json:"p50"`
	P90   float64 `json:"p90"`
	P99   float64 `json:"p99"`
	Max   float64 `json:"max"`
}

// serverReport is the server process's memory, from /proc/PID/status:
// the highest VmRSS sampled during the run, VmHWM (the kernel's peak) and
// VmRSS at the end, in KiB; 0 when unknown.
type serverReport struct {
	PID int `json:"pid,omitempty"`
	// CPUSeconds is the CPU time the server used during the run (user and
	// system), and CPUMicrosPerAlert that per alert stored: a cost that
	// other load on the machine changes less than throughput.
	CPUSeconds        float64 `json:"cpu_seconds"`
	CPUMicrosPerAlert float64 `json:"cpu_us_per_alert"`
	RSSMaxKB          int64   `json:"rss_max_kb"`
	HWMKB             int64   `json:"vm_hwm_kb"`
	RSSEndKB          int64   `json:"rss_end_kb"`
	ExitedCleanly     bool    `json:"exited_cleanly,omitempty"`
}

// toolReport is what the load tool itself cost while it sent: its CPU
// time (user and system, from /proc/self/stat) and that per request (per
// message for syslog). It shares the machine with the server, so every
// microsecond here is one the server did not have.
type toolReport struct {
	CPUSeconds          float64 `json:"cpu_seconds"`
	CPUMicrosPerRequest float64 `json:"cpu_us_per_request"`
}

// dbReport is the size of the store, in bytes: SQLite's file and WAL, or
// PostgreSQL's pg_database_size. AfterStopBytes is the size once a spawned
// server stopped (SQLite: the WAL checkpointed into the file).
type dbReport struct {
	Store          string `json:"store,omitempty"`
	BeforeBytes    int64  `json:"before_bytes"`
	AfterBytes     int64  `json:"after_bytes"`
	GrowthBytes    int64  `json:"growth_bytes"`
	AfterStopBytes int64  `json:"after_stop_bytes,omitempty"`
}

// probeReport is the latency of reading one incident during the run.
type probeReport struct {
	Incident string  `json:"incident"`
	Requests int64   `json:"requests"`
	Errors   int64   `json:"errors"`
	P50      float64 `json:"p50_ms"`
	P99      float64 `json:"p99_ms"`
	Max      float64 `json:"max_ms"`
}

// runLoad sends the load and measures it.
func runLoad(ctx context.Context, o *benchOptions, t *benchTarget, run string) (*benchReport, error) {
	rep := &benchReport{Path: o.path, Batch: o.batch, Keys: o.keys, Concurrency: o.concurrency, Rate: o.rate,
		Errors: map[string]int64{}, Stored: -1}
	rep.Server.PID = t.pid
	rep.DB.Store = storeKind(t.db)
	rep.Store = rep.DB.Store
	hc := &http.Client{
		Transport: &http.Transport{
			MaxIdleConns:        o.concurrency + 4,
			MaxIdleConnsPerHost: o.concurrency + 4,
			DisableCompression:  true,
			IdleConnTimeout:     time.Minute,
		},
		Timeout: time.Minute,
	}
	defer hc.CloseIdleConnections()

	storedBefore, metricsOK := storedCount(ctx, hc, t.api)
	rep.DB.BeforeBytes, _ = dbSize(ctx, t.db)

	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	if o.duration > 0 {
		runCtx, cancel = context.WithTimeout(ctx, o.duration)
		defer cancel()
	}
	// The monitors run until the measuring ends (after the syslog count
	// settled), not only while the senders send.
	monCtx, stopMon := context.WithCancel(ctx)
	var mon sync.WaitGroup
	rss := &rssMonitor{pid: t.pid}
	if t.pid > 0 {
		mon.Go(func() { rss.run(monCtx) })
	}
	var probe *prober
	if t.incident != "" {
		probe = &prober{hc: hc, url: t.api + "/api/v1/incidents/" + t.incident, token: t.token, every: time.Duration(float64(time.Second) / o.probeRate)}
		mon.Go(func() { probe.run(monCtx) })
	}

	var cpuBefore float64
	if t.pid > 0 {
		cpuBefore = cpuSeconds(t.pid)
	}
	toolBefore := cpuSeconds(os.Getpid())
	l := &load{o: o, t: t, run: run, hc: hc, start: time.Now()}
	if o.rate > 0 {
		l.interval = float64(time.Second) / o.rate
	}
	var wg sync.WaitGroup
	workers := make([]*worker, o.concurrency)
	for i := range workers {
		w := &worker{l: l, errs: map[string]int64{}, buf: make([]byte, 0, 64<<10)}
		workers[i] = w
		wg.Go(func() { w.run(runCtx) })
	}
	wg.Wait()
	sendEnd := time.Now()
	rep.Tool.CPUSeconds = cpuSeconds(os.Getpid()) - toolBefore
	end := sendEnd
	for _, w := range workers {
		rep.Sent += w.sent
		rep.Accepted += w.accepted
		rep.Requests += w.requests
		l.hist.merge(&w.hist)
		for k, v := range w.errs {
			rep.Errors[k] += v
		}
	}

	syslogPath := o.path == benchSyslogTCP || o.path == benchSyslogUDP
	if metricsOK {
		if syslogPath {
			// Syslog has no answer: what counts is what the server has
			// stored once its count stops growing.
			var last time.Time
			rep.Stored, last = settle(ctx, hc, t.api, storedBefore, rep.Sent, o.settle)
			if last.After(end) {
				end = last
			}
		} else if after, ok := storedCount(ctx, hc, t.api); ok {
			rep.Stored = after - storedBefore
		}
	}
	stopMon()
	mon.Wait()

	rep.SendSeconds = sendEnd.Sub(l.start).Seconds()
	rep.Seconds = end.Sub(l.start).Seconds()
	if syslogPath {
		rep.Accepted = max(rep.Stored, 0)
		if rep.Stored >= 0 {
			rep.Lost = max(rep.Sent-rep.Stored, 0)
			if rep.Sent > 0 {
				rep.LossRate = float64(rep.Lost) / float64(rep.Sent)
			}
		}
	} else {
		rep.Latency = l.hist.report()
	}
	if rep.Seconds > 0 {
		rep.AlertsPerSec = float64(rep.Accepted) / rep.Seconds
		rep.RequestsPerSec = float64(rep.Requests) / rep.Seconds
	}
	perRequest := rep.Requests
	if syslogPath {
		perRequest = rep.Sent // per message
	}
	if perRequest > 0 {
		rep.Tool.CPUMicrosPerRequest = rep.Tool.CPUSeconds * 1e6 / float64(perRequest)
	}
	if t.pid > 0 {
		rep.Server.RSSMaxKB = rss.max
		rep.Server.RSSEndKB, rep.Server.HWMKB = readRSS(t.pid)
		rep.Server.RSSMaxKB = max(rep.Server.RSSMaxKB, rep.Server.RSSEndKB)
		rep.Server.CPUSeconds = cpuSeconds(t.pid) - cpuBefore
		if rep.Accepted > 0 {
			rep.Server.CPUMicrosPerAlert = rep.Server.CPUSeconds * 1e6 / float64(rep.Accepted)
		}
	}
	if t.db != "" {
		rep.DB.AfterBytes, _ = dbSize(ctx, t.db)
		rep.DB.GrowthBytes = rep.DB.AfterBytes - rep.DB.BeforeBytes
	}
	if probe != nil {
		lr := probe.hist.report()
		rep.Probe = &probeReport{Incident: t.incident, Requests: probe.hist.n, Errors: probe.errs}
		if lr != nil {
			rep.Probe.P50, rep.Probe.P99, rep.Probe.Max = lr.P50, lr.P99, lr.Max
		}
	}
	if ctx.Err() != nil {
		return rep, fmt.Errorf("the run was interrupted: %w", ctx.Err())
	}
	return rep, nil
}

// settle waits until the server's stored count reaches want or stops
// growing for quiet, and returns it (less before) with the time it last
// grew.
func settle(ctx context.Context, hc *http.Client, api string, before, want int64, quiet time.Duration) (int64, time.Time) {
	const poll = 50 * time.Millisecond
	stored, last := int64(-1), time.Now()
	for limit := time.Now().Add(10 * time.Minute); time.Now().Before(limit); {
		if n, ok := storedCount(ctx, hc, api); ok && n-before != stored {
			stored, last = n-before, time.Now()
		}
		if stored >= want || time.Since(last) >= quiet || ctx.Err() != nil {
			break
		}
		time.Sleep(poll)
	}
	return stored, last
}

// load is what the workers of one run share.
type load struct {
	o        *benchOptions
	t        *benchTarget
	run      string
	hc       *http.Client
	start    time.Time
	interval float64 // nanoseconds between two alerts at --rate; 0: no pacing
	next     atomic.Int64
	hist     histogram
}

// claim takes the next n alerts to send (fewer at the end of --count):
// the sequence number of the first and how many, 0 when the run is done.
func (l *load) claim(n int64) (int64, int64) {
	first := l.next.Add(n) - n
	if c := l.o.count; c > 0 {
		if first >= c {
			return 0, 0
		}
		n = min(n, c-first)
	}
	return first, n
}

// pace waits until alert seq is due at --rate.
func (l *load) pace(ctx context.Context, seq int64) {
	if l.interval == 0 {
		return
	}
	due := l.start.Add(time.Duration(float64(seq) * l.interval))
	if d := time.Until(due); d > time.Millisecond {
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
		}
	}
}

// key returns the dedup key number of alert seq.
func (l *load) key(seq int64) int64 {
	if l.o.nkeys > 0 {
		return seq % int64(l.o.nkeys)
	}
	return seq
}

// appendKey appends the dedup key number of alert seq: in order, or
// (--hashed-keys) spread like a hash's, as Alertmanager's fingerprints and
// the keys the intake derives are.
func (l *load) appendKey(b []byte, seq int64) []byte {
	k := l.key(seq)
	if !l.o.hashedKeys {
		return strconv.AppendInt(b, k, 10)
	}
	// splitmix64: one key number, one well-spread value.
	z := uint64(k) + 0x9e3779b97f4a7c15
	z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
	z = (z ^ z>>27) * 0x94d049bb133111eb
	return strconv.AppendUint(b, z^z>>31, 16)
}

// worker is one sender.
type worker struct {
	l                        *load
	sent, accepted, requests int64
	errs                     map[string]int64
	hist                     histogram
	buf                      []byte
}

func (w *worker) run(ctx context.Context) {
	switch w.l.o.path {
	case benchGeneric, benchPagerDuty:
		w.runHTTP(ctx)
	case benchSyslogTCP:
		w.runTCP(ctx)
	case benchSyslogUDP:
		w.runUDP(ctx)
	}
}

func (w *worker) runHTTP(ctx context.Context) {
	l := w.l
	u, err := url.Parse(l.t.intake)
	if err != nil {
		w.errs["bad url"]++
		return
	}
	key := ""
	if l.o.path == benchGeneric {
		key = l.t.key
	}
	var raw *rawHTTP
	if u.Scheme == "http" {
		if raw, err = newRawHTTP(u, key); err != nil {
			w.errs["bad url"]++
			return
		}
		defer raw.close()
	}
	for ctx.Err() == nil {
		first, n := l.claim(int64(l.o.batch))
		if n == 0 {
			return
		}
		l.pace(ctx, first)
		if ctx.Err() != nil {
			return
		}
		if l.o.path == benchGeneric {
			w.buf = appendGeneric(w.buf[:0], l, first, n)
		} else {
			w.buf = appendPagerDuty(w.buf[:0], l, first)
		}
		w.sent += n
		var status int
		var took time.Duration
		if raw != nil {
			status, took, err = raw.post(ctx, w.buf)
		} else {
			status, took, err = w.postNetHTTP(ctx, key)
		}
		if ctx.Err() != nil && err != nil {
			// The run ended with this request in flight: neither an answer
			// nor an error of the server's.
			w.sent -= n
			return
		}
		w.requests++
		if err == nil && status/100 == 2 {
			w.accepted += n
			w.hist.record(took)
			continue
		}
		w.errs[errorKind(err, status)]++
	}
}

// postNetHTTP sends w.buf with net/http's client: for https intakes, which
// the raw sender does not speak.
func (w *worker) postNetHTTP(ctx context.Context, key string) (int, time.Duration, error) {
	l := w.l
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, l.t.intake, bytes.NewReader(w.buf))
	if err != nil {
		return 0, 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	began := time.Now()
	resp, err := l.hc.Do(req)
	status := 0
	if err == nil {
		_, err = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
		resp.Body.Close()
		status = resp.StatusCode
	}
	return status, time.Since(began), err
}

// appendGeneric appends a generic intake body of n alerts from seq first:
// one object for one alert, an array for more.
func appendGeneric(b []byte, l *load, first, n int64) []byte {
	if n > 1 {
		b = append(b, '[')
	}
	for seq := first; seq < first+n; seq++ {
		if seq > first {
			b = append(b, ',')
		}
		host := seq % 997
		b = append(b, `{"summary":"Disk full on host-`...)
		b = strconv.AppendInt(b, host, 10)
		b = append(b, ` (load test `...)
		b = append(b, l.run...)
		b = append(b, ` #`...)
		b = strconv.AppendInt(b, l.key(seq), 10)
		b = append(b, `)","severity":"critical","dedup_key":"bench-`...)
		b = append(b, l.run...)
		b = append(b, '-')
		b = l.appendKey(b, seq)
		b = append(b, `","labels":{"host":"host-`...)
		b = strconv.AppendInt(b, host, 10)
		b = append(b, `","service":"postgres","env":"load-test"}}`...)
	}
	if n > 1 {
		b = append(b, ']')
	}
	return b
}

// appendPagerDuty appends an Events API v2 trigger for alert seq.
func appendPagerDuty(b []byte, l *load, seq int64) []byte {
	host := seq % 997
	b = append(b, `{"routing_key":`...)
	b = strconv.AppendQuote(b, l.t.key)
	b = append(b, `,"event_action":"trigger","dedup_key":"bench-`...)
	b = append(b, l.run...)
	b = append(b, '-')
	b = l.appendKey(b, seq)
	b = append(b, `","payload":{"summary":"Disk full on host-`...)
	b = strconv.AppendInt(b, host, 10)
	b = append(b, ` (load test `...)
	b = append(b, l.run...)
	b = append(b, `)","source":"host-`...)
	b = strconv.AppendInt(b, host, 10)
	b = append(b, `","severity":"critical","custom_details":{"service":"postgres","env":"load-test"}}}`...)
	return b
}

// appendSyslog appends an RFC 5424 message for alert seq. The server
// derives the dedup key from host, program and text, so the key number is
// in the text.
func appendSyslog(b []byte, l *load, stamp string, seq int64) []byte {
	b = append(b, "<11>1 "...)
	b = append(b, stamp...)
	b = append(b, " host-"...)
	b = strconv.AppendInt(b, l.key(seq)%997, 10)
	b = append(b, " benchd 4242 - - Disk full on /var/lib/postgresql (load test "...)
	b = append(b, l.run...)
	b = append(b, " #"...)
	b = strconv.AppendInt(b, l.key(seq), 10)
	b = append(b, ')')
	return b
}

// syslogChunk is how many messages a syslog sender claims at once.
const syslogChunk = 64

func (w *worker) runTCP(ctx context.Context) {
	l := w.l
	conn, err := net.DialTimeout("tcp", l.t.syslog, 10*time.Second)
	if err != nil {
		w.errs[errorKind(err, 0)]++
		return
	}
	defer conn.Close()
	bw := bufio.NewWriterSize(conn, 64<<10)
	stamp := time.Now().UTC().Format("2006-01-02T15:04:05.000000Z")
	var msg []byte
	for ctx.Err() == nil {
		first, n := l.claim(syslogChunk)
		if n == 0 {
			break
		}
		if l.interval > 0 {
			if err := bw.Flush(); err != nil {
				w.errs[errorKind(err, 0)]++
				return
			}
			l.pace(ctx, first)
		}
		for seq := first; seq < first+n; seq++ {
			// RFC 6587 octet counting: "LEN SP MSG".
			msg = appendSyslog(msg[:0], l, stamp, seq)
			w.buf = strconv.AppendInt(w.buf[:0], int64(len(msg)), 10)
			w.buf = append(w.buf, ' ')
			w.buf = append(w.buf, msg...)
			if _, err := bw.Write(w.buf); err != nil {
				w.errs[errorKind(err, 0)]++
				return
			}
			w.sent++
		}
	}
	if err := bw.Flush(); err != nil {
		w.errs[errorKind(err, 0)]++
	}
}

func (w *worker) runUDP(ctx context.Context) {
	l := w.l
	conn, err := net.Dial("udp", l.t.syslog)
	if err != nil {
		w.errs[errorKind(err, 0)]++
		return
	}
	defer conn.Close()
	stamp := time.Now().UTC().Format("2006-01-02T15:04:05.000000Z")
	for ctx.Err() == nil {
		first, n := l.claim(syslogChunk)
		if n == 0 {
			return
		}
		l.pace(ctx, first)
		for seq := first; seq < first+n; seq++ {
			w.buf = appendSyslog(w.buf[:0], l, stamp, seq)
			w.sent++
			if _, err := conn.Write(w.buf); err != nil {
				// A datagram refused at once (the port is closed) is a
				// datagram lost; the count of the server tells the rest.
				w.errs[errorKind(err, 0)]++
			}
		}
	}
}

// histogram records latencies with a relative error under 1/64: values
// below 128 µs exactly, above in 64 steps per power of two.
type histogram struct {
	counts [64 * 48]int64
	n      int64
	max    time.Duration
}

func histIndex(us uint64) int {
	if us < 128 {
		return int(us)
	}
	shift := bits.Len64(us) - 7
	return 128 + (shift-1)*64 + int(us>>shift) - 64
}

// histValue returns the lowest value of bucket i, in µs.
func histValue(i int) uint64 {
	if i < 128 {
		return uint64(i)
	}
	shift := (i-128)/64 + 1
	return uint64((i-128)%64+64) << shift
}

func (h *histogram) record(d time.Duration) {
	us := uint64(max(d.Microseconds(), 0))
	i := min(histIndex(us), len(h.counts)-1)
	h.counts[i]++
	h.n++
	h.max = max(h.max, d)
}

func (h *histogram) merge(o *histogram) {
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.n += o.n
	h.max = max(h.max, o.max)
}

// quantile returns the q-quantile in milliseconds.
func (h *histogram) quantile(q float64) float64 {
	rank := int64(math.Ceil(q * float64(h.n)))
	var seen int64
	for i, c := range h.counts {
		seen += c
		if seen >= rank && c > 0 {
			return math.Min(float64(histValue(i))/1000, ms(h.max))
		}
	}
	return ms(h.max)
}

func (h *histogram) report() *latencyReport {
	if h.n == 0 {
		return nil
	}
	return &latencyReport{Count: h.n, P50: h.quantile(0.50), P90: h.quantile(0.90), P99: h.quantile(0.99), Max: ms(h.max)}
}

func ms(d time.Duration) float64 { return math.Round(float64(d.Microseconds())) / 1000 }

// prober reads one incident through the API at a steady pace.
type prober struct {
	hc         *http.Client
	url, token string
	every      time.Duration
	hist       histogram
	errs       int64
}

func (p *prober) run(ctx context.Context) {
	tick := time.NewTicker(p.every)
	defer tick.Stop()
	for first := true; ; first = false {
		if !first {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.url, nil)
		if err != nil {
			p.errs++
			return
		}
		req.Header.Set("Authorization", "Bearer "+p.token)
		began := time.Now()
		resp, err := p.hc.Do(req)
		if err == nil {
			_, err = io.Copy(io.Discard, io.LimitReader(resp.Body, 16<<20))
			resp.Body.Close()
		}
		took := time.Since(began)
		switch {
		case ctx.Err() != nil:
			return
		case err != nil || resp.StatusCode != http.StatusOK:
			p.errs++
		default:
			p.hist.record(took)
		}
	}
}
