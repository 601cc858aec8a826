package storetest

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/sitrep-ir/sitrep"
)

// runWeb runs the checks of sitrep.SessionStore: passwords and web sessions.
func runWeb(t *testing.T, h Harness) {
	t.Run("Passwords", func(t *testing.T) { testPasswords(t, h) })
	t.Run("SignIn", func(t *testing.T) { testSignIn(t, h) })
	t.Run("SessionExpiry", func(t *testing.T) { testSessionExpiry(t, h) })
	t.Run("SessionStore", func(t *testing.T) { testSessionStore(t, h) })
}

// webFixture is a fixture whose store keeps sessions.
type webFixture struct {
	*fixture
	ss sitrep.SessionStore
}

func newWebFixture(t testing.TB, h Harness) *webFixture {
	t.Helper()
	f := newFixture(t, h)
	ss, ok := f.store.(sitrep.SessionStore)
	if !ok {
		t.Fatalf("%T does not implement sitrep.SessionStore", f.store)
	}
	return &webFixture{fixture: f, ss: ss}
}

// The suite checks storage, not hashing: a reversible stand-in for argon2id
// keeps it fast and shows exactly what was stored.
func fakeHash(pw string) (string, error) { return "fake$" + pw, nil }

func fakeVerify(hash, pw string) error {
	if hash != "fake$"+pw {
		return errors.New("mismatch")
	}
	return nil
}

const dummyHash = "fake$\x00never"

func (f *webFixture) setPassword(actor *sitrep.User, name, pw string) {
	f.t.Helper()
	if err := f.svc.SetPassword(f.ctx, actor, name, pw, fakeHash); err != nil {
		f.t.Fatalf("set password of %s as %s: %v", name, actor.Name, err)
	}
}

func (f *webFixture) signIn(name, pw string) string {
	f.t.Helper()
	u, secret, err := f.svc.SignIn(f.ctx, name, pw, dummyHash, fakeVerify)
	if err != nil {
		f.t.Fatalf("sign in as %s: %v", name, err)
	}
	if u.Name != name {
		f.t.Fatalf("signed in as %s, got user %s", name, u.Name)
	}
	return secret
}

func testPasswords(t *testing.T, h Harness) {
	f := newWebFixture(t, h)
	alice, bob := f.user("alice"), f.user("bob")

	u, hash, err := f.ss.PasswordHash(f.ctx, "alice")
	if err != nil || hash != "" || u.Name != "alice" || u.Role != sitrep.OrgResponder {
		t.Fatalf("a new user's password: %v %q %v, want no hash", u, hash, err)
	}
	f.setPassword(alice, "alice", "alice's own passphrase")
	f.setPassword(f.admin, "bob", "set by the admin")
	for name, want := range map[string]string{"alice": "fake$alice's own passphrase", "bob": "fake$set by the admin"} {
		u, hash, err := f.ss.PasswordHash(f.ctx, name)
		if err != nil || hash != want {
			t.Errorf("password of %s: %q, %v; want %q", name, hash, err, want)
		}
		if d := diff(f.users[name], u); d != "" {
			t.Errorf("user %s with the password (-created +loaded):\n%s", name, d)
		}
	}

	hashed := 0
	counting := func(pw string) (string, error) { hashed++; return fakeHash(pw) }
	for _, tc := range []struct {
		name       string
		actor      *sitrep.User
		user, pw   string
		want       sitrep.Kind
		wantInText string
	}{
		{"someone else's", bob, "alice", "long enough", sitrep.EForbidden, "only administrators"},
		{"signed out", nil, "alice", "long enough", sitrep.EUnauthorized, "sign in"},
		{"too short", alice, "alice", "short", sitrep.EInvalid, "at least 8"},
		{"too long", alice, "alice", strings.Repeat("x", sitrep.MaxPassword+1), sitrep.EInvalid, "limit"},
		{"not UTF-8", alice, "alice", "abc\xffdefgh", sitrep.EInvalid, "UTF-8"},
		{"unknown user", f.admin, "nobody", "long enough", sitrep.ENotFound, "nobody"},
		{"bad name", f.admin, "Not A Name", "long enough", sitrep.EInvalid, "not a valid name"},
		{"the dispatcher", f.admin, sitrep.DispatchUser, "long enough", sitrep.EForbidden, "dispatcher"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := f.svc.SetPassword(f.ctx, tc.actor, tc.user, tc.pw, counting)
			requireKind(t, tc.name, err, tc.want)
			if !strings.Contains(err.Error(), tc.wantInText) {
				t.Errorf("error %q does not mention %q", err, tc.wantInText)
			}
		})
	}
	if hashed != 0 {
		t.Errorf("refused requests hashed %d passwords: hashing must wait until a request is allowed", hashed)
	}
	if err := f.ss.SetPasswordHash(f.ctx, "nobody", "x"); sitrep.ErrorKind(err) != sitrep.ENotFound {
		t.Errorf("store: password of an unknown user: %v, want not-found", err)
	}
	if _, _, err := f.ss.PasswordHash(f.ctx, "nobody"); sitrep.ErrorKind(err) != sitrep.ENotFound {
		t.Errorf("store: password hash of an unknown user: %v, want not-found", err)
	}
}

