package email

import (
	"bufio"
	"bytes"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/sitrep-ir/sitrep"
)

// These tests parse what the real swaks sends: its --dump-mail output, and
// what it delivers over SMTP to a sink on 127.0.0.1 (an SMTP server of a
// few lines that keeps what comes in DATA, dot-unstuffed, as the intake
// listener will hand it to Parse).

func needSwaks(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("swaks")
	if err != nil {
		if os.Getenv("SITREP_TEST_REQUIRE_ALL") == "1" {
			t.Fatalf("swaks is needed (apt-get install swaks): %v", err)
		}
		t.Skipf("swaks not found (%v): apt-get install swaks", err)
	}
	return path
}

func swaks(t *testing.T, args ...string) []byte {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), needSwaks(t), args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("swaks %v: %v\n%s\n%s", args, err, out, stderr.Bytes())
	}
	return out
}

func attachment(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestSwaksDumpMail(t *testing.T) {
	report := attachment(t, "sensoren.csv", "raum,temp\nserverraum,45\n")
	raw := swaks(t, "--to", "ops@example.org", "--from", "klima@example.com",
		"--header", "Subject: [CRITICAL] Überhitzung im Serverraum",
		"--body", "Temperatur 45 °C, Grenzwert 35 °C",
		"--attach", "@"+report, "--dump-mail")
	ev, m, err := Parse(bytes.NewReader(raw), 0)
	if err != nil {
		t.Fatalf("%v\n%s", err, raw)
	}
	checkEvent(t, ev)
	wantEv := sitrep.AlertEvent{
		Action: "trigger", Severity: 1, Summary: "[CRITICAL] Überhitzung im Serverraum",
		DedupKey: key("klima@example.com", "überhitzung im serverraum"),
		Labels:   map[string]string{"from": "klima@example.com", "to": "ops@example.org"},
	}
	if diff := cmp.Diff(wantEv, ev, ignoreRaw, ignoreTime); diff != "" {
		t.Errorf("event (-want +got):\n%s", diff)
	}
	if d := time.Since(ev.OccurredAt); d < -time.Hour || d > time.Hour {
		t.Errorf("occurred_at %v is not swaks' Date", ev.OccurredAt)
	}
	if m.Text != "Temperatur 45 °C, Grenzwert 35 °C" || m.MessageID == "" {
		t.Errorf("text %q, message ID %q", m.Text, m.MessageID)
	}
	want := []Attachment{{Name: "sensoren.csv", Type: "application/octet-stream", Size: 24, Data: []byte("raum,temp\nserverraum,45\n")}}
	if diff := cmp.Diff(want, m.Attachments); diff != "" {
		t.Errorf("attachments (-want +got):\n%s", diff)
	}
}

var ignoreTime = cmp.FilterPath(func(p cmp.Path) bool { return p.Last().String() == ".OccurredAt" }, cmp.Ignore())

func TestSwaksSMTP(t *testing.T) {
	sink := newSMTPSink(t)
	page := attachment(t, "alarm.html", "<html><body><h1>Alarm</h1><p>Temperatur &gt; 40&nbsp;°C in <b>Raum 2</b></p></body></html>\n")
	graph := attachment(t, "graph.png", "\x89PNG\r\n\x1a\nnot really")

	tests := []struct {
		name  string
		args  []string
		check func(t *testing.T, ev sitrep.AlertEvent, m Message)
	}{
		{"raw UTF-8 subject without SMTPUTF8, plain body",
			[]string{"--header", "Subject: Überhitzung – Lüfter 3 ausgefallen", "--body", "Drehzahl 0 U/min"},
			func(t *testing.T, ev sitrep.AlertEvent, m Message) {
				if ev.Summary != "Überhitzung – Lüfter 3 ausgefallen" || m.Text != "Drehzahl 0 U/min" {
					t.Errorf("summary %q, text %q", ev.Summary, m.Text)
				}
			}},
		{"RFC 2047 UTF-8 B subject and X-Priority",
			[]string{"--header", "Subject: =?UTF-8?B?w5xiZXJoaXR6dW5nIGltIFNlcnZlcnJhdW0=?=", "--header", "X-Priority: 1 (Highest)"},
			func(t *testing.T, ev sitrep.AlertEvent, m Message) {
				if ev.Summary != "Überhitzung im Serverraum" || ev.Severity != 1 {
					t.Errorf("summary %q, severity %d", ev.Summary, ev.Severity)
				}
			}},
		{"RFC 2047 ISO-8859-1 Q subject and sender name",
			[]string{"--header", "Subject: =?ISO-8859-1?Q?=DCberhitzung_im_K=FChlraum?=", "--header", "From: =?ISO-8859-1?Q?K=FChlung?= <kuehlung@example.com>"},
			func(t *testing.T, ev sitrep.AlertEvent, m Message) {
				if ev.Summary != "Überhitzung im Kühlraum" || m.FromName != "Kühlung" || m.From != "kuehlung@example.com" {
					t.Errorf("summary %q, from %q <%s>", ev.Summary, m.FromName, m.From)
				}
			}},
		{"HTML body and an image attachment",
			[]string{"--header", "Subject: [warning] Temperatur", "--attach-type", "text/html", "--attach-body", "@" + page,
				"--attach-type", "image/png", "--attach", "@" + graph},
			func(t *testing.T, ev sitrep.AlertEvent, m Message) {
				if m.Text != "Alarm\n\nTemperatur > 40 °C in Raum 2" || !m.TextFromHTML || ev.Severity != 3 {
					t.Errorf("text %q (from HTML %v), severity %d", m.Text, m.TextFromHTML, ev.Severity)
				}
				want := []Attachment{{Name: "graph.png", Type: "image/png", Size: 18, Data: []byte("\x89PNG\r\n\x1a\nnot really")}}
				if diff := cmp.Diff(want, m.Attachments); diff != "" {
					t.Errorf("attachments (-want +got):\n%s", diff)
				}
			}},
		{"a reply in a thread",
			[]string{"--header", "Subject: Re: [CRITICAL] Malware auf ws42", "--header", "In-Reply-To: <a1b2@siem.example.com>",
				"--header", "References: <root@siem.example.com> <a1b2@siem.example.com>", "--body", "isoliert"},
			func(t *testing.T, ev sitrep.AlertEvent, m Message) {
				if m.ThreadRoot != "root@siem.example.com" || ev.DedupKey != "email-thread-"+hash("root@siem.example.com") {
					t.Errorf("thread root %q, key %q", m.ThreadRoot, ev.DedupKey)
				}
			}},
		{"a body line starting with a dot survives dot-stuffing",
			[]string{"--header", "Subject: dots", "--body", "line one\n.hidden file found\n..two dots"},
			func(t *testing.T, ev sitrep.AlertEvent, m Message) {
				if m.Text != "line one\n.hidden file found\n..two dots" {
					t.Errorf("text %q", m.Text)
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"--server", sink.host, "--port", sink.port, "--to", "ops@example.org", "--from", "klima@example.com",
				"--helo", "sender.example.com"}, tt.args...)
			swaks(t, args...)
			raw := sink.next(t)
			ev, m, err := Parse(bytes.NewReader(raw), 0)
			if err != nil {
				t.Fatalf("%v\n%s", err, raw)
			}
			checkEvent(t, ev)
			if !bytes.Contains(raw, []byte("\r\n")) {
				t.Errorf("the SMTP sink did not get CRLF line ends")
			}
			tt.check(t, ev, m)
		})
	}
}

