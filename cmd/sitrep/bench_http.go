package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strconv"
	"time"
)

// The load tool's HTTP sender. It shares the machine's cores with the
// server it measures, so what it spends on a request is taken from the
// server: net/http's client cost about 75 µs of CPU per one-alert request
// (a goroutine pair per connection, header maps, the request and response
// objects), as much as half the server's own. rawHTTP is a plain HTTP/1.1
// keep-alive client over one connection: a request is one write of a
// header prepared once and the body, an answer is read whole (status line,
// headers, a Content-Length, chunked or close-delimited body) before the
// next request is sent.

// requestTimeout bounds one request, as the net/http client's Timeout did.
// The connection's deadline is moved only when less than half of it is
// left, so that a request does not cost a timer change.
const requestTimeout = time.Minute

// errBadAnswer is an answer that is not HTTP/1.x as the tool reads it.
var errBadAnswer = errors.New("malformed HTTP answer")

// rawHTTP sends POST requests to one URL over one connection, reopened
// when the server closes it or a request fails. It is not safe for
// concurrent use: each sender has its own.
type rawHTTP struct {
	addr string // host:port to dial
	// head is the request up to the Content-Length value: request line,
	// Host, Content-Type and (when given) Authorization.
	head []byte
	req  []byte // the request being sent: head, length, body

	conn     net.Conn
	br       *bufio.Reader
	deadline time.Time
	stop     func() bool // ends the context watch of conn
}

// newRawHTTP returns a sender of POST requests with JSON bodies to u
// (http only), with Authorization: Bearer key when key is not empty.
func newRawHTTP(u *url.URL, key string) (*rawHTTP, error) {
	if u.Scheme != "http" {
		return nil, fmt.Errorf("the raw sender speaks plain http, not %s", u.Scheme)
	}
	host := u.Host
	addr := host
	if u.Port() == "" {
		addr = net.JoinHostPort(u.Hostname(), "80")
	}
	h := []byte("POST ")
	h = append(h, u.RequestURI()...)
	h = append(h, " HTTP/1.1\r\nHost: "...)
	h = append(h, host...)
	h = append(h, "\r\nUser-Agent: sitrep-bench\r\nContent-Type: application/json\r\n"...)
	if key != "" {
		h = append(h, "Authorization: Bearer "...)
		h = append(h, key...)
		h = append(h, "\r\n"...)
	}
	h = append(h, "Content-Length: "...)
	return &rawHTTP{addr: addr, head: h}, nil
}

// post sends body and reads the whole answer: its status code, and the
// time from the first byte written to the last byte of the answer read.
// The connection is closed on any error, and reopened by the next post;
// ctx ending interrupts a request in flight.
func (c *rawHTTP) post(ctx context.Context, body []byte) (status int, took time.Duration, err error) {
	if c.conn == nil {
		if err := c.dial(ctx); err != nil {
			return 0, 0, err
		}
	}
	c.req = append(c.req[:0], c.head...)
	c.req = strconv.AppendInt(c.req, int64(len(body)), 10)
	c.req = append(c.req, "\r\n\r\n"...)
	c.req = append(c.req, body...)
	began := time.Now()
	if c.deadline.Sub(began) < requestTimeout/2 {
		c.deadline = began.Add(requestTimeout)
		if err := c.conn.SetDeadline(c.deadline); err != nil {
			c.close()
			return 0, 0, err
		}
		if err := ctx.Err(); err != nil {
			// Ended as the deadline moved: the watch's was overwritten.
			c.close()
			return 0, 0, err
		}
	}
	if _, err := c.conn.Write(c.req); err != nil {
		c.close()
		return 0, 0, err
	}
	status, keep, err := readAnswer(c.br)
	took = time.Since(began)
	if err != nil || !keep {
		c.close()
	}
	if err != nil && ctx.Err() != nil {
		err = ctx.Err()
	}
	return status, took, err
}

func (c *rawHTTP) dial(ctx context.Context) error {
	var d net.Dialer
	dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	conn, err := d.DialContext(dctx, "tcp", c.addr)
	cancel()
	if err != nil {
		return err
	}
	c.conn, c.deadline = conn, time.Time{}
	if c.br == nil {
		c.br = bufio.NewReaderSize(conn, 4<<10)
	} else {
		c.br.Reset(conn)
	}
	// A run that ends interrupts the request in flight at once.
	c.stop = context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	return nil
}

// close closes the connection, if one is open.
func (c *rawHTTP) close() {
	if c.conn == nil {
		return
	}
	c.stop()
	c.conn.Close()
	c.conn = nil
}