func testSignIn(t *testing.T, h Harness) {
	f := newWebFixture(t, h)
	f.user("alice")
	f.user("nopass")
	f.setPassword(f.admin, "alice", "correct horse")

	secret := f.signIn("alice", "correct horse")
	if len(secret) < 43 {
		t.Errorf("session secret %q is shorter than 256 bits in base64", secret)
	}
	u, err := f.svc.SessionUser(f.ctx, secret)
	if err != nil || u.Name != "alice" {
		t.Fatalf("session user: %v, %v", u, err)
	}
	other := f.signIn("alice", "correct horse")
	if other == secret {
		t.Errorf("two sign-ins got one session secret")
	}

	var dummyChecks int
	verify := func(hash, pw string) error {
		if hash == dummyHash {
			dummyChecks++
		}
		return fakeVerify(hash, pw)
	}
	for _, tc := range []struct{ name, user, pw string }{
		{"wrong password", "alice", "correct horse!"},
		{"unknown user", "mallory", "correct horse"},
		{"no password set", "nopass", "anything at all"},
		{"the dispatcher", sitrep.DispatchUser, "anything at all"},
		{"bad name", "../etc", "anything at all"},
		{"overlong password", "alice", strings.Repeat("x", sitrep.MaxPassword+1)},
	} {
		_, s, err := f.svc.SignIn(f.ctx, tc.user, tc.pw, dummyHash, verify)
		requireKind(t, tc.name, err, sitrep.EUnauthorized)
		if s != "" || err.Error() != sitrep.ErrSignIn().Error() {
			t.Errorf("%s: %q, %v; want no session and the one sign-in error", tc.name, s, err)
		}
	}
	if dummyChecks != 2 {
		t.Errorf("the dummy hash was checked %d times, want 2 (unknown user, no password): a failed sign-in must cost the same work", dummyChecks)
	}

	// A new password ends every session of its user.
	f.setPassword(f.admin, "alice", "a new passphrase")
	for _, s := range []string{secret, other} {
		if _, err := f.svc.SessionUser(f.ctx, s); sitrep.ErrorKind(err) != sitrep.EUnauthorized {
			t.Errorf("a session after the password changed: %v, want unauthorized", err)
		}
	}
	if _, _, err := f.svc.SignIn(f.ctx, "alice", "correct horse", dummyHash, fakeVerify); sitrep.ErrorKind(err) != sitrep.EUnauthorized {
		t.Errorf("the old password still signs in: %v", err)
	}
	s := f.signIn("alice", "a new passphrase")
	if err := f.svc.EndSession(f.ctx, s); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.SessionUser(f.ctx, s); sitrep.ErrorKind(err) != sitrep.EUnauthorized {
		t.Errorf("a session after sign-out: %v, want unauthorized", err)
	}
	if err := f.svc.EndSession(f.ctx, s); err != nil {
		t.Errorf("signing out twice: %v", err)
	}
	for _, bad := range []string{"", "not-a-session", strings.Repeat("x", 300)} {
		if _, err := f.svc.SessionUser(f.ctx, bad); sitrep.ErrorKind(err) != sitrep.EUnauthorized {
			t.Errorf("session %.20q: %v, want unauthorized", bad, err)
		}
	}
}

