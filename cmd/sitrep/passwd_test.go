package main

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// TestPasswd sets a password with the CLI and signs in to the web UI with it.
func TestPasswd(t *testing.T) {
	s := startServer(t)
	s.ok(t, s.Admin, "user", "add", "alice")

	r := s.run(s.Admin, "correct horse battery\n", "user", "passwd", "alice", "--password-stdin")
	if r.code != 0 || !strings.Contains(r.stdout, "Password of alice set") || !strings.Contains(r.stdout, s.URL+"/login") {
		t.Fatalf("user passwd: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}

	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	signIn := func(pw string) int {
		t.Helper()
		req, _ := http.NewRequest("POST", s.URL+"/login", strings.NewReader(url.Values{"name": {"alice"}, "password": {pw}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := signIn("correct horse battery"); code != http.StatusSeeOther {
		t.Errorf("sign in with the new password: %d, want 303", code)
	}
	if code := signIn("correct horse battery\n"); code != http.StatusUnauthorized {
		t.Errorf("the line break is not part of the password, yet signing in with it gave %d", code)
	}

	for _, tc := range []struct {
		name, stdin string
		args        []string
		want        string
	}{
		{"too short", "short\n", []string{"--password-stdin"}, "at least 8"},
		{"empty input", "", []string{"--password-stdin"}, "holds no password"},
		{"not a terminal", "", nil, "--password-stdin"},
	} {
		r := s.run(s.Admin, tc.stdin, append([]string{"user", "passwd", "alice"}, tc.args...)...)
		if r.code == 0 || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("%s: exit %d, stderr %q; want a failure mentioning %q", tc.name, r.code, r.stderr, tc.want)
		}
	}
}
