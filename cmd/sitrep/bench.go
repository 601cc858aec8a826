package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/sitrep-ir/sitrep"
	"github.com/sitrep-ir/sitrep/client"
)

// `sitrep bench intake`: a load generator for the intake, over loopback. It
// sends alerts the way real senders do (HTTP posts answered after the
// commit, syslog over TCP or UDP) and reports what the server took, how
// fast, how long each answer took, and what it cost the server in memory
// and disk. The figures of docs/performance.md come from it.

// Intake paths the tool drives.
const (
	benchGeneric   = "generic"
	benchPagerDuty = "pagerduty"
	benchSyslogTCP = "syslog-tcp"
	benchSyslogUDP = "syslog-udp"
)

var benchPaths = []string{benchGeneric, benchPagerDuty, benchSyslogTCP, benchSyslogUDP}

// benchOptions is the command line of `sitrep bench intake`.
type benchOptions struct {
	path        string
	batch       int
	keys        string
	nkeys       int // 0: every alert its own key
	hashedKeys  bool
	count       int64
	duration    time.Duration
	concurrency int
	rate        float64

	url, key, syslogAddr string
	pid                  int
	spawn                bool
	db                   string
	probe                string
	probeRate            float64
	serverCPUProfile     string
	settle               time.Duration
}

func (c *cli) benchCmd() *cobra.Command {
	cmd := group("bench", "Measure a server under load: intake", c.benchIntakeCmd(), benchServeCmd())
	cmd.Long = `Load generators that measure a sitrep server on this machine, over
loopback only. Their figures are the ones docs/performance.md gives.`
	return cmd
}

func (c *cli) benchIntakeCmd() *cobra.Command {
	var o benchOptions
	cmd := &cobra.Command{
		Use:   "intake [--spawn] [--path generic|pagerduty|syslog-tcp|syslog-udp] [--batch N] [--keys unique|N] [--count N] [--duration D]",
		Short: "Send alerts to a server's intake and report throughput, latency, memory and disk",
		Long: `Send alerts to the intake of a sitrep server on this machine and report
alerts and requests per second, the latency of the answers (p50, p90, p99,
max), errors by kind, and what the server stored.

An HTTP answer in the 2xx range comes only after the alerts are committed,
so "accepted" counts alerts stored durably. Syslog has no answer: the tool
counts what the server reports stored (its /metrics) until the count stops
growing, and the messages sent but never stored are the loss.

With --spawn the tool starts "sitrep serve" itself (this executable, a new
SQLite file unless --db names a store, listeners on free ports), adds an
alert source through the API, and also reports the server's resident
memory (peak VmRSS and VmHWM) and the growth of the database (file and
WAL for SQLite, pg_database_size for PostgreSQL). Without it the tool
sends to a running server: --url (an intake URL, with --key for the
pagerduty path), or --syslog ADDR; --server and --token to add a source
when no --url is given; --pid and --db to measure the server's memory and
database.

--keys unique gives every alert its own dedup key: each is a new alert.
--keys N repeats N keys: a storm, which must cost a few rows, not one per
alert. Keys are numbered in order unless --hashed-keys spreads them over
the whole key space, as hashes are (syslog keys are always hashes): each
new alert then writes a page of its own in the open-key index. --probe-incident ID (or "new" to declare one) reads that incident
through the API during the run and reports the latency of those reads.

Only addresses of this machine (127.0.0.0/8, ::1, localhost) are accepted.`,
		Example: `  sitrep bench intake --spawn --batch 100 --count 1000000
  sitrep bench intake --spawn --batch 1 --concurrency 64 --duration 20s
  sitrep bench intake --spawn --keys 1 --count 1000000 --probe-incident new -o json
  sitrep bench intake --spawn --path syslog-udp --rate 20000 --duration 10s
  sitrep bench intake --url http://127.0.0.1:8080/intake/generic/KEY --batch 100`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.check(cmd); err != nil {
				return err
			}
			rep, err := c.runBench(cmd.Context(), &o)
			if rep != nil {
				if perr := c.printBench(rep); perr != nil && err == nil {
					err = perr
				}
			}
			return err
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.path, "path", benchGeneric, "intake to load: "+strings.Join(benchPaths, ", "))
	f.IntVar(&o.batch, "batch", 100, "alerts per request (generic; pagerduty and syslog send one per request or message)")
	f.StringVar(&o.keys, "keys", "unique", `dedup keys: "unique" (every alert new) or N (N keys repeated: a storm)`)
	f.BoolVar(&o.hashedKeys, "hashed-keys", false, "spread the generic and pagerduty dedup keys like hashes (as Alertmanager fingerprints are) instead of numbering them in order")
	f.Int64Var(&o.count, "count", 100000, "alerts to send (0: no bound; the run ends at --count or --duration, whichever comes first)")
	f.DurationVar(&o.duration, "duration", 5*time.Minute, "longest run (0: no bound)")
	f.IntVar(&o.concurrency, "concurrency", 16, "concurrent senders (HTTP requests in flight, TCP connections, UDP sockets)")
	f.Float64Var(&o.rate, "rate", 0, "alerts per second to send at most, over all senders (0: as fast as the server takes them)")
	f.StringVar(&o.url, "url", "", "intake URL of a running server (generic: with its key; pagerduty: the /v2/enqueue URL with --key)")
	f.StringVar(&o.key, "key", "", "source key for --url: the routing key of the pagerduty path, or a generic key sent as a bearer token")
	f.StringVar(&o.syslogAddr, "syslog", "", "syslog listener of a running server (HOST:PORT)")
	f.IntVar(&o.pid, "pid", 0, "process ID of a running server, to report its resident memory")
	f.BoolVar(&o.spawn, "spawn", false, "start a server of this executable for the run, and measure it")
	f.StringVar(&o.db, "db", "", "with --spawn: the store (sqlite:PATH or postgres://…; default a new SQLite file); without: the running server's store, to measure its growth")
	f.StringVar(&o.probe, "probe-incident", "", `incident ID to read (GET /api/v1/incidents/ID) during the run, or "new" to declare one`)
	f.Float64Var(&o.probeRate, "probe-rate", 20, "reads of the probed incident per second")
	f.StringVar(&o.serverCPUProfile, "server-cpuprofile", "", "with --spawn: write the server's CPU profile of the run to this file")
	f.DurationVar(&o.settle, "settle", 5*time.Second, "syslog: how long the stored count must stay still to be final")
	return cmd
}

