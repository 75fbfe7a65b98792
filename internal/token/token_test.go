package token

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"math"
	"strings"
	"testing"
)

var (
	secretA = strings.Repeat("a", 31) + "A" // exactly 32 bytes
	secretB = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
	secretC = "cccccccccccccccccccccccccccccccccccccccc-rotated"
)

func mustNew(t testing.TB, secrets ...string) *Signer {
	t.Helper()
	s, err := New(secrets)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return s
}

func other(p Purpose) Purpose {
	if p == Unsubscribe {
		return Preferences
	}
	return Unsubscribe
}

func sampleClaims() []Claims {
	var out []Claims
	for _, p := range []Purpose{Unsubscribe, Preferences, PreviewPreferences, PreviewUnsubscribe} {
		out = append(out,
			Claims{Purpose: p, ContactID: 1},
			Claims{Purpose: p, ContactID: 123456789},
			Claims{Purpose: p, ContactID: 42, CampaignID: 7},
			Claims{Purpose: p, ContactID: 42, Topic: "newsletter"},
			Claims{Purpose: p, ContactID: 987654321, CampaignID: 123456, Topic: "product-updates"},
			Claims{Purpose: p, ContactID: math.MaxInt64, CampaignID: math.MaxInt64, Topic: strings.Repeat("t", MaxTopicLen)},
			Claims{Purpose: p, ContactID: 0},
			Claims{Purpose: p, ContactID: -1, CampaignID: math.MinInt64, Topic: "ünïcødé"},
		)
	}
	return out
}

func TestRoundTrip(t *testing.T) {
	s := mustNew(t, secretA)
	for _, c := range sampleClaims() {
		tok := s.Sign(c)
		got, err := s.Verify(tok, c.Purpose)
		if err != nil {
			t.Fatalf("Verify(%+v): %v", c, err)
		}
		if got != c {
			t.Fatalf("round trip: got %+v, want %+v", got, c)
		}
		if tok2 := s.Sign(c); tok2 != tok {
			t.Fatalf("Sign not deterministic: %q vs %q", tok, tok2)
		}
		if len(tok) > MaxTokenLen {
			t.Fatalf("token for %+v is %d chars, over MaxTokenLen", c, len(tok))
		}
		for _, r := range tok {
			if !strings.ContainsRune("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", r) {
				t.Fatalf("token %q has non-URL-safe rune %q", tok, r)
			}
		}
	}
}

func TestTypicalLength(t *testing.T) {
	s := mustNew(t, secretA)
	tok := s.Sign(Claims{Purpose: Unsubscribe, ContactID: 12345678, CampaignID: 98765, Topic: "weekly-digest"})
	if len(tok) >= 80 {
		t.Fatalf("typical token is %d chars (%q); want < 80", len(tok), tok)
	}
	t.Logf("typical token: %s (%d chars)", tok, len(tok))
}

func TestDistinctClaimsDistinctTokens(t *testing.T) {
	s := mustNew(t, secretA)
	seen := map[string]Claims{}
	for _, c := range sampleClaims() {
		tok := s.Sign(c)
		if prev, dup := seen[tok]; dup {
			t.Fatalf("%+v and %+v share token %q", prev, c, tok)
		}
		seen[tok] = c
	}
}

func TestWrongPurpose(t *testing.T) {
	s := mustNew(t, secretA)
	for _, c := range sampleClaims() {
		_, err := s.Verify(s.Sign(c), other(c.Purpose))
		if !errors.Is(err, ErrInvalid) {
			t.Fatalf("token for %v verified as %v: err=%v", c.Purpose, other(c.Purpose), err)
		}
	}
	tok := s.Sign(Claims{Purpose: Preferences, ContactID: 1})
	for _, p := range []Purpose{0, 3, 5, 255} {
		if _, err := s.Verify(tok, p); !errors.Is(err, ErrInvalid) {
			t.Fatalf("Verify with invalid want %d: err=%v", p, err)
		}
	}
}

