package webhook

import (
	"encoding/base64"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The Standard Webhooks test vector, from the specification's reference
// libraries (libraries/go/webhook_test.go TestWebhookSign, and the same
// values in its other languages). Matching it means any receiver using one
// of those libraries accepts rapport's signatures.
const (
	vectorSecret    = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	vectorID        = "msg_p5jXN8AQM9LWM0D4loKWxJek"
	vectorUnix      = 1614265330
	vectorBody      = `{"test": 2432232314}`
	vectorSignature = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
)

func mustSecret(t testing.TB) string {
	t.Helper()
	s, err := NewSecret()
	if err != nil {
		t.Fatalf("NewSecret: %v", err)
	}
	return s
}

func mustHeaders(t testing.TB, secrets []string, id string, ts time.Time, body []byte) http.Header {
	t.Helper()
	h, err := SignHeaders(secrets, id, ts, body)
	if err != nil {
		t.Fatalf("SignHeaders: %v", err)
	}
	return h
}

func TestSignMatchesStandardWebhooksVector(t *testing.T) {
	got, err := Sign(vectorSecret, vectorID, time.Unix(vectorUnix, 0), []byte(vectorBody))
	if err != nil {
		t.Fatal(err)
	}
	if got != vectorSignature {
		t.Fatalf("Sign = %q, want the specification's %q", got, vectorSignature)
	}
	// Sub-second precision is not part of the header and must not change
	// the signature.
	got, _ = Sign(vectorSecret, vectorID, time.Unix(vectorUnix, 999_999_999), []byte(vectorBody))
	if got != vectorSignature {
		t.Fatalf("Sign with nanoseconds = %q, want %q", got, vectorSignature)
	}
}

func TestVerifyAcceptsStandardWebhooksVector(t *testing.T) {
	h := http.Header{}
	h.Set(HeaderID, vectorID)
	h.Set(HeaderTimestamp, strconv.Itoa(vectorUnix))
	h.Set(HeaderSignature, vectorSignature)
	now := time.Unix(vectorUnix, 0).Add(10 * time.Second)
	if err := Verify([]string{vectorSecret}, h, []byte(vectorBody), now, 0); err != nil {
		t.Fatalf("Verify(vector) = %v", err)
	}
}

func TestSignHeadersShape(t *testing.T) {
	ts := time.Unix(vectorUnix, 0)
	h := mustHeaders(t, []string{vectorSecret}, vectorID, ts, []byte(vectorBody))
	if got := h.Get("webhook-id"); got != vectorID {
		t.Errorf("webhook-id = %q", got)
	}
	if got := h.Get("webhook-timestamp"); got != "1614265330" {
		t.Errorf("webhook-timestamp = %q", got)
	}
	if got := h.Get("webhook-signature"); got != vectorSignature {
		t.Errorf("webhook-signature = %q", got)
	}
	if len(h) != 3 {
		t.Errorf("SignHeaders set %d headers, want 3: %v", len(h), h)
	}
}

func TestNewSecret(t *testing.T) {
	seen := map[string]bool{}
	for range 50 {
		s := mustSecret(t)
		enc, ok := strings.CutPrefix(s, "whsec_")
		if !ok {
			t.Fatalf("secret %q lacks the whsec_ prefix", s)
		}
		key, err := base64.StdEncoding.DecodeString(enc)
		if err != nil || len(key) != NewSecretBytes {
			t.Fatalf("secret decodes to %d bytes (err %v), want %d", len(key), err, NewSecretBytes)
		}
		if err := ValidateSecret(s); err != nil {
			t.Fatalf("ValidateSecret(NewSecret()) = %v", err)
		}
		if seen[s] {
			t.Fatalf("NewSecret repeated %q", s)
		}
		seen[s] = true
	}
}

func TestSecretValidation(t *testing.T) {
	b64 := func(n int) string { return base64.StdEncoding.EncodeToString(make([]byte, n)) }
	tests := []struct {
		name, secret string
		ok           bool
	}{
		{"24 bytes", "whsec_" + b64(24), true},
		{"64 bytes", "whsec_" + b64(64), true},
		{"spec vector", vectorSecret, true},
		{"23 bytes", "whsec_" + b64(23), false},
		{"65 bytes", "whsec_" + b64(65), false},
		{"no prefix", b64(32), false},
		{"other provider prefix", "whsk_" + b64(32), false},
		{"not base64", "whsec_!!!!" + b64(32), false},
		{"url-safe alphabet", "whsec_" + strings.Repeat("_-", 16), false},
		{"empty", "", false},
		{"prefix only", "whsec_", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := ValidateSecret(tt.secret)
			if tt.ok && err != nil {
				t.Fatalf("ValidateSecret = %v, want nil", err)
			}
			if !tt.ok {
				if !errors.Is(err, ErrInvalidSecret) {
					t.Fatalf("ValidateSecret = %v, want ErrInvalidSecret", err)
				}
				if _, err := Sign(tt.secret, "evt_1", time.Unix(vectorUnix, 0), nil); !errors.Is(err, ErrInvalidSecret) {
					t.Fatalf("Sign = %v, want ErrInvalidSecret", err)
				}
			}
		})
	}
}

