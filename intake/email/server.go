package email

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/emersion/go-smtp"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/sitrep-ir/sitrep"
	"github.com/sitrep-ir/sitrep/internal/ratelog"
)

// The SMTP listener: a mail server that takes alerts and nothing else.
//
// The recipient says which source a message is from: its local part is the
// source's key (KEY@any.domain, or KEY+anything@any.domain, so that a
// sender that must tell its mails apart can). The source must be of kind
// email, and the client's address must be within the source's ranges. A
// recipient that is no source's is refused after RCPT with 550 5.1.1, as a
// mailbox that does not exist.
//
// The message is parsed (see Parse) and stored before DATA is answered:
// 250 means stored, so the sending MTA may forget it; 554 5.6.0 means the
// message cannot be read as an alert (the reason follows), 552 that it is
// over the size limit, and 451 that it could not be stored now, which a
// sending MTA retries. A message to several sources' keys is stored once for
// each source.
//
// There is no AUTH and no TLS: like the syslog listeners, put the SMTP
// listener on a network that only senders of alerts reach (or behind a
// relay that does TLS), and limit each source to its senders' ranges.

// Ingester is sitrep.Ingester: what stores alert events durably.
type Ingester = sitrep.Ingester

// Defaults of ServerConfig.
const (
	DefaultMaxMessageBytes = 25 << 20
	DefaultMaxRecipients   = 20
	DefaultMaxConns        = 100
	DefaultMaxLineLength   = 64 << 10
	DefaultReadTimeout     = 2 * time.Minute
	DefaultWriteTimeout    = time.Minute
	// DefaultMaxReading is how many messages are read and parsed at once;
	// more senders wait (their data stays in TCP), which bounds the memory
	// that large messages take.
	DefaultMaxReading = 8
)

const (
	// maxKey bounds a key as SourceByKey does.
	maxKey = 256
	// lookupTimeout bounds the lookup of a recipient's source.
	lookupTimeout = 10 * time.Second
	// shutdownGrace is how long Close lets connections finish when its
	// context allows longer (or has no deadline).
	shutdownGrace = 10 * time.Second
	// logEvery is how often at most one kind of refusal is logged.
	logEvery = 10 * time.Second
)

// Why SMTP transactions are refused: the values of the reason label of
// sitrep_smtp_refused_total.
const (
	refusedBadKey    = "bad_key"              // the recipient is no source's key
	refusedWrongKind = "wrong_kind"           // the key's source is not of kind email
	refusedAddress   = "address"              // the client's address is not allowed
	refusedTooLarge  = "too_large"            // the message is over the limit
	refusedInvalid   = "invalid"              // the message is no alert (no subject nor text, unreadable header)
	refusedUnstored  = "not_stored"           // the store (or the source lookup) failed: the sender retries
	refusedConns     = "too_many_connections" // a connection over MaxConns
)

// ServerConfig configures a Server. Ingester and SourceByKey are required;
// the other zero values take the defaults.
type ServerConfig struct {
	Ingester Ingester
	// SourceByKey returns the source of a key, or an error of kind
	// sitrep.EUnauthorized or sitrep.ENotFound when no source has it.
	SourceByKey func(ctx context.Context, key string) (*sitrep.Source, error)
	Logger      *slog.Logger
	// Registry receives the listener's metrics; nil keeps them unexported.
	Registry prometheus.Registerer
	// Domain is the server's name in its greeting (default: the host name).
	Domain string
	// MaxMessageBytes bounds a message (DefaultMaxMessageBytes); it is
	// advertised as SIZE and a larger message is refused with 552.
	MaxMessageBytes int64
	// MaxRecipients bounds the recipients of one message
	// (DefaultMaxRecipients).
	MaxRecipients int
	// MaxConns bounds the connections open at once (DefaultMaxConns); one
	// more is answered 421 and closed.
	MaxConns int
	// MaxLineLength bounds a command or message line
	// (DefaultMaxLineLength, generous: alerting tools send HTML in long
	// lines); a longer one ends the connection.
	MaxLineLength int
	// ReadTimeout and WriteTimeout bound each line read and each answer
	// written (DefaultReadTimeout, DefaultWriteTimeout).
	ReadTimeout  time.Duration
	WriteTimeout time.Duration
	// MaxReading bounds the messages read at once (DefaultMaxReading).
	MaxReading int
}

