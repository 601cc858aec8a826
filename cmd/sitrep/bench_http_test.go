package main

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
)

// TestRawHTTP sends with the load tool's own client to a net/http server
// on 127.0.0.1 that answers in each way HTTP/1.1 allows, and checks that
// every answer is read whole: the next request on the connection gets its
// own answer.
func TestRawHTTP(t *testing.T) {
	var conns atomic.Int64
	mux := http.NewServeMux()
	mux.HandleFunc("POST /length", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer k1" || r.Header.Get("Content-Type") != "application/json" {
			http.Error(w, "headers", http.StatusUnauthorized)
			return
		}
		body, _ := io.ReadAll(r.Body)
		w.WriteHeader(http.StatusAccepted)
		w.Write(body)
	})
	mux.HandleFunc("POST /chunked", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Trailer", "X-Sum")
		w.WriteHeader(http.StatusOK)
		w.Write([]byte(strings.Repeat("a", 5000)))
		w.(http.Flusher).Flush()
		w.Write([]byte("end"))
		w.Header().Set("X-Sum", "1")
	})
	mux.HandleFunc("POST /close", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Connection", "close")
		w.WriteHeader(http.StatusServiceUnavailable)
		w.Write([]byte("bye"))
	})
	mux.HandleFunc("POST /empty", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) })
	srv := httptest.NewUnstartedServer(mux)
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()

	for _, tc := range []struct {
		path, key string
		want      int
		wantConns int64 // connections opened by 3 requests
	}{
		{"/length", "k1", http.StatusAccepted, 1},
		{"/length", "", http.StatusUnauthorized, 1},
		{"/chunked", "", http.StatusOK, 1},
		{"/empty", "", http.StatusNoContent, 1},
		{"/close", "", http.StatusServiceUnavailable, 3},
		{"/none", "", http.StatusNotFound, 1},
	} {
		t.Run(tc.path, func(t *testing.T) {
			u, _ := url.Parse(srv.URL + tc.path)
			c, err := newRawHTTP(u, tc.key)
			if err != nil {
				t.Fatal(err)
			}
			defer c.close()
			before := conns.Load()
			for i := range 3 {
				status, took, err := c.post(t.Context(), []byte(`{"n":1}`))
				if err != nil || status != tc.want || took <= 0 {
					t.Fatalf("request %d: status %d, took %v, err %v; want %d", i, status, took, err, tc.want)
				}
			}
			if got := conns.Load() - before; got != tc.wantConns {
				t.Errorf("3 requests opened %d connections, want %d", got, tc.wantConns)
			}
		})
	}
}

// TestRawHTTPEnds: a request in flight when the run ends returns at once
// with the context's error.
func TestRawHTTPEnds(t *testing.T) {
	held, release := make(chan struct{}, 1), make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		held <- struct{}{}
		<-release
	}))
	defer srv.Close()
	defer close(release)
	u, _ := url.Parse(srv.URL)
	c, _ := newRawHTTP(u, "")
	defer c.close()
	ctx, cancel := context.WithCancel(t.Context())
	go func() {
		<-held
		cancel()
	}()
	if _, _, err := c.post(ctx, []byte("{}")); !errors.Is(err, context.Canceled) {
		t.Errorf("post after the run ended: %v, want context.Canceled", err)
	}
}

// TestReadAnswer reads answers written by hand, well formed or not.
func TestReadAnswer(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		status   int
		keep     bool
		err      error
	}{
		{"length", "HTTP/1.1 202 Accepted\r\nContent-Length: 3\r\n\r\nabc", 202, true, nil},
		{"bare LF and no reason", "HTTP/1.1 200\nContent-Length: 0\n\n", 200, true, nil},
		{"interim answer first", "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\ncontent-length: 2\r\n\r\nok", 201, true, nil},
		{"chunked with trailer", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3;x=1\r\nabc\r\n0\r\nX-T: 1\r\n\r\n", 200, true, nil},
		{"close", "HTTP/1.1 500 Internal Server Error\r\nConnection: close\r\nContent-Length: 1\r\n\r\nx", 500, false, nil},
		{"HTTP/1.0 keep-alive", "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 1\r\n\r\nx", 200, true, nil},
		{"until the end", "HTTP/1.0 200 OK\r\n\r\nall of it", 200, false, nil},
		{"short body", "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", 0, false, io.ErrUnexpectedEOF},
		{"not HTTP", "SSH-2.0-OpenSSH\r\n\r\n", 0, false, errBadAnswer},
		{"bad length", "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", 0, false, errBadAnswer},
		{"bad chunk", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 0, false, errBadAnswer},
		{"cut in the headers", "HTTP/1.1 200 OK\r\nContent-Le", 0, false, io.ErrUnexpectedEOF},
		{"nothing", "", 0, false, io.EOF},
	} {
		t.Run(tc.name, func(t *testing.T) {
			br := bufio.NewReader(strings.NewReader(tc.in))
			status, keep, err := readAnswer(br)
			if status != tc.status && tc.err == nil || keep != tc.keep || !errors.Is(err, tc.err) {
				t.Errorf("status %d, keep %v, err %v; want %d, %v, %v", status, keep, err, tc.status, tc.keep, tc.err)
			}
			if tc.err == nil && tc.keep {
				if rest, _ := io.ReadAll(br); len(rest) != 0 {
					t.Errorf("%q left after the answer", rest)
				}
			}
		})
	}
}
