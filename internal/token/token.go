// Package token issues and verifies the signed, opaque, URL-safe tokens that
// identify a contact on rapport's login-free customer pages: the preference
// center (/p/{token}) and one-click unsubscribe (/u/{token}) links placed in
// every email.
//
// A token is the base64url (unpadded) encoding of
//
//	version(1) | key id(2) | purpose(1) | uvarint(contact id) |
//	uvarint(campaign id) | topic length(1) | topic | HMAC-SHA256(...)[:20]
//
// where the MAC covers every preceding byte. The binary layout keeps typical
// tokens well under 80 characters so links survive mail clients and URL
// length limits.
//
// Tokens deliberately never expire: an unsubscribe link in a years-old email
// must still work (CAN-SPAM alone requires opt-out to keep working for at
// least 30 days after sending, and people unsubscribe from old mail much
// later), and a link that silently dies pushes recipients to the spam button
// instead, hurting deliverability for everyone. Revocation is done by rotating
// the secret key, which is why a Signer accepts several keys.
//
// Tokens are authenticated, not encrypted: the contact id and other claims are
// readable by anyone holding the token. They must only carry identifiers, never
// personal data.
package token

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"strings"
	"sync"
)

// ErrInvalid is the single error returned (wrapped) for every rejected token,
// whatever the reason. Callers should match it with errors.Is and answer a
// plain 404 without detail, so that an attacker probing the endpoint learns
// nothing about why a token failed; the wrapped text is for server logs only.
var ErrInvalid = errors.New("token: invalid")

// Purpose says what a token may be used for. It is signed into the token so a
// link cannot be repurposed: a preferences link forwarded by a recipient (or
// prefetched by a mail scanner) must not be able to unsubscribe them.
type Purpose uint8

// The purposes a token can be bound to. Zero is deliberately not a valid
// purpose, so a zero-value Claims cannot be signed by accident.
const (
	// Unsubscribe authorizes the one-click unsubscribe page (/u/{token}).
	Unsubscribe Purpose = 1
	// Preferences authorizes the preference center (/p/{token}).
	Preferences Purpose = 2
	// PreviewPreferences and PreviewUnsubscribe are the links in a
	// campaign preview (a marketer's view of one contact's message). They
	// open the same pages read-only, marked as a preview, and can change
	// nothing: a marketer must never be able to act as the customer.
	PreviewPreferences Purpose = 3
	PreviewUnsubscribe Purpose = 4
)

// Valid reports whether p is one of the defined purposes.
func (p Purpose) Valid() bool { return p >= Unsubscribe && p <= PreviewUnsubscribe }

// Preview returns the read-only preview purpose of a page's purpose (and
// a preview purpose itself).
func (p Purpose) Preview() Purpose {
	switch p {
	case Unsubscribe:
		return PreviewUnsubscribe
	case Preferences:
		return PreviewPreferences
	}
	return p
}

// IsPreview reports whether p is a preview purpose: its pages change
// nothing.
func (p Purpose) IsPreview() bool { return p == PreviewPreferences || p == PreviewUnsubscribe }

// String returns a lowercase name for p, for logs.
func (p Purpose) String() string {
	switch p {
	case Unsubscribe:
		return "unsubscribe"
	case Preferences:
		return "preferences"
	case PreviewPreferences:
		return "preview-preferences"
	case PreviewUnsubscribe:
		return "preview-unsubscribe"
	default:
		return fmt.Sprintf("purpose(%d)", uint8(p))
	}
}

// Claims are the facts a token vouches for. Every field is covered by the MAC,
// so none can be altered without invalidating the token.
type Claims struct {
	// Purpose binds the token to one page; Verify rejects any other use.
	Purpose Purpose
	// ContactID is the contact the page acts on.
	ContactID int64
	// CampaignID is the campaign whose email carried the link, used to
	// attribute unsubscribes; 0 means none.
	CampaignID int64
	// Topic optionally narrows the action (for example unsubscribing from a
	// single topic rather than from all mail); empty means none. At most
	// MaxTopicLen bytes.
	Topic string
}

const (
	// MinSecretLen is the minimum length, in bytes, of a secret passed to
	// New. 32 bytes matches the HMAC-SHA256 block/output strength, so a
	// short, guessable SECRET_KEY cannot weaken every link ever sent.
	MinSecretLen = 32

	// MaxTopicLen bounds Claims.Topic, in bytes, so that tokens stay short
	// enough for URLs and the length fits in a single byte.
	MaxTopicLen = 64

	// MaxTokenLen is the longest string Verify will even try to decode.
	// Real tokens are far shorter (at most 146 characters with a maximal
	// topic); the bound keeps hostile input from costing decode work.
	MaxTokenLen = 256
)