// smtpSink is a minimal SMTP server on loopback that keeps every message.
type smtpSink struct {
	host, port string
	msgs       chan []byte
}

func newSMTPSink(t *testing.T) *smtpSink {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	s := &smtpSink{host: "127.0.0.1", port: strconv.Itoa(ln.Addr().(*net.TCPAddr).Port), msgs: make(chan []byte, 16)}
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go s.serve(conn)
		}
	}()
	return s
}

func (s *smtpSink) serve(conn net.Conn) {
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
	r := bufio.NewReader(conn)
	reply := func(line string) { _, _ = conn.Write([]byte(line + "\r\n")) }
	reply("220 sink.test ESMTP")
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		cmd := strings.ToUpper(strings.TrimSpace(line))
		switch {
		case strings.HasPrefix(cmd, "EHLO"):
			reply("250-sink.test")
			reply("250 8BITMIME")
		case strings.HasPrefix(cmd, "HELO"), strings.HasPrefix(cmd, "MAIL"), strings.HasPrefix(cmd, "RCPT"),
			strings.HasPrefix(cmd, "RSET"), strings.HasPrefix(cmd, "NOOP"):
			reply("250 OK")
		case cmd == "DATA":
			reply("354 end with <CRLF>.<CRLF>")
			var msg bytes.Buffer
			for {
				l, err := r.ReadString('\n')
				if err != nil {
					return
				}
				if l == ".\r\n" {
					break
				}
				msg.WriteString(strings.TrimPrefix(l, ".")) // dot-unstuffing (RFC 5321 4.5.2)
			}
			s.msgs <- msg.Bytes()
			reply("250 queued")
		case cmd == "QUIT":
			reply("221 bye")
			return
		default:
			reply("502 not implemented")
		}
	}
}

func (s *smtpSink) next(t *testing.T) []byte {
	t.Helper()
	select {
	case m := <-s.msgs:
		return m
	case <-time.After(30 * time.Second):
		t.Fatal("no message reached the SMTP sink")
		return nil
	}
}
