package syslog

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"os"
	"strconv"
	"testing"

	"github.com/sitrep-ir/sitrep"
	"github.com/sitrep-ir/sitrep/intake/intaketest"
)

// seedLines adds the messages of testdata/logger.txt to f's corpus.
func seedLines(f *testing.F) [][]byte {
	data, err := os.ReadFile("testdata/logger.txt")
	if err != nil {
		f.Fatal(err)
	}
	var lines [][]byte
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		lines = append(lines, bytes.Clone(sc.Bytes()))
	}
	return lines
}

// fuzzParse checks what a parser returned: an event within the limits or an
// EInvalid error, never neither.
func fuzzParse(t *testing.T, msg []byte, ev sitrep.AlertEvent, err error) {
	t.Helper()
	if err != nil {
		if cerr := intaketest.CheckError(err); cerr != nil {
			t.Fatal(cerr)
		}
		return
	}
	if cerr := intaketest.CheckEvent(ev); cerr != nil {
		t.Fatalf("%q: %v", msg, cerr)
	}
	if cerr := intaketest.CheckText(ev); cerr != nil {
		t.Fatalf("%q: %v", msg, cerr)
	}
	if ev.Summary == "" {
		t.Fatalf("%q: an event with no text", msg)
	}
}

func FuzzSyslog5424(f *testing.F) {
	for _, l := range seedLines(f) {
		f.Add(l)
	}
	f.Add([]byte(`<0>1 - - - - - [a@1 b="\]\"\\"] x`))
	f.Add([]byte("<191>999 9999-12-31T23:59:59.999999+23:59 h a p m - \xef\xbb\xbf\xff\x00"))
	f.Fuzz(func(t *testing.T, msg []byte) {
		ev, err := Parse5424(msg)
		fuzzParse(t, msg, ev, err)
		ev, err = Parse(msg)
		fuzzParse(t, msg, ev, err)
	})
}

func FuzzSyslog3164(f *testing.F) {
	for _, l := range seedLines(f) {
		f.Add(l)
	}
	f.Add([]byte("<13>Feb 29 00:00:00 h t[]: x"))
	f.Add([]byte("<13>Nov 25 20:39:48.123456 h t[1]: \x00\xff"))
	f.Fuzz(func(t *testing.T, msg []byte) {
		ev, err := Parse3164(msg)
		fuzzParse(t, msg, ev, err)
	})
}

func FuzzScanner(f *testing.F) {
	lines := seedLines(f)
	var counted, newline bytes.Buffer
	for _, l := range lines {
		counted.WriteString(strconv.Itoa(len(l)) + " ")
		counted.Write(l)
		newline.Write(l)
		newline.WriteString("\r\n")
	}
	f.Add(counted.Bytes(), uint16(200))
	f.Add(newline.Bytes(), uint16(64))
	f.Add([]byte("10 <13>hello\n5 <1>a"), uint16(4))
	f.Add([]byte("\x00\n<13>x\x00<13>y"), uint16(1))
	f.Fuzz(func(t *testing.T, stream []byte, maxMsg uint16) {
		s := NewScanner(bytes.NewReader(stream), int(maxMsg))
		limit := max(int(maxMsg), 1)
		// Every call consumes at least one byte, so this many calls end
		// any stream.
		for range len(stream) + 2 {
			msg, err := s.Next()
			switch {
			case err == io.EOF:
				if again, err := s.Next(); err != io.EOF || again != nil {
					t.Fatalf("after EOF: %q, %v", again, err)
				}
				return
			case errors.Is(err, ErrFrameTooLong):
				continue
			case err != nil:
				if !errors.Is(err, ErrStreamLost) || s.Framing() != OctetCounting {
					t.Fatalf("error %v with %v", err, s.Framing())
				}
				return
			}
			if len(msg) == 0 || len(msg) > limit {
				t.Fatalf("message of %d bytes, limit %d", len(msg), limit)
			}
			if s.Framing() == NewlineFraming && bytes.ContainsAny(msg, "\n\x00") {
				t.Fatalf("newline-framed message %q holds a frame end", msg)
			}
			ev, err := Parse(msg)
			fuzzParse(t, msg, ev, err)
		}
		t.Fatal("the scanner did not end")
	})
}