// check validates the command line.
func (o *benchOptions) check(cmd *cobra.Command) error {
	if !slices.Contains(benchPaths, o.path) {
		return usagef("--path %q: use %s", o.path, strings.Join(benchPaths, ", "))
	}
	if o.batch < 1 || o.batch > 1000 {
		return usagef("--batch %d: use 1 to 1000 alerts per request", o.batch)
	}
	if o.path != benchGeneric && changed(cmd.Flags(), "batch") && o.batch != 1 {
		return usagef("--batch applies to the generic path: %s sends one alert per request or message", o.path)
	}
	if o.path != benchGeneric {
		o.batch = 1
	}
	if o.keys != "unique" {
		n, err := strconv.Atoi(o.keys)
		if err != nil || n < 1 {
			return usagef(`--keys %q: use "unique" or a number of keys of at least 1`, o.keys)
		}
		o.nkeys = n
	}
	if o.count < 0 || o.duration < 0 || (o.count == 0 && o.duration == 0) {
		return usagef("give --count or --duration a positive bound")
	}
	if o.concurrency < 1 || o.concurrency > 4096 {
		return usagef("--concurrency %d: use 1 to 4096", o.concurrency)
	}
	if o.rate < 0 || o.probeRate <= 0 {
		return usagef("--rate must not be negative and --probe-rate must be positive")
	}
	syslogPath := o.path == benchSyslogTCP || o.path == benchSyslogUDP
	switch {
	case o.spawn && (o.url != "" || o.syslogAddr != "" || o.pid != 0):
		return usagef("--spawn starts its own server: leave out --url, --syslog and --pid")
	case !o.spawn && o.serverCPUProfile != "":
		return usagef("--server-cpuprofile needs --spawn")
	case !o.spawn && syslogPath && o.syslogAddr == "":
		return usagef("--path %s needs --syslog HOST:PORT of the server's listener (or --spawn)", o.path)
	case !o.spawn && o.path == benchPagerDuty && o.url != "" && o.key == "":
		return usagef("--path pagerduty with --url needs --key, the routing key")
	}
	if o.url != "" {
		u, err := url.Parse(o.url)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") {
			return usagef("--url %q is not an http URL", clipText(o.url, 80))
		}
		if err := loopbackHost(u.Hostname()); err != nil {
			return usagef("--url: %v", err)
		}
	}
	if o.syslogAddr != "" {
		host, _, err := net.SplitHostPort(o.syslogAddr)
		if err != nil {
			return usagef("--syslog %q: give HOST:PORT", o.syslogAddr)
		}
		if err := loopbackHost(host); err != nil {
			return usagef("--syslog: %v", err)
		}
	}
	return nil
}

