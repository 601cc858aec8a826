package email

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/sitrep-ir/sitrep/intake/intaketest"
)

func FuzzEmail(f *testing.F) {
	files, err := filepath.Glob("testdata/*.eml")
	if err != nil {
		f.Fatal(err)
	}
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(msg("Subject: s\nContent-Type: multipart/mixed; boundary=A", "--A\nContent-Type: multipart/alternative; boundary=B\n\n--B\n\nx\n--B--\n--A--")))
	f.Add([]byte(msg("Subject: =?utf-8?q?=FF?=\nFrom: \xff <a@b>\nReferences: <a@b><c@d>", "<p>&#xFFFFFF;</p>")))
	f.Add([]byte(msg("Subject: s\nContent-Type: text/html; charset=windows-1252\nContent-Transfer-Encoding: quoted-printable", "<b>=93x=94</b><style>")))
	f.Fuzz(func(t *testing.T, raw []byte) {
		ev, m, err := Parse(bytes.NewReader(raw), 1<<20)
		if err != nil {
			if cerr := intaketest.CheckError(err); cerr != nil {
				t.Fatal(cerr)
			}
			return
		}
		if cerr := intaketest.CheckEvent(ev); cerr != nil {
			t.Fatalf("%q: %v", raw, cerr)
		}
		if cerr := intaketest.CheckText(ev); cerr != nil {
			t.Fatalf("%q: %v", raw, cerr)
		}
		if ev.Summary == "" {
			t.Fatalf("%q: no summary", raw)
		}
		kept := 0
		for _, a := range m.Attachments {
			kept += len(a.Data)
			if int64(len(a.Data)) > a.Size {
				t.Fatalf("attachment keeps %d bytes of %d", len(a.Data), a.Size)
			}
		}
		if kept > MaxAttachmentBytes || len(m.Attachments) > MaxAttachments || len(m.Text) > 2*MaxText {
			t.Fatalf("limits broken: %d attachment bytes, %d attachments, %d bytes of text", kept, len(m.Attachments), len(m.Text))
		}
	})
}