const (
	version = 1

	// macLen is the truncated HMAC-SHA256 length. 20 bytes (160 bits) is
	// the HMAC-SHA1 output size and far beyond what an online forger can
	// search (each guess costs an HTTP request), while saving 16 base64
	// characters per link compared with the full 32 bytes. It is also well
	// above the 16-byte minimum and NIST SP 800-107's truncation guidance.
	macLen = 20

	kidLen    = 2
	headerLen = 1 + kidLen + 1 // version, key id, purpose

	// minRawLen is the shortest well-formed payload: header, one byte for
	// each uvarint, one topic-length byte, and the MAC.
	minRawLen = headerLen + 1 + 1 + 1 + macLen
	// maxRawLen is the longest well-formed payload.
	maxRawLen = headerLen + 2*binary.MaxVarintLen64 + 1 + MaxTopicLen + macLen

	// Labels give domain separation: SECRET_KEY may be shared with other
	// subsystems, so tokens use a derived MAC key that no other use of the
	// same secret can produce, and the public key id reveals nothing usable
	// about the secret or the MAC key.
	kidLabel = "rapport/token/key-id/v1\x00"
	macLabel = "rapport/token/mac-key/v1"
)

type key struct {
	id     [kidLen]byte
	macKey []byte
	// macs keeps HMACs under macKey for reuse: every message signs two or
	// three links, and hmac.New hashes the key's pads and allocates each
	// time, where a reset HMAC restores its saved state.
	macs *sync.Pool
}

// Signer signs and verifies tokens. It holds an ordered list of keys: the
// first signs new tokens and all of them verify, so a secret can be rotated by
// prepending the new one, waiting as long as old mail matters, then dropping
// the old one (which also revokes every token it signed). A Signer is
// immutable and safe for concurrent use.
type Signer struct {
	keys  []key
	byKID map[[kidLen]byte]*key
}

// New builds a Signer from raw secrets, typically the comma-separated values
// of SECRET_KEY, newest first. secrets[0] signs; all verify. It rejects an
// empty list, secrets shorter than MinSecretLen bytes, secrets with leading or
// trailing whitespace (almost always a config-splitting mistake such as
// "a, b"), duplicates, and secrets whose 2-byte key ids collide (replace one
// of them; the chance is about 1 in 65536 per pair).
func New(secrets []string) (*Signer, error) {
	if len(secrets) == 0 {
		return nil, errors.New("token: no secret keys given")
	}
	s := &Signer{
		keys:  make([]key, len(secrets)),
		byKID: make(map[[kidLen]byte]*key, len(secrets)),
	}
	seen := make(map[[kidLen]byte]int, len(secrets))
	for i, sec := range secrets {
		if len(sec) < MinSecretLen {
			return nil, fmt.Errorf("token: secret key #%d is %d bytes; at least %d are required", i+1, len(sec), MinSecretLen)
		}
		if strings.TrimSpace(sec) != sec {
			return nil, fmt.Errorf("token: secret key #%d has leading or trailing whitespace", i+1)
		}
		sum := sha256.Sum256([]byte(kidLabel + sec))
		var id [kidLen]byte
		copy(id[:], sum[:kidLen])
		if j, dup := seen[id]; dup {
			if secrets[j] == sec {
				return nil, fmt.Errorf("token: secret key #%d duplicates #%d", i+1, j+1)
			}
			return nil, fmt.Errorf("token: secret keys #%d and #%d derive the same key id; replace one of them", j+1, i+1)
		}
		seen[id] = i
		m := hmac.New(sha256.New, []byte(sec))
		m.Write([]byte(macLabel))
		mk := m.Sum(nil)
		s.keys[i] = key{id: id, macKey: mk, macs: &sync.Pool{New: func() any { return hmac.New(sha256.New, mk) }}}
		s.byKID[id] = &s.keys[i]
	}
	return s, nil
}

// Sign returns the token for c, signed with the first key. The result is
// deterministic: the same claims and key always give the same token, and it is
// the only token Verify accepts for them under that key.
//
// Sign panics if c.Purpose is not valid or c.Topic is longer than
// MaxTopicLen; both are programming errors, not runtime conditions.
func (s *Signer) Sign(c Claims) string {
	return base64.RawURLEncoding.EncodeToString(s.signRaw(c))
}

// signRaw is Sign before the base64 encoding.
func (s *Signer) signRaw(c Claims) []byte {
	if !c.Purpose.Valid() {
		panic(fmt.Sprintf("token: Sign with invalid purpose %d", uint8(c.Purpose)))
	}
	if len(c.Topic) > MaxTopicLen {
		panic(fmt.Sprintf("token: Sign with %d-byte topic; max is %d", len(c.Topic), MaxTopicLen))
	}
	return sign(&s.keys[0], c)
}

