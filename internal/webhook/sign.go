package webhook

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// The Standard Webhooks header names. http.Header canonicalizes them
// ("Webhook-Id"); header names are case-insensitive, so receivers match them
// either way.
const (
	// HeaderID carries the event id, the same on every retry of one event.
	HeaderID = "webhook-id"
	// HeaderTimestamp carries the attempt's time as decimal Unix seconds.
	HeaderTimestamp = "webhook-timestamp"
	// HeaderSignature carries one "v1,<base64>" entry per secret, space-separated.
	HeaderSignature = "webhook-signature"
)

// SecretPrefix starts every signing secret, as the specification asks, so a
// secret pasted into a receiver's configuration is recognizable as one and
// cannot be confused with the raw key or another provider's format.
const SecretPrefix = "whsec_"

// Secret sizes in bytes of key material. The specification asks for at least
// 24 bytes (192 bits) and at most 64 bytes (512 bits, HMAC-SHA256's block
// size, beyond which HMAC hashes the key down anyway).
const (
	// MinSecretBytes is the shortest key a secret may decode to.
	MinSecretBytes = 24
	// MaxSecretBytes is the longest key a secret may decode to.
	MaxSecretBytes = 64
	// NewSecretBytes is the key length NewSecret generates: 256 bits, the
	// output size of SHA-256, so the key is never the weak link.
	NewSecretBytes = 32
)

// DefaultTolerance is how far a webhook-timestamp may be from the
// receiver's clock, in either direction, when Verify is given no tolerance.
// Five minutes is the specification's recommendation: long enough for clock
// skew and slow networks, short enough that a captured request cannot be
// replayed much later.
const DefaultTolerance = 5 * time.Minute

// signatureVersion labels HMAC-SHA256 signatures; "v1a" (ed25519) entries and
// any future versions are skipped by Verify rather than rejected, which is
// what lets a sender add a new scheme alongside v1.
const signatureVersion = "v1"

// The errors Sign, SignHeaders and Verify return, wrapped with detail. A
// receiver should answer every one of them the same way (for example 401)
// and log the detail: telling the sender which check failed helps a forger.
var (
	// ErrInvalidSecret means a secret is not "whsec_" + base64 of 24–64 bytes.
	ErrInvalidSecret = errors.New("webhook: invalid signing secret")
	// ErrInvalidID means an event id is empty, too long, or has a character
	// that would make the signed content ambiguous or the header invalid.
	ErrInvalidID = errors.New("webhook: invalid event id")
	// ErrMissingHeader means one of the three webhook headers is absent.
	ErrMissingHeader = errors.New("webhook: missing header")
	// ErrMalformedHeader means a webhook header is present but unparsable.
	ErrMalformedHeader = errors.New("webhook: malformed header")
	// ErrTimestampTooOld means the request was signed longer ago than the
	// tolerance: a replay, or a very delayed delivery.
	ErrTimestampTooOld = errors.New("webhook: timestamp too old")
	// ErrTimestampTooNew means the request claims a time further in the
	// future than the tolerance allows, which a replay-window check must
	// refuse too, or a forger could pre-sign requests for later.
	ErrTimestampTooNew = errors.New("webhook: timestamp too far in the future")
	// ErrNoMatchingSignature means no v1 signature matched any secret.
	ErrNoMatchingSignature = errors.New("webhook: no matching signature")
)

// maxIDLen bounds event ids; rapport's are far shorter, and a bound keeps a
// bogus header from costing more than a small HMAC.
const maxIDLen = 256

// NewSecret returns a fresh signing secret: "whsec_" followed by the base64
// of NewSecretBytes bytes from crypto/rand. Each endpoint gets its own secret
// so that one customer's leaked secret cannot forge another's webhooks.
func NewSecret() (string, error) {
	key := make([]byte, NewSecretBytes)
	if _, err := rand.Read(key); err != nil {
		return "", fmt.Errorf("webhook: generating secret: %w", err)
	}
	return SecretPrefix + base64.StdEncoding.EncodeToString(key), nil
}

