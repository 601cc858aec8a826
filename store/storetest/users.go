package storetest

import (
	"testing"

	"github.com/sitrep-ir/sitrep"
)

func testUsers(t *testing.T, h Harness) {
	f := newFixture(t, h)
	alice, err := f.svc.CreateUser(f.ctx, f.admin, sitrep.User{Name: "alice", Role: sitrep.OrgResponder, Email: "alice@example.org"})
	if err != nil {
		t.Fatalf("create alice: %v", err)
	}
	viewer, err := f.svc.CreateUser(f.ctx, f.admin, sitrep.User{Name: "vic", Role: sitrep.OrgViewer})
	if err != nil {
		t.Fatalf("create vic: %v", err)
	}

	t.Run("round trip", func(t *testing.T) {
		for _, want := range []*sitrep.User{alice, viewer, f.admin} {
			got, err := f.store.User(f.ctx, want.Name)
			if err != nil {
				t.Fatalf("load %s: %v", want.Name, err)
			}
			if d := diff(want, got); d != "" {
				t.Errorf("user %s (-created +loaded):\n%s", want.Name, d)
			}
			if got.CreatedAt.Location().String() != "UTC" {
				t.Errorf("user %s: created_at in %v, want UTC", want.Name, got.CreatedAt.Location())
			}
		}
	})

	t.Run("list ordered by name", func(t *testing.T) {
		if _, err := f.svc.CreateUser(f.ctx, f.admin, sitrep.User{Name: "bob"}); err != nil {
			t.Fatalf("create bob: %v", err)
		}
		users, err := f.store.Users(f.ctx)
		if err != nil {
			t.Fatalf("list users: %v", err)
		}
		var names []string
		for _, u := range users {
			names = append(names, u.Name)
		}
		if d := diff([]string{"admin", "alice", "bob", "vic"}, names); d != "" {
			t.Errorf("users (-want +got):\n%s", d)
		}
	})

	for _, tc := range []struct {
		name string
		run  func() error
		want sitrep.Kind
	}{
		{"duplicate name", func() error {
			return f.store.CreateUser(f.ctx, &sitrep.User{Name: "alice", Role: sitrep.OrgViewer, CreatedAt: start})
		}, sitrep.EConflict},
		{"duplicate through service", func() error {
			_, err := f.svc.CreateUser(f.ctx, f.admin, sitrep.User{Name: "alice"})
			return err
		}, sitrep.EConflict},
		{"unknown user", func() error {
			_, err := f.store.User(f.ctx, "nobody")
			return err
		}, sitrep.ENotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			requireKind(t, tc.name, tc.run(), tc.want)
		})
	}

	t.Run("duplicate leaves the first", func(t *testing.T) {
		got, err := f.store.User(f.ctx, "alice")
		if err != nil {
			t.Fatalf("load alice: %v", err)
		}
		if d := diff(alice, got); d != "" {
			t.Errorf("alice after a duplicate (-want +got):\n%s", d)
		}
	})
}

func testTokens(t *testing.T, h Harness) {
	f := newFixture(t, h)
	alice := f.user("alice")
	bob := f.user("bob")
	tok, secret, err := f.svc.CreateToken(f.ctx, alice, "", "laptop")
	if err != nil {
		t.Fatalf("create token: %v", err)
	}
	_, bobSecret, err := f.svc.CreateToken(f.ctx, f.admin, "bob", "ci")
	if err != nil {
		t.Fatalf("create token for bob: %v", err)
	}

	t.Run("token to user", func(t *testing.T) {
		for _, tc := range []struct {
			secret string
			want   *sitrep.User
		}{{secret, alice}, {bobSecret, bob}} {
			got, err := f.svc.Authenticate(f.ctx, tc.secret)
			if err != nil {
				t.Fatalf("authenticate as %s: %v", tc.want.Name, err)
			}
			if d := diff(tc.want, got); d != "" {
				t.Errorf("token user (-want +got):\n%s", d)
			}
		}
	})

	for _, tc := range []struct {
		name string
		run  func() error
		want sitrep.Kind
	}{
		{"unknown hash", func() error {
			_, err := f.store.TokenUser(f.ctx, sitrep.HashToken("sitrep_not-a-token-anyone-has-0123456789"))
			return err
		}, sitrep.ENotFound},
		{"unknown user", func() error {
			return f.store.CreateToken(f.ctx, &sitrep.Token{ID: "t-nobody", User: "nobody", Hash: sitrep.HashToken("x"), CreatedAt: start})
		}, sitrep.ENotFound},
		{"duplicate hash", func() error {
			return f.store.CreateToken(f.ctx, &sitrep.Token{ID: "t-other", User: "bob", Hash: tok.Hash, CreatedAt: start})
		}, sitrep.EConflict},
		{"duplicate id", func() error {
			return f.store.CreateToken(f.ctx, &sitrep.Token{ID: tok.ID, User: "bob", Hash: sitrep.HashToken("y"), CreatedAt: start})
		}, sitrep.EConflict},
	} {
		t.Run(tc.name, func(t *testing.T) {
			requireKind(t, tc.name, tc.run(), tc.want)
		})
	}

	t.Run("duplicate leaves the owner", func(t *testing.T) {
		got, err := f.store.TokenUser(f.ctx, tok.Hash)
		if err != nil {
			t.Fatalf("token user: %v", err)
		}
		if got.Name != "alice" {
			t.Errorf("token owner is %s after a refused duplicate, want alice", got.Name)
		}
	})
}

func testBootstrap(t *testing.T, h Harness) {
	s := h.New(t)
	svc := sitrep.NewService(s, nil)
	svc.Clock = NewClock(start, 0)
	ctx := t.Context()
	users, err := s.Users(ctx)
	if err != nil {
		t.Fatalf("list users of an empty store: %v", err)
	}
	if len(users) != 0 {
		t.Fatalf("a new store has %d users, want none", len(users))
	}
	const given = "sitrep_bootstrap-secret-for-the-conformance-suite"
	secret, err := svc.Bootstrap(ctx, "root", given)
	if err != nil {
		t.Fatalf("first bootstrap: %v", err)
	}
	if secret != given {
		t.Fatalf("first bootstrap returned %q, want the given secret", secret)
	}
	again, err := svc.Bootstrap(ctx, "root2", "")
	if err != nil {
		t.Fatalf("second bootstrap: %v", err)
	}
	if again != "" {
		t.Errorf("second bootstrap made another token")
	}
	u, err := svc.Authenticate(ctx, given)
	if err != nil {
		t.Fatalf("authenticate with the bootstrap token: %v", err)
	}
	want := &sitrep.User{Name: "root", Role: sitrep.OrgAdmin, CreatedAt: start.UTC().Truncate(1000)}
	if d := diff(want, u); d != "" {
		t.Errorf("bootstrap user (-want +got):\n%s", d)
	}
	if _, err := s.User(ctx, "root2"); sitrep.ErrorKind(err) != sitrep.ENotFound {
		t.Errorf("second bootstrap created its administrator (err %v)", err)
	}
}
