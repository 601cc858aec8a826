package syslog

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sitrep-ir/sitrep"
	"github.com/sitrep-ir/sitrep/internal/ratelog"
)

// The listeners: syslog over UDP (one datagram, one message) and TCP (a
// stream framed as RFC 6587 says, see Scanner), each turning what arrives
// into alert events and handing them to an Ingester in batches.
//
// Syslog has no credential of its own, so a message is authenticated by the
// network it comes from: it belongs to the syslog source whose allowed
// ranges contain the sender's address, the most specific range winning (of
// two sources with the same range, the first by name). A syslog source with
// no ranges takes every sender that no source claims by range. A message
// that no source claims is refused and counted. The list of sources is kept
// in memory and reloaded every few seconds, and at most once a second when a
// sender is not found in it, so that a message never costs a database query
// and a source just added works at once: a new TCP connection from an
// unknown sender waits for that reload, and so do (a few hundred at most)
// datagrams from unknown senders.
//
// A message that is neither RFC 5424 nor RFC 3164 (no <priority>, or a
// header that cannot be read) is kept all the same, as an alert whose
// summary is its text: it came from an allowed network, and an operator
// would rather triage a stray line than lose the one message that mattered
// from a device with its own idea of syslog. Such alerts are counted apart
// (format "raw") and carry the sender's address as their host. Only a
// message with no text at all is refused (reason "malformed").
//
// Nothing is acknowledged in syslog, so "stored" cannot be told to a sender;
// instead the listeners read no further ahead of the store than a bounded
// number of messages. A TCP connection stops being read while two batches
// wait for the store, which pushes back on the sender through TCP's flow
// control; every message read from it is stored before the connection's
// goroutine ends. UDP has no way to push back: its readers (several, on one
// socket) read on while batches are stored, up to 16 batches ahead of the
// store, and the kernel's receive buffer (8 MiB asked for) absorbs bursts
// beyond that; what it drops is counted (sitrep_syslog_udp_dropped_total).
// When the store fails, a batch is tried again, with the connection held,
// until it is stored or the listener is closed; what Close gives up on is
// counted as not stored.

// Ingester is sitrep.Ingester: what stores alert events durably.
type Ingester = sitrep.Ingester

// Defaults of Config.
const (
	DefaultMaxMessage  = 64 << 10
	DefaultMaxConns    = 1024
	DefaultIdleTimeout = 15 * time.Minute
	DefaultMaxBatch    = 500
	DefaultReadBuffer  = 8 << 20
	DefaultRefresh     = 5 * time.Second
)

const (
	// missReload is how often at most a sender no source claims reloads
	// the sources.
	missReload = time.Second
	// logEvery is how often at most one kind of refusal is logged.
	logEvery = 10 * time.Second
	// udpDrain and tcpDrain are how long Close goes on reading what is
	// already in the UDP socket's and the TCP connections' buffers.
	udpDrain = 100 * time.Millisecond
	tcpDrain = time.Second
	// maxParked bounds the datagrams from unknown senders held until the
	// sources are reloaded.
	maxParked = 256
	// shutdownGrace bounds how long Close tries to store what was read when
	// its context has no deadline.
	shutdownGrace = 30 * time.Second
	// retryMax is the longest pause between two tries of a batch the store
	// refused.
	retryMax = 5 * time.Second
)

// Why messages are refused: the values of the reason label of
// sitrep_syslog_refused_total.
const (
	reasonNoSource = "no_source"            // no syslog source allows the sender
	reasonTooLarge = "too_large"            // the message is over MaxMessage
	reasonBad      = "malformed"            // no text, or a TCP stream whose framing was lost
	reasonUnstored = "not_stored"           // the store did not take it before the listener closed
	reasonConns    = "too_many_connections" // a TCP connection over MaxConns
)

// Config configures a Server. Ingester and Sources are required; the other
// zero values take the defaults.
type Config struct {
	Ingester Ingester
	// Sources lists the alert sources (of every kind: the server keeps
	// those of kind syslog).
	Sources func(ctx context.Context) ([]*sitrep.Source, error)
	Logger  *slog.Logger
	// Registry receives the listeners' metrics; nil keeps them unexported.
	Registry prometheus.Registerer
	// MaxMessage bounds one message (DefaultMaxMessage): a TCP frame or a
	// datagram over it is skipped and counted.
	MaxMessage int
	// MaxConns bounds the TCP connections open at once (DefaultMaxConns):
	// one more is closed at once and counted.
	MaxConns int
	// IdleTimeout closes a TCP connection that sent nothing for that long
	// (DefaultIdleTimeout). TCP keep-alive finds dead peers sooner; this
	// bounds the slots that silent ones hold. It is long because some
	// senders (rsyslog's plain TCP among them) lose the first message they
	// send into a connection the server has closed.
	IdleTimeout time.Duration
	// MaxBatch is how many messages one Ingest call holds at most
	// (DefaultMaxBatch). A connection or socket reads no further while it
	// has two batches' worth waiting for the store.
	MaxBatch int
	// ReadBuffer is the UDP socket receive buffer asked for
	// (DefaultReadBuffer); the kernel may give less (net.core.rmem_max).
	ReadBuffer int
	// Refresh is how often the sources are reloaded (DefaultRefresh).
	Refresh time.Duration
}

