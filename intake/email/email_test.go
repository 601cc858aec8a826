package email

import (
	"bytes"
	"errors"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/sitrep-ir/sitrep"
	"github.com/sitrep-ir/sitrep/intake/intaketest"
)

var ignoreRaw = cmpopts.IgnoreFields(sitrep.AlertEvent{}, "Raw")

func parseFile(t *testing.T, name string) (sitrep.AlertEvent, Message) {
	t.Helper()
	f, err := os.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ev, m, err := Parse(f, 0)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	checkEvent(t, ev)
	return ev, m
}

func checkEvent(t *testing.T, ev sitrep.AlertEvent) {
	t.Helper()
	if err := intaketest.CheckEvent(ev); err != nil {
		t.Error(err)
	}
	if err := intaketest.CheckText(ev); err != nil {
		t.Error(err)
	}
}

// key is the dedup key of a message that starts a thread.
func key(from, normalised string) string { return "email-" + hash(from+"\x00"+normalised) }

func TestParseTestdata(t *testing.T) {
	tests := []struct {
		file string
		ev   sitrep.AlertEvent
		msg  Message
	}{
		{"alternative.eml",
			sitrep.AlertEvent{Action: "trigger", Severity: 1,
				Summary:    "[CRITICAL] Malware auf ws42 entdeckt – Quarantäne",
				DedupKey:   key("alerts@siem.example.com", "malware auf ws42 entdeckt – quarantäne"),
				Labels:     map[string]string{"from": "alerts@siem.example.com", "to": "ops@example.org, soc@example.org, juergen@example.org"},
				OccurredAt: time.Date(2026, 11, 25, 20, 2, 10, 0, time.UTC)},
			Message{From: "alerts@siem.example.com", FromName: "SIEM Überwachung",
				To:      []string{"ops@example.org", "soc@example.org", "juergen@example.org"},
				Subject: "[CRITICAL] Malware auf ws42 entdeckt – Quarantäne", Date: time.Date(2026, 11, 25, 20, 2, 10, 0, time.UTC),
				MessageID: "a1b2c3d4.5678@siem.example.com",
				Text:      "Host ws42: Trojaner gefunden, Datei in Quarantäne verschoben.\nRegel: AV-17"}},
		{"html-only.eml",
			sitrep.AlertEvent{Action: "trigger", Severity: 2, Summary: "[Alerting] High CPU on web1",
				DedupKey: key("grafana@example.org", "high cpu on web1"),
				Labels:   map[string]string{"from": "grafana@example.org", "to": "ops@example.org"}, OccurredAt: time.Date(2026, 11, 25, 20, 40, 0, 0, time.UTC)},
			Message{From: "grafana@example.org", FromName: "Grafana", To: []string{"ops@example.org"},
				Subject: "[Alerting] High CPU on web1", Date: time.Date(2026, 11, 25, 20, 40, 0, 0, time.UTC), MessageID: "grafana-1@example.org",
				Text:         "High CPU\n\nCPU on web1 > 90 % for 5 minutes.\n\nhost web1\nvalue 93.27\n\nRunbook: cpu",
				TextFromHTML: true}},
		{"reply.eml",
			sitrep.AlertEvent{Action: "trigger", Severity: 1, Summary: "Re: [CRITICAL] Malware auf ws42 entdeckt",
				DedupKey: "email-thread-" + hash("root-0@siem.example.com"),
				Labels:   map[string]string{"from": "oncall@example.org", "to": "siem@example.com"}, OccurredAt: time.Date(2026, 11, 25, 20, 10, 0, 0, time.UTC)},
			Message{From: "oncall@example.org", To: []string{"siem@example.com"}, Subject: "Re: [CRITICAL] Malware auf ws42 entdeckt",
				Date: time.Date(2026, 11, 25, 20, 10, 0, 0, time.UTC), MessageID: "reply-1@example.org",
				InReplyTo: []string{"a1b2c3d4.5678@siem.example.com"}, References: []string{"root-0@siem.example.com", "a1b2c3d4.5678@siem.example.com"},
				ThreadRoot: "root-0@siem.example.com", Text: "Isoliert. Wir kümmern uns."}},
		{"latin1-raw-header.eml",
			sitrep.AlertEvent{Action: "trigger", Severity: 3, Summary: "[WARNING] Lüfter langsam in Schrank 3",
				DedupKey: key("monitor@example.org", "lüfter langsam in schrank 3"),
				Labels:   map[string]string{"from": "monitor@example.org", "to": "ops@example.org"}, OccurredAt: time.Date(2026, 11, 25, 20, 0, 0, 0, time.UTC)},
			Message{From: "monitor@example.org", FromName: "Überwachung", To: []string{"ops@example.org"}, Subject: "[WARNING] Lüfter langsam in Schrank 3",
				Date: time.Date(2026, 11, 25, 20, 0, 0, 0, time.UTC), Text: "Drehzahl 800 U/min, erwartet 2000."}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			ev, m := parseFile(t, "testdata/"+tt.file)
			if diff := cmp.Diff(tt.ev, ev, ignoreRaw); diff != "" {
				t.Errorf("event (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.msg, m); diff != "" {
				t.Errorf("message (-want +got):\n%s", diff)
			}
		})
	}
}