// readAnswer reads one HTTP/1.x answer whole from br, skipping interim
// (1xx) answers, and returns its status and whether the connection may
// carry another request.
func readAnswer(br *bufio.Reader) (status int, keep bool, err error) {
	for {
		status, keep, err = readOneAnswer(br)
		if err != nil || status >= 200 || status == 101 {
			return status, keep, err
		}
	}
}

func readOneAnswer(br *bufio.Reader) (status int, keep bool, err error) {
	line, err := readLine(br)
	if err != nil {
		return 0, false, err
	}
	// "HTTP/1.1 202 Accepted": the version, a space, three digits.
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) || line[8] != ' ' || (len(line) > 12 && line[12] != ' ') {
		return 0, false, fmt.Errorf("%w: status line %q", errBadAnswer, clipBytes(line, 40))
	}
	status, err = strconv.Atoi(string(line[9:12]))
	if err != nil || status < 100 {
		return 0, false, fmt.Errorf("%w: status line %q", errBadAnswer, clipBytes(line, 40))
	}
	keep = line[7] == '1' // HTTP/1.1 keeps the connection unless told; 1.0 closes it unless told
	length, chunked := int64(-1), false
	for {
		line, err := readLine(br)
		if err != nil {
			return 0, false, err
		}
		if len(line) == 0 {
			break
		}
		name, value, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			return 0, false, fmt.Errorf("%w: header line %q", errBadAnswer, clipBytes(line, 40))
		}
		value = bytes.TrimSpace(value)
		switch {
		case asciiEqualFold(name, "Content-Length"):
			n, err := strconv.ParseInt(string(value), 10, 64)
			if err != nil || n < 0 {
				return 0, false, fmt.Errorf("%w: Content-Length %q", errBadAnswer, clipBytes(value, 40))
			}
			length = n
		case asciiEqualFold(name, "Transfer-Encoding"):
			chunked = asciiEqualFold(value, "chunked")
			if !chunked {
				return 0, false, fmt.Errorf("%w: Transfer-Encoding %q", errBadAnswer, clipBytes(value, 40))
			}
		case asciiEqualFold(name, "Connection"):
			for opt := range bytes.SplitSeq(value, []byte(",")) {
				switch opt = bytes.TrimSpace(opt); {
				case asciiEqualFold(opt, "close"):
					keep = false
				case asciiEqualFold(opt, "keep-alive"):
					keep = true
				}
			}
		}
	}
	switch {
	case status < 200 || status == 204 || status == 304:
		// No body (RFC 9112, section 6.3).
	case chunked:
		err = discardChunked(br)
	case length >= 0:
		_, err = br.Discard(int(length))
	default:
		// Delimited by the end of the connection.
		_, err = io.Copy(io.Discard, br)
		keep = false
	}
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return status, keep && err == nil, err
}

// discardChunked reads a chunked body and its trailers.
func discardChunked(br *bufio.Reader) error {
	for {
		line, err := readLine(br)
		if err != nil {
			return err
		}
		size, _, _ := bytes.Cut(line, []byte(";")) // chunk extensions
		n, err := strconv.ParseInt(string(bytes.TrimSpace(size)), 16, 64)
		if err != nil || n < 0 {
			return fmt.Errorf("%w: chunk size %q", errBadAnswer, clipBytes(line, 40))
		}
		if n == 0 {
			break
		}
		if _, err := br.Discard(int(n)); err != nil {
			return err
		}
		if line, err := readLine(br); err != nil || len(line) != 0 {
			if err == nil {
				err = fmt.Errorf("%w: no line end after a chunk", errBadAnswer)
			}
			return err
		}
	}
	for { // trailers, up to an empty line
		line, err := readLine(br)
		if err != nil || len(line) == 0 {
			return err
		}
	}
}

// readLine returns the next line without its CRLF (or bare LF). The slice
// is valid until the next read of br.
func readLine(br *bufio.Reader) ([]byte, error) {
	line, err := br.ReadSlice('\n')
	if err == bufio.ErrBufferFull {
		return nil, fmt.Errorf("%w: a line longer than %d bytes", errBadAnswer, br.Size())
	}
	if err != nil {
		if err == io.EOF && len(line) > 0 {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	line = line[:len(line)-1]
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	return line, nil
}

// asciiEqualFold reports whether b is s, ignoring ASCII case.
func asciiEqualFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range len(b) {
		x, y := b[i], s[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// clipBytes returns b, cut to n bytes, as a string for an error.
func clipBytes(b []byte, n int) string {
	if len(b) > n {
		b = b[:n]
	}
	return string(b)
}
