package syslog

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
)

// ErrFrameTooLong marks a frame longer than the Scanner's limit. The frame
// was skipped and the stream goes on: log it and call Next again.
var ErrFrameTooLong = errors.New("syslog frame over the size limit")

// ErrStreamLost marks a stream whose framing can no longer be followed (an
// octet count that is not a number, a stream cut inside a frame): Next keeps
// returning it; close the connection.
var ErrStreamLost = errors.New("syslog stream lost")

// Framing is how a TCP stream separates its messages.
type Framing int

// The framings of RFC 6587.
const (
	// FramingUnknown: the Scanner has not yet seen the first byte.
	FramingUnknown Framing = iota
	// OctetCounting is "LEN SP MSG": a stream starting with a digit.
	OctetCounting
	// NewlineFraming ends each message with LF (CRLF and a NUL are
	// tolerated): a stream starting with "<".
	NewlineFraming
)

func (f Framing) String() string {
	switch f {
	case OctetCounting:
		return "octet counting"
	case NewlineFraming:
		return "newline framing"
	}
	return "unknown"
}

// maxCountDigits bounds an octet count: more digits than this is no length
// but garbage.
const maxCountDigits = 9

// Scanner splits a syslog TCP stream into messages. It detects the framing
// from the stream's first byte — a digit: octet counting (RFC 6587 section
// 3.4.1), "<": newline framing (section 3.4.2) — and keeps it for the whole
// connection.
//
// Both kinds of octet-counting sender come out right: rsyslog counts the
// newline it ends each message with, util-linux logger counts no newline and
// sends none; a line end at the end of a frame is dropped, and line ends
// between frames are skipped.
//
// A message with a newline inside stays whole with octet counting; newline
// framing cannot tell it from two messages and splits it.
type Scanner struct {
	r       *bufio.Reader
	max     int
	framing Framing
	buf     []byte
	offset  int64 // bytes of the stream consumed so far
	lost    error
}

// NewScanner returns a Scanner of r that refuses messages over maxMsg bytes
// (RFC 5425 asks receivers to take at least 2048; 8192 or 64 KiB are usual).
func NewScanner(r io.Reader, maxMsg int) *Scanner {
	if maxMsg < 1 {
		maxMsg = 1
	}
	return &Scanner{r: bufio.NewReaderSize(r, min(max(maxMsg+16, 4096), 64<<10)), max: maxMsg}
}

// Buffered is how many bytes of the stream were read and not yet returned:
// when it is 0, the next call of Next reads the stream (and may wait).
func (s *Scanner) Buffered() int { return s.r.Buffered() }

// Framing is the framing the stream uses, once Next has seen its first byte.
func (s *Scanner) Framing() Framing { return s.framing }

// Next returns the next message, without its framing. The bytes are valid
// until the next call. At the end of the stream it returns io.EOF. An error
// that wraps ErrFrameTooLong means one frame was skipped and Next may be
// called again; any other error (wrapping ErrStreamLost, or a read error)
// ends the stream and is returned again by every later call.
func (s *Scanner) Next() ([]byte, error) {
	if s.lost != nil {
		return nil, s.lost
	}
	var msg []byte
	var err error
	for {
		if s.framing == FramingUnknown {
			if err := s.detect(); err != nil {
				return nil, s.fail(err)
			}
		}
		if s.framing == OctetCounting {
			msg, err = s.nextCounted()
		} else {
			msg, err = s.nextLine()
		}
		if err != nil {
			if errors.Is(err, ErrFrameTooLong) {
				return nil, err
			}
			return nil, s.fail(err)
		}
		if len(msg) > 0 {
			return msg, nil
		}
		// An empty frame or blank line carries nothing: read on.
	}
}

func (s *Scanner) fail(err error) error {
	s.lost = err
	return err
}

