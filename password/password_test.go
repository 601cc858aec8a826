package password

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// cheap keeps the tests fast: the scheme is the same at any cost.
var cheap = Params{Time: 1, Memory: 64, Threads: 1, SaltLen: 16, KeyLen: 32}

func TestHashVerify(t *testing.T) {
	h, err := cheap.Hash("correct horse battery staple")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$m=64,t=1,p=1$") {
		t.Errorf("hash %q is not the expected PHC string", h)
	}
	if err := Verify(h, "correct horse battery staple"); err != nil {
		t.Errorf("the right password: %v", err)
	}
	if err := Verify(h, "correct horse battery stapler"); !errors.Is(err, ErrMismatch) {
		t.Errorf("a wrong password: %v, want ErrMismatch", err)
	}
	h2, _ := cheap.Hash("correct horse battery staple")
	if h == h2 {
		t.Errorf("two hashes of one password are equal: the salt is not random")
	}
}

func TestDefaultParameters(t *testing.T) {
	if testing.Short() {
		t.Skip("hashes 32 MiB")
	}
	h, err := Hash("pw")
	if err != nil {
		t.Fatal(err)
	}
	p, _, _, err := Decode(h)
	if err != nil {
		t.Fatal(err)
	}
	if p != Default {
		t.Errorf("decoded %+v, want %+v", p, Default)
	}
}

// TestVerifyKnownVector checks against a hash made by another
// implementation (the reference argon2 CLI: echo -n password | argon2
// somesalt -id -t 2 -k 64 -p 1 -l 32 -e), so the format is the standard one.
func TestVerifyKnownVector(t *testing.T) {
	const ref = "$argon2id$v=19$m=64,t=2,p=1$c29tZXNhbHQ$FqGkmHNGCd0BRW2kBt6fPZ2pPmyGwwChL8FGUhTOSSI"
	p, _, _, err := Decode(ref)
	if err != nil {
		t.Fatal(err)
	}
	if p.Memory != 64 || p.Time != 2 || p.Threads != 1 || p.KeyLen != 32 {
		t.Errorf("decoded %+v", p)
	}
	if err := Verify(ref, "password"); err != nil {
		t.Errorf("reference vector: %v", err)
	}
}

func TestDecodeRefuses(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", "not a PHC string"},
		{"plain", "not a PHC string"},
		{"$argon2i$v=19$m=64,t=1,p=1$c29tZXNhbHQ$NbDkf3nq7ttSb72OWr0u7OiaOYH+fL4kT35uwI8EnKY", "not argon2id"},
		{"$argon2id$v=16$m=64,t=1,p=1$c29tZXNhbHQ$NbDkf3nq7ttSb72OWr0u7OiaOYH+fL4kT35uwI8EnKY", "version"},
		{"$argon2id$v=19$m=64,t=1$c29tZXNhbHQ$NbDkf3nq7ttSb72OWr0u7OiaOYH+fL4kT35uwI8EnKY", "m=…,t=…,p=…"},
		{"$argon2id$v=19$m=64,t=1,p=1,p=1$c29tZXNhbHQ$NbDkf3nq7ttSb72OWr0u7OiaOYH+fL4kT35uwI8EnKY", "m=…,t=…,p=…"},
		{"$argon2id$v=19$m=64,t=0,p=1$c29tZXNhbHQ$NbDkf3nq7ttSb72OWr0u7OiaOYH+fL4kT35uwI8EnKY", "positive"},
		{"$argon2id$v=19$m=64,t=1,x=1$c29tZXNhbHQ$NbDkf3nq7ttSb72OWr0u7OiaOYH+fL4kT35uwI8EnKY", "unknown parameter"},
		{"$argon2id$v=19$m=4000000000,t=1,p=1$c29tZXNhbHQ$NbDkf3nq7ttSb72OWr0u7OiaOYH+fL4kT35uwI8EnKY", "beyond the limits"},
		{"$argon2id$v=19$m=8,t=1,p=4$c29tZXNhbHQ$NbDkf3nq7ttSb72OWr0u7OiaOYH+fL4kT35uwI8EnKY", "8 KiB per lane"},
		{"$argon2id$v=19$m=64,t=1,p=1$c29t$NbDkf3nq7ttSb72OWr0u7OiaOYH+fL4kT35uwI8EnKY", "salt"},
		{"$argon2id$v=19$m=64,t=1,p=1$c29tZXNhbHQ=$NbDkf3nq7ttSb72OWr0u7OiaOYH+fL4kT35uwI8EnKY", "salt"},
		{"$argon2id$v=19$m=64,t=1,p=1$c29tZXNhbHQ$short", "hash is not"},
		{"$argon2id$v=19$m=64,t=1,p=1$c29tZXNhbHQ$" + strings.Repeat("A", 5000), "bytes long"},
	} {
		_, _, _, err := Decode(tc.in)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Decode(%.40q): %v, want an error mentioning %q", tc.in, err, tc.want)
		}
		if err := Verify(tc.in, "password"); err == nil || errors.Is(err, ErrMismatch) {
			t.Errorf("Verify(%.40q): %v, want a decode error", tc.in, err)
		}
	}
}

func FuzzDecode(f *testing.F) {
	f.Add("$argon2id$v=19$m=64,t=2,p=1$c29tZXNhbHQ$NbDkf3nq7ttSb72OWr0u7OiaOYH+fL4kT35uwI8EnKY")
	f.Add("$argon2id$v=19$m=65536,t=3,p=4$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
	f.Add("$$$$$")
	f.Fuzz(func(t *testing.T, s string) {
		p, salt, key, err := Decode(s)
		if err != nil {
			return
		}
		if p.Memory > maxMemory || p.Time > maxTime || p.Threads == 0 || len(salt) < 8 || len(key) < 16 {
			t.Fatalf("Decode(%q) accepted %+v", s, p)
		}
		// What decodes encodes back to an equivalent string.
		p2, salt2, key2, err := Decode(encode(p, salt, key))
		if err != nil || p2 != p || string(salt2) != string(salt) || string(key2) != string(key) {
			t.Fatalf("re-encoding %q does not decode alike: %v", s, err)
		}
	})
}

func TestLimiter(t *testing.T) {
	l := NewLimiter(2)
	var running, most atomic.Int32
	var wg sync.WaitGroup
	release := make(chan struct{})
	for range 6 {
		wg.Go(func() {
			err := l.Do(context.Background(), func() {
				n := running.Add(1)
				for {
					m := most.Load()
					if n <= m || most.CompareAndSwap(m, n) {
						break
					}
				}
				<-release
				running.Add(-1)
			})
			if err != nil {
				t.Error(err)
			}
		})
	}
	close(release)
	wg.Wait()
	if most.Load() > 2 {
		t.Errorf("%d ran at once, want at most 2", most.Load())
	}

	full := NewLimiter(1)
	hold := make(chan struct{})
	go full.Do(context.Background(), func() { <-hold })
	for len(full.slots) == 0 {
		// wait until the first holds the slot
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := full.Do(ctx, func() { t.Error("ran without a slot") }); !errors.Is(err, context.Canceled) {
		t.Errorf("Do with a done context: %v", err)
	}
	close(hold)
}

func BenchmarkHashDefault(b *testing.B) {
	for b.Loop() {
		if _, err := Hash("correct horse battery staple"); err != nil {
			b.Fatal(err)
		}
	}
}
