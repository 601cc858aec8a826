package web

import (
	"fmt"
	"math"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/sitrep-ir/sitrep"
	"github.com/sitrep-ir/sitrep/password"
)

// Session cookie names. Over TLS the __Host- prefix makes browsers refuse
// the cookie unless it is Secure, for the whole host and set by it, so a
// sibling subdomain cannot plant one. Plain http (a laptop on 127.0.0.1)
// cannot have a Secure cookie, so it gets a plain name.
const (
	cookieSecure = "__Host-sitrep_session"
	cookiePlain  = "sitrep_session"
)

// Sign-in limits. Every attempt from an address costs one of its tokens
// (addrBurst, one back every addrEvery), before any password is hashed, so
// a client cannot make the server hash faster than that. A failure also
// costs one of the user name's tokens (nameBurst, one back every
// nameEvery): guessing one person's password is slow from any number of
// addresses, and a successful sign-in costs that person nothing.
const (
	addrBurst = 30
	addrEvery = 2 * time.Second
	nameBurst = 5
	nameEvery = 30 * time.Second
	// maxBuckets bounds the memory of each limiter.
	maxBuckets = 10000
)

// secure reports whether r reached the server over TLS, directly or (as
// the public URL says) through a proxy.
func (s *Server) secure(r *http.Request) bool { return s.https || r.TLS != nil }

func (s *Server) cookieName(r *http.Request) string {
	if s.secure(r) {
		return cookieSecure
	}
	return cookiePlain
}

// sessionUser returns the person whose session cookie r carries.
func (s *Server) sessionUser(r *http.Request) (*sitrep.User, error) {
	c, err := r.Cookie(s.cookieName(r))
	if err != nil {
		return nil, sitrep.Errorf(sitrep.EUnauthorized, "sign in first")
	}
	return s.svc.SessionUser(r.Context(), c.Value)
}

func (s *Server) setCookie(w http.ResponseWriter, r *http.Request, secret string) {
	http.SetCookie(w, &http.Cookie{
		Name: s.cookieName(r), Value: secret, Path: "/",
		MaxAge: int(sitrep.SessionMaxAge / time.Second), HttpOnly: true, Secure: s.secure(r), SameSite: http.SameSiteLaxMode,
	})
}

func (s *Server) clearCookie(w http.ResponseWriter, r *http.Request) {
	if _, err := r.Cookie(s.cookieName(r)); err != nil {
		return
	}
	http.SetCookie(w, &http.Cookie{Name: s.cookieName(r), Value: "", Path: "/", MaxAge: -1, HttpOnly: true, Secure: s.secure(r), SameSite: http.SameSiteLaxMode})
}

// loginData is the sign-in page.
type loginData struct {
	Name  string
	Next  string
	Error string
}

func (s *Server) loginPage(w http.ResponseWriter, r *http.Request) {
	if u, err := s.sessionUser(r); err == nil && u != nil {
		http.Redirect(w, r, safeNext(r.URL.Query().Get("next")), http.StatusSeeOther)
		return
	}
	s.render(w, r, http.StatusOK, "login", nil, "Sign in", loginData{Next: safeNext(r.URL.Query().Get("next"))})
}

func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 8<<10)
	if err := r.ParseForm(); err != nil {
		s.errorPage(w, r, nil, http.StatusBadRequest, "The sign-in form could not be read: it is too large or malformed.")
		return
	}
	name := strings.TrimSpace(r.PostForm.Get("name"))
	pw := r.PostForm.Get("password")
	next := safeNext(r.PostForm.Get("next"))
	data := loginData{Name: clip(name, 64), Next: next}

	addr := clientAddr(r)
	if ok, wait := s.addrLimit.take("addr:" + addr); !ok {
		s.tooMany(w, r, data, wait)
		return
	}
	nameKey := "name:" + strings.ToLower(clip(name, 64))
	if ok, wait := s.nameLimit.peek(nameKey); !ok {
		s.tooMany(w, r, data, wait)
		return
	}
	verify := func(hash, pw string) error { return password.VerifyContext(r.Context(), hash, pw) }
	u, secret, err := s.svc.SignIn(r.Context(), name, pw, s.dummyHash(), verify)
	if err != nil {
		if sitrep.ErrorKind(err) != sitrep.EUnauthorized {
			s.fail(w, r, nil, err)
			return
		}
		s.nameLimit.take(nameKey)
		s.log.Info("sign-in refused", "user", clip(name, 64), "addr", addr)
		data.Error = sitrep.ErrorMessage(err)
		s.render(w, r, http.StatusUnauthorized, "login", nil, "Sign in", data)
		return
	}
	s.setCookie(w, r, secret)
	s.log.Info("signed in", "user", u.Name, "addr", addr)
	http.Redirect(w, r, next, http.StatusSeeOther)
}

