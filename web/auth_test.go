package web

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sitrep-ir/sitrep"
)

func TestSignInAndOut(t *testing.T) {
	e := newEnv(t)
	e.user("alice", sitrep.OrgResponder)
	b := e.browser()

	r := b.get("/incidents/IR-2026-0001?x=1")
	if r.code != http.StatusSeeOther || r.header.Get("Location") != "/login?next=%2Fincidents%2FIR-2026-0001%3Fx%3D1" {
		t.Fatalf("a page without a session: %d to %q, want 303 to the sign-in page", r.code, r.header.Get("Location"))
	}
	if !strings.Contains(b.ok("/login"), `name="password"`) {
		t.Errorf("the sign-in page has no password field")
	}

	for _, tc := range []struct{ name, pw string }{
		{"alice", "wrong passphrase"},
		{"mallory", "alice passphrase"},
		{"", ""},
	} {
		r := b.post("/login", url.Values{"name": {tc.name}, "password": {tc.pw}})
		if r.code != http.StatusUnauthorized || !strings.Contains(r.body, "The user name or the password is wrong") && !strings.Contains(r.body, "the user name or the password is wrong") {
			t.Errorf("sign in as %q with %q: %d, want 401 with the one sign-in error\n%s", tc.name, tc.pw, r.code, r.body)
		}
		if r.header.Get("Set-Cookie") != "" {
			t.Errorf("a failed sign-in set a cookie: %s", r.header.Get("Set-Cookie"))
		}
	}

	r = b.post("/login", url.Values{"name": {"alice"}, "password": {"alice passphrase"}, "next": {"/triage"}})
	if r.code != http.StatusSeeOther || r.header.Get("Location") != "/triage" {
		t.Fatalf("sign in: %d to %q\n%s", r.code, r.header.Get("Location"), r.body)
	}
	c := cookieOf(t, r, cookiePlain)
	if !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || c.Path != "/" || c.Secure || len(c.Value) < 43 {
		t.Errorf("session cookie %+v: want HttpOnly, SameSite=Lax, Path=/, a 256-bit secret", c)
	}
	if !strings.Contains(b.ok("/"), "Incident board") {
		t.Errorf("the board is not shown once signed in")
	}
	if r := b.get("/login"); r.code != http.StatusSeeOther {
		t.Errorf("the sign-in page when signed in: %d, want a redirect", r.code)
	}

	// The session is in the store, hashed: the cookie's value is not.
	if _, err := e.svc.SessionUser(context.Background(), c.Value); err != nil {
		t.Errorf("the cookie's session: %v", err)
	}

	r = b.post("/logout", nil)
	if r.code != http.StatusSeeOther || r.header.Get("Location") != "/login" {
		t.Fatalf("sign out: %d to %q", r.code, r.header.Get("Location"))
	}
	if c := cookieOf(t, r, cookiePlain); c.MaxAge >= 0 {
		t.Errorf("sign-out did not clear the cookie: %+v", c)
	}
	if _, err := e.svc.SessionUser(context.Background(), c.Value); sitrep.ErrorKind(err) != sitrep.EUnauthorized {
		t.Errorf("the session after sign-out: %v, want it ended", err)
	}
	// A copy of the old cookie no longer works either.
	stolen := e.browser()
	u, _ := url.Parse(e.srv.URL)
	stolen.c.Jar.SetCookies(u, []*http.Cookie{{Name: cookiePlain, Value: c.Value}})
	if r := stolen.get("/"); r.code != http.StatusSeeOther {
		t.Errorf("an ended session's cookie: %d, want a redirect to sign in", r.code)
	}
	// Scripts get 401, not a redirect to a page they cannot show.
	req, _ := http.NewRequest("GET", e.srv.URL+"/board/rows", nil)
	req.Header.Set("Sec-Fetch-Dest", "empty")
	if r := stolen.do(req); r.code != http.StatusUnauthorized {
		t.Errorf("a fragment without a session: %d, want 401", r.code)
	}
}

func TestSessionExpiresWhenIdle(t *testing.T) {
	e := newEnv(t)
	e.user("alice", sitrep.OrgResponder)
	b := e.signedIn("alice")
	e.clock.add(11 * time.Hour)
	b.ok("/")
	e.clock.add(11 * time.Hour)
	b.ok("/") // used within 12 hours: still signed in
	e.clock.add(sitrep.SessionIdle + time.Minute)
	if r := b.get("/"); r.code != http.StatusSeeOther {
		t.Errorf("after %v idle: %d, want a redirect to sign in", sitrep.SessionIdle+time.Minute, r.code)
	}
}

func TestSecureCookie(t *testing.T) {
	e := newEnv(t, withPublicURL("https://sitrep.example.org"))
	e.user("alice", sitrep.OrgResponder)
	b := e.browser()
	r := b.post("/login", url.Values{"name": {"alice"}, "password": {"alice passphrase"}}, "Origin", "https://sitrep.example.org")
	if r.code != http.StatusSeeOther {
		t.Fatalf("sign in behind TLS: %d\n%s", r.code, r.body)
	}
	c := cookieOf(t, r, cookieSecure)
	if !c.Secure || !c.HttpOnly || c.Path != "/" || c.Domain != "" {
		t.Errorf("cookie %+v: a __Host- cookie must be Secure, for / and without a domain", c)
	}
}