func TestRotation(t *testing.T) {
	c := Claims{Purpose: Unsubscribe, ContactID: 99, CampaignID: 5, Topic: "news"}
	old := mustNew(t, secretA)
	tok := old.Sign(c)

	rotated := mustNew(t, secretC, secretA)
	got, err := rotated.Verify(tok, Unsubscribe)
	if err != nil || got != c {
		t.Fatalf("old token after rotation: got %+v, %v", got, err)
	}
	newTok := rotated.Sign(c)
	if newTok == tok {
		t.Fatal("rotated signer still signs with the old key")
	}
	if _, err := old.Verify(newTok, Unsubscribe); !errors.Is(err, ErrInvalid) {
		t.Fatalf("old signer accepted new-key token: %v", err)
	}

	retired := mustNew(t, secretC)
	if _, err := retired.Verify(tok, Unsubscribe); !errors.Is(err, ErrInvalid) {
		t.Fatalf("token verified after its key was removed: %v", err)
	}
	if got, err := retired.Verify(newTok, Unsubscribe); err != nil || got != c {
		t.Fatalf("new token after old key removed: %+v, %v", got, err)
	}
}

// A token whose key id names a known key but whose MAC was made with a
// different key must fail: the key id selects, it does not authenticate.
func TestKeyIDSwap(t *testing.T) {
	a, b := mustNew(t, secretA), mustNew(t, secretB)
	both := mustNew(t, secretA, secretB)
	rawA, _ := base64.RawURLEncoding.DecodeString(a.Sign(Claims{Purpose: Preferences, ContactID: 3}))
	rawB, _ := base64.RawURLEncoding.DecodeString(b.Sign(Claims{Purpose: Preferences, ContactID: 3}))
	copy(rawA[1:3], rawB[1:3])
	if _, err := both.Verify(base64.RawURLEncoding.EncodeToString(rawA), Preferences); !errors.Is(err, ErrInvalid) {
		t.Fatalf("MAC under key A with key id of B accepted: %v", err)
	}
}

func TestEveryByteAlteration(t *testing.T) {
	s := mustNew(t, secretA, secretB)
	for _, c := range sampleClaims()[:6] {
		tok := s.Sign(c)
		raw, err := base64.RawURLEncoding.DecodeString(tok)
		if err != nil {
			t.Fatal(err)
		}
		// Every value of every decoded byte.
		for i := range raw {
			orig := raw[i]
			for v := 0; v < 256; v++ {
				if byte(v) == orig {
					continue
				}
				raw[i] = byte(v)
				if _, err := s.Verify(base64.RawURLEncoding.EncodeToString(raw), c.Purpose); !errors.Is(err, ErrInvalid) {
					t.Fatalf("byte %d altered %#x->%#x accepted (err=%v)", i, orig, v, err)
				}
			}
			raw[i] = orig
		}
		// Every character of the text form, including ones that decode to
		// the same bytes (non-canonical trailing bits) and invalid ones.
		for i := range len(tok) {
			for v := 0; v < 256; v++ {
				if byte(v) == tok[i] {
					continue
				}
				alt := tok[:i] + string([]byte{byte(v)}) + tok[i+1:]
				if _, err := s.Verify(alt, c.Purpose); !errors.Is(err, ErrInvalid) {
					t.Fatalf("char %d altered %q->%#x accepted (err=%v)", i, tok[i], v, err)
				}
			}
		}
	}
}