// Server runs the syslog listeners of one sitrep server: UDP, TCP or both,
// sharing one cache of sources and one set of metrics.
type Server struct {
	cfg     Config
	log     *slog.Logger
	sources *sourceTable
	m       *metrics
	limit   *ratelog.Logger

	stop      chan struct{} // closed when Close begins
	stopAt    atomic.Int64  // when Close began, in Unix nanoseconds
	stopOnce  sync.Once
	storeCtx  context.Context
	giveUp    context.CancelFunc // ends storeCtx: Close stops trying to store
	refresher chan struct{}      // closed when the refresh goroutine ends

	mu      sync.Mutex
	udp     *net.UDPConn
	udpDone chan struct{}
	udpDrop uint32 // the kernel's count of dropped datagrams, last seen
	tcp     net.Listener
	tcpDone chan struct{}

	// read counts the messages read, refused or not (tests watch it).
	read atomic.Int64

	parkMu sync.Mutex
	parked []parkedMsg // datagrams waiting for a reload of the sources
	parkWG sync.WaitGroup
	conns  map[net.Conn]struct{}
	connWG sync.WaitGroup
}

// NewServer loads the sources and returns a Server that listens on nothing
// yet: call ListenUDP and ListenTCP, and Close when done.
func NewServer(ctx context.Context, cfg Config) (*Server, error) {
	if cfg.Ingester == nil || cfg.Sources == nil {
		return nil, errors.New("syslog listener: an Ingester and a list of Sources are needed")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&cfg.MaxMessage, DefaultMaxMessage)
	def(&cfg.MaxConns, DefaultMaxConns)
	def(&cfg.MaxBatch, DefaultMaxBatch)
	def(&cfg.ReadBuffer, DefaultReadBuffer)
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = DefaultIdleTimeout
	}
	if cfg.Refresh <= 0 {
		cfg.Refresh = DefaultRefresh
	}
	log := cfg.Logger.With("component", "intake.syslog")
	m, err := newMetrics(cfg.Registry)
	if err != nil {
		return nil, err
	}
	s := &Server{
		cfg:       cfg,
		log:       log,
		m:         m,
		limit:     ratelog.New(log, logEvery),
		stop:      make(chan struct{}),
		refresher: make(chan struct{}),
		conns:     map[net.Conn]struct{}{},
	}
	s.sources = &sourceTable{load: cfg.Sources, limit: s.limit}
	if err := s.sources.reload(ctx, 0); err != nil {
		return nil, fmt.Errorf("syslog listener: %w", err)
	}
	s.storeCtx, s.giveUp = context.WithCancel(context.WithoutCancel(ctx))
	go s.refresh()
	return s, nil
}

// refresh reloads the sources every cfg.Refresh until Close.
func (s *Server) refresh() {
	defer close(s.refresher)
	t := time.NewTicker(s.cfg.Refresh)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			_ = s.sources.reload(s.storeCtx, 0) // logged there; the old list stays
		}
	}
}

func (s *Server) stopping() bool {
	select {
	case <-s.stop:
		return true
	default:
		return false
	}
}

// ListenUDP receives syslog datagrams on addr (host:port; port 0 picks one,
// see UDPAddr).
func (s *Server) ListenUDP(addr string) error {
	ua, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		return fmt.Errorf("syslog udp: listen on %s: %w", addr, err)
	}
	c, err := net.ListenUDP("udp", ua)
	if err != nil {
		return fmt.Errorf("syslog udp: listen on %s: %w", addr, err)
	}
	s.mu.Lock()
	if s.udp != nil || s.stopping() {
		s.mu.Unlock()
		c.Close()
		return fmt.Errorf("syslog udp: listen on %s: the listener is already open or closed", addr)
	}
	s.udp, s.udpDone = c, make(chan struct{})
	s.mu.Unlock()

	if err := c.SetReadBuffer(s.cfg.ReadBuffer); err != nil {
		s.log.Warn("syslog udp: set the receive buffer", "want_bytes", s.cfg.ReadBuffer, "err", err)
	}
	got, err := setupUDP(c, s.cfg.ReadBuffer)
	switch {
	case err != nil:
		s.log.Warn("syslog udp: socket options", "err", err)
	case got > 0 && got < s.cfg.ReadBuffer:
		s.log.Warn("syslog udp: the kernel gave a smaller receive buffer than asked; bursts may be dropped (raise net.core.rmem_max)",
			"want_bytes", s.cfg.ReadBuffer, "got_bytes", got)
	case got > 0:
		s.log.Debug("syslog udp: receive buffer", "bytes", got)
	}
	b := newBatcher(s, "udp")
	var readers sync.WaitGroup
	for range udpReaders() {
		readers.Go(func() { s.readUDP(c, b) })
	}
	go func() {
		readers.Wait()
		s.parkWG.Wait() // what is parked goes to b before it closes
		b.close()
		close(s.udpDone)
	}()
	return nil
}