// loopbackHost refuses a host that is not this machine: the tool loads
// only servers on loopback.
func loopbackHost(host string) error {
	if host == "localhost" {
		return nil
	}
	ip := net.ParseIP(host)
	if ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("%q is not a loopback address: the load tool sends only to 127.0.0.1, ::1 or localhost", host)
	}
	return nil
}

// benchTarget is where a run sends, and what it can measure there.
type benchTarget struct {
	api      string // the server's base URL, for /metrics and the probe
	token    string
	intake   string // intake URL (HTTP paths)
	key      string // generic bearer key or PagerDuty routing key
	syslog   string // syslog address
	pid      int
	db       string
	incident string
	srv      *spawned
}

// runBench sets the target up, runs the load and measures.
func (c *cli) runBench(ctx context.Context, o *benchOptions) (*benchReport, error) {
	t := &benchTarget{intake: o.url, key: o.key, syslog: o.syslogAddr, pid: o.pid, db: o.db, token: c.tokenValue()}
	if o.spawn {
		srv, err := spawnServer(ctx, o)
		if err != nil {
			return nil, err
		}
		defer srv.close()
		t.srv, t.api, t.token, t.pid, t.db, t.syslog = srv, srv.url, srv.token, srv.pid(), srv.db, srv.syslog
	} else {
		t.api = c.serverURL()
		if _, set := c.lookupEnv("SITREP_SERVER"); o.url != "" && c.server == "" && !set {
			// The intake's server is the one to measure.
			t.api = publicBase(o.url)
		}
		u, err := url.Parse(t.api)
		if err != nil || loopbackHost(u.Hostname()) != nil {
			return nil, usagef("--server %q: the load tool measures only servers on this machine (127.0.0.1, ::1, localhost)", clipText(t.api, 80))
		}
	}
	api := client.New(t.api, t.token, client.WithUserAgent("sitrep-bench/"+buildVersion()))
	run := randomRun()
	if (o.path == benchGeneric || o.path == benchPagerDuty) && t.intake == "" {
		src, err := api.CreateSource(ctx, "bench-"+o.path+"-"+run, o.path, nil)
		if err != nil {
			return nil, fmt.Errorf("add a %s source for the run: %w", o.path, err)
		}
		t.intake, t.key = src.URL, src.Key
	}
	if o.spawn && (o.path == benchSyslogTCP || o.path == benchSyslogUDP) {
		if _, err := api.CreateSource(ctx, "bench-syslog-"+run, "syslog", []string{"127.0.0.1/32"}); err != nil {
			return nil, fmt.Errorf("add a syslog source for the run: %w", err)
		}
		network := "tcp"
		if o.path == benchSyslogUDP {
			network = "udp"
		}
		if err := awaitSyslogSource(ctx, network, t.syslog, t.api, run); err != nil {
			return nil, err
		}
	}
	if o.probe != "" {
		t.incident = incidentID(o.probe)
		if strings.EqualFold(o.probe, "new") {
			res, err := api.Declare(ctx, sitrep.DeclareInput{Title: "Load test probe " + run, Kind: "outage", Exercise: true})
			if err != nil {
				return nil, fmt.Errorf("declare the incident to probe: %w", err)
			}
			t.incident = res.Incident.ID
		}
	}
	if o.path == benchPagerDuty && t.intake != "" && !strings.Contains(t.intake, "/v2/enqueue") {
		t.intake = strings.TrimRight(t.intake, "/") + "/v2/enqueue"
	}
	rep, err := runLoad(ctx, o, t, run)
	if rep != nil && t.srv != nil {
		if serr := t.srv.stop(); serr != nil && err == nil {
			err = serr
		}
		rep.Server.ExitedCleanly = t.srv.exitErr == nil
		if size, ok := dbSize(ctx, t.db); ok {
			rep.DB.AfterStopBytes = size
		}
	}
	return rep, err
}