func TestEveryTruncationAndExtension(t *testing.T) {
	s := mustNew(t, secretA)
	for _, c := range sampleClaims() {
		tok := s.Sign(c)
		for n := range len(tok) {
			if _, err := s.Verify(tok[:n], c.Purpose); !errors.Is(err, ErrInvalid) {
				t.Fatalf("truncation to %d chars accepted (err=%v)", n, err)
			}
			if _, err := s.Verify(tok[n+1:], c.Purpose); !errors.Is(err, ErrInvalid) {
				t.Fatalf("prefix removal of %d chars accepted (err=%v)", n+1, err)
			}
		}
		for _, suffix := range []string{"A", "AA", "AAAA", "=", "==", "\n", "\r\n", " ", "%00", "/", "."} {
			if _, err := s.Verify(tok+suffix, c.Purpose); !errors.Is(err, ErrInvalid) {
				t.Fatalf("suffix %q accepted (err=%v)", suffix, err)
			}
		}
		// The decoder skips CR/LF; an embedded newline must still fail.
		mid := tok[:len(tok)/2] + "\n" + tok[len(tok)/2:]
		if _, err := s.Verify(mid, c.Purpose); !errors.Is(err, ErrInvalid) {
			t.Fatalf("embedded newline accepted (err=%v)", err)
		}
		// Trailing garbage bytes inside the signed region with a fresh MAC
		// can only be made with the key; check the parser rejects them.
		raw, _ := base64.RawURLEncoding.DecodeString(tok)
		k := &s.keys[0]
		payload := append(append([]byte{}, raw[:len(raw)-macLen]...), 0)
		forged := append(payload, mac(k, payload)...)
		if _, err := s.Verify(base64.RawURLEncoding.EncodeToString(forged), c.Purpose); !errors.Is(err, ErrInvalid) {
			t.Fatalf("validly-MACed trailing byte accepted (err=%v)", err)
		}
	}
}

// Validly MACed but malformed payloads (as if the key leaked or a signing bug
// existed) must still be rejected by the strict parser, so each claim set has
// exactly one accepted token per key.
func TestNonCanonicalSignedPayloads(t *testing.T) {
	s := mustNew(t, secretA)
	k := &s.keys[0]
	hdr := []byte{version, k.id[0], k.id[1], byte(Unsubscribe)}
	cases := map[string][]byte{
		"non-minimal contact uvarint":  {0x81, 0x00, 0x00, 0x00},
		"non-minimal campaign uvarint": {0x01, 0x80, 0x00, 0x00},
		"overlong uvarint":             {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f, 0x00, 0x00},
		"topic length past end":        {0x01, 0x00, 0x03, 'a', 'b'},
		"topic length short":           {0x01, 0x00, 0x01, 'a', 'b'},
		"topic too long":               append([]byte{0x01, 0x00, MaxTopicLen + 1}, strings.Repeat("x", MaxTopicLen+1)...),
		"missing topic":                {0x01, 0x00},
	}
	for name, body := range cases {
		payload := append(append([]byte{}, hdr...), body...)
		tok := base64.RawURLEncoding.EncodeToString(append(payload, mac(k, payload)...))
		if c, err := s.Verify(tok, Unsubscribe); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: accepted as %+v (err=%v)", name, c, err)
		}
	}
	for name, p := range map[string]byte{"purpose zero": 0, "purpose unknown": 9} {
		payload := []byte{version, k.id[0], k.id[1], p, 0x01, 0x00, 0x00}
		tok := base64.RawURLEncoding.EncodeToString(append(payload, mac(k, payload)...))
		for _, want := range []Purpose{Unsubscribe, Preferences} {
			if _, err := s.Verify(tok, want); !errors.Is(err, ErrInvalid) {
				t.Errorf("%s: accepted for %v (err=%v)", name, want, err)
			}
		}
	}
	// Wrong version, correctly MACed.
	payload := []byte{version + 1, k.id[0], k.id[1], byte(Unsubscribe), 0x01, 0x00, 0x00}
	tok := base64.RawURLEncoding.EncodeToString(append(payload, mac(k, payload)...))
	if _, err := s.Verify(tok, Unsubscribe); !errors.Is(err, ErrInvalid) {
		t.Errorf("wrong version accepted (err=%v)", err)
	}
}

func TestForgedRandom(t *testing.T) {
	s := mustNew(t, secretA)
	buf := make([]byte, 64)
	for i := range 5000 {
		n := i % len(buf)
		_, _ = rand.Read(buf[:n])
		if i%2 == 0 && n >= 3 {
			// Give half of them a real header so they reach the MAC check.
			buf[0], buf[1], buf[2] = version, s.keys[0].id[0], s.keys[0].id[1]
		}
		tok := base64.RawURLEncoding.EncodeToString(buf[:n])
		for _, p := range []Purpose{Unsubscribe, Preferences} {
			if c, err := s.Verify(tok, p); !errors.Is(err, ErrInvalid) {
				t.Fatalf("random token %q accepted as %+v (err=%v)", tok, c, err)
			}
		}
	}
}