// msg builds a message with CRLF line ends from header lines and a body.
func msg(header, body string) string {
	return strings.ReplaceAll(header+"\n\n"+body, "\n", "\r\n")
}

func TestParse(t *testing.T) {
	const hdr = "From: siem@example.com\nTo: ops@example.org\nDate: Wed, 25 Nov 2026 20:00:00 +0000\n"
	tests := []struct {
		name   string
		raw    string
		ev     sitrep.AlertEvent // checked: Action, Severity, Summary
		text   string
		attach []Attachment
		more   int
	}{
		{"X-Priority 1 is critical", msg(hdr+"Subject: disk full\nX-Priority: 1 (Highest)", "x"),
			sitrep.AlertEvent{Action: "trigger", Severity: 1, Summary: "disk full"}, "x", nil, 0},
		{"the subject tag beats X-Priority", msg(hdr+"Subject: [warning] disk filling\nX-Priority: 1", "x"),
			sitrep.AlertEvent{Action: "trigger", Severity: 3, Summary: "[warning] disk filling"}, "x", nil, 0},
		{"X-Priority 5 is low", msg(hdr+"Subject: weekly report\nX-Priority: 5", "x"),
			sitrep.AlertEvent{Action: "trigger", Severity: 4, Summary: "weekly report"}, "x", nil, 0},
		{"Priority urgent", msg(hdr+"Subject: s\nPriority: urgent", "x"),
			sitrep.AlertEvent{Action: "trigger", Severity: 1, Summary: "s"}, "x", nil, 0},
		{"normal priority says nothing", msg(hdr+"Subject: s\nX-Priority: 3\nImportance: normal", "x"),
			sitrep.AlertEvent{Action: "trigger", Summary: "s"}, "x", nil, 0},
		{"a resolved tag resolves", msg(hdr+"Subject: Re: [RESOLVED] [CRITICAL] disk full", "x"),
			sitrep.AlertEvent{Action: "resolve", Severity: 1, Summary: "Re: [RESOLVED] [CRITICAL] disk full"}, "x", nil, 0},
		{"no subject: the first line of the text", msg(hdr, "\n\n  backup failed on db1  \nexit code 12\n"),
			sitrep.AlertEvent{Action: "trigger", Summary: "backup failed on db1"}, "backup failed on db1  \nexit code 12", nil, 0},
		{"raw UTF-8 subject", msg(hdr+"Subject: Überhitzung 🔥", "x"),
			sitrep.AlertEvent{Action: "trigger", Summary: "Überhitzung 🔥"}, "x", nil, 0},
		{"an unknown charset is read as Latin-1", msg(hdr+"Subject: s\nContent-Type: text/plain; charset=x-no-such", "Temp\xe9rature"),
			sitrep.AlertEvent{Action: "trigger", Summary: "s"}, "Température", nil, 0},
		{"an unknown encoded-word charset stays as it came", msg(hdr+"Subject: =?x-no-such?Q?abc?=", "x"),
			sitrep.AlertEvent{Action: "trigger", Summary: "=?x-no-such?Q?abc?="}, "x", nil, 0},
		{"base64 text", msg(hdr+"Subject: s\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: base64", "w5xiZXJoaXR6dW5n\n"),
			sitrep.AlertEvent{Action: "trigger", Summary: "s"}, "Überhitzung", nil, 0},
		{"broken base64 keeps what was read", msg(hdr+"Subject: s\nContent-Type: text/plain\nContent-Transfer-Encoding: base64", "aGVsbG8g!!!!"),
			sitrep.AlertEvent{Action: "trigger", Summary: "s"}, "hello", nil, 0},
		{"a multipart without its end keeps what was read",
			msg(hdr+"Subject: s\nContent-Type: multipart/mixed; boundary=XX", "--XX\nContent-Type: text/plain\n\nfirst part\n--XX\nContent-Type: text/plain\n\nsecond"),
			sitrep.AlertEvent{Action: "trigger", Summary: "s"}, "first part", nil, 0},
		{"attachments: name from Content-Type, encoded name, inline image",
			msg(hdr+"Subject: s\nContent-Type: multipart/mixed; boundary=XX",
				"--XX\n\nbody text\n--XX\nContent-Type: application/pdf; name=report.pdf\nContent-Transfer-Encoding: base64\n\nJVBERi0xLjQ=\n"+
					"--XX\nContent-Type: text/csv\nContent-Disposition: attachment; filename=\"=?UTF-8?Q?M=C3=A4rz.csv?=\"\n\na,b\n"+
					"--XX\nContent-Type: image/png\nContent-Disposition: inline\n\nPNG\n--XX--\n"),
			sitrep.AlertEvent{Action: "trigger", Summary: "s"}, "body text",
			[]Attachment{
				{Name: "report.pdf", Type: "application/pdf", Size: 8, Data: []byte("%PDF-1.4")},
				{Name: "März.csv", Type: "text/csv", Size: 3, Data: []byte("a,b")},
				{Type: "image/png", Size: 3, Data: []byte("PNG")},
			}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev, m, err := Parse(strings.NewReader(tt.raw), 0)
			if err != nil {
				t.Fatal(err)
			}
			got := sitrep.AlertEvent{Action: ev.Action, Severity: ev.Severity, Summary: ev.Summary}
			if diff := cmp.Diff(tt.ev, got); diff != "" {
				t.Errorf("event (-want +got):\n%s", diff)
			}
			if m.Text != tt.text {
				t.Errorf("text %q, want %q", m.Text, tt.text)
			}
			if diff := cmp.Diff(tt.attach, m.Attachments); tt.attach != nil && diff != "" {
				t.Errorf("attachments (-want +got):\n%s", diff)
			}
			checkEvent(t, ev)
		})
	}
}

