package syslog

import (
	"bytes"
	"strconv"
	"testing"
)

const line5424 = `<131>1 2026-11-25T20:39:48.837968+00:00 db1.example.org postgres 4711 CHKPT [timeQuality tzKnown="1" isSynced="1" syncAccuracy="57000"] checkpoints are occurring too frequently (9 seconds apart)`

// BenchmarkParse5424 parses one RFC 5424 line as logger sends it.
func BenchmarkParse5424(b *testing.B) {
	msg := []byte(line5424)
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse(msg); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkParse3164 parses one RFC 3164 line.
func BenchmarkParse3164(b *testing.B) {
	msg := []byte(`<34>Oct 11 22:14:15 mymachine su[230]: 'su root' failed for lonvick on /dev/pts/8`)
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse(msg); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkScannerOctetCounted10MB frames a 10 MB octet-counted stream of
// RFC 5424 lines (framing only: parsing is BenchmarkParse5424's).
func BenchmarkScannerOctetCounted10MB(b *testing.B) {
	frame := strconv.Itoa(len(line5424)) + " " + line5424
	stream := bytes.Repeat([]byte(frame), 10<<20/len(frame))
	want := len(stream) / len(frame)
	b.SetBytes(int64(len(stream)))
	b.ReportAllocs()
	for b.Loop() {
		s := NewScanner(bytes.NewReader(stream), 8192)
		n := 0
		for {
			if _, err := s.Next(); err != nil {
				break
			}
			n++
		}
		if n != want {
			b.Fatalf("%d messages, want %d", n, want)
		}
	}
}

// BenchmarkScannerNewline10MB frames a 10 MB newline-framed stream.
func BenchmarkScannerNewline10MB(b *testing.B) {
	frame := line5424 + "\n"
	stream := bytes.Repeat([]byte(frame), 10<<20/len(frame))
	b.SetBytes(int64(len(stream)))
	b.ReportAllocs()
	for b.Loop() {
		s := NewScanner(bytes.NewReader(stream), 8192)
		for {
			if _, err := s.Next(); err != nil {
				break
			}
		}
	}
}
