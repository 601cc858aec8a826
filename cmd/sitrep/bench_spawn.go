package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

// spawned is a `sitrep serve` the tool started for a run.
type spawned struct {
	cmd    *exec.Cmd
	url    string
	token  string
	db     string
	syslog string
	dir    string // temporary files of the run; removed by stop

	out      tailBuffer
	done     chan struct{} // closed when the process has exited
	exitErr  error
	stopOnce sync.Once
	stopErr  error
}

var benchListenRE = regexp.MustCompile(`sitrep listening on (http://\S+)`)

// spawnServer starts this executable's server on loopback with a store of
// its own (or --db), waits until it listens and returns it.
func spawnServer(ctx context.Context, o *benchOptions) (*spawned, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("spawn a server: find this executable: %w", err)
	}
	dir, err := os.MkdirTemp("", "sitrep-bench-")
	if err != nil {
		return nil, fmt.Errorf("spawn a server: %w", err)
	}
	s := &spawned{dir: dir, db: o.db, token: "sitrep_bench_" + randomRun() + randomRun() + randomRun(), done: make(chan struct{})}
	if s.db == "" {
		s.db = "sqlite:" + filepath.Join(dir, "bench.db")
	}
	args := []string{"serve"}
	if o.serverCPUProfile != "" {
		prof, err := filepath.Abs(o.serverCPUProfile)
		if err != nil {
			os.RemoveAll(dir)
			return nil, fmt.Errorf("--server-cpuprofile: %w", err)
		}
		args = []string{"bench", "serve", "--cpuprofile", prof}
	}
	args = append(args, "--addr", "127.0.0.1:0", "--db", s.db, "--log-level", "warn")
	switch o.path {
	case benchSyslogTCP, benchSyslogUDP:
		port, err := freePort()
		if err != nil {
			os.RemoveAll(dir)
			return nil, fmt.Errorf("spawn a server: %w", err)
		}
		s.syslog = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		args = append(args, "--"+o.path, s.syslog)
	}
	s.cmd = exec.Command(exe, args...)
	s.cmd.Dir = dir
	s.cmd.Env = append(os.Environ(), "SITREP_BOOTSTRAP_TOKEN="+s.token)
	stdout, err := s.cmd.StdoutPipe()
	if err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("spawn a server: %w", err)
	}
	s.cmd.Stderr = &s.out
	if err := s.cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("spawn a server: %w", err)
	}
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			line := sc.Text()
			s.out.Write([]byte(line + "\n"))
			if m := benchListenRE.FindStringSubmatch(line); m != nil {
				select {
				case found <- m[1]:
				default:
				}
			}
		}
		io.Copy(io.Discard, stdout)
	}()
	go func() {
		s.exitErr = s.cmd.Wait()
		close(s.done)
	}()
	select {
	case s.url = <-found:
		return s, nil
	case <-s.done:
		err = fmt.Errorf("the server exited before it listened (%v):\n%s", s.exitErr, s.out.String())
	case <-time.After(2 * time.Minute):
		err = fmt.Errorf("the server did not listen within 2 minutes:\n%s", s.out.String())
	case <-ctx.Done():
		err = ctx.Err()
	}
	s.close()
	return nil, err
}

func (s *spawned) pid() int { return s.cmd.Process.Pid }

// close stops the server and removes the run's temporary files.
func (s *spawned) close() error {
	err := s.stop()
	os.RemoveAll(s.dir)
	return err
}

// stop ends the server with SIGTERM (its clean shutdown) and waits for it.
// It reports a server that did not exit cleanly.
func (s *spawned) stop() error {
	s.stopOnce.Do(func() {
		select {
		case <-s.done:
		default:
			s.cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-s.done:
			case <-time.After(time.Minute):
				s.cmd.Process.Kill()
				<-s.done
				s.stopErr = fmt.Errorf("the server did not stop within a minute of SIGTERM:\n%s", s.out.String())
				return
			}
		}
		if s.exitErr != nil {
			s.stopErr = fmt.Errorf("the server exited with %v:\n%s", s.exitErr, s.out.String())
		}
	})
	return s.stopErr
}