func TestParseInlineImageIsAnAttachment(t *testing.T) {
	raw := msg("From: a@example.org\nSubject: s\nContent-Type: multipart/related; boundary=XX",
		"--XX\nContent-Type: text/html\n\n<p>see <img src=cid:g></p>\n--XX\nContent-Type: image/png\nContent-Disposition: inline; filename=g.png\n\nPNG\n--XX--\n")
	_, m, err := Parse(strings.NewReader(raw), 0)
	if err != nil {
		t.Fatal(err)
	}
	want := []Attachment{{Name: "g.png", Type: "image/png", Size: 3, Data: []byte("PNG")}}
	if diff := cmp.Diff(want, m.Attachments); diff != "" || m.Text != "see" {
		t.Errorf("text %q, attachments (-want +got):\n%s", m.Text, diff)
	}
}

func TestParseAttachmentLimits(t *testing.T) {
	var body strings.Builder
	body.WriteString("--XX\n\ntext\n")
	big := strings.Repeat("A", MaxAttachmentBytes-100)
	body.WriteString("--XX\nContent-Type: application/octet-stream; name=big.bin\n\n" + big + "\n")
	body.WriteString("--XX\nContent-Type: application/octet-stream; name=cut.bin\n\n" + strings.Repeat("B", 300) + "\n")
	for range MaxAttachments {
		body.WriteString("--XX\nContent-Type: application/octet-stream; name=small.bin\n\nC\n")
	}
	body.WriteString("--XX--\n")
	_, m, err := Parse(strings.NewReader(msg("From: a@example.org\nSubject: s\nContent-Type: multipart/mixed; boundary=XX", body.String())), 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Attachments) != MaxAttachments || m.MoreAttachments != 2 {
		t.Fatalf("%d attachments kept, %d more; want %d and 2", len(m.Attachments), m.MoreAttachments, MaxAttachments)
	}
	if a := m.Attachments[0]; a.Size != int64(len(big)) || a.Truncated || len(a.Data) != len(big) {
		t.Errorf("big: size %d, truncated %v, %d bytes kept", a.Size, a.Truncated, len(a.Data))
	}
	if a := m.Attachments[1]; a.Size != 300 || !a.Truncated || len(a.Data) != 100 {
		t.Errorf("cut: size %d, truncated %v, %d bytes kept; want 300, true, 100", a.Size, a.Truncated, len(a.Data))
	}
	if a := m.Attachments[2]; a.Size != 1 || !a.Truncated || len(a.Data) != 0 {
		t.Errorf("after the budget: size %d, truncated %v, %d bytes kept; want 1, true, 0", a.Size, a.Truncated, len(a.Data))
	}
}