// ValidateSecret reports whether secret has the form NewSecret produces, so
// a stored or imported secret can be checked before it is used for signing.
func ValidateSecret(secret string) error {
	_, err := secretKey(secret)
	return err
}

// secretKey decodes a "whsec_" secret into its HMAC key. Error messages
// never quote the secret: they end up in logs.
func secretKey(secret string) ([]byte, error) {
	enc, ok := strings.CutPrefix(secret, SecretPrefix)
	if !ok {
		return nil, fmt.Errorf("%w: it must start with %q", ErrInvalidSecret, SecretPrefix)
	}
	key, err := base64.StdEncoding.Strict().DecodeString(enc)
	if err != nil {
		return nil, fmt.Errorf("%w: the part after %q is not standard base64", ErrInvalidSecret, SecretPrefix)
	}
	if len(key) < MinSecretBytes || len(key) > MaxSecretBytes {
		return nil, fmt.Errorf("%w: it decodes to %d bytes, want %d to %d", ErrInvalidSecret, len(key), MinSecretBytes, MaxSecretBytes)
	}
	return key, nil
}

// checkID refuses ids that cannot be signed unambiguously. The signed content
// is id.timestamp.body, so an id containing "." would let a request for one
// (id, timestamp, body) be re-read as another; the specification asks for
// exactly this restriction. Only printable ASCII without spaces is allowed so
// that the id is also a valid, unfolded header value.
func checkID(id string) error {
	if id == "" {
		return fmt.Errorf("%w: empty", ErrInvalidID)
	}
	if len(id) > maxIDLen {
		return fmt.Errorf("%w: %d bytes long, at most %d allowed", ErrInvalidID, len(id), maxIDLen)
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if c == '.' {
			return fmt.Errorf("%w: it contains '.', which separates the signed fields", ErrInvalidID)
		}
		if c <= ' ' || c > '~' {
			return fmt.Errorf("%w: byte %#x at offset %d is not printable ASCII", ErrInvalidID, c, i)
		}
	}
	return nil
}

// mac is the HMAC-SHA256 of id.timestamp.body under key, the signed content
// the specification defines.
func mac(key []byte, id string, unix int64, body []byte) []byte {
	h := hmac.New(sha256.New, key)
	h.Write([]byte(id))
	h.Write([]byte{'.'})
	h.Write(strconv.AppendInt(nil, unix, 10))
	h.Write([]byte{'.'})
	h.Write(body)
	return h.Sum(nil)
}

// Sign returns the "v1,<base64>" signature of body sent as event id at time
// ts under one secret: the value of the webhook-signature header when a
// single secret is active. ts is truncated to whole seconds, as the header
// carries them. It fails for an invalid secret or id, and for a zero or
// pre-1970 ts, which can only be a caller's bug.
func Sign(secret, id string, ts time.Time, body []byte) (string, error) {
	key, err := secretKey(secret)
	if err != nil {
		return "", err
	}
	if err := checkID(id); err != nil {
		return "", err
	}
	unix := ts.Unix()
	if unix < 0 {
		return "", fmt.Errorf("webhook: timestamp %v is before 1970", ts)
	}
	return signatureVersion + "," + base64.StdEncoding.EncodeToString(mac(key, id, unix, body)), nil
}

// SignHeaders returns the three Standard Webhooks headers for body sent as
// event id at time ts, signed once with each of secrets in order (put the
// newest first). More than one secret is for rotation: during the overlap
// the receiver may know either the old or the new secret, and both
// signatures travel in the one header. At least one secret is required.
func SignHeaders(secrets []string, id string, ts time.Time, body []byte) (http.Header, error) {
	if len(secrets) == 0 {
		return nil, fmt.Errorf("%w: no secret given", ErrInvalidSecret)
	}
	sigs := make([]string, 0, len(secrets))
	for i, s := range secrets {
		sig, err := Sign(s, id, ts, body)
		if err != nil {
			if len(secrets) > 1 {
				err = fmt.Errorf("secret %d of %d: %w", i+1, len(secrets), err)
			}
			return nil, err
		}
		sigs = append(sigs, sig)
	}
	h := make(http.Header, 3)
	h.Set(HeaderID, id)
	h.Set(HeaderTimestamp, strconv.FormatInt(ts.Unix(), 10))
	h.Set(HeaderSignature, strings.Join(sigs, " "))
	return h, nil
}