// freePort returns a port that is free on 127.0.0.1 for both TCP and UDP
// now (the server binds it a moment later).
func freePort() (int, error) {
	for range 20 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, err
		}
		port := ln.Addr().(*net.TCPAddr).Port
		ln.Close()
		pc, err := net.ListenPacket("udp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err == nil {
			pc.Close()
			return port, nil
		}
	}
	return 0, errors.New("no port free for both TCP and UDP on 127.0.0.1")
}

// tailBuffer keeps the last 64 KiB written to it: a server's output, for
// the error when it fails.
type tailBuffer struct {
	mu  sync.Mutex
	buf []byte
}

func (b *tailBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf = append(b.buf, p...)
	if over := len(b.buf) - 64<<10; over > 0 {
		b.buf = append(b.buf[:0], b.buf[over:]...)
	}
	return len(p), nil
}

func (b *tailBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return string(b.buf)
}

// rssMonitor samples a process's resident memory.
type rssMonitor struct {
	pid int
	max int64 // KiB
}

func (m *rssMonitor) run(ctx context.Context) {
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		if rss, _ := readRSS(m.pid); rss > m.max {
			m.max = rss
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// readRSS returns VmRSS and VmHWM of pid in KiB, from /proc (0 where it
// cannot be read: another system, or the process has gone).
func readRSS(pid int) (rss, hwm int64) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0
	}
	for line := range strings.Lines(string(b)) {
		name, value, ok := strings.Cut(line, ":")
		if !ok || (name != "VmRSS" && name != "VmHWM") {
			continue
		}
		n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(value), " kB"), 10, 64)
		if name == "VmRSS" {
			rss = n
		} else {
			hwm = n
		}
	}
	return rss, hwm
}

// cpuSeconds returns the CPU time (user and system) pid has used, from
// /proc/PID/stat; 0 when it cannot be read.
func cpuSeconds(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// The command name (field 2) is in parentheses and may hold spaces:
	// the fields counted are those after it.
	_, rest, ok := bytes.Cut(b, []byte(") "))
	if !ok {
		return 0
	}
	f := bytes.Fields(rest)
	if len(f) < 13 {
		return 0
	}
	utime, _ := strconv.ParseInt(string(f[11]), 10, 64)
	stime, _ := strconv.ParseInt(string(f[12]), 10, 64)
	return float64(utime+stime) / clockTicks
}

// clockTicks is USER_HZ, the unit of /proc/PID/stat's times: 100 on every
// Linux architecture Go supports.
const clockTicks = 100

// The server's counters of stored alert events, summed over their labels.
var storedMetrics = []string{"sitrep_intake_events_total", "sitrep_syslog_messages_total"}

// storedCount returns how many alert events the server has stored since it
// started, from its /metrics.
func storedCount(ctx context.Context, hc *http.Client, api string) (int64, bool) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, api+"/metrics", nil)
	if err != nil {
		return 0, false
	}
	resp, err := hc.Do(req)
	if err != nil {
		return 0, false
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, false
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return 0, false
	}
	return sumMetrics(body, storedMetrics...), true
}

// sumMetrics sums the samples of the named metrics in the Prometheus text
// format.
func sumMetrics(body []byte, names ...string) int64 {
	var sum float64
	for line := range bytes.Lines(body) {
		if len(line) == 0 || line[0] == '#' {
			continue
		}
		end := bytes.IndexAny(line, "{ ")
		if end < 0 || !slices.Contains(names, string(line[:end])) {
			continue
		}
		fields := bytes.Fields(line[bytes.LastIndexByte(line, '}')+1:])
		if len(fields) == 0 {
			continue
		}
		if v, err := strconv.ParseFloat(string(fields[0]), 64); err == nil {
			sum += v
		}
	}
	return int64(sum)
}

// storeKind names the store of a --db setting.
func storeKind(db string) string {
	switch {
	case strings.HasPrefix(db, "sqlite:"):
		return "sqlite"
	case strings.HasPrefix(db, "postgres://"), strings.HasPrefix(db, "postgresql://"):
		return "postgres"
	}
	return ""
}

// dbSize returns the size of the store in bytes: SQLite's file and its WAL,
// or PostgreSQL's pg_database_size.
func dbSize(ctx context.Context, db string) (int64, bool) {
	switch storeKind(db) {
	case "sqlite":
		path := strings.TrimPrefix(db, "sqlite:")
		var total int64
		for _, p := range []string{path, path + "-wal"} {
			if fi, err := os.Stat(p); err == nil {
				total += fi.Size()
			}
		}
		return total, true
	case "postgres":
		ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, db)
		if err != nil {
			return 0, false
		}
		defer conn.Close(ctx)
		var n int64
		if err := conn.QueryRow(ctx, `SELECT pg_database_size(current_database())`).Scan(&n); err != nil {
			return 0, false
		}
		return n, true
	}
	return 0, false
}