// udpReaders is how many goroutines read the UDP socket: while one parses,
// another reads, and none waits for the store.
func udpReaders() int {
	return min(max(runtime.GOMAXPROCS(0), 2), 8)
}

// UDPAddr is the address the UDP listener is bound to, or nil.
func (s *Server) UDPAddr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.udp == nil {
		return nil
	}
	return s.udp.LocalAddr()
}

// readUDP reads datagrams until Close and queues them for b. It waits only
// when b is full, not for a batch being stored.
func (s *Server) readUDP(c *net.UDPConn, b *batcher) {
	buf := make([]byte, min(s.cfg.MaxMessage+1, 1<<16))
	oob := make([]byte, 64)
	var seen []byte // the last control message noted
	var sender senderName
	for {
		n, oobn, _, from, err := c.ReadMsgUDPAddrPort(buf, oob)
		if err != nil {
			if s.stopping() || errors.Is(err, net.ErrClosed) {
				return
			}
			s.limit.Log(slog.LevelWarn, "udp-read", "syslog udp: read", "err", err)
			time.Sleep(10 * time.Millisecond) // not a busy loop on a lasting error
			continue
		}
		if oobn > 0 && !bytes.Equal(oob[:oobn], seen) {
			// Once the kernel dropped, every datagram carries its count;
			// parse it only when it changed.
			seen = append(seen[:0], oob[:oobn]...)
			s.noteDrops(seen)
		}
		if n > s.cfg.MaxMessage {
			s.refuse("udp", reasonTooLarge, from.Addr(), "a datagram over the size limit", "limit", s.cfg.MaxMessage)
			continue
		}
		if a := from.Addr(); a != sender.addr {
			sender = senderName{a, a.String()}
		}
		if it, ok := s.take("udp", sender, buf[:n], b, true); ok {
			b.add(it)
		}
	}
}

// noteDrops counts the datagrams the kernel reports it dropped.
func (s *Server) noteDrops(oob []byte) {
	total, ok := dropsFromOOB(oob)
	if !ok {
		return
	}
	s.mu.Lock()
	delta := int32(total - s.udpDrop) // readers may report out of order
	if delta > 0 {
		s.udpDrop = total
	}
	s.mu.Unlock()
	if delta > 0 {
		s.m.dropped.Add(float64(delta))
		s.limit.Log(slog.LevelWarn, "udp-drop", "syslog udp: the kernel dropped datagrams: its receive buffer was full", "dropped", delta, "dropped_total", total)
	}
}

// ListenTCP accepts syslog connections on addr (host:port; port 0 picks
// one, see TCPAddr).
func (s *Server) ListenTCP(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("syslog tcp: listen on %s: %w", addr, err)
	}
	s.mu.Lock()
	if s.tcp != nil || s.stopping() {
		s.mu.Unlock()
		ln.Close()
		return fmt.Errorf("syslog tcp: listen on %s: the listener is already open or closed", addr)
	}
	s.tcp, s.tcpDone = ln, make(chan struct{})
	s.mu.Unlock()
	go s.acceptTCP(ln)
	return nil
}

// TCPAddr is the address the TCP listener is bound to, or nil.
func (s *Server) TCPAddr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.tcp == nil {
		return nil
	}
	return s.tcp.Addr()
}

// acceptTCP accepts connections until Close.
func (s *Server) acceptTCP(ln net.Listener) {
	defer close(s.tcpDone)
	slots := make(chan struct{}, s.cfg.MaxConns)
	var pause time.Duration
	for {
		conn, err := ln.Accept()
		if err != nil {
			if s.stopping() || errors.Is(err, net.ErrClosed) {
				return
			}
			// Out of file descriptors and the like: wait, then go on.
			pause = min(max(2*pause, 5*time.Millisecond), time.Second)
			s.limit.Log(slog.LevelError, "tcp-accept", "syslog tcp: accept", "err", err, "retry_in", pause)
			time.Sleep(pause)
			continue
		}
		pause = 0
		from := addrOf(conn.RemoteAddr())
		select {
		case slots <- struct{}{}:
		default:
			conn.Close()
			s.refuse("tcp", reasonConns, from, "a connection over the limit", "limit", s.cfg.MaxConns)
			continue
		}
		s.mu.Lock()
		s.conns[conn] = struct{}{}
		s.connWG.Add(1)
		s.mu.Unlock()
		go func() {
			defer func() {
				s.mu.Lock()
				delete(s.conns, conn)
				s.mu.Unlock()
				<-slots
				s.connWG.Done()
			}()
			s.serveTCP(conn, from)
		}()
	}
}

