// Package password hashes passwords with argon2id (RFC 9106) and checks
// them, storing each hash as a PHC string:
//
//	$argon2id$v=19$m=32768,t=3,p=2$<salt>$<hash>
//
// with salt and hash in unpadded standard base64. The parameters travel in
// the string, so hashes made with older parameters keep verifying after
// the defaults change.
//
// The parameters are t=3 passes over m=32 MiB with p=2 lanes, RFC 9106's
// second recommended option (t=3, 64 MiB) with half the memory. A sign-in
// costs its memory for the whole hash; on a two-core server a storm of
// sign-ins at 64 MiB each runs out of memory long before it runs out of
// CPU, and the server limits how many hashes run at once (see Limiter) so
// that the figure times that limit bounds the memory. 32 MiB at t=3 still
// makes every guess cost an attacker 96 MiB of memory traffic: one hash
// takes about 160 ms on the two cores of this project's machines
// (BenchmarkHashDefault), slow for guessing, quick for a person.
package password

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"strings"

	"golang.org/x/crypto/argon2"
)

// Params are argon2id's cost parameters.
type Params struct {
	Time    uint32 // passes over the memory
	Memory  uint32 // KiB
	Threads uint8  // lanes
	SaltLen uint32 // bytes
	KeyLen  uint32 // bytes
}

// Default is what Hash uses: see the package documentation for why.
var Default = Params{Time: 3, Memory: 32 * 1024, Threads: 2, SaltLen: 16, KeyLen: 32}

// Limits of what Verify accepts from a stored string, so that a corrupted
// or hostile row cannot make a sign-in allocate gigabytes or spin for
// minutes.
const (
	maxMemory  = 1 << 20 // KiB: 1 GiB
	maxTime    = 64
	maxKeyLen  = 1024
	maxSaltLen = 1024
	maxEncoded = 4096
)

// Hash returns the PHC string of password with fresh salt and the default
// parameters.
func Hash(password string) (string, error) { return Default.Hash(password) }

// Hash returns the PHC string of password with fresh salt and p.
func (p Params) Hash(password string) (string, error) {
	salt := make([]byte, p.SaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("hash password: %w", err)
	}
	key := argon2.IDKey([]byte(password), salt, p.Time, p.Memory, p.Threads, p.KeyLen)
	return encode(p, salt, key), nil
}

func encode(p Params, salt, key []byte) string {
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, p.Memory, p.Time, p.Threads, b64.EncodeToString(salt), b64.EncodeToString(key))
}

// ErrMismatch is Verify's answer for a wrong password.
var ErrMismatch = errors.New("the password does not match")

// Verify checks password against the PHC string encoded. It returns nil
// when they match, ErrMismatch when they do not, and another error when
// encoded is not an argon2id hash it can check.
func Verify(encoded, password string) error {
	p, salt, key, err := Decode(encoded)
	if err != nil {
		return err
	}
	got := argon2.IDKey([]byte(password), salt, p.Time, p.Memory, p.Threads, uint32(len(key)))
	if subtle.ConstantTimeCompare(got, key) != 1 {
		return ErrMismatch
	}
	return nil
}