// publicBase returns scheme://host of an absolute URL.
func publicBase(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return s
	}
	return u.Scheme + "://" + u.Host
}

// randomRun names a run: its sources and keys, so that runs against one
// server do not count on each other's alerts.
func randomRun() string {
	b := make([]byte, 4)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// benchServeCmd is `sitrep bench serve`: `sitrep serve` with a CPU
// profile of the whole run, written when the server stops. --spawn runs it
// for --server-cpuprofile.
func benchServeCmd() *cobra.Command {
	cmd := newServeCmd()
	cmd.Short = "Run the server with a CPU profile (for sitrep bench intake --server-cpuprofile)"
	cmd.Hidden = true
	var cpuProfile string
	cmd.Flags().StringVar(&cpuProfile, "cpuprofile", "", "write a CPU profile of the run to this file")
	serveRun := cmd.RunE
	cmd.RunE = func(cmd *cobra.Command, a []string) (err error) {
		if cpuProfile != "" {
			f, err := os.Create(cpuProfile)
			if err != nil {
				return fmt.Errorf("--cpuprofile: %w", err)
			}
			if err := pprof.StartCPUProfile(f); err != nil {
				f.Close()
				return fmt.Errorf("--cpuprofile: %w", err)
			}
			defer func() {
				pprof.StopCPUProfile()
				if cerr := f.Close(); cerr != nil && err == nil {
					err = fmt.Errorf("--cpuprofile: %w", cerr)
				}
			}()
		}
		return serveRun(cmd, a)
	}
	return cmd
}

// errorKind names what went wrong with one request, for the report's
// errors by kind: a bounded set of names, never a server's text.
func errorKind(err error, status int) string {
	switch {
	case err == nil:
		return fmt.Sprintf("http %d", status)
	case errors.Is(err, context.DeadlineExceeded), os.IsTimeout(err):
		return "timeout"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "connection closed"
	case errors.Is(err, errBadAnswer):
		return "malformed answer"
	}
	var op *net.OpError
	if errors.As(err, &op) {
		if op.Op == "dial" {
			return "connect"
		}
		return "network " + op.Op
	}
	return "other"
}

// awaitSyslogSource sends a message (over network, "tcp" or "udp") and
// waits until the server has stored one: the listener learns of a new
// source when a sender it does not know arrives, up to a second later, and
// the run must measure the listener and the store, not that second.
func awaitSyslogSource(ctx context.Context, network, addr, api, run string) error {
	hc := &http.Client{Timeout: 10 * time.Second}
	before, ok := storedCount(ctx, hc, api)
	if !ok {
		return fmt.Errorf("read the server's /metrics before the run")
	}
	send := func() error {
		var d net.Dialer
		conn, err := d.DialContext(ctx, network, addr)
		if err != nil {
			return fmt.Errorf("connect to the syslog listener %s: %w", addr, err)
		}
		_, err = fmt.Fprintf(conn, "<14>1 %s bench sitrep-bench - - - load test %s: the listener knows the source\n",
			time.Now().UTC().Format(time.RFC3339Nano), run)
		if cerr := conn.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("send to the syslog listener %s: %w", addr, err)
		}
		return nil
	}
	deadline := time.Now().Add(10 * time.Second)
	for sent := 0; time.Now().Before(deadline); sent++ {
		// A datagram can be lost: one is sent every half second until one
		// is stored; TCP needs one.
		if sent == 0 || network == "udp" && sent%10 == 0 {
			if err := send(); err != nil {
				return err
			}
		}
		if n, ok := storedCount(ctx, hc, api); ok && n > before {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	return fmt.Errorf("the syslog listener %s did not store a message of the new source within 10 s", addr)
}