// serveTCP reads one connection's messages until it ends, is idle too
// long, loses its framing or the server closes; what it read is stored
// before it returns.
func (s *Server) serveTCP(conn net.Conn, from netip.Addr) {
	defer conn.Close()
	s.m.conns.Inc()
	defer s.m.conns.Dec()
	if _, ok := s.sources.lookup(s.storeCtx, from, true); !ok {
		s.refuse("tcp", reasonNoSource, from, "no syslog source allows the sender: add one with sitrep source add NAME --kind syslog --allow CIDR")
		return
	}
	b := newBatcher(s, "tcp")
	defer b.close()
	// Messages go to b a chunk at a time: when the chunk is full, and
	// before a read that may wait for the sender.
	chunk := make([]item, 0, min(tcpChunk, s.cfg.MaxBatch))
	sender := senderName{from, from.String()}
	flush := func() {
		b.addAll(chunk)
		clear(chunk)
		chunk = chunk[:0]
	}
	defer flush() // before b.close: what was read is stored
	sc := NewScanner(&idleReader{s: s, conn: conn}, s.cfg.MaxMessage)
	for {
		msg, err := sc.Next()
		switch {
		case err == nil:
			if it, ok := s.take("tcp", sender, msg, nil, false); ok {
				chunk = append(chunk, it)
			}
			if len(chunk) == cap(chunk) || sc.Buffered() == 0 {
				flush()
			}
			continue
		case errors.Is(err, ErrFrameTooLong):
			s.refuse("tcp", reasonTooLarge, from, "a frame over the size limit, skipped", "err", err)
			continue
		case errors.Is(err, ErrStreamLost):
			s.refuse("tcp", reasonBad, from, "framing lost: the connection is closed, the messages before kept", "err", err)
		case errors.Is(err, io.EOF), errors.Is(err, net.ErrClosed):
		case isTimeout(err):
			s.log.Debug("syslog tcp: idle connection closed", "sender", from, "idle", s.cfg.IdleTimeout)
		default:
			s.log.Debug("syslog tcp: connection ended", "sender", from, "err", err)
		}
		return
	}
}

// idleReader gives each read of a connection the idle timeout. Once the
// server is closing, reads go on only for a moment (what the sender had
// already sent is read) however fast the sender still sends.
type idleReader struct {
	s    *Server
	conn net.Conn
}