func testSessionExpiry(t *testing.T, h Harness) {
	f := newWebFixture(t, h)
	f.user("alice")
	f.setPassword(f.admin, "alice", "correct horse")
	f.clock.SetStep(0)
	t0 := time.Date(2026, 5, 1, 8, 0, 0, 0, time.UTC)
	f.clock.Set(t0)
	alive := func(secret string, at time.Time) bool {
		t.Helper()
		f.clock.Set(at)
		_, err := f.svc.SessionUser(f.ctx, secret)
		if err != nil && sitrep.ErrorKind(err) != sitrep.EUnauthorized {
			t.Fatalf("session user: %v", err)
		}
		return err == nil
	}

	// Used every 11 hours, a session lives its 7 days and no longer.
	s := f.signIn("alice", "correct horse")
	at := t0
	for at.Add(11 * time.Hour).Before(t0.Add(sitrep.SessionMaxAge)) {
		at = at.Add(11 * time.Hour)
		if !alive(s, at) {
			t.Fatalf("a session used every 11 hours ended at %v, after %v", at, at.Sub(t0))
		}
	}
	if alive(s, t0.Add(sitrep.SessionMaxAge)) {
		t.Errorf("a session is alive %v after sign-in", sitrep.SessionMaxAge)
	}
	f.clock.Set(t0)
	if alive(s, t0.Add(time.Hour)) {
		t.Errorf("an expired session came back: it must be removed when found expired")
	}

	// Left alone for 12 hours, a session ends.
	f.clock.Set(t0)
	idle := f.signIn("alice", "correct horse")
	if !alive(idle, t0.Add(sitrep.SessionIdle-time.Second)) {
		t.Errorf("a session ended before %v idle", sitrep.SessionIdle)
	}
	if !alive(idle, t0.Add(2*sitrep.SessionIdle-2*time.Second)) {
		t.Errorf("a session used %v ago ended: its use was not recorded", sitrep.SessionIdle-time.Second)
	}
	if alive(idle, t0.Add(3*sitrep.SessionIdle)) {
		t.Errorf("a session idle for %v is alive", sitrep.SessionIdle+time.Second)
	}

	// ExpireSessions removes what has ended and leaves the rest.
	f.clock.Set(t0)
	old := f.signIn("alice", "correct horse")
	f.clock.Set(t0.Add(13 * time.Hour))
	fresh := f.signIn("alice", "correct horse")
	n, err := f.svc.ExpireSessions(f.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Errorf("expired %d sessions, want 1", n)
	}
	if !alive(fresh, t0.Add(13*time.Hour)) || alive(old, t0) {
		t.Errorf("ExpireSessions removed the wrong session")
	}
}

func testSessionStore(t *testing.T, h Harness) {
	f := newWebFixture(t, h)
	f.user("alice")
	created := start.Add(time.Hour)
	sess := &sitrep.Session{Hash: sitrep.HashToken("s1"), User: "alice", CreatedAt: created.UTC().Truncate(time.Microsecond), LastSeen: created.UTC().Truncate(time.Microsecond)}
	if err := f.ss.CreateSession(f.ctx, sess); err != nil {
		t.Fatal(err)
	}
	got, u, err := f.ss.Session(f.ctx, sess.Hash)
	if err != nil {
		t.Fatal(err)
	}
	if d := diff(sess, got); d != "" {
		t.Errorf("session (-stored +loaded):\n%s", d)
	}
	if got.CreatedAt.Location() != time.UTC || got.LastSeen.Location() != time.UTC {
		t.Errorf("session times not in UTC: %v %v", got.CreatedAt.Location(), got.LastSeen.Location())
	}
	if d := diff(f.users["alice"], u); d != "" {
		t.Errorf("session user (-created +loaded):\n%s", d)
	}

	// Touching never moves the last use back.
	later := sess.LastSeen.Add(time.Minute)
	if err := f.ss.TouchSession(f.ctx, sess.Hash, later); err != nil {
		t.Fatal(err)
	}
	if err := f.ss.TouchSession(f.ctx, sess.Hash, sess.LastSeen); err != nil {
		t.Fatal(err)
	}
	if got, _, _ := f.ss.Session(f.ctx, sess.Hash); !got.LastSeen.Equal(later) {
		t.Errorf("last seen %v, want %v", got.LastSeen, later)
	}

	requireKind(t, "duplicate session", f.ss.CreateSession(f.ctx, sess), sitrep.EConflict)
	requireKind(t, "session of an unknown user", f.ss.CreateSession(f.ctx, &sitrep.Session{Hash: "h2", User: "nobody", CreatedAt: created, LastSeen: created}), sitrep.ENotFound)
	_, _, err = f.ss.Session(f.ctx, "missing")
	requireKind(t, "missing session", err, sitrep.ENotFound)
	if err := f.ss.TouchSession(f.ctx, "missing", later); err != nil {
		t.Errorf("touch a missing session: %v", err)
	}
	if err := f.ss.DeleteSession(f.ctx, "missing"); err != nil {
		t.Errorf("delete a missing session: %v", err)
	}
	if err := f.ss.DeleteSession(f.ctx, sess.Hash); err != nil {
		t.Fatal(err)
	}
	_, _, err = f.ss.Session(f.ctx, sess.Hash)
	requireKind(t, "deleted session", err, sitrep.ENotFound)
}