// Server is the SMTP listener.
type Server struct {
	cfg   ServerConfig
	log   *slog.Logger
	m     *smtpMetrics
	limit *ratelog.Logger
	smtp  *smtp.Server
	ln    *limitListener
	// reading holds a slot per message being read and stored.
	reading chan struct{}
	// ctx ends when Close gives up on the transactions in flight.
	ctx    context.Context
	cancel context.CancelFunc
	data   sync.WaitGroup // DATA transactions in flight
	served chan struct{}  // closed when Serve has returned

	mu     sync.Mutex
	closed bool
}

// NewServer returns a Server that listens on nothing yet: call Listen, and
// Close when done.
func NewServer(cfg ServerConfig) (*Server, error) {
	if cfg.Ingester == nil || cfg.SourceByKey == nil {
		return nil, errors.New("smtp listener: an Ingester and SourceByKey are needed")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Domain == "" {
		cfg.Domain, _ = os.Hostname()
		if cfg.Domain == "" {
			cfg.Domain = "sitrep"
		}
	}
	if cfg.MaxMessageBytes <= 0 {
		cfg.MaxMessageBytes = DefaultMaxMessageBytes
	}
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&cfg.MaxRecipients, DefaultMaxRecipients)
	def(&cfg.MaxConns, DefaultMaxConns)
	def(&cfg.MaxLineLength, DefaultMaxLineLength)
	def(&cfg.MaxReading, DefaultMaxReading)
	if cfg.ReadTimeout <= 0 {
		cfg.ReadTimeout = DefaultReadTimeout
	}
	if cfg.WriteTimeout <= 0 {
		cfg.WriteTimeout = DefaultWriteTimeout
	}
	m, err := newSMTPMetrics(cfg.Registry)
	if err != nil {
		return nil, err
	}
	log := cfg.Logger.With("component", "intake.smtp")
	s := &Server{cfg: cfg, log: log, m: m, limit: ratelog.New(log, logEvery), reading: make(chan struct{}, cfg.MaxReading)}
	s.ctx, s.cancel = context.WithCancel(context.Background())

	srv := smtp.NewServer(smtp.BackendFunc(s.newSession))
	srv.Domain = cfg.Domain
	srv.MaxMessageBytes = cfg.MaxMessageBytes
	srv.MaxRecipients = cfg.MaxRecipients
	srv.MaxLineLength = cfg.MaxLineLength
	srv.ReadTimeout = cfg.ReadTimeout
	srv.WriteTimeout = cfg.WriteTimeout
	srv.EnableSMTPUTF8 = true // Parse reads raw UTF-8 headers; 8BITMIME is always advertised
	srv.ErrorLog = smtpLogger{log}
	s.smtp = srv
	return s, nil
}

// Listen accepts SMTP connections on addr (host:port; port 0 picks one, see
// Addr).
func (s *Server) Listen(addr string) error {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("smtp: listen on %s: %w", addr, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln != nil || s.closed {
		l.Close()
		return fmt.Errorf("smtp: listen on %s: the listener is already open or closed", addr)
	}
	s.ln = newLimitListener(l, s.cfg.MaxConns, func(from netip.Addr) {
		s.refuse(refusedConns, from, "a connection over the limit", "limit", s.cfg.MaxConns)
	})
	s.served = make(chan struct{})
	go func() {
		defer close(s.served)
		if err := s.smtp.Serve(s.ln); err != nil {
			s.log.Error("smtp: serve", "addr", l.Addr().String(), "err", err)
		}
	}()
	return nil
}

// Addr is the address the listener is bound to, or nil.
func (s *Server) Addr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln == nil {
		return nil
	}
	return s.ln.Addr()
}