func (r *idleReader) Read(p []byte) (int, error) {
	deadline := time.Now().Add(r.s.cfg.IdleTimeout)
	if r.s.stopping() {
		deadline = time.Unix(0, r.s.stopAt.Load()).Add(tcpDrain)
	}
	if err := r.conn.SetReadDeadline(deadline); err != nil {
		return 0, err
	}
	return r.conn.Read(p)
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// addrOf returns the IP address of a network address.
func addrOf(a net.Addr) netip.Addr {
	switch a := a.(type) {
	case *net.TCPAddr:
		return a.AddrPort().Addr()
	case *net.UDPAddr:
		return a.AddrPort().Addr()
	}
	if ap, err := netip.ParseAddrPort(a.String()); err == nil {
		return ap.Addr()
	}
	return netip.Addr{}
}

// Reload loads the sources at once: a server that has just added or removed
// one calls it, so that the source's senders are taken (or refused) from
// their next message rather than from the next periodic reload.
func (s *Server) Reload(ctx context.Context) error {
	return s.sources.reload(ctx, 0)
}

// take turns one message from a sender into an item for the store, or
// refuses it (ok false). With park, a message from a sender no source
// claims waits for the next reload of the sources, then goes to b (see
// park).
func (s *Server) take(transport string, sender senderName, msg []byte, b *batcher, park bool) (it item, ok bool) {
	from := sender.addr
	if park || transport == "tcp" {
		s.read.Add(1) // once per message: not again when it comes back from the park
	}
	src, ok := s.sources.lookup(s.storeCtx, from, false)
	if !ok {
		if park && s.park(from, msg, b) {
			return item{}, false
		}
		s.refuse(transport, reasonNoSource, from, "no syslog source allows the sender: add one with sitrep source add NAME --kind syslog --allow CIDR")
		return item{}, false
	}
	ev, format, err := readEventAs(msg, from, sender.text)
	if err != nil {
		s.refuse(transport, reasonBad, from, "a message with no text", "err", err)
		return item{}, false
	}
	return item{source: src, format: format, ev: ev}, true
}

// park keeps a datagram from a sender no source claims until the sources
// are reloaded, at most a second later, and takes or refuses it then: the
// first messages of a source added a moment ago are not lost. It holds at
// most maxParked datagrams; it reports false when full.
func (s *Server) park(from netip.Addr, msg []byte, b *batcher) bool {
	s.parkMu.Lock()
	defer s.parkMu.Unlock()
	if len(s.parked) >= maxParked {
		return false
	}
	s.parked = append(s.parked, parkedMsg{from: from, msg: bytes.Clone(msg)})
	if len(s.parked) == 1 {
		s.parkWG.Add(1)
		go s.unpark(b)
	}
	return true
}

// unpark reloads the sources when a second has passed since the last load
// (at once when the server closes), then takes or refuses what was parked.
func (s *Server) unpark(b *batcher) {
	defer s.parkWG.Done()
	if d := time.Until(time.Unix(0, s.sources.last.Load()).Add(missReload)); d > 0 {
		timer := time.NewTimer(d)
		select {
		case <-timer.C:
		case <-s.stop:
		}
		timer.Stop()
	}
	_ = s.sources.reload(s.storeCtx, missReload)
	s.parkMu.Lock()
	parked := s.parked
	s.parked = nil
	s.parkMu.Unlock()
	for _, p := range parked {
		if it, ok := s.take("udp", senderName{p.from, p.from.String()}, p.msg, b, false); ok {
			b.add(it)
		}
	}
}

type parkedMsg struct {
	from netip.Addr
	msg  []byte
}

// The formats of the format label of sitrep_syslog_messages_total.
const (
	format5424 = "rfc5424"
	format3164 = "rfc3164"
	formatRaw  = "raw"
)

// readEvent reads a message from sender as RFC 5424 or RFC 3164, else as raw
// text; it fails only for a message with no text. Every event carries the
// sender's address (label sender), which differs from host when a relay
// forwards.
func readEvent(msg []byte, sender netip.Addr) (sitrep.AlertEvent, string, error) {
	return readEventAs(msg, sender, senderName{sender, sender.String()}.text)
}

// senderName is a sender's address and its text, which a reader keeps
// rather than make a string of the same address for every message.
type senderName struct {
	addr netip.Addr
	text string
}

// readEventAs is readEvent with the sender's address as text: senderText
// is sender.String().
func readEventAs(msg []byte, sender netip.Addr, senderText string) (sitrep.AlertEvent, string, error) {
	msg = trimTrailer(msg)
	format := format3164
	if is5424(msg) {
		format = format5424
	}
	ev, err := parse(msg)
	if err != nil { // (AsError costs an allocation even for nil)
		if e := sitrep.AsError(err); e != nil && e.Field == "msg" {
			return sitrep.AlertEvent{}, "", err // syslog, but nothing to say
		}
		format = formatRaw
		if ev, err = rawEvent(msg, sender, senderText); err != nil {
			return sitrep.AlertEvent{}, "", err
		}
	}
	if sender.IsValid() {
		ev.Labels["sender"] = senderText
	}
	ev.Normalize() // once, the sender's label in
	return ev, format, nil
}

// rawEvent keeps a message that is no syslog as an alert: its text is the
// summary, the sender is the host, and repetitions from one sender are one
// alert. The event is not normalised yet.
func rawEvent(msg []byte, sender netip.Addr, senderText string) (sitrep.AlertEvent, error) {
	body := text(strings.TrimSpace(string(trimTrailer(msg))))
	if body == "" {
		return sitrep.AlertEvent{}, sitrep.Invalid("msg", "syslog message has no text")
	}
	host := ""
	if sender.IsValid() {
		host = senderText
	}
	ev := sitrep.AlertEvent{
		Action:   sitrep.ActionTrigger,
		Summary:  body,
		Labels:   map[string]string{"format": formatRaw},
		Raw:      body,
		DedupKey: dedupKey(host, "", body),
	}
	if host != "" {
		ev.Labels["host"] = host
	}
	return ev, nil
}

// refuse counts a refused message (or connection) and logs it, at most once
// every logEvery for each transport and reason.
func (s *Server) refuse(transport, reason string, from netip.Addr, what string, args ...any) {
	s.m.refused.WithLabelValues(transport, reason).Inc()
	args = append([]any{"sender", from, "reason", reason}, args...)
	s.limit.Log(slog.LevelWarn, transport+"/"+reason, "syslog "+transport+": refused "+what, args...)
}

// item is a message read and waiting for the store.
type item struct {
	source string
	format string
	ev     sitrep.AlertEvent
}

// batcher hands the messages its readers read to the store in batches of
// at most MaxBatch. Its goroutine takes the oldest batch pending whenever
// the previous one is stored: a slow sender's message is stored at once, a
// fast one's gather while the store commits.
//
// Its room is bounded, and a reader waits while it is full. A TCP
// connection's batcher holds one batch besides the one being stored, so
// that TCP's flow control soon pushes back on the sender. The UDP readers'
// holds udpQueue batches (and at most udpQueueBytes of text): they go on
// reading while batches are stored, and stop only when the store is that
// far behind; the kernel then drops what its buffer cannot hold, which
// costs the store nothing, where reading and parsing datagrams only to
// drop them would take the CPU it needs.
type batcher struct {
	s         *Server
	transport string
	max       int // items per store call
	room      int // items pending at most
	roomBytes int // and their raw text, bytes (UDP only)
	mu        sync.Mutex
	ready     *sync.Cond // signalled on the first item and at close
	hasRoom   *sync.Cond // broadcast when a batch leaves
	queue     [][]item   // pending batches, oldest first, each at most max
	pending   int        // items in queue
	bytes     int        // their raw text
	free      [][]item   // batches stored, to be filled again
	closed    bool
	done      chan struct{}
}

// Bounds of the batchers.
const (
	// tcpChunk is how many messages a TCP reader hands over at once at
	// most.
	tcpChunk = 128
	// udpQueue is how many batches UDP readers may have pending, and
	// udpQueueBytes how much raw text.
	udpQueue      = 16
	udpQueueBytes = 32 << 20
)

func newBatcher(s *Server, transport string) *batcher {
	b := &batcher{s: s, transport: transport, max: s.cfg.MaxBatch, room: s.cfg.MaxBatch, done: make(chan struct{})}
	if transport == "udp" {
		b.room, b.roomBytes = udpQueue*s.cfg.MaxBatch, udpQueueBytes
	}
	b.ready = sync.NewCond(&b.mu)
	b.hasRoom = sync.NewCond(&b.mu)
	go b.run()
	return b
}

// full reports whether the pending items fill the room.
func (b *batcher) full() bool {
	return b.pending >= b.room || (b.roomBytes > 0 && b.bytes >= b.roomBytes)
}

// push queues an item; the caller holds mu and saw room.
func (b *batcher) push(it item) {
	if n := len(b.queue); n == 0 || len(b.queue[n-1]) >= b.max {
		var next []item
		if k := len(b.free); k > 0 {
			next, b.free = b.free[k-1], b.free[:k-1]
		} else {
			next = make([]item, 0, min(b.max, 64))
		}
		b.queue = append(b.queue, next)
	}
	last := &b.queue[len(b.queue)-1]
	*last = append(*last, it)
	b.pending++
	b.bytes += len(it.ev.Raw)
	if b.pending == 1 {
		b.ready.Signal()
	}
}

// add queues an item, waiting while the batcher is full.
func (b *batcher) add(it item) {
	b.addAll([]item{it})
}

// addAll queues items in order, waiting whenever the batcher is full.
func (b *batcher) addAll(items []item) {
	if len(items) == 0 {
		return
	}
	b.mu.Lock()
	for _, it := range items {
		for b.full() {
			b.hasRoom.Wait()
		}
		b.push(it)
	}
	b.mu.Unlock()
}

// close stores what is pending and returns once it is stored (or given up).
func (b *batcher) close() {
	b.mu.Lock()
	b.closed = true
	b.ready.Signal()
	b.mu.Unlock()
	<-b.done
}

func (b *batcher) run() {
	defer close(b.done)
	for {
		b.mu.Lock()
		for b.pending == 0 && !b.closed {
			b.ready.Wait()
		}
		if b.pending == 0 {
			b.mu.Unlock()
			return
		}
		batch := b.queue[0]
		b.queue[0] = nil
		b.queue = b.queue[:copy(b.queue, b.queue[1:])]
		b.pending -= len(batch)
		for _, it := range batch {
			b.bytes -= len(it.ev.Raw)
		}
		b.hasRoom.Broadcast()
		b.mu.Unlock()

		b.s.store(b.transport, batch)
		clear(batch) // let the events go
		b.mu.Lock()
		b.free = append(b.free, batch[:0])
		b.mu.Unlock()
	}
}

// store hands a batch to the Ingester, one call per source, the calls of
// several sources at once.
func (s *Server) store(transport string, batch []item) {
	if !slices.ContainsFunc(batch, func(it item) bool { return it.source != batch[0].source }) {
		s.ingest(transport, batch[0].source, batch)
		return
	}
	groups := map[string][]item{}
	var order []string
	for _, it := range batch {
		if _, ok := groups[it.source]; !ok {
			order = append(order, it.source)
		}
		groups[it.source] = append(groups[it.source], it)
	}
	var wg sync.WaitGroup
	for _, src := range order {
		wg.Go(func() { s.ingest(transport, src, groups[src]) })
	}
	wg.Wait()
}

// ingest stores the items of one source, trying again while the store
// fails, until stored or the listener gives up at Close.
func (s *Server) ingest(transport, source string, items []item) {
	events := make([]sitrep.AlertEvent, len(items))
	for i := range items {
		events[i] = items[i].ev
	}
	pause := 100 * time.Millisecond
	for {
		_, err := s.cfg.Ingester.Ingest(s.storeCtx, source, events)
		if err == nil {
			s.m.batch.Observe(float64(len(events)))
			s.m.countStored(transport, items)
			return
		}
		if sitrep.ErrorKind(err) == sitrep.EInvalid || s.storeCtx.Err() != nil {
			s.m.refused.WithLabelValues(transport, reasonUnstored).Add(float64(len(events)))
			s.limit.Log(slog.LevelError, "store-lost", "syslog "+transport+": messages not stored", "source", source, "messages", len(events), "err", err)
			return
		}
		s.limit.Log(slog.LevelError, "store-retry", "syslog "+transport+": messages not stored yet, trying again", "source", source, "messages", len(events), "retry_in", pause, "err", err)
		select {
		case <-time.After(pause):
		case <-s.storeCtx.Done():
		}
		pause = min(2*pause, retryMax)
	}
}

// Close stops the listeners: it stops accepting, reads what is already in
// the UDP socket and the TCP connections' buffers, stores it, and closes.
// When ctx ends first (or after 30 s without a deadline), what is not yet
// stored is counted as not stored and Close returns ctx's error.
func (s *Server) Close(ctx context.Context) error {
	first := false
	s.stopOnce.Do(func() {
		s.stopAt.Store(time.Now().UnixNano())
		close(s.stop)
		first = true
	})
	if !first {
		return nil
	}
	finished := make(chan struct{})
	go func() {
		grace := time.NewTimer(shutdownGrace)
		defer grace.Stop()
		select {
		case <-ctx.Done():
		case <-grace.C:
		case <-finished:
		}
		s.giveUp()
	}()

	s.mu.Lock()
	udp, udpDone, tcp, tcpDone := s.udp, s.udpDone, s.tcp, s.tcpDone
	s.mu.Unlock()
	var errs []error
	if tcp != nil {
		if err := tcp.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
			errs = append(errs, fmt.Errorf("syslog tcp: close: %w", err))
		}
		<-tcpDone
		// No new connections now: stop reading the open ones. What they
		// buffered is still read, parsed and stored.
		s.mu.Lock()
		for c := range s.conns {
			if tc, ok := c.(*net.TCPConn); ok {
				_ = tc.CloseRead()
			} else {
				_ = c.SetReadDeadline(time.Now())
			}
		}
		s.mu.Unlock()
	}
	if udp != nil {
		_ = udp.SetReadDeadline(time.Now().Add(udpDrain))
		<-udpDone
		if err := udp.Close(); err != nil {
			errs = append(errs, fmt.Errorf("syslog udp: close: %w", err))
		}
	}
	s.connWG.Wait()
	close(finished)
	<-s.refresher
	s.giveUp()
	if err := ctx.Err(); err != nil {
		errs = append(errs, fmt.Errorf("syslog: close: %w", err))
	}
	return errors.Join(errs...)
}