func TestJunk(t *testing.T) {
	s := mustNew(t, secretA)
	valid := s.Sign(Claims{Purpose: Unsubscribe, ContactID: 1})
	for _, tok := range []string{
		"", "A", "AA", "====", "not a token", "%%%%", "../../etc/passwd",
		strings.Repeat("A", MaxTokenLen+1), valid + strings.Repeat("A", MaxTokenLen),
		strings.ReplaceAll(strings.ReplaceAll(valid, "-", "+"), "_", "/"),
		valid + "==",
	} {
		if _, err := s.Verify(tok, Unsubscribe); !errors.Is(err, ErrInvalid) {
			t.Errorf("junk %q accepted (err=%v)", tok, err)
		}
	}
}

func TestErrorsWrapOnlyErrInvalid(t *testing.T) {
	s := mustNew(t, secretA)
	_, err := s.Verify("garbage", Unsubscribe)
	if !errors.Is(err, ErrInvalid) {
		t.Fatalf("err = %v, want wrapping ErrInvalid", err)
	}
	if errors.Unwrap(err) != ErrInvalid {
		t.Fatalf("err should wrap ErrInvalid directly, got chain %v", err)
	}
}

func TestNewRejects(t *testing.T) {
	cases := map[string][]string{
		"nil":                  nil,
		"empty list":           {},
		"empty secret":         {""},
		"short secret":         {strings.Repeat("x", 31)},
		"short second secret":  {secretA, "short"},
		"leading whitespace":   {" " + secretB},
		"trailing whitespace":  {secretB + "\n"},
		"duplicate":            {secretA, secretB, secretA},
		"short multibyte runs": {strings.Repeat("é", 15)}, // 30 bytes
	}
	for name, secrets := range cases {
		if s, err := New(secrets); err == nil || s != nil {
			t.Errorf("%s: New(%q) = %v, %v; want error", name, secrets, s, err)
		}
	}
	if _, err := New([]string{strings.Repeat("x", 32)}); err != nil {
		t.Errorf("32-byte secret rejected: %v", err)
	}
	if _, err := New([]string{strings.Repeat("x", 31)}); err == nil || !strings.Contains(err.Error(), "32") {
		t.Errorf("short-secret error should state the minimum: %v", err)
	}
}

func TestNewRejectsKeyIDCollision(t *testing.T) {
	// Find two distinct secrets whose 2-byte key ids collide (birthday
	// bound: a few hundred tries).
	byID := map[[2]byte]string{}
	base := strings.Repeat("k", MinSecretLen)
	for i := 0; ; i++ {
		sec := base + string(rune('a'+i%26)) + strings.Repeat("z", i/26)
		s := mustNew(t, sec)
		id := s.keys[0].id
		if prev, ok := byID[id]; ok {
			_, err := New([]string{prev, sec})
			if err == nil || !strings.Contains(err.Error(), "key id") {
				t.Fatalf("colliding key ids accepted or unclear error: %v", err)
			}
			return
		}
		byID[id] = sec
	}
}

func TestSignPanicsOnProgrammerError(t *testing.T) {
	s := mustNew(t, secretA)
	for name, c := range map[string]Claims{
		"zero purpose":    {ContactID: 1},
		"unknown purpose": {Purpose: 7, ContactID: 1},
		"long topic":      {Purpose: Unsubscribe, ContactID: 1, Topic: strings.Repeat("x", MaxTopicLen+1)},
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: Sign did not panic", name)
				}
			}()
			s.Sign(c)
		}()
	}
}

func TestPurposeString(t *testing.T) {
	for p, want := range map[Purpose]string{Unsubscribe: "unsubscribe", Preferences: "preferences", 9: "purpose(9)"} {
		if got := p.String(); got != want {
			t.Errorf("%d.String() = %q, want %q", uint8(p), got, want)
		}
	}
}