// Close stops accepting and lets the connections open finish their
// transactions (at most until ctx ends, and 10 s); then it closes them, and
// returns once every message being stored is stored or given up. A message
// whose connection was closed before its 250 is not acknowledged: its
// sender sends it again.
func (s *Server) Close(ctx context.Context) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	ln, served := s.ln, s.served
	s.mu.Unlock()
	defer s.cancel()
	if ln == nil {
		return nil
	}
	grace, cancel := context.WithTimeout(ctx, shutdownGrace)
	defer cancel()
	var errs []error
	if err := s.smtp.Shutdown(grace); err != nil {
		if !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) {
			errs = append(errs, fmt.Errorf("smtp: close: %w", err))
		}
		ln.closeAll() // the clients still connected
	}
	<-served
	done := make(chan struct{})
	go func() {
		s.data.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
		s.cancel()
		<-done
		errs = append(errs, fmt.Errorf("smtp: close: %w", ctx.Err()))
	}
	return errors.Join(errs...)
}

func (s *Server) newSession(c *smtp.Conn) (smtp.Session, error) {
	return &session{s: s, from: addrOf(c.Conn().RemoteAddr())}, nil
}

// session is one SMTP connection's state.
type session struct {
	s       *Server
	from    netip.Addr
	sources []*sitrep.Source
}

func (ss *session) Mail(string, *smtp.MailOptions) error { return nil }

// Rcpt accepts a recipient whose local part is the key of an email source
// that allows the client's address.
func (ss *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	s := ss.s
	key, err := RecipientKey(to)
	if err != nil {
		s.refuse(refusedBadKey, ss.from, "a recipient that holds no key", "err", err)
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: err.Error()}
	}
	src, err := s.sourceOf(key)
	switch {
	case err == nil:
	case sitrep.ErrorKind(err) == sitrep.EUnauthorized || sitrep.ErrorKind(err) == sitrep.ENotFound:
		s.refuse(refusedBadKey, ss.from, "a recipient that is no source's key")
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1},
			Message: "no alert source has this key: mail to the address `sitrep source add NAME --kind email` printed"}
	default:
		s.m.refused.WithLabelValues(refusedUnstored).Inc()
		s.limit.Log(slog.LevelError, "lookup", "smtp: look up a recipient's source", "err", err)
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "the recipient cannot be checked now: try again later"}
	}
	if src.Kind != "email" {
		s.refuse(refusedWrongKind, ss.from, "a key of a source of another kind", "source", src.Name, "kind", src.Kind)
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 7, 1},
			Message: fmt.Sprintf("the key is of source %s, of kind %s, which does not send e-mail", src.Name, src.Kind)}
	}
	if !ss.from.IsValid() && len(src.Allow) > 0 || ss.from.IsValid() && !src.Allows(ss.from) {
		s.refuse(refusedAddress, ss.from, "a client outside the source's ranges", "source", src.Name)
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 7, 1},
			Message: fmt.Sprintf("source %s does not allow mail from this address", src.Name)}
	}
	for _, have := range ss.sources {
		if have.Name == src.Name {
			return nil
		}
	}
	ss.sources = append(ss.sources, src)
	return nil
}

// sourceOf looks up a key as given, then lower-cased: some mailers change
// the case of local parts, and keys are lower-case hexadecimal.
func (s *Server) sourceOf(key string) (*sitrep.Source, error) {
	ctx, cancel := context.WithTimeout(s.ctx, lookupTimeout)
	defer cancel()
	src, err := s.cfg.SourceByKey(ctx, key)
	if k := sitrep.ErrorKind(err); (k == sitrep.EUnauthorized || k == sitrep.ENotFound) && strings.ToLower(key) != key {
		return s.cfg.SourceByKey(ctx, strings.ToLower(key))
	}
	return src, err
}