// sourceTable is the in-memory list of syslog sources, by network.
type sourceTable struct {
	load  func(ctx context.Context) ([]*sitrep.Source, error)
	limit *ratelog.Logger
	snap  atomic.Pointer[sourceSnapshot]
	mu    sync.Mutex   // one load at a time
	last  atomic.Int64 // when the last load began, in Unix nanoseconds
}

// sourceSnapshot is one load of the sources.
type sourceSnapshot struct {
	ranges []sourceRange // most specific first
	any    string        // the source with no ranges, if any
}

type sourceRange struct {
	prefix netip.Prefix
	name   string
}

// newSnapshot indexes the syslog sources among srcs.
func newSnapshot(srcs []*sitrep.Source) *sourceSnapshot {
	sn := &sourceSnapshot{}
	for _, src := range srcs {
		if src.Kind != "syslog" {
			continue
		}
		if len(src.Allow) == 0 {
			if sn.any == "" || src.Name < sn.any {
				sn.any = src.Name
			}
			continue
		}
		for _, a := range src.Allow {
			if p, err := netip.ParsePrefix(a); err == nil {
				sn.ranges = append(sn.ranges, sourceRange{prefix: p.Masked(), name: src.Name})
			}
		}
	}
	slices.SortFunc(sn.ranges, func(a, b sourceRange) int {
		if a.prefix.Bits() != b.prefix.Bits() {
			return b.prefix.Bits() - a.prefix.Bits()
		}
		return strings.Compare(a.name, b.name)
	})
	return sn
}