// Verify checks a received webhook the way a receiver must: the three
// headers are present and well formed, webhook-timestamp is within
// tolerance of now in either direction (DefaultTolerance when tolerance is
// zero or negative), and at least one v1 entry of webhook-signature is the
// HMAC of id.timestamp.body under one of secrets, compared in constant time
// so response timing does not reveal how close a forgery came. Entries of
// other versions are ignored, as the specification requires for forward
// compatibility. body must be the raw request body: re-encoded JSON will
// not match. h is matched through http.Header.Get, so pass the request's
// header (or one built with Set), not a map literal with lowercase keys.
//
// rapport sends, not receives; Verify is here so tests and customer
// documentation can show that what Sign produces verifies.
func Verify(secrets []string, h http.Header, body []byte, now time.Time, tolerance time.Duration) error {
	if tolerance <= 0 {
		tolerance = DefaultTolerance
	}
	if len(secrets) == 0 {
		return fmt.Errorf("%w: no secret given", ErrInvalidSecret)
	}
	keys := make([][]byte, len(secrets))
	for i, s := range secrets {
		k, err := secretKey(s)
		if err != nil {
			return err
		}
		keys[i] = k
	}

	id := h.Get(HeaderID)
	tsText := h.Get(HeaderTimestamp)
	sigText := strings.Join(h.Values(HeaderSignature), " ")
	for _, f := range []struct{ name, v string }{{HeaderID, id}, {HeaderTimestamp, tsText}, {HeaderSignature, sigText}} {
		if strings.TrimSpace(f.v) == "" {
			return fmt.Errorf("%w: %s", ErrMissingHeader, f.name)
		}
	}
	if err := checkID(id); err != nil {
		return fmt.Errorf("%w: %s: %w", ErrMalformedHeader, HeaderID, err)
	}
	unix, err := parseUnix(tsText)
	if err != nil {
		return fmt.Errorf("%w: %s: %v", ErrMalformedHeader, HeaderTimestamp, err)
	}
	// Compare instants, not now.Sub(ts): for a far-off timestamp the
	// Duration saturates, and negating the saturated minimum overflows back
	// to a negative value that would pass a "> tolerance" test.
	ts := time.Unix(unix, 0)
	if ts.Before(now.Add(-tolerance)) {
		return fmt.Errorf("%w: signed at %s, now %s, tolerance %v", ErrTimestampTooOld, ts.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339), tolerance)
	}
	if ts.After(now.Add(tolerance)) {
		return fmt.Errorf("%w: signed at %s, now %s, tolerance %v", ErrTimestampTooNew, ts.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339), tolerance)
	}

	want := make([][]byte, len(keys))
	for i, k := range keys {
		want[i] = mac(k, id, unix, body)
	}
	wellFormed := false
	for _, entry := range strings.Fields(sigText) {
		version, enc, ok := strings.Cut(entry, ",")
		if !ok || version == "" || enc == "" {
			continue
		}
		wellFormed = true
		if version != signatureVersion {
			continue
		}
		got, err := base64.StdEncoding.DecodeString(enc)
		if err != nil {
			continue
		}
		for _, w := range want {
			if hmac.Equal(got, w) {
				return nil
			}
		}
	}
	if !wellFormed {
		return fmt.Errorf("%w: %s has no \"version,signature\" entry", ErrMalformedHeader, HeaderSignature)
	}
	return ErrNoMatchingSignature
}

// parseUnix reads a webhook-timestamp: decimal digits only. strconv.ParseInt
// alone would also take "+123" or "-5", forms no sender produces.
func parseUnix(s string) (int64, error) {
	if s == "" || len(s) > 18 {
		return 0, fmt.Errorf("%q is not Unix seconds", s)
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, fmt.Errorf("%q is not Unix seconds", s)
		}
	}
	return strconv.ParseInt(s, 10, 64)
}