// Data reads the message, parses it and stores it for each recipient's
// source before answering.
func (ss *session) Data(r io.Reader) error {
	s := ss.s
	s.data.Add(1)
	defer s.data.Done()
	select {
	case s.reading <- struct{}{}:
		defer func() { <-s.reading }()
	case <-s.ctx.Done():
		return &smtp.SMTPError{Code: 421, EnhancedCode: smtp.EnhancedCode{4, 3, 2}, Message: "the server is shutting down: send the message again later"}
	}
	ev, _, err := Parse(r, s.cfg.MaxMessageBytes)
	switch {
	case err == nil:
	case errors.Is(err, smtp.ErrDataTooLarge):
		s.refuse(refusedTooLarge, ss.from, "a message over the size limit", "limit", s.cfg.MaxMessageBytes)
		return smtp.ErrDataTooLarge
	case sitrep.ErrorKind(err) == sitrep.EInvalid:
		s.refuse(refusedInvalid, ss.from, "a message that is no alert", "err", err)
		return &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 6, 0}, Message: "the message is no alert: " + oneLine(err.Error())}
	default:
		// The connection broke or timed out mid-message: nobody is there to
		// answer.
		s.log.Debug("smtp: read a message", "client", ss.from, "err", err)
		return err
	}
	for _, src := range ss.sources {
		if _, err := s.cfg.Ingester.Ingest(s.ctx, src.Name, []sitrep.AlertEvent{ev}); err != nil {
			if sitrep.ErrorKind(err) == sitrep.EInvalid {
				s.refuse(refusedInvalid, ss.from, "a message the store cannot keep", "err", err)
				return &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 6, 0}, Message: "the message is no alert: " + oneLine(err.Error())}
			}
			s.m.refused.WithLabelValues(refusedUnstored).Inc()
			s.limit.Log(slog.LevelError, "store", "smtp: store an e-mail alert", "source", src.Name, "err", err)
			return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "the alert could not be stored now: send it again later"}
		}
		s.m.stored.Inc()
	}
	return nil
}

func (ss *session) Reset()        { ss.sources = nil }
func (ss *session) Logout() error { return nil }

// RecipientKey returns the source key an envelope recipient holds: its
// local part ("KEY@host"), without a "+detail" suffix. The domain is not
// looked at. An address with no key, or one that cannot be a key (over 256
// bytes, spaces or control characters), is an error of kind EInvalid.
func RecipientKey(rcpt string) (string, error) {
	rcpt = strings.TrimSpace(rcpt)
	rcpt = strings.TrimSuffix(strings.TrimPrefix(rcpt, "<"), ">")
	local := rcpt
	if at := strings.LastIndexByte(rcpt, '@'); at >= 0 {
		local = rcpt[:at]
	}
	key, _, _ := strings.Cut(local, "+")
	switch {
	case key == "":
		return "", sitrep.Invalid("recipient", "the recipient has no key before the @: mail to KEY@host")
	case len(key) > maxKey:
		return "", sitrep.Invalid("recipient", "the recipient's local part is %d bytes, longer than any key", len(key))
	case !utf8.ValidString(key) || strings.ContainsFunc(key, func(r rune) bool { return r <= ' ' || r == 0x7f }):
		return "", sitrep.Invalid("recipient", "the recipient's local part holds spaces or control characters: it is no key")
	}
	return key, nil
}

// oneLine makes an error fit one SMTP reply line.
func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 400 {
		s = sitrep.Truncate(s, 400)
	}
	return s
}

// refuse counts a refusal and logs it, at most once every logEvery for each
// reason.
func (s *Server) refuse(reason string, from netip.Addr, what string, args ...any) {
	s.m.refused.WithLabelValues(reason).Inc()
	args = append([]any{"client", from, "reason", reason}, args...)
	s.limit.Log(slog.LevelWarn, reason, "smtp: refused "+what, args...)
}

