package syslog

import (
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// scanAll reads s to its end and returns the messages and, in order, the
// errors it met (a skipped frame, then the one that ended the stream unless
// that was io.EOF).
func scanAll(t *testing.T, s *Scanner) (msgs, errs []string) {
	t.Helper()
	for range 10000 {
		msg, err := s.Next()
		switch {
		case err == nil:
			msgs = append(msgs, string(msg))
		case errors.Is(err, ErrFrameTooLong):
			errs = append(errs, err.Error())
		case err == io.EOF:
			return msgs, errs
		default:
			errs = append(errs, err.Error())
			if _, again := s.Next(); again != err {
				t.Errorf("after %v, Next returned %v", err, again)
			}
			return msgs, errs
		}
	}
	t.Fatal("the scanner does not end")
	return nil, nil
}

func TestScanner(t *testing.T) {
	tests := []struct {
		name    string
		stream  string
		max     int
		framing Framing
		msgs    []string
		errs    []string
	}{
		{"empty stream", "", 64, FramingUnknown, nil, nil},
		{"newline framing: LF, CRLF, NUL, a last line without its LF", "<13>a\n<13>b\r\n<13>c\x00<13>d", 64, NewlineFraming,
			[]string{"<13>a", "<13>b", "<13>c", "<13>d"}, nil},
		{"newline framing: blank lines and NUL before LF carry nothing", "\n\r\n<13>a\n\n\x00\n<13>b\n", 64, NewlineFraming,
			[]string{"<13>a", "<13>b"}, nil},
		{"newline framing splits a message with a newline inside", "<13>1 - h app - - - line1\nline2\n", 64, NewlineFraming,
			[]string{"<13>1 - h app - - - line1", "line2"}, nil},
		{"newline framing skips a line over the limit and goes on", "<13>short\n<13>" + strings.Repeat("x", 30) + "\n<13>after\n", 16, NewlineFraming,
			[]string{"<13>short", "<13>after"},
			[]string{"syslog frame over the size limit: skipped a line of 34 bytes at byte 10 (limit 16)"}},
		{"newline framing: a line exactly at the limit", "<13>" + strings.Repeat("y", 12) + "\n", 16, NewlineFraming,
			[]string{"<13>" + strings.Repeat("y", 12)}, nil},
		{"a stream starting with neither digit nor < is newline framed", "hello\n", 64, NewlineFraming, []string{"hello"}, nil},
		{"octet counting as logger sends it: no newline, not counted", "9 <13>hello9 <13>world", 64, OctetCounting,
			[]string{"<13>hello", "<13>world"}, nil},
		{"octet counting as rsyslog sends it: the newline counted", "10 <13>hello\n10 <13>world\n", 64, OctetCounting,
			[]string{"<13>hello", "<13>world"}, nil},
		{"octet counting with a newline after each frame, not counted", "9 <13>hello\r\n9 <13>world\n", 64, OctetCounting,
			[]string{"<13>hello", "<13>world"}, nil},
		{"octet counting keeps a newline inside", "\n23 <13>1 - h app - - - a\nb", 64, OctetCounting,
			[]string{"<13>1 - h app - - - a\nb"}, nil},
		{"octet counting skips a frame over the limit and goes on", "5 <13>a30 <13>" + strings.Repeat("z", 26) + "5 <13>b", 16, OctetCounting,
			[]string{"<13>a", "<13>b"},
			[]string{"syslog frame over the size limit: skipped an octet-counted frame of 30 bytes at byte 7 (limit 16)"}},
		{"octet counting: a length that is not a number loses the stream", "5 <13>a5x <13>b", 64, OctetCounting,
			[]string{"<13>a"}, []string{`syslog stream lost: octet counting expects a length then a space at byte 7, got 'x'`}},
		{"octet counting: a newline-framed message after counted ones", "5 <13>a<13>b\n", 64, OctetCounting,
			[]string{"<13>a"}, []string{`syslog stream lost: octet counting expects a length then a space at byte 7, got '<'`}},
		{"octet counting: length 0", "5 <13>a0 ", 64, OctetCounting,
			[]string{"<13>a"}, []string{`syslog stream lost: octet counting expects a length then a space at byte 7, got '0'`}},
		{"octet counting: a ten-digit length", "1234567890 <13>a", 64, OctetCounting,
			nil, []string{`syslog stream lost: octet counting expects a length then a space at byte 0, got '0'`}},
		{"octet counting: the stream ends inside a frame", "20 <13>short", 64, OctetCounting,
			nil, []string{"syslog stream lost: the stream ends after 9 of the 20 bytes of the frame at byte 0"}},
		{"octet counting: the stream ends inside the count", "5 <13>a12", 64, OctetCounting,
			[]string{"<13>a"}, []string{"syslog stream lost: the stream ends inside the octet count at byte 9"}},
		{"octet counting: the stream ends inside a skipped frame", "40 <13>x", 16, OctetCounting,
			nil, []string{"syslog stream lost: the stream ends inside a frame of 40 bytes at byte 0"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// A one-byte reader exercises every split of the stream.
			for _, r := range []io.Reader{strings.NewReader(tt.stream), &oneByteReader{s: tt.stream}} {
				s := NewScanner(r, tt.max)
				msgs, errs := scanAll(t, s)
				if diff := cmp.Diff(tt.msgs, msgs); diff != "" {
					t.Errorf("messages (-want +got):\n%s", diff)
				}
				if diff := cmp.Diff(tt.errs, errs); diff != "" {
					t.Errorf("errors (-want +got):\n%s", diff)
				}
				if s.Framing() != tt.framing {
					t.Errorf("framing %v, want %v", s.Framing(), tt.framing)
				}
			}
		})
	}
}

// oneByteReader hands out its string one byte per Read.
type oneByteReader struct{ s string }

func (r *oneByteReader) Read(p []byte) (int, error) {
	if len(r.s) == 0 {
		return 0, io.EOF
	}
	if len(p) == 0 {
		return 0, nil
	}
	p[0] = r.s[0]
	r.s = r.s[1:]
	return 1, nil
}

func TestScannerReadError(t *testing.T) {
	broken := errors.New("connection reset by peer")
	s := NewScanner(io.MultiReader(strings.NewReader("<13>a\n<13>b"), &failingReader{broken}), 64)
	msg, err := s.Next()
	if err != nil || string(msg) != "<13>a" {
		t.Fatalf("first: %q, %v", msg, err)
	}
	for range 2 {
		if _, err := s.Next(); !errors.Is(err, broken) {
			t.Errorf("got %v, want the read error", err)
		}
	}
}

type failingReader struct{ err error }

func (r *failingReader) Read([]byte) (int, error) { return 0, r.err }