// match returns the source of a sender: the one with the most specific
// range containing it, else the one with no ranges.
func (sn *sourceSnapshot) match(addr netip.Addr) (string, bool) {
	addr = addr.Unmap().WithZone("")
	for _, r := range sn.ranges {
		if r.prefix.Contains(addr) {
			return r.name, true
		}
	}
	return sn.any, sn.any != ""
}

// lookup returns the source of a sender. When none claims it, the sources
// are reloaded first if they were not in the last second; with wait (a TCP
// connection, which can afford it) lookup waits for that second to pass, so
// that a source just added is found.
func (t *sourceTable) lookup(ctx context.Context, addr netip.Addr, wait bool) (string, bool) {
	if name, ok := t.match(addr); ok {
		return name, true
	}
	if wait {
		if d := time.Until(time.Unix(0, t.last.Load()).Add(missReload)); d > 0 {
			timer := time.NewTimer(d)
			select {
			case <-timer.C:
			case <-ctx.Done():
			}
			timer.Stop()
		}
	}
	_ = t.reload(ctx, missReload)
	return t.match(addr)
}

func (t *sourceTable) match(addr netip.Addr) (string, bool) {
	if sn := t.snap.Load(); sn != nil {
		return sn.match(addr)
	}
	return "", false
}

// reload loads the sources unless they were loaded less than fresh ago.
// On failure the sources loaded before stay.
func (t *sourceTable) reload(ctx context.Context, fresh time.Duration) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if fresh > 0 && time.Since(time.Unix(0, t.last.Load())) < fresh {
		return nil
	}
	t.last.Store(time.Now().UnixNano())
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	srcs, err := t.load(ctx)
	if err != nil {
		err = fmt.Errorf("load the alert sources: %w", err)
		t.limit.Log(slog.LevelError, "sources", "syslog: could not reload the sources; the ones loaded before stay", "err", err)
		return err
	}
	t.snap.Store(newSnapshot(srcs))
	return nil
}