func TestSignRejectsBadInput(t *testing.T) {
	ts := time.Unix(vectorUnix, 0)
	for _, id := range []string{"", "evt.1", "evt 1", "evt\n1", "evt\x001", "évt", strings.Repeat("a", 257)} {
		if _, err := Sign(vectorSecret, id, ts, nil); !errors.Is(err, ErrInvalidID) {
			t.Errorf("Sign(id %q) = %v, want ErrInvalidID", id, err)
		}
	}
	if _, err := Sign(vectorSecret, "evt_1", time.Time{}, nil); err == nil {
		t.Error("Sign(zero time) succeeded")
	}
	if _, err := SignHeaders(nil, "evt_1", ts, nil); !errors.Is(err, ErrInvalidSecret) {
		t.Errorf("SignHeaders(no secrets) = %v, want ErrInvalidSecret", err)
	}
	if _, err := SignHeaders([]string{vectorSecret, "bogus"}, "evt_1", ts, nil); !errors.Is(err, ErrInvalidSecret) || !strings.Contains(err.Error(), "secret 2 of 2") {
		t.Errorf("SignHeaders(one bad secret) = %v, want ErrInvalidSecret naming secret 2 of 2", err)
	}
}

func TestVerifyRoundTrip(t *testing.T) {
	secret := mustSecret(t)
	now := time.Now()
	for _, body := range [][]byte{nil, []byte(`{}`), []byte(`{"type":"contact.unsubscribed","data":{"email":"a.b@example.com"}}`), []byte("not json\x00\xff")} {
		h := mustHeaders(t, []string{secret}, "evt_01JABCDEF", now, body)
		if err := Verify([]string{secret}, h, body, now, 0); err != nil {
			t.Errorf("Verify(body %q) = %v", body, err)
		}
	}
}

// TestVerifyDuringRotation: while old and new secrets are both active the
// request carries both signatures, and a receiver that knows either one
// (not yet updated, or already updated) accepts it.
func TestVerifyDuringRotation(t *testing.T) {
	oldSecret, newSecret, otherSecret := mustSecret(t), mustSecret(t), mustSecret(t)
	now := time.Now()
	body := []byte(`{"type":"delivery.bounced"}`)
	h := mustHeaders(t, []string{newSecret, oldSecret}, "evt_rot", now, body)
	entries := strings.Split(h.Get(HeaderSignature), " ")
	if len(entries) != 2 || !strings.HasPrefix(entries[0], "v1,") || !strings.HasPrefix(entries[1], "v1,") || entries[0] == entries[1] {
		t.Fatalf("webhook-signature = %q, want two distinct space-separated v1 entries", h.Get(HeaderSignature))
	}
	for name, secrets := range map[string][]string{
		"receiver knows only old":  {oldSecret},
		"receiver knows only new":  {newSecret},
		"receiver knows both":      {oldSecret, newSecret},
		"receiver knows other+old": {otherSecret, oldSecret},
	} {
		if err := Verify(secrets, h, body, now, 0); err != nil {
			t.Errorf("%s: Verify = %v", name, err)
		}
	}
	if err := Verify([]string{otherSecret}, h, body, now, 0); !errors.Is(err, ErrNoMatchingSignature) {
		t.Errorf("unrelated secret: Verify = %v, want ErrNoMatchingSignature", err)
	}
}