// detect skips line ends before the first message and picks the framing
// from the first byte that follows.
func (s *Scanner) detect() error {
	for {
		b, err := s.r.ReadByte()
		if err != nil {
			return err // io.EOF: an empty stream
		}
		s.offset++
		switch {
		case b == '\n' || b == '\r' || b == 0:
			continue
		case b >= '1' && b <= '9':
			s.framing = OctetCounting
		default:
			// "<" as RFC 6587 expects, and anything else too: the
			// message parser names what is wrong with such a line.
			s.framing = NewlineFraming
		}
		s.offset--
		return s.r.UnreadByte()
	}
}

// nextCounted reads one "LEN SP MSG" frame.
func (s *Scanner) nextCounted() ([]byte, error) {
	// Line ends between frames: rsyslog's are inside the count, but some
	// senders add one after it.
	for {
		b, err := s.r.ReadByte()
		if err != nil {
			return nil, err // io.EOF between frames is the clean end
		}
		s.offset++
		if b == '\n' || b == '\r' || b == 0 {
			continue
		}
		s.offset--
		_ = s.r.UnreadByte()
		break
	}
	start := s.offset
	n, digits := 0, 0
	for {
		b, err := s.r.ReadByte()
		if err != nil {
			return nil, fmt.Errorf("%w: the stream ends inside the octet count at byte %d", ErrStreamLost, s.offset)
		}
		s.offset++
		if b == ' ' && digits > 0 {
			break
		}
		if b < '0' || b > '9' || (digits == 0 && b == '0') || digits == maxCountDigits {
			return nil, fmt.Errorf("%w: octet counting expects a length then a space at byte %d, got %q", ErrStreamLost, start, b)
		}
		n = n*10 + int(b-'0')
		digits++
	}
	if n > s.max {
		skipped, err := s.r.Discard(n)
		s.offset += int64(skipped)
		if err != nil {
			return nil, fmt.Errorf("%w: the stream ends inside a frame of %d bytes at byte %d", ErrStreamLost, n, start)
		}
		return nil, fmt.Errorf("%w: skipped an octet-counted frame of %d bytes at byte %d (limit %d)", ErrFrameTooLong, n, start, s.max)
	}
	if cap(s.buf) < n {
		s.buf = make([]byte, n, max(n, 2*cap(s.buf)))
	}
	s.buf = s.buf[:n]
	got, err := io.ReadFull(s.r, s.buf)
	s.offset += int64(got)
	if err != nil {
		return nil, fmt.Errorf("%w: the stream ends after %d of the %d bytes of the frame at byte %d", ErrStreamLost, got, n, start)
	}
	return trimTrailer(s.buf), nil
}

// nextLine reads one message ended by LF or NUL (a CR before the LF is
// dropped). A line over the limit is skipped to its end.
func (s *Scanner) nextLine() ([]byte, error) {
	s.buf = s.buf[:0]
	start := s.offset
	size := 0
	for {
		if _, err := s.r.Peek(1); err != nil { // fills the buffer
			if err == io.EOF && size > 0 {
				break // the last line may lack its LF
			}
			return nil, err
		}
		chunk, _ := s.r.Peek(s.r.Buffered())
		end := indexEnd(chunk)
		take := chunk
		if end >= 0 {
			take = chunk[:end]
		}
		size += len(take)
		if size <= s.max {
			s.buf = append(s.buf, take...)
		}
		consumed := len(take)
		if end >= 0 {
			consumed++ // the LF or NUL
		}
		_, _ = s.r.Discard(consumed)
		s.offset += int64(consumed)
		if end >= 0 {
			break
		}
	}
	if size > s.max {
		return nil, fmt.Errorf("%w: skipped a line of %d bytes at byte %d (limit %d)", ErrFrameTooLong, size, start, s.max)
	}
	return bytes.TrimRight(s.buf, "\r"), nil
}

// indexEnd returns the index of the first LF or NUL in b, or -1.
func indexEnd(b []byte) int {
	lf := bytes.IndexByte(b, '\n')
	before := b
	if lf >= 0 {
		before = b[:lf]
	}
	if nul := bytes.IndexByte(before, 0); nul >= 0 {
		return nul
	}
	return lf
}