func TestParseDedupKeys(t *testing.T) {
	keyOf := func(from, subject, extra string) string {
		t.Helper()
		ev, _, err := Parse(strings.NewReader(msg("From: "+from+"\nSubject: "+subject+extra, "x")), 0)
		if err != nil {
			t.Fatal(err)
		}
		return ev.DedupKey
	}
	original := keyOf("siem@example.com", "[WARNING] Disk full on db1", "")
	same := []struct{ name, from, subject, extra string }{
		{"mailed again", "siem@example.com", "[WARNING] Disk full on db1", ""},
		{"escalated", "SIEM@example.com", "[CRITICAL] disk  full on DB1", ""},
		{"resolved", "siem@example.com", "[RESOLVED] Disk full on db1", ""},
		{"forwarded by the same sender", "siem@example.com", "Fwd: AW: Re[2]: [siem][WARNING] Disk full on db1", ""},
	}
	for _, tt := range same {
		if k := keyOf(tt.from, tt.subject, tt.extra); k != original {
			t.Errorf("%s: key %q, want the original's %q", tt.name, k, original)
		}
	}
	other := []struct{ name, from, subject, extra string }{
		{"another sender", "other@example.com", "[WARNING] Disk full on db1", ""},
		{"another host", "siem@example.com", "[WARNING] Disk full on db2", ""},
	}
	for _, tt := range other {
		if k := keyOf(tt.from, tt.subject, tt.extra); k == original {
			t.Errorf("%s: the original's key %q", tt.name, k)
		}
	}
	// Replies in one thread share the root's key, whoever sends them.
	a := keyOf("oncall@example.org", "Re: x", "\nReferences: <root@x> <b@x>\nIn-Reply-To: <b@x>")
	b := keyOf("boss@example.org", "Re: Re: x", "\nReferences: <root@x> <b@x> <c@x>")
	c := keyOf("boss@example.org", "Re: x", "\nIn-Reply-To: <root@x>")
	if a != b || a != c || a != "email-thread-"+hash("root@x") {
		t.Errorf("thread keys %q %q %q differ", a, b, c)
	}
}

func TestParseRefuses(t *testing.T) {
	tests := []struct {
		name, raw string
		max       int64
		field     string
		want      string
	}{
		{"empty", " \r\n", 0, "", "the message is empty"},
		{"over the limit", msg("Subject: s", strings.Repeat("x", 100)), 50, "", "the message is over the limit of 50 bytes"},
		{"not a message", "just some text\r\nwithout a header", 0, "header",
			`the message header cannot be read: malformed MIME header line: just some text`},
		{"no header", "\r\nbody only", 0, "header", "the message has no header"},
		{"no subject and no text", msg("From: a@example.org\nContent-Type: multipart/mixed; boundary=XX", "--XX\nContent-Type: image/png\n\nPNG\n--XX--"), 0,
			"subject", "the message has no subject and no text"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev, _, err := Parse(strings.NewReader(tt.raw), tt.max)
			if err == nil {
				t.Fatalf("accepted: %+v", ev)
			}
			if err := intaketest.CheckError(err); err != nil {
				t.Fatal(err)
			}
			if err.Error() != tt.want {
				t.Errorf("error\n got %q\nwant %q", err.Error(), tt.want)
			}
			if f := sitrep.AsError(err).Field; f != tt.field {
				t.Errorf("field %q, want %q", f, tt.field)
			}
		})
	}
}

func TestParseReadError(t *testing.T) {
	broken := errors.New("connection reset by peer")
	_, _, err := Parse(io.MultiReader(strings.NewReader("Subject: s\r\n"), &failingReader{broken}), 0)
	if !errors.Is(err, broken) || sitrep.ErrorKind(err) != sitrep.EInternal {
		t.Errorf("error %v (kind %s), want the read error, internal", err, sitrep.ErrorKind(err))
	}
}

type failingReader struct{ err error }

func (r *failingReader) Read([]byte) (int, error) { return 0, r.err }

func TestHTMLToText(t *testing.T) {
	tests := []struct{ html, want string }{
		{"<p>a</p><p>b</p>", "a\n\nb"},
		{"<ul><li>a</li><li>b</li></ul>c", "a\nb\n\nc"},
		{"a<br>b<BR/>c", "a\nb\nc"},
		{`<a title="x>y" href='z'>link</a>`, "link"},
		{"<SCRIPT>var x = '</p>';</SCRIPT>after", "after"},
		{"<style>unclosed", ""},
		{"x <!-- comment <p> --> y", "x y"},
		{"&lt;b&gt; &amp; &#8364; &euro;", "<b> & € €"},
		{"a <unclosed", "a"},
		{"<td>1</td><td>2</td>", "1 2"},
		// Go folds İ to i: this is a script that never closes.
		{"İ<SCRİPT>x</SCRİPT>y", "İ"},
	}
	for _, tt := range tests {
		if got := htmlToText(tt.html); got != tt.want {
			t.Errorf("htmlToText(%q) = %q, want %q", tt.html, got, tt.want)
		}
	}
}

func TestText(t *testing.T) {
	if got := text("caf\xe9 \xc3\xa9\x00"); got != "café é" {
		t.Errorf("text = %q", got)
	}
	if !bytes.Equal([]byte(text("ok")), []byte("ok")) {
		t.Error("valid text changed")
	}
}