func TestSignInRateLimit(t *testing.T) {
	e := newEnv(t)
	e.user("alice", sitrep.OrgResponder)
	b := e.browser()
	try := func(name, pw string) response {
		return b.post("/login", url.Values{"name": {name}, "password": {pw}})
	}
	for i := range nameBurst {
		if r := try("alice", "guess "+strconv.Itoa(i)); r.code != http.StatusUnauthorized {
			t.Fatalf("guess %d: %d, want 401", i+1, r.code)
		}
	}
	r := try("alice", "alice passphrase")
	if r.code != http.StatusTooManyRequests {
		t.Fatalf("after %d wrong guesses the right password: %d, want 429", nameBurst, r.code)
	}
	retry, err := strconv.Atoi(r.header.Get("Retry-After"))
	if err != nil || retry < 1 || retry > int(nameEvery/time.Second) {
		t.Errorf("Retry-After %q, want 1–%d seconds", r.header.Get("Retry-After"), int(nameEvery/time.Second))
	}
	if !strings.Contains(r.body, "Too many sign-in attempts") {
		t.Errorf("the 429 page does not say why:\n%s", r.body)
	}
	// Another person signs in meanwhile: the limit is alice's.
	e.user("bob", sitrep.OrgResponder)
	if r := try("bob", "bob passphrase"); r.code != http.StatusSeeOther {
		t.Errorf("bob while alice is limited: %d", r.code)
	}
	e.clock.add(nameEvery)
	if r := try("alice", "alice passphrase"); r.code != http.StatusSeeOther {
		t.Errorf("alice after waiting: %d, want to be signed in", r.code)
	}
	// Successful sign-ins cost the name nothing.
	for range nameBurst + 1 {
		if r := try("alice", "alice passphrase"); r.code != http.StatusSeeOther {
			t.Fatalf("repeated good sign-ins: %d", r.code)
		}
	}

	// One address trying many names is limited too, before any hashing.
	e2 := newEnv(t)
	b2 := e2.browser()
	limited := 0
	for i := range addrBurst + 5 {
		r := b2.post("/login", url.Values{"name": {"user" + strconv.Itoa(i)}, "password": {"whatever"}})
		if r.code == http.StatusTooManyRequests {
			limited++
		}
	}
	if limited != 5 {
		t.Errorf("%d of %d attempts from one address were limited, want 5", limited, addrBurst+5)
	}
}

func TestLimiterMemoryIsBounded(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	l := newLimiter(2, time.Second, func() time.Time { return now })
	for i := range 3 * maxBuckets {
		l.take("k" + strconv.Itoa(i))
	}
	if n := l.size(); n > maxBuckets {
		t.Errorf("%d buckets, want at most %d", n, maxBuckets)
	}
	// A key that is being limited keeps its state through sweeps of the
	// full ones.
	l2 := newLimiter(1, time.Hour, func() time.Time { return now })
	l2.take("hot")
	for i := range maxBuckets - 1 {
		l2.peek("cold" + strconv.Itoa(i)) // full buckets
	}
	l2.take("one more")
	if ok, _ := l2.peek("hot"); ok {
		t.Errorf("a sweep forgot a bucket that was limiting")
	}
}

func TestCrossOriginPostsAreRefused(t *testing.T) {
	e := newEnv(t)
	inc := e.declare(e.admin, sitrep.DeclareInput{Title: "CSRF"})
	b := e.signedIn("admin")
	note := url.Values{"text": {"from elsewhere"}}
	path := "/incidents/" + inc.ID + "/note"
	for _, h := range [][]string{
		{"Sec-Fetch-Site", "cross-site"},
		{"Origin", "https://evil.example", "Sec-Fetch-Site", ""},
	} {
		r := b.post(path, note, h...)
		if r.code != http.StatusForbidden || !strings.Contains(r.body, "another site") {
			t.Errorf("a post with %v: %d, want 403 saying it came from another site", h, r.code)
		}
	}
	// Sign-in is a form too: no logging people in from another site.
	r := e.browser().post("/login", url.Values{"name": {"admin"}, "password": {"admin passphrase"}}, "Sec-Fetch-Site", "cross-site")
	if r.code != http.StatusForbidden {
		t.Errorf("a cross-site sign-in: %d, want 403", r.code)
	}
	b.act(path, note)
	got, _ := e.svc.Incident(context.Background(), e.admin, inc.ID)
	if got.Seq != 2 {
		t.Errorf("the incident has %d entries, want 2: only the same-origin note", got.Seq)
	}
}

func TestSafeNext(t *testing.T) {
	for in, want := range map[string]string{
		"":                     "/",
		"/incidents/IR-1?x=1":  "/incidents/IR-1?x=1",
		"//evil.example/":      "/",
		"/\\evil.example":      "/",
		"https://evil.example": "/",
		"javascript:alert(1)":  "/",
		"/ok\r\nSet-Cookie: x": "/",
		"relative":             "/",
	} {
		if got := safeNext(in); got != want {
			t.Errorf("safeNext(%q) = %q, want %q", in, got, want)
		}
	}
}

func FuzzSafeNext(f *testing.F) {
	for _, s := range []string{"/", "//x", "/\\x", "/a/b?c#d", "http://x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := safeNext(s)
		u, err := url.Parse(got)
		if err != nil || u.Scheme != "" || u.Host != "" || !strings.HasPrefix(got, "/") || strings.HasPrefix(got, "//") {
			t.Fatalf("safeNext(%q) = %q leaves the site", s, got)
		}
	})
}

func cookieOf(t *testing.T, r response, name string) *http.Cookie {
	t.Helper()
	for _, c := range (&http.Response{Header: r.header}).Cookies() {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("no cookie %s in %v", name, r.header["Set-Cookie"])
	return nil
}
