package notify

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/sitrep-ir/sitrep"
)

// The headers of a webhook delivery. The signature is
// "sha256=" + hex(HMAC-SHA256(secret, timestamp + "." + body)), where
// timestamp is the X-Sitrep-Timestamp header (Unix seconds): a receiver
// checks the signature and refuses timestamps older than a few minutes, so a
// recorded delivery cannot be replayed later. X-Sitrep-Delivery is the
// notification's ID, the same on every retry: a receiver that saw it
// already can drop the duplicate.
const (
	HeaderSignature = "X-Sitrep-Signature"
	HeaderTimestamp = "X-Sitrep-Timestamp"
	HeaderDelivery  = "X-Sitrep-Delivery"
)

// Sign returns the X-Sitrep-Signature value of body sent at timestamp.
func Sign(secret []byte, timestamp int64, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(strconv.FormatInt(timestamp, 10)))
	m.Write([]byte{'.'})
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// Verify checks a delivery's signature and timestamp headers against body,
// as a receiver written in Go would: the timestamp must be within tolerance
// of now.
func Verify(secret []byte, signature, timestamp string, body []byte, now time.Time, tolerance time.Duration) error {
	ts, err := strconv.ParseInt(timestamp, 10, 64)
	if err != nil {
		return fmt.Errorf("the %s header is not Unix seconds", HeaderTimestamp)
	}
	if d := now.Sub(time.Unix(ts, 0)); d > tolerance || d < -tolerance {
		return fmt.Errorf("the delivery's timestamp is %s away from now: a replay, or a clock that is off", d.Round(time.Second))
	}
	if !hmac.Equal([]byte(signature), []byte(Sign(secret, ts, body))) {
		return errors.New("the signature does not match the body")
	}
	return nil
}

// NewSecret returns a fresh secret for signing a webhook contact's
// deliveries, as text.
func NewSecret() string {
	b := make([]byte, 32)
	rand.Read(b) // never returns an error (crypto/rand)
	return "whsec_" + base64.RawURLEncoding.EncodeToString(b)
}

// ackTokenVersion starts every acknowledgement token, so that the format can
// change without old links being misread.
const ackTokenVersion = 1

// AckSigner makes and checks the tokens of signed acknowledgement links: the
// notification's ID and an expiry, with an HMAC-SHA256 over both under a key
// derived from the server's secret. Anyone holding the link can acknowledge
// that one page until it expires, and nothing else.
type AckSigner struct {
	key []byte
}

// NewAckSigner returns a signer keyed from the server secret.
func NewAckSigner(serverSecret []byte) AckSigner {
	m := hmac.New(sha256.New, serverSecret)
	m.Write([]byte("sitrep acknowledgement links"))
	return AckSigner{key: m.Sum(nil)}
}

func (s AckSigner) mac(payload []byte) []byte {
	m := hmac.New(sha256.New, s.key)
	m.Write(payload)
	return m.Sum(nil)
}

// Token returns the token acknowledging notification id until expires.
func (s AckSigner) Token(id int64, expires time.Time) string {
	payload := make([]byte, 17)
	payload[0] = ackTokenVersion
	binary.BigEndian.PutUint64(payload[1:], uint64(id))
	binary.BigEndian.PutUint64(payload[9:], uint64(expires.Unix()))
	return base64.RawURLEncoding.EncodeToString(append(payload, s.mac(payload)...))
}

// MaxAckToken is the length of the longest token Check accepts.
const MaxAckToken = 128

// Check returns the notification a token acknowledges. The error is an
// EInvalid *sitrep.Error saying what is wrong with the token.
func (s AckSigner) Check(token string, now time.Time) (int64, error) {
	if len(token) > MaxAckToken || strings.ContainsAny(token, "=+/") {
		return 0, sitrep.Invalid("token", "this acknowledgement link is not valid: copy the whole link from the message")
	}
	raw, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil || len(raw) != 17+sha256.Size || raw[0] != ackTokenVersion {
		return 0, sitrep.Invalid("token", "this acknowledgement link is not valid: copy the whole link from the message")
	}
	payload, mac := raw[:17], raw[17:]
	if !hmac.Equal(mac, s.mac(payload)) {
		return 0, sitrep.Invalid("token", "this acknowledgement link was not made by this server, or was altered")
	}
	if exp := time.Unix(int64(binary.BigEndian.Uint64(payload[9:])), 0); now.After(exp) {
		return 0, sitrep.Invalid("token", "this acknowledgement link expired at %s: acknowledge with sitrep page-ack instead", exp.UTC().Format(time.RFC3339))
	}
	return int64(binary.BigEndian.Uint64(payload[1:])), nil
}