// addrOf returns the IP address of a network address.
func addrOf(a net.Addr) netip.Addr {
	if ta, ok := a.(*net.TCPAddr); ok {
		return ta.AddrPort().Addr().Unmap()
	}
	if ap, err := netip.ParseAddrPort(a.String()); err == nil {
		return ap.Addr().Unmap()
	}
	return netip.Addr{}
}

// limitListener bounds the connections open at once: one over the limit is
// told so (421) and closed. It keeps the connections open, to close them
// when shutting down takes too long.
type limitListener struct {
	net.Listener
	slots  chan struct{}
	refuse func(netip.Addr)
	mu     sync.Mutex
	conns  map[*slotConn]struct{}
}

func newLimitListener(l net.Listener, n int, refuse func(netip.Addr)) *limitListener {
	return &limitListener{Listener: l, slots: make(chan struct{}, n), refuse: refuse, conns: map[*slotConn]struct{}{}}
}

func (l *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		select {
		case l.slots <- struct{}{}:
			sc := &slotConn{Conn: c, l: l}
			l.mu.Lock()
			l.conns[sc] = struct{}{}
			l.mu.Unlock()
			return sc, nil
		default:
			l.refuse(addrOf(c.RemoteAddr()))
			go func() {
				_ = c.SetWriteDeadline(time.Now().Add(5 * time.Second))
				_, _ = io.WriteString(c, "421 4.7.0 Too many connections, try again later\r\n")
				c.Close()
			}()
		}
	}
}

// closeAll closes every connection open.
func (l *limitListener) closeAll() {
	l.mu.Lock()
	conns := make([]*slotConn, 0, len(l.conns))
	for c := range l.conns {
		conns = append(conns, c)
	}
	l.mu.Unlock()
	for _, c := range conns {
		c.Close()
	}
}

// slotConn gives its slot back when closed.
type slotConn struct {
	net.Conn
	l    *limitListener
	once sync.Once
}

func (c *slotConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() {
		c.l.mu.Lock()
		delete(c.l.conns, c)
		c.l.mu.Unlock()
		<-c.l.slots
	})
	return err
}

// smtpLogger sends go-smtp's own log lines (a connection that broke, a
// client that misbehaved) to the debug level: the refusals that matter are
// counted and logged by the Server.
type smtpLogger struct{ log *slog.Logger }

func (l smtpLogger) Printf(format string, v ...any) {
	l.log.Debug("smtp: " + strings.TrimSpace(fmt.Sprintf(format, v...)))
}

func (l smtpLogger) Println(v ...any) {
	l.log.Debug("smtp: " + strings.TrimSpace(fmt.Sprintln(v...)))
}

// smtpMetrics of the SMTP listener.
type smtpMetrics struct {
	stored  prometheus.Counter
	refused *prometheus.CounterVec
}

func newSMTPMetrics(reg prometheus.Registerer) (*smtpMetrics, error) {
	m := &smtpMetrics{
		stored: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sitrep_smtp_messages_total",
			Help: "E-mail alerts stored, one per message and source.",
		}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sitrep_smtp_refused_total",
			Help: "SMTP recipients, messages and connections refused, by reason: bad_key, wrong_kind, address, too_large, invalid, not_stored, too_many_connections.",
		}, []string{"reason"}),
	}
	for _, r := range []string{refusedBadKey, refusedWrongKind, refusedAddress, refusedTooLarge, refusedInvalid, refusedUnstored, refusedConns} {
		m.refused.WithLabelValues(r)
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.stored, m.refused} {
			if err := reg.Register(c); err != nil {
				return nil, fmt.Errorf("smtp listener: register metrics: %w", err)
			}
		}
	}
	return m, nil
}