// Decode parses a PHC string of argon2id into its parameters, salt and key.
func Decode(encoded string) (Params, []byte, []byte, error) {
	var p Params
	bad := func(format string, args ...any) (Params, []byte, []byte, error) {
		return Params{}, nil, nil, fmt.Errorf("password hash: "+format, args...)
	}
	if len(encoded) > maxEncoded {
		return bad("%d bytes long; the limit is %d", len(encoded), maxEncoded)
	}
	parts := strings.Split(encoded, "$")
	if len(parts) != 6 || parts[0] != "" {
		return bad("not a PHC string ($argon2id$v=…$m=…,t=…,p=…$salt$hash)")
	}
	if parts[1] != "argon2id" {
		return bad("algorithm %q is not argon2id", clip(parts[1]))
	}
	v, ok := strings.CutPrefix(parts[2], "v=")
	if !ok || v != strconv.Itoa(argon2.Version) {
		return bad("version %q is not v=%d", clip(parts[2]), argon2.Version)
	}
	seen := map[string]bool{}
	for kv := range strings.SplitSeq(parts[3], ",") {
		k, val, ok := strings.Cut(kv, "=")
		if !ok || seen[k] {
			return bad("parameters %q are not m=…,t=…,p=…", clip(parts[3]))
		}
		seen[k] = true
		n, err := strconv.ParseUint(val, 10, 32)
		if err != nil || n == 0 {
			return bad("parameter %s=%q is not a positive number", clip(k), clip(val))
		}
		switch k {
		case "m":
			p.Memory = uint32(n)
		case "t":
			p.Time = uint32(n)
		case "p":
			if n > 255 {
				return bad("p=%d: at most 255 lanes", n)
			}
			p.Threads = uint8(n)
		default:
			return bad("unknown parameter %q", clip(k))
		}
	}
	if len(seen) != 3 {
		return bad("parameters %q are not m=…,t=…,p=…", clip(parts[3]))
	}
	if p.Memory > maxMemory || p.Time > maxTime {
		return bad("m=%d,t=%d is beyond the limits m=%d,t=%d", p.Memory, p.Time, maxMemory, maxTime)
	}
	if p.Memory < 8*uint32(p.Threads) {
		return bad("m=%d is less than 8 KiB per lane (p=%d)", p.Memory, p.Threads)
	}
	salt, err := base64.RawStdEncoding.Strict().DecodeString(parts[4])
	if err != nil || len(salt) < 8 || len(salt) > maxSaltLen {
		return bad("the salt is not 8–%d bytes of unpadded base64", maxSaltLen)
	}
	key, err := base64.RawStdEncoding.Strict().DecodeString(parts[5])
	if err != nil || len(key) < 16 || len(key) > maxKeyLen {
		return bad("the hash is not 16–%d bytes of unpadded base64", maxKeyLen)
	}
	p.SaltLen, p.KeyLen = uint32(len(salt)), uint32(len(key))
	return p, salt, key, nil
}

func clip(s string) string {
	if len(s) > 20 {
		return s[:20] + "…"
	}
	return s
}

// Limiter bounds how many hashes run at once. Each argon2id hash holds its
// memory (32 MiB by default) until it ends: without a bound, a storm of
// sign-ins would hold that much per request in flight.
type Limiter struct{ slots chan struct{} }

// NewLimiter lets n hashes run at once; n < 1 means GOMAXPROCS.
func NewLimiter(n int) *Limiter {
	if n < 1 {
		n = runtime.GOMAXPROCS(0)
	}
	return &Limiter{slots: make(chan struct{}, n)}
}

// Do runs fn when a slot is free, or returns ctx's error if ctx ends first.
func (l *Limiter) Do(ctx context.Context, fn func()) error {
	select {
	case l.slots <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-l.slots }()
	fn()
	return nil
}

// limiter bounds the hashes of the whole process: memory is the process's,
// whichever handler hashes.
var limiter = NewLimiter(0)

// HashContext is Hash run under the process's limit of concurrent hashes;
// it returns ctx's error if ctx ends while waiting for a slot.
func HashContext(ctx context.Context, password string) (string, error) {
	var h string
	var herr error
	if err := limiter.Do(ctx, func() { h, herr = Hash(password) }); err != nil {
		return "", fmt.Errorf("hash password: %w", err)
	}
	return h, herr
}

// VerifyContext is Verify run under the process's limit of concurrent
// hashes; it returns ctx's error if ctx ends while waiting for a slot.
func VerifyContext(ctx context.Context, encoded, password string) error {
	var verr error
	if err := limiter.Do(ctx, func() { verr = Verify(encoded, password) }); err != nil {
		return fmt.Errorf("verify password: %w", err)
	}
	return verr
}
