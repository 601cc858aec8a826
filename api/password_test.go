package api

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/sitrep-ir/sitrep"
	"github.com/sitrep-ir/sitrep/password"
)

func TestSetPassword(t *testing.T) {
	e := newEnv(t, sqliteStore)
	alice := e.addUser("alice", sitrep.OrgResponder)
	e.addUser("bob", sitrep.OrgResponder)
	viewer := e.addUser("vic", sitrep.OrgViewer)
	put := func(as *caller, name string, body any) request {
		return request{method: "PUT", path: "/api/v1/users/" + esc(name) + "/password", as: as, body: body}
	}
	pw := func(s string) map[string]string { return map[string]string{"password": s} }

	e.ok(http.StatusNoContent, put(alice, "alice", pw("alice's passphrase")))
	e.ok(http.StatusNoContent, put(e.admin, "bob", pw("set by the admin")))
	// Viewers change nothing about incidents, but their own password is theirs.
	e.ok(http.StatusNoContent, put(viewer, "vic", pw("the viewer's own")))

	ss := e.store.(sitrep.SessionStore)
	for name, want := range map[string]string{"alice": "alice's passphrase", "bob": "set by the admin"} {
		_, hash, err := ss.PasswordHash(context.Background(), name)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(hash, "$argon2id$v=19$m=32768,t=3,p=2$") {
			t.Errorf("%s's stored hash %q is not argon2id with the default parameters", name, hash)
		}
		if err := password.Verify(hash, want); err != nil {
			t.Errorf("%s's password does not verify: %v", name, err)
		}
	}

	e.fail(http.StatusForbidden, "only administrators", put(alice, "bob", pw("taking over bob")))
	e.fail(http.StatusUnauthorized, "", put(nil, "alice", pw("no token at all")))
	e.fail(http.StatusBadRequest, "at least 8", put(alice, "alice", pw("short")))
	e.fail(http.StatusBadRequest, "limit is 256", put(alice, "alice", pw(strings.Repeat("x", 257))))
	e.fail(http.StatusBadRequest, "", put(alice, "alice", map[string]string{"password": "long enough", "extra": "x"}))
	e.fail(http.StatusBadRequest, "", put(alice, "alice", nil))
	e.fail(http.StatusNotFound, "nobody", put(e.admin, "nobody", pw("long enough")))
	e.fail(http.StatusForbidden, "dispatcher", put(e.admin, sitrep.DispatchUser, pw("long enough")))
}