func TestVerifyRejectsForgeries(t *testing.T) {
	secret, wrong := mustSecret(t), mustSecret(t)
	signedAt := time.Unix(1_750_000_000, 0)
	body := []byte(`{"type":"contact.unsubscribed","data":{"contact_id":42}}`)
	good := func() http.Header { return mustHeaders(t, []string{secret}, "evt_42", signedAt, body) }
	validSig := good().Get(HeaderSignature)

	tests := []struct {
		name    string
		headers func() http.Header
		body    []byte
		secrets []string
		now     time.Time
		tol     time.Duration
		want    error // nil: accepted
	}{
		{name: "valid", want: nil},
		{name: "valid at exactly the tolerance, old side", now: signedAt.Add(DefaultTolerance)},
		{name: "valid at exactly the tolerance, future side", now: signedAt.Add(-DefaultTolerance)},
		{name: "changed body", body: []byte(`{"type":"contact.unsubscribed","data":{"contact_id":43}}`), want: ErrNoMatchingSignature},
		{name: "body with extra whitespace", body: append(append([]byte{}, body...), '\n'), want: ErrNoMatchingSignature},
		{name: "changed id", headers: func() http.Header { h := good(); h.Set(HeaderID, "evt_43"); return h }, want: ErrNoMatchingSignature},
		{name: "changed timestamp", headers: func() http.Header {
			h := good()
			h.Set(HeaderTimestamp, strconv.FormatInt(signedAt.Unix()+1, 10))
			return h
		}, want: ErrNoMatchingSignature},
		{name: "id/timestamp split shifted", headers: func() http.Header {
			// Moving the dot: the same signed bytes read as another
			// (id, timestamp) pair must not verify.
			h := good()
			h.Set(HeaderID, "evt_42."+strconv.FormatInt(signedAt.Unix(), 10))
			return h
		}, want: ErrMalformedHeader},
		{name: "wrong secret", secrets: []string{wrong}, want: ErrNoMatchingSignature},
		{name: "old timestamp", now: signedAt.Add(DefaultTolerance + time.Second), want: ErrTimestampTooOld},
		{name: "a day old", now: signedAt.Add(24 * time.Hour), want: ErrTimestampTooOld},
		{name: "future timestamp", now: signedAt.Add(-DefaultTolerance - time.Second), want: ErrTimestampTooNew},
		{name: "custom tolerance", now: signedAt.Add(31 * time.Second), tol: 30 * time.Second, want: ErrTimestampTooOld},
		{name: "missing id", headers: func() http.Header { h := good(); h.Del(HeaderID); return h }, want: ErrMissingHeader},
		{name: "missing timestamp", headers: func() http.Header { h := good(); h.Del(HeaderTimestamp); return h }, want: ErrMissingHeader},
		{name: "missing signature", headers: func() http.Header { h := good(); h.Del(HeaderSignature); return h }, want: ErrMissingHeader},
		{name: "blank signature", headers: func() http.Header { h := good(); h.Set(HeaderSignature, "   "); return h }, want: ErrMissingHeader},
		{name: "timestamp not a number", headers: func() http.Header { h := good(); h.Set(HeaderTimestamp, "yesterday"); return h }, want: ErrMalformedHeader},
		{name: "timestamp with sign", headers: func() http.Header {
			h := good()
			h.Set(HeaderTimestamp, "+"+strconv.FormatInt(signedAt.Unix(), 10))
			return h
		}, want: ErrMalformedHeader},
		{name: "timestamp with fraction", headers: func() http.Header {
			h := good()
			h.Set(HeaderTimestamp, strconv.FormatInt(signedAt.Unix(), 10)+".5")
			return h
		}, want: ErrMalformedHeader},
		{name: "timestamp in milliseconds", headers: func() http.Header {
			h := good()
			h.Set(HeaderTimestamp, strconv.FormatInt(signedAt.UnixMilli(), 10))
			return h
		}, want: ErrTimestampTooNew},
		{name: "timestamp far in the future", headers: func() http.Header { h := good(); h.Set(HeaderTimestamp, "999999999999999999"); return h }, want: ErrTimestampTooNew},
		{name: "timestamp zero", headers: func() http.Header { h := good(); h.Set(HeaderTimestamp, "0"); return h }, want: ErrTimestampTooOld},
		{name: "timestamp too long", headers: func() http.Header { h := good(); h.Set(HeaderTimestamp, "9999999999999999999999"); return h }, want: ErrMalformedHeader},
		{name: "signature without version", headers: func() http.Header {
			h := good()
			h.Set(HeaderSignature, strings.TrimPrefix(validSig, "v1,"))
			return h
		}, want: ErrMalformedHeader},
		{name: "signature version only", headers: func() http.Header { h := good(); h.Set(HeaderSignature, "v1,"); return h }, want: ErrMalformedHeader},
		{name: "signature not base64", headers: func() http.Header { h := good(); h.Set(HeaderSignature, "v1,!!!notbase64!!!"); return h }, want: ErrNoMatchingSignature},
		{name: "signature truncated", headers: func() http.Header { h := good(); h.Set(HeaderSignature, validSig[:len(validSig)-4]); return h }, want: ErrNoMatchingSignature},
		{name: "valid MAC under another version", headers: func() http.Header {
			h := good()
			h.Set(HeaderSignature, "v2"+strings.TrimPrefix(validSig, "v1"))
			return h
		}, want: ErrNoMatchingSignature},
		{name: "valid among unknown versions and junk", headers: func() http.Header {
			h := good()
			h.Set(HeaderSignature, "v1a,AAAA garbage v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc=  "+validSig+" v9,x")
			return h
		}},
		{name: "valid in a second header line", headers: func() http.Header {
			h := good()
			h.Set(HeaderSignature, "v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc=")
			h.Add(HeaderSignature, validSig)
			return h
		}},
		{name: "no secrets", secrets: []string{}, want: ErrInvalidSecret},
		{name: "receiver secret malformed", secrets: []string{"whsec_short"}, want: ErrInvalidSecret},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := good()
			if tt.headers != nil {
				h = tt.headers()
			}
			b := body
			if tt.body != nil {
				b = tt.body
			}
			secrets := []string{secret}
			if tt.secrets != nil {
				secrets = tt.secrets
			}
			now := signedAt.Add(2 * time.Second)
			if !tt.now.IsZero() {
				now = tt.now
			}
			err := Verify(secrets, h, b, now, tt.tol)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("Verify = %v, want accepted", err)
				}
				return
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("Verify = %v, want %v", err, tt.want)
			}
		})
	}
}

// TestVerifyErrorsDoNotLeakSecrets: errors end up in logs.
func TestVerifyErrorsDoNotLeakSecrets(t *testing.T) {
	secret := "whsec_" + base64.StdEncoding.EncodeToString(make([]byte, 10))
	err := Verify([]string{secret}, http.Header{}, nil, time.Now(), 0)
	if err == nil || strings.Contains(err.Error(), secret[6:]) {
		t.Fatalf("Verify error %q quotes the secret", err)
	}
}