func (s *Server) tooMany(w http.ResponseWriter, r *http.Request, data loginData, wait time.Duration) {
	secs := int(math.Ceil(wait.Seconds()))
	w.Header().Set("Retry-After", strconv.Itoa(secs))
	data.Error = fmt.Sprintf("Too many sign-in attempts. Wait %d seconds and try again.", secs)
	s.render(w, r, http.StatusTooManyRequests, "login", nil, "Sign in", data)
}

func (s *Server) logout(w http.ResponseWriter, r *http.Request) {
	if c, err := r.Cookie(s.cookieName(r)); err == nil {
		if err := s.svc.EndSession(r.Context(), c.Value); err != nil {
			s.log.Error("sign out", "err", err)
		}
	}
	s.clearCookie(w, r)
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

// safeNext returns where to go after signing in: a path of this site, or
// the board. Anything that could leave the site ("//host", "/\host", a
// scheme) becomes the board.
func safeNext(next string) string {
	if next == "" || len(next) > 2000 || !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.HasPrefix(next, "/\\") ||
		strings.ContainsAny(next, "\\\r\n\t\x00") {
		return "/"
	}
	return next
}

// clientAddr is the address a request came from, without its port.
// Forwarded headers are not trusted: behind a proxy, every client shares
// the proxy's address and limit.
func clientAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// dummyPasswordHash makes the hash verified for sign-ins that name no user
// with a password, with the real parameters so that it costs the same.
// Hashing fails only if the system has no randomness; a fixed salt does as
// well then, since the hash is never meant to match.
func dummyPasswordHash() string {
	if h, err := password.Hash("no one signs in with this"); err == nil {
		return h
	}
	return "$argon2id$v=19$m=32768,t=3,p=2$c2l0cmVwLWR1bW15$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
}

// limiter is a set of token buckets in memory, one per key: each holds up
// to burst tokens and gains one every period.
type limiter struct {
	mu      sync.Mutex
	burst   float64
	every   time.Duration
	now     func() time.Time
	buckets map[string]*bucket
}

type bucket struct {
	tokens float64
	at     time.Time
}

func newLimiter(burst int, every time.Duration, now func() time.Time) *limiter {
	return &limiter{burst: float64(burst), every: every, now: now, buckets: map[string]*bucket{}}
}

// fill returns key's bucket brought up to now; the caller holds l.mu.
func (l *limiter) fill(key string) *bucket {
	now := l.now()
	b, ok := l.buckets[key]
	if !ok {
		if len(l.buckets) >= maxBuckets {
			l.sweep(now)
		}
		b = &bucket{tokens: l.burst, at: now}
		l.buckets[key] = b
		return b
	}
	if d := now.Sub(b.at); d > 0 {
		b.tokens = math.Min(l.burst, b.tokens+float64(d)/float64(l.every))
		b.at = now
	}
	return b
}

// sweep forgets full buckets, which are as good as none; if every bucket
// is in use it forgets an arbitrary half, so memory stays bounded even
// under a flood of fresh keys (at worst some keys get a fresh burst).
func (l *limiter) sweep(now time.Time) {
	for k, b := range l.buckets {
		if b.tokens+float64(now.Sub(b.at))/float64(l.every) >= l.burst {
			delete(l.buckets, k)
		}
	}
	if len(l.buckets) >= maxBuckets {
		n := 0
		for k := range l.buckets {
			if n%2 == 0 {
				delete(l.buckets, k)
			}
			n++
		}
	}
}

// wait is how long until key's bucket holds a token; the caller holds l.mu.
func (l *limiter) wait(b *bucket) time.Duration {
	return time.Duration((1 - b.tokens) * float64(l.every))
}

// peek reports whether key has a token, without taking it, and if not how
// long until it has.
func (l *limiter) peek(key string) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.fill(key)
	if b.tokens >= 1 {
		return true, 0
	}
	return false, l.wait(b)
}

// take takes a token of key if it has one; if not it reports how long
// until it has.
func (l *limiter) take(key string) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.fill(key)
	if b.tokens >= 1 {
		b.tokens--
		return true, 0
	}
	return false, l.wait(b)
}

// size returns how many buckets the limiter holds (tests).
func (l *limiter) size() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.buckets)
}