func TestConcurrentUse(t *testing.T) {
	s := mustNew(t, secretA, secretB)
	done := make(chan struct{})
	for g := range 8 {
		go func() {
			defer func() { done <- struct{}{} }()
			for i := range 200 {
				c := Claims{Purpose: Preferences, ContactID: int64(g*1000 + i), Topic: "t"}
				if got, err := s.Verify(s.Sign(c), Preferences); err != nil || got != c {
					t.Errorf("concurrent round trip: %+v, %v", got, err)
					return
				}
			}
		}()
	}
	for range 8 {
		<-done
	}
}

func FuzzVerify(f *testing.F) {
	s := mustNew(f, secretA, secretB)
	old := mustNew(f, secretB)
	for _, c := range sampleClaims() {
		f.Add(s.Sign(c), uint8(c.Purpose))
		f.Add(old.Sign(c), uint8(c.Purpose))
		f.Add(s.Sign(c), uint8(other(c.Purpose)))
	}
	for _, junk := range []string{"", "A", "AQID", "====", "not a token", "\n\r", strings.Repeat("_", 300), "AQAAAQEAAA"} {
		f.Add(junk, uint8(Unsubscribe))
	}
	f.Fuzz(func(t *testing.T, tok string, want uint8) {
		for _, signer := range []*Signer{s, old} {
			c, err := signer.Verify(tok, Purpose(want))
			if err != nil {
				if !errors.Is(err, ErrInvalid) {
					t.Fatalf("error %v does not wrap ErrInvalid", err)
				}
				continue
			}
			if c.Purpose != Purpose(want) {
				t.Fatalf("accepted %q for purpose %d but claims say %v", tok, want, c.Purpose)
			}
			// Accepted tokens must be exactly the canonical signing of their
			// claims under the key they name. The signer's first key is not
			// necessarily that key, so rebuild a signer around each key.
			resigned := ""
			for _, sec := range []string{secretA, secretB} {
				if one := mustNew(t, sec); one.keys[0].id == [2]byte(mustDecode(t, tok)[1:3]) {
					resigned = one.Sign(c)
				}
			}
			if resigned != tok {
				t.Fatalf("accepted %q but claims %+v re-sign to %q", tok, c, resigned)
			}
		}
	})
}

func mustDecode(t *testing.T, tok string) []byte {
	t.Helper()
	raw, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil {
		t.Fatalf("accepted token %q does not decode: %v", tok, err)
	}
	return raw
}

func BenchmarkSign(b *testing.B) {
	s := mustNew(b, secretA, secretB)
	c := Claims{Purpose: Unsubscribe, ContactID: 12345678, CampaignID: 98765, Topic: "weekly-digest"}
	b.ReportAllocs()
	for b.Loop() {
		_ = s.Sign(c)
	}
}

func BenchmarkVerify(b *testing.B) {
	s := mustNew(b, secretA, secretB)
	tok := s.Sign(Claims{Purpose: Unsubscribe, ContactID: 12345678, CampaignID: 98765, Topic: "weekly-digest"})
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Verify(tok, Unsubscribe); err != nil {
			b.Fatal(err)
		}
	}
}

// TestPreviewTokensAreNotPageTokens: a preview link verifies only as a
// preview, never as the customer's own link, and the other way round.
func TestPreviewTokensAreNotPageTokens(t *testing.T) {
	s := mustNew(t, secretA)
	for _, p := range []Purpose{Preferences, Unsubscribe} {
		c := Claims{Purpose: p.Preview(), ContactID: 42, CampaignID: 7}
		tok := s.Sign(c)
		if _, err := s.Verify(tok, p); !errors.Is(err, ErrInvalid) {
			t.Fatalf("a %v token opened the %v page: %v", c.Purpose, p, err)
		}
		if got, err := s.Verify(tok, p.Preview()); err != nil || got != c {
			t.Fatalf("Verify as %v: %+v, %v", p.Preview(), got, err)
		}
		if _, err := s.Verify(s.Sign(Claims{Purpose: p, ContactID: 42}), p.Preview()); !errors.Is(err, ErrInvalid) {
			t.Fatalf("a %v token verified as a preview: %v", p, err)
		}
		if p.IsPreview() || !p.Preview().IsPreview() || p.Preview().Preview() != p.Preview() {
			t.Fatalf("preview purposes of %v are wrong", p)
		}
	}
}