// sign returns the raw (binary) token for c under k. c must be valid.
func sign(k *key, c Claims) []byte {
	b := make([]byte, 0, maxRawLen)
	b = append(b, version)
	b = append(b, k.id[:]...)
	b = append(b, byte(c.Purpose))
	// Ids are stored as their uint64 bit pattern so every int64 round-trips
	// exactly; real ids are positive and encode in a few bytes.
	b = binary.AppendUvarint(b, uint64(c.ContactID))
	b = binary.AppendUvarint(b, uint64(c.CampaignID))
	b = append(b, byte(len(c.Topic)))
	b = append(b, c.Topic...)
	return append(b, mac(k, b)...)
}

func mac(k *key, payload []byte) []byte {
	m := k.macs.Get().(hash.Hash)
	defer k.macs.Put(m)
	m.Reset()
	m.Write(payload)
	var sum [sha256.Size]byte
	return m.Sum(sum[:0])[:macLen]
}

// Verify checks tok and returns its claims if it is authentic, was signed by
// one of the Signer's keys, and is bound to purpose want. Any failure returns
// an error wrapping ErrInvalid. Verification is strict: a token is accepted
// only if it is byte-for-byte what Sign would produce for its claims, so each
// claim set has exactly one valid token per key and tokens can safely be used
// as cache or log keys.
func (s *Signer) Verify(tok string, want Purpose) (Claims, error) {
	// Length first: never decode hostile, oversized input.
	if len(tok) > MaxTokenLen {
		return Claims{}, fmt.Errorf("%w: too long", ErrInvalid)
	}
	if !want.Valid() {
		return Claims{}, fmt.Errorf("%w: verify called with invalid purpose %d", ErrInvalid, uint8(want))
	}
	// Strict rejects non-zero padding bits; the canonical re-encoding check
	// below also rejects the CR/LF the decoder silently skips.
	raw, err := base64.RawURLEncoding.Strict().DecodeString(tok)
	if err != nil {
		return Claims{}, fmt.Errorf("%w: bad encoding", ErrInvalid)
	}
	if len(raw) < minRawLen || len(raw) > maxRawLen {
		return Claims{}, fmt.Errorf("%w: bad length", ErrInvalid)
	}
	if raw[0] != version {
		return Claims{}, fmt.Errorf("%w: unknown version %d", ErrInvalid, raw[0])
	}
	k, ok := s.byKID[[kidLen]byte(raw[1:1+kidLen])]
	if !ok {
		return Claims{}, fmt.Errorf("%w: unknown key id", ErrInvalid)
	}
	payload, sig := raw[:len(raw)-macLen], raw[len(raw)-macLen:]
	// Authenticate before parsing so only our own bytes reach the parser.
	if !hmac.Equal(mac(k, payload), sig) {
		return Claims{}, fmt.Errorf("%w: bad signature", ErrInvalid)
	}
	c, err := parse(payload[headerLen-1:])
	if err != nil {
		// Only reachable with a leaked key or a signing bug.
		return Claims{}, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if c.Purpose != want {
		return Claims{}, fmt.Errorf("%w: purpose %s, want %s", ErrInvalid, c.Purpose, want)
	}
	// Canonical form: exactly one accepted token per claim set and key.
	if base64.RawURLEncoding.EncodeToString(sign(k, c)) != tok {
		return Claims{}, fmt.Errorf("%w: non-canonical encoding", ErrInvalid)
	}
	return c, nil
}

// parse decodes the claims part of a payload, starting at the purpose byte.
// It requires minimal uvarints and no trailing bytes.
func parse(b []byte) (Claims, error) {
	var c Claims
	c.Purpose = Purpose(b[0])
	if !c.Purpose.Valid() {
		return c, fmt.Errorf("unknown purpose %d", b[0])
	}
	b = b[1:]
	var ids [2]uint64
	for i := range ids {
		v, n := binary.Uvarint(b)
		if n <= 0 || n != uvarintLen(v) {
			return c, errors.New("bad id encoding")
		}
		ids[i], b = v, b[n:]
	}
	c.ContactID, c.CampaignID = int64(ids[0]), int64(ids[1])
	if len(b) == 0 {
		return c, errors.New("missing topic")
	}
	n := int(b[0])
	if n > MaxTopicLen || len(b)-1 != n {
		return c, errors.New("bad topic length")
	}
	c.Topic = string(b[1:])
	return c, nil
}

func uvarintLen(v uint64) int {
	n := 1
	for v >= 0x80 {
		v >>= 7
		n++
	}
	return n
}
