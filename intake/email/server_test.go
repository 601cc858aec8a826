package email

import (
	"bufio"
	"context"
	"net"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sitrep-ir/sitrep"
	"github.com/sitrep-ir/sitrep/intake/ingest"
	"github.com/sitrep-ir/sitrep/store/sqlite"
)

// These tests run the SMTP listener on 127.0.0.1 into a real SQLite store
// through the group-commit Ingester, and send with the real swaks. A 250 to
// DATA means stored: each check reads the store right after swaks returns.

type smtpRig struct {
	store *sqlite.Store
	srv   *Server
	reg   *prometheus.Registry
	host  string
	port  string
	keys  map[string]string // source name → key
}

// newSMTPRig starts a Server with cfg and the sources given (their keys
// are "key" + name, in lower-case hexadecimal as real keys are).
func newSMTPRig(t *testing.T, cfg ServerConfig, sources ...sitrep.Source) *smtpRig {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "sitrep.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	r := &smtpRig{store: st, reg: prometheus.NewRegistry(), keys: map[string]string{}}
	for i, src := range sources {
		key := strings.Repeat(strconv.Itoa(i), 8) + "0123456789abcdef0123456789ab"
		r.keys[src.Name] = key
		src.KeyHash = sitrep.HashToken(key)
		src.CreatedAt = time.Now()
		src.CreatedBy = "test"
		if err := sitrep.ValidateSource(&src); err != nil {
			t.Fatal(err)
		}
		if err := st.CreateSource(ctx, &src); err != nil {
			t.Fatal(err)
		}
	}
	in := ingest.New(st, ingest.Options{})
	svc := sitrep.NewService(st, nil)
	cfg.Ingester = in
	cfg.SourceByKey = svc.SourceByKey
	cfg.Registry = r.reg
	cfg.Domain = "sitrep.test"
	srv, err := NewServer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Listen("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	r.srv = srv
	r.host, r.port, _ = net.SplitHostPort(srv.Addr().String())
	t.Cleanup(func() {
		if err := srv.Close(context.Background()); err != nil {
			t.Errorf("close the listener: %v", err)
		}
		in.Close()
		st.Close()
	})
	return r
}

// send runs swaks against the listener and returns its transcript and
// whether it succeeded.
func (r *smtpRig) send(t *testing.T, to string, args ...string) (string, bool) {
	t.Helper()
	args = append([]string{"--server", r.host, "--port", r.port, "--to", to, "--from", "siem@example.com",
		"--helo", "siem.example.com", "--timeout", "20"}, args...)
	cmd := exec.CommandContext(t.Context(), needSwaks(t), args...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		if _, ok := err.(*exec.ExitError); !ok {
			t.Fatalf("swaks: %v", err)
		}
	}
	return string(out), err == nil
}

func (r *smtpRig) sendOK(t *testing.T, to string, args ...string) string {
	t.Helper()
	out, ok := r.send(t, to, args...)
	if !ok {
		t.Fatalf("swaks to %s failed:\n%s", to, out)
	}
	return out
}

func (r *smtpRig) refused(t *testing.T, to, want string, args ...string) string {
	t.Helper()
	out, ok := r.send(t, to, args...)
	if ok || !strings.Contains(out, want) {
		t.Fatalf("swaks to %s: succeeded %v, want a refusal with %q:\n%s", to, ok, want, out)
	}
	return out
}

// alert returns the one alert with a summary.
func (r *smtpRig) alert(t *testing.T, summary string) *sitrep.Alert {
	t.Helper()
	list, err := r.store.Alerts(context.Background(), sitrep.AlertFilter{})
	if err != nil {
		t.Fatal(err)
	}
	var have []string
	for _, al := range list {
		if al.Summary == summary {
			return al
		}
		have = append(have, al.Summary)
	}
	t.Fatalf("no alert %q among %q", summary, have)
	return nil
}

func (r *smtpRig) alertCount(t *testing.T) int {
	t.Helper()
	list, err := r.store.Alerts(context.Background(), sitrep.AlertFilter{})
	if err != nil {
		t.Fatal(err)
	}
	return len(list)
}

func (r *smtpRig) metric(t *testing.T, name, reason string) float64 {
	t.Helper()
	mfs, err := r.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			match := reason == ""
			for _, lp := range m.GetLabel() {
				if lp.GetName() == "reason" && lp.GetValue() == reason {
					match = true
				}
			}
			if match {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}

func TestServerSwaks(t *testing.T) {
	r := newSMTPRig(t, ServerConfig{}, sitrep.Source{Name: "siem", Kind: "email", Allow: []string{"127.0.0.0/8"}})
	key := r.keys["siem"]
	report := attachment(t, "hosts.csv", "host,verdict\nws42,infected\n")

	t.Run("plain, with the capabilities advertised", func(t *testing.T) {
		out := r.sendOK(t, key+"@alerts.example.org", "--header", "Subject: [CRITICAL] Malware on ws42", "--body", "EDR quarantined a trojan on ws42")
		for _, ext := range []string{"8BITMIME", "SMTPUTF8", "SIZE 26214400"} {
			if !strings.Contains(out, ext) {
				t.Errorf("EHLO does not advertise %s:\n%s", ext, out)
			}
		}
		al := r.alert(t, "[CRITICAL] Malware on ws42")
		if al.Source != "siem" || al.Severity != 1 || al.Labels["from"] != "siem@example.com" || al.Count != 1 {
			t.Errorf("alert %+v", al)
		}
		if len(al.Samples) != 1 || !strings.Contains(al.Samples[0], "EDR quarantined a trojan on ws42") {
			t.Errorf("samples %q", al.Samples)
		}
	})
	t.Run("KEY+detail, the same alert again", func(t *testing.T) {
		r.sendOK(t, key+"+edr@sitrep", "--header", "Subject: [CRITICAL] Malware on ws42", "--body", "again")
		if al := r.alert(t, "[CRITICAL] Malware on ws42"); al.Count != 2 {
			t.Errorf("count %d, want 2", al.Count)
		}
	})
	t.Run("MIME with an attachment", func(t *testing.T) {
		r.sendOK(t, key+"@alerts.example.org", "--header", "Subject: [warning] Scan report", "--body", "see the attachment", "--attach", "@"+report)
		if al := r.alert(t, "[warning] Scan report"); al.Severity != 3 || !strings.Contains(al.Samples[0], "multipart/mixed") {
			t.Errorf("alert %+v", al)
		}
	})
	t.Run("raw UTF-8 subject", func(t *testing.T) {
		r.sendOK(t, key+"@alerts.example.org", "--header", "Subject: Überhitzung – Lüfter 3 ausgefallen", "--body", "Drehzahl 0 U/min")
		r.alert(t, "Überhitzung – Lüfter 3 ausgefallen")
	})
	t.Run("RFC 2047 subject", func(t *testing.T) {
		r.sendOK(t, key+"@alerts.example.org", "--header", "Subject: =?UTF-8?B?w5xiZXJoaXR6dW5nIGltIFNlcnZlcnJhdW0=?=", "--header", "X-Priority: 2")
		if al := r.alert(t, "Überhitzung im Serverraum"); al.Severity != 2 {
			t.Errorf("severity %d, want 2", al.Severity)
		}
	})
	t.Run("upper-case key", func(t *testing.T) {
		r.sendOK(t, strings.ToUpper(key)+"@ALERTS.EXAMPLE.ORG", "--header", "Subject: shouted")
		r.alert(t, "shouted")
	})
	if got := r.metric(t, "sitrep_smtp_messages_total", ""); got != 6 {
		t.Errorf("sitrep_smtp_messages_total %v, want 6", got)
	}
}

func TestServerRefusals(t *testing.T) {
	r := newSMTPRig(t, ServerConfig{MaxMessageBytes: 64 << 10},
		sitrep.Source{Name: "siem", Kind: "email"},
		sitrep.Source{Name: "dmz-mail", Kind: "email", Allow: []string{"192.0.2.0/24"}},
		sitrep.Source{Name: "fw", Kind: "syslog"})

	t.Run("a key that is no source's", func(t *testing.T) {
		r.refused(t, "00000000000000000000000000000000@alerts.example.org", "550 5.1.1", "--header", "Subject: guess")
		if got := r.metric(t, "sitrep_smtp_refused_total", "bad_key"); got != 1 {
			t.Errorf("bad_key refusals %v, want 1", got)
		}
	})
	t.Run("a network the source does not allow", func(t *testing.T) {
		out := r.refused(t, r.keys["dmz-mail"]+"@alerts.example.org", "550 5.7.1", "--header", "Subject: from loopback")
		if !strings.Contains(out, "source dmz-mail does not allow mail from this address") {
			t.Errorf("refusal does not say why:\n%s", out)
		}
		if got := r.metric(t, "sitrep_smtp_refused_total", "address"); got != 1 {
			t.Errorf("address refusals %v, want 1", got)
		}
	})
	t.Run("a key of another kind", func(t *testing.T) {
		r.refused(t, r.keys["fw"]+"@alerts.example.org", "550 5.7.1", "--header", "Subject: wrong kind")
		if got := r.metric(t, "sitrep_smtp_refused_total", "wrong_kind"); got != 1 {
			t.Errorf("wrong_kind refusals %v, want 1", got)
		}
	})
	t.Run("over the size limit", func(t *testing.T) {
		big := attachment(t, "big.bin", strings.Repeat("0123456789abcdef", 8<<10)) // 128 KiB, more in base64
		r.refused(t, r.keys["siem"]+"@alerts.example.org", "552 5.3.4", "--header", "Subject: too big", "--attach", "@"+big)
		if got := r.metric(t, "sitrep_smtp_refused_total", "too_large"); got != 1 {
			t.Errorf("too_large refusals %v, want 1", got)
		}
	})
	t.Run("a message with nothing to say", func(t *testing.T) {
		out := r.refused(t, r.keys["siem"]+"@alerts.example.org", "554 5.6.0", "--data", "X-Nothing: here\n\n\n")
		if !strings.Contains(out, "no subject") && !strings.Contains(out, "no alert") {
			t.Errorf("refusal does not say why:\n%s", out)
		}
		if got := r.metric(t, "sitrep_smtp_refused_total", "invalid"); got != 1 {
			t.Errorf("invalid refusals %v, want 1", got)
		}
	})
	if n := r.alertCount(t); n != 0 {
		t.Errorf("%d alerts stored from refused mail", n)
	}

	// One good recipient among bad ones: the message is stored for it.
	r.sendOK(t, r.keys["siem"]+"@alerts.example.org,nobody@alerts.example.org", "--header", "Subject: one of two")
	if al := r.alert(t, "one of two"); al.Source != "siem" {
		t.Errorf("alert from %s", al.Source)
	}
}

// TestServerConnectionLimit: a connection over MaxConns is answered 421
// and closed; the one within the limit goes on.
func TestServerConnectionLimit(t *testing.T) {
	r := newSMTPRig(t, ServerConfig{MaxConns: 1}, sitrep.Source{Name: "siem", Kind: "email"})
	first, err := net.Dial("tcp", r.srv.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	_ = first.SetDeadline(time.Now().Add(20 * time.Second))
	fr := bufio.NewReader(first)
	if line, err := fr.ReadString('\n'); err != nil || !strings.HasPrefix(line, "220 ") {
		t.Fatalf("greeting %q, %v", line, err)
	}
	second, err := net.Dial("tcp", r.srv.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer second.Close()
	_ = second.SetDeadline(time.Now().Add(20 * time.Second))
	line, _ := bufio.NewReader(second).ReadString('\n')
	if !strings.HasPrefix(line, "421 4.7.0") {
		t.Errorf("second connection got %q, want 421", line)
	}
	if _, err := first.Write([]byte("NOOP\r\n")); err != nil {
		t.Fatal(err)
	}
	if line, err := fr.ReadString('\n'); err != nil || !strings.HasPrefix(line, "250 ") {
		t.Errorf("NOOP on the first connection: %q, %v", line, err)
	}
	if got := r.metric(t, "sitrep_smtp_refused_total", "too_many_connections"); got != 1 {
		t.Errorf("too_many_connections refusals %v, want 1", got)
	}
}

func TestRecipientKey(t *testing.T) {
	for _, tt := range []struct{ in, key, err string }{
		{"abc123@alerts.example.org", "abc123", ""},
		{"<abc123@host>", "abc123", ""},
		{"abc123+edr@host", "abc123", ""},
		{"abc123+a+b@host", "abc123", ""},
		{"a@b@host", "a@b", ""}, // a quoted local part holding @
		{"abc123", "abc123", ""},
		{"+tag@host", "", "the recipient has no key before the @: mail to KEY@host"},
		{"@host", "", "the recipient has no key before the @: mail to KEY@host"},
		{"a b@host", "", "the recipient's local part holds spaces or control characters: it is no key"},
		{strings.Repeat("k", 300) + "@host", "", "the recipient's local part is 300 bytes, longer than any key"},
	} {
		key, err := RecipientKey(tt.in)
		msg := ""
		if err != nil {
			msg = err.Error()
			if sitrep.ErrorKind(err) != sitrep.EInvalid {
				t.Errorf("%q: error %v is not EInvalid", tt.in, err)
			}
		}
		if key != tt.key || msg != tt.err {
			t.Errorf("%q: %q, %q; want %q, %q", tt.in, key, msg, tt.key, tt.err)
		}
	}
}

func FuzzRecipientKey(f *testing.F) {
	for _, s := range []string{"abc@host", "a+b@c", "<x@y>", "", "@", "+", "\x00@x", "ü@x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, rcpt string) {
		key, err := RecipientKey(rcpt)
		if err != nil {
			if sitrep.ErrorKind(err) != sitrep.EInvalid || key != "" {
				t.Fatalf("%q: key %q, error %v", rcpt, key, err)
			}
			return
		}
		if key == "" || len(key) > maxKey || strings.ContainsAny(key, "+ \t\r\n\x00") || !strings.Contains(rcpt, key) {
			t.Fatalf("%q: key %q", rcpt, key)
		}
	})
}