// metrics of the syslog listeners.
type metrics struct {
	stored  *prometheus.CounterVec
	refused *prometheus.CounterVec
	dropped prometheus.Counter
	conns   prometheus.Gauge
	batch   prometheus.Histogram

	// storedBy are the series of stored by transport (udp, tcp) and format
	// (rfc5424, rfc3164, raw), found once rather than for each batch.
	storedBy [2][3]prometheus.Counter
}

var (
	transports = [2]string{"udp", "tcp"}
	formats    = [3]string{format5424, format3164, formatRaw}
)

// countStored counts the items of a batch stored.
func (m *metrics) countStored(transport string, items []item) {
	var n [len(formats)]int
	for _, it := range items {
		n[slices.Index(formats[:], it.format)]++
	}
	t := slices.Index(transports[:], transport)
	for f, c := range n {
		if c > 0 {
			m.storedBy[t][f].Add(float64(c))
		}
	}
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		stored: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sitrep_syslog_messages_total",
			Help: "Syslog messages stored as alert events, by transport (udp, tcp) and format (rfc5424, rfc3164, raw).",
		}, []string{"transport", "format"}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sitrep_syslog_refused_total",
			Help: "Syslog messages (or TCP connections) refused, by transport and reason: no_source, too_large, malformed, not_stored, too_many_connections.",
		}, []string{"transport", "reason"}),
		dropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sitrep_syslog_udp_dropped_total",
			Help: "Syslog datagrams the kernel dropped because the socket's receive buffer was full (Linux).",
		}),
		conns: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "sitrep_syslog_tcp_connections",
			Help: "Syslog TCP connections open.",
		}),
		batch: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "sitrep_syslog_batch_messages",
			Help:    "Syslog messages per store call.",
			Buckets: []float64{1, 2, 5, 10, 20, 50, 100, 200, 500, 1000},
		}),
	}
	for t, tr := range transports {
		for f, format := range formats {
			m.storedBy[t][f] = m.stored.WithLabelValues(tr, format)
		}
		for _, r := range []string{reasonNoSource, reasonTooLarge, reasonBad, reasonUnstored} {
			m.refused.WithLabelValues(tr, r)
		}
	}
	m.refused.WithLabelValues("tcp", reasonConns)
	if reg != nil {
		for _, c := range []prometheus.Collector{m.stored, m.refused, m.dropped, m.conns, m.batch} {
			if err := reg.Register(c); err != nil {
				return nil, fmt.Errorf("syslog listener: register metrics: %w", err)
			}
		}
	}
	return m, nil
}