// printBench prints a run's report: JSON with -o json, else for a person.
func (c *cli) printBench(r *benchReport) error {
	if c.json() {
		return c.printJSON(r)
	}
	what := r.Path
	if r.Path == benchGeneric {
		what += fmt.Sprintf(", batches of %d", r.Batch)
	}
	keys := "unique keys"
	if r.Keys != "unique" {
		keys = r.Keys + " key(s) repeated"
	}
	c.printf("%s, %s, %d senders", what, keys, r.Concurrency)
	if r.Rate > 0 {
		c.printf(", at most %s alerts/s", thousands(int64(r.Rate)))
	}
	if r.Store != "" {
		c.printf(", %s", r.Store)
	}
	c.printf(": %.1f s\n", r.Seconds)
	c.printf("  %-18s %s of %s sent (%s/s)\n", "alerts stored", thousands(r.Accepted), thousands(r.Sent), thousands(int64(r.AlertsPerSec)))
	if r.Path == benchSyslogTCP || r.Path == benchSyslogUDP {
		c.printf("  %-18s %s (%.2f %%), sent in %.1f s\n", "lost", thousands(r.Lost), 100*r.LossRate, r.SendSeconds)
	} else {
		c.printf("  %-18s %s (%s/s)\n", "requests", thousands(r.Requests), thousands(int64(r.RequestsPerSec)))
		if l := r.Latency; l != nil {
			c.printf("  %-18s p50 %.2f ms, p90 %.2f ms, p99 %.2f ms, max %.2f ms\n", "latency", l.P50, l.P90, l.P99, l.Max)
		}
		if r.Stored >= 0 {
			c.printf("  %-18s %s\n", "server counted", thousands(r.Stored))
		}
	}
	if len(r.Errors) == 0 {
		c.printf("  %-18s none\n", "errors")
	} else {
		var parts []string
		for k, v := range r.Errors {
			parts = append(parts, fmt.Sprintf("%s: %s", k, thousands(v)))
		}
		c.printf("  %-18s %s\n", "errors", strings.Join(slices.Sorted(slices.Values(parts)), ", "))
	}
	if r.Server.PID > 0 {
		c.printf("  %-18s peak %s (VmHWM %s), at the end %s\n", "server memory", kib(r.Server.RSSMaxKB), kib(r.Server.HWMKB), kib(r.Server.RSSEndKB))
		c.printf("  %-18s %.1f s, %.1f µs per alert\n", "server CPU", r.Server.CPUSeconds, r.Server.CPUMicrosPerAlert)
	}
	per := "request"
	if r.Path == benchSyslogTCP || r.Path == benchSyslogUDP {
		per = "message"
	}
	c.printf("  %-18s %.1f s, %.1f µs per %s\n", "load tool CPU", r.Tool.CPUSeconds, r.Tool.CPUMicrosPerRequest, per)
	if r.DB.Store != "" && (r.DB.AfterBytes > 0 || r.DB.BeforeBytes > 0) {
		c.printf("  %-18s %s → %s (%+.1f MB)", "database", mb(r.DB.BeforeBytes), mb(r.DB.AfterBytes), float64(r.DB.GrowthBytes)/1e6)
		if r.DB.AfterStopBytes > 0 {
			c.printf(", %s once stopped", mb(r.DB.AfterStopBytes))
		}
		c.printf("\n")
	}
	if p := r.Probe; p != nil {
		c.printf("  %-18s GET incident %s: p50 %.2f ms, p99 %.2f ms, max %.2f ms (%d reads, %d errors)\n", "probe", p.Incident, p.P50, p.P99, p.Max, p.Requests, p.Errors)
	}
	return nil
}

func kib(n int64) string { return fmt.Sprintf("%.1f MB", float64(n)*1024/1e6) }
func mb(n int64) string  { return fmt.Sprintf("%.1f MB", float64(n)/1e6) }

// thousands prints n with thin separators: 1,234,567.
func thousands(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, r := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}
