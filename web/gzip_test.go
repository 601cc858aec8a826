package web

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestAcceptsGzip(t *testing.T) {
	for header, want := range map[string]bool{
		"":                        false,
		"gzip":                    true,
		"br, gzip, deflate":       true,
		"GZIP;q=0.5":              true,
		"gzip;q=0":                false,
		"gzip; q=0.0, identity":   false,
		"deflate, br":             false,
		"x-gzip":                  false,
		"gzip;q=abc":              false,
		"identity;q=0, gzip;q=1 ": true,
	} {
		r := httptest.NewRequest("GET", "/", nil)
		r.Header.Set("Accept-Encoding", header)
		if got := acceptsGzip(r); got != want {
			t.Errorf("Accept-Encoding %q: gzip %v, want %v", header, got, want)
		}
	}
}

// A large page goes gzip-encoded to a client that takes it, as is to one
// that does not, and a small one always as is.
func TestWriteBodyCompresses(t *testing.T) {
	page := []byte(strings.Repeat("<li>EDR isolated FIN-LAPTOP-7</li>\n", 200))
	for _, tc := range []struct {
		accept string
		body   []byte
		gzip   bool
	}{
		{"gzip", page, true},
		{"", page, false},
		{"gzip", []byte("<p>small</p>"), false},
	} {
		r := httptest.NewRequest("GET", "/", nil)
		r.Header.Set("Accept-Encoding", tc.accept)
		w := httptest.NewRecorder()
		writeBody(w, r, http.StatusOK, tc.body)
		got := w.Body.Bytes()
		if enc := w.Header().Get("Content-Encoding"); (enc == "gzip") != tc.gzip {
			t.Fatalf("accept %q, %d bytes: Content-Encoding %q", tc.accept, len(tc.body), enc)
		}
		if tc.gzip {
			zr, err := gzip.NewReader(bytes.NewReader(got))
			if err != nil {
				t.Fatal(err)
			}
			if got, err = io.ReadAll(zr); err != nil {
				t.Fatal(err)
			}
			if w.Body.Len() > len(tc.body)/4 {
				t.Errorf("compressed to %d of %d bytes", w.Body.Len(), len(tc.body))
			}
		}
		if !bytes.Equal(got, tc.body) {
			t.Errorf("accept %q: body differs from the page", tc.accept)
		}
		if w.Header().Get("Vary") != "Accept-Encoding" {
			t.Errorf("Vary %q", w.Header().Get("Vary"))
		}
	}
}
