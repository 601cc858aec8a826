package web

import (
	"bytes"
	"compress/gzip"
	"net/http"
	"strconv"
	"strings"
)

// minGzip is the smallest body worth compressing: below it the gzip
// header and the work cost more than they save.
const minGzip = 1024

// acceptsGzip reports whether the client takes gzip-encoded answers.
func acceptsGzip(r *http.Request) bool {
	for part := range strings.SplitSeq(r.Header.Get("Accept-Encoding"), ",") {
		coding, params, _ := strings.Cut(part, ";")
		if !strings.EqualFold(strings.TrimSpace(coding), "gzip") {
			continue
		}
		for p := range strings.SplitSeq(params, ";") {
			if k, v, ok := strings.Cut(strings.TrimSpace(p), "="); ok && strings.TrimSpace(k) == "q" {
				q, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
				return err == nil && q > 0
			}
		}
		return true
	}
	return false
}

// gzipBytes compresses b. Pages are compressed once each time they are
// rendered; static files once at start.
func gzipBytes(b []byte) []byte {
	var buf bytes.Buffer
	buf.Grow(len(b) / 4)
	zw, _ := gzip.NewWriterLevel(&buf, gzip.DefaultCompression) // the level is valid
	zw.Write(b)                                                 // writes to a bytes.Buffer do not fail
	zw.Close()
	return buf.Bytes()
}

// writeBody writes body with code, gzip-encoded when the client takes it
// and the body is large enough. Headers other than the encoding's are the
// caller's.
func writeBody(w http.ResponseWriter, r *http.Request, code int, body []byte) {
	w.Header().Add("Vary", "Accept-Encoding")
	if len(body) >= minGzip && acceptsGzip(r) {
		body = gzipBytes(body)
		w.Header().Set("Content-Encoding", "gzip")
	}
	w.WriteHeader(code)
	_, _ = w.Write(body)
}
