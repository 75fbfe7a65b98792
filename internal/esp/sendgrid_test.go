package esp

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// sendGridNow is a moment shortly after the sample events.
var sendGridNow = time.Unix(1513299600, 0).UTC()

func newSendGridKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	return k
}

// signSendGrid returns the headers SendGrid would send with body.
func signSendGrid(t testing.TB, key *ecdsa.PrivateKey, timestamp string, body []byte) http.Header {
	t.Helper()
	digest := sha256.Sum256(append([]byte(timestamp), body...))
	sig, err := ecdsa.SignASN1(rand.Reader, key, digest[:])
	require.NoError(t, err)
	h := http.Header{}
	h.Set(SendGridSignatureHeader, base64.StdEncoding.EncodeToString(sig))
	h.Set(SendGridTimestampHeader, timestamp)
	return h
}

func sendGridVerificationKey(t testing.TB, key *ecdsa.PrivateKey) string {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	require.NoError(t, err)
	return base64.StdEncoding.EncodeToString(der)
}

// TestSendGridSDKTestVector verifies the signature from SendGrid's own Go
// SDK tests (sendgrid-go helpers/eventwebhook), made by SendGrid's code, so
// the signed-payload format is checked against theirs and not only ours.
func TestSendGridSDKTestVector(t *testing.T) {
	const (
		publicKey = "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEEDr2LjtURuePQzplybdC+u4CwrqDqBaWjcMMsTbhdbcwHBcepxo7yAQGhHPTnlvFYPAZFceEu/1FwCM/QmGUhA=="
		signature = "MEUCIQCtIHJeH93Y+qpYeWrySphQgpNGNr/U+UyUlBkU6n7RAwIgJTz2C+8a8xonZGi6BpSzoQsbVRamr2nlxFDWYNH2j/0="
		timestamp = "1588788367"
	)
	body := []byte(`{"category":"example_payload","event":"test_event","message_id":"message_id"}`)
	key, err := ParseSendGridKey(publicKey)
	require.NoError(t, err)
	sg := &SendGrid{PublicKey: key}
	h := http.Header{}
	h.Set(SendGridSignatureHeader, signature)
	h.Set(SendGridTimestampHeader, timestamp)
	now := time.Unix(1588788367+60, 0)

	// The vector's payload is one object, not SendGrid's array, so it
	// authenticates and then fails as malformed.
	_, err = sg.Receive(h, body, now)
	requireKind(t, err, ErrMalformed)

	_, err = sg.Receive(h, []byte(`{"category":"example_payload","event":"test_event","message_id":"message_iD"}`), now)
	requireKind(t, err, ErrUnauthenticated)
	h.Set(SendGridTimestampHeader, "1588788368")
	_, err = sg.Receive(h, body, now)
	requireKind(t, err, ErrUnauthenticated)
}

func TestSendGridReceiveSample(t *testing.T) {
	key := newSendGridKey(t)
	pub, err := ParseSendGridKey(sendGridVerificationKey(t, key))
	require.NoError(t, err)
	sg := &SendGrid{PublicKey: pub}
	body := readTestdata(t, "sendgrid_events.json")
	events, err := sg.Receive(signSendGrid(t, key, "1513299590", body), body, sendGridNow)
	require.NoError(t, err)

	const pmid1 = "14c5d75ce93.dfd.64b469.filter0001.16648.5515E0B88.000000000000000000000"
	at := func(sec int64) time.Time { return time.Unix(sec, 0).UTC() }
	want := []Event{
		{Provider: "sendgrid", Kind: Ignored, Email: "example@test.com", MessageID: "rapport.2001.7@example.com",
			ProviderMessageID: pmid1, ProviderID: "rbtnWrG1DVDGGGFHFyun0A", Type: "processed", At: at(1513299569)},
		{Provider: "sendgrid", Kind: Ignored, Email: "example@test.com", MessageID: "rapport.2001.7@example.com",
			ProviderMessageID: pmid1, ProviderID: "t7LEShmowp86DTdUW8M-GQ", Type: "deferred", Detail: "400 try again later", At: at(1513299570)},
		{Provider: "sendgrid", Kind: Ignored, Email: "example@test.com", MessageID: "rapport.2001.7@example.com",
			ProviderMessageID: pmid1, ProviderID: "rWVYmVk90MjZJ9iohOBa3w", Type: "delivered", At: at(1513299571)},
		{Provider: "sendgrid", Kind: HardBounce, Email: "bounce.me@example.com", MessageID: "rapport.2002.7@example.com",
			ProviderMessageID: "14c5d75ce93.dfd.64b469.filter0002.16648.5515E0B88.000000000000000000000",
			ProviderID:        "6g4ZI7SA-xmRDv57GoPIPw", Type: "bounce",
			Detail: "5.0.0; 500 unknown recipient; Invalid Address", At: at(1513299572)},
		{Provider: "sendgrid", Kind: SoftBounce, Email: "noemail@this.does.not.exist.tld", MessageID: "rapport.2003.7@example.com",
			ProviderMessageID: "euo2iKxdSayPF4YE4--I7A.recvd-5f54b5d587-pczjm-1-67BADEEA-6.0",
			ProviderID:        "Ym91bmNlLTQtNTA0ODUxOTUtZXVvMmlLeGRTYXlQRjRZRTQtLUk3QS0w", Type: "bounce/blocked",
			Detail: "unable to get mx info: failed to get IPs from PTR record: lookup <nil>: unrecognized address; Unclassified",
			At:     at(1513299573)},
		{Provider: "sendgrid", Kind: Ignored, Email: "bounced-before@example.com", MessageID: "rapport.2004.7@example.com",
			ProviderMessageID: "14c5d75ce93.dfd.64b469.filter0004.16648.5515E0B88.000000000000000000000",
			ProviderID:        "zmzJhfJgAfUSOW80yEbPyw", Type: "dropped", Detail: "Bounced Address", At: at(1513299574)},
		{Provider: "sendgrid", Kind: Ignored, Email: "complained-before@example.com", MessageID: "rapport.2005.7@example.com",
			ProviderMessageID: "14c5d75ce93.dfd.64b469.filter0005.16648.5515E0B88.000000000000000000000",
			ProviderID:        "qw-1Ep6fRmyCbMv_LHmVfA", Type: "dropped", Detail: "Spam Reporting Address", At: at(1513299575)},
		{Provider: "sendgrid", Kind: Complaint, Email: "angry@example.com", MessageID: "rapport.2006.7@example.com",
			ProviderMessageID: "14c5d75ce93.dfd.64b469.filter0006.16648.5515E0B88.000000000000000000000",
			ProviderID:        "37nvH5QBz858KGVYCM4uOA", Type: "spamreport", At: at(1513299576)},
		{Provider: "sendgrid", Kind: Ignored, Email: "example@test.com", MessageID: "rapport.2001.7@example.com",
			ProviderMessageID: pmid1, ProviderID: "zz_BjPgU_5pS-J8vlfB1sg", Type: "unsubscribe", At: at(1513299577)},
		{Provider: "sendgrid", Kind: Ignored, MessageID: "rapport.2007.7@example.com",
			ProviderMessageID: "14c5d75ce93.dfd.64b469.filter0007.16648.5515E0B88.000000000000000000000",
			ProviderID:        "SX8KzV1d2x1kvvBJiN0y2w", Type: "bounce",
			Detail: `invalid recipient address "not an email address"`, At: at(1513299578)},
		{Provider: "sendgrid", Kind: Ignored, Email: "example@test.com",
			ProviderMessageID: pmid1, ProviderID: "FOTFFO0ecsBE-zxFXfs6WA", Type: "open", At: at(1513299579)},
	}
	require.Equal(t, want, events)
	checkInvariants(t, ProviderSendGrid, events)
}

func TestSendGridOddElements(t *testing.T) {
	sent := time.Unix(1513299590, 0).UTC()
	events, err := parseSendGrid([]byte(`[42, {"event":"bounce","email":"a@example.com","timestamp":"soon","sg_event_id":7}, {"email":"b@example.com"}, []]`), sent)
	require.NoError(t, err)
	require.Equal(t, []Event{
		{Provider: "sendgrid", Kind: Ignored, Detail: "SendGrid event is not an object", At: sent},
		{Provider: "sendgrid", Kind: HardBounce, Email: "a@example.com", ProviderID: "7", Type: "bounce", At: sent},
		{Provider: "sendgrid", Kind: Ignored, Email: "b@example.com", Type: "unknown", At: sent},
		{Provider: "sendgrid", Kind: Ignored, Detail: "SendGrid event is not an object", At: sent},
	}, events)

	events, err = parseSendGrid([]byte(" []"), sent)
	require.NoError(t, err)
	require.Empty(t, events)
	for _, body := range []string{"", "null", `{"event":"bounce"}`, "[", `"[]"`} {
		_, err := parseSendGrid([]byte(body), sent)
		requireKind(t, err, ErrMalformed)
	}
}

func TestSendGridRejectsForgeries(t *testing.T) {
	key, other := newSendGridKey(t), newSendGridKey(t)
	sg := &SendGrid{PublicKey: &key.PublicKey}
	body := readTestdata(t, "sendgrid_events.json")
	now := sendGridNow
	stamp := func(d time.Duration) string { return strconv.FormatInt(now.Add(d).Unix(), 10) }
	cases := []struct {
		name    string
		headers http.Header
		body    []byte
	}{
		{"altered body", signSendGrid(t, key, stamp(0), body), []byte(strings.Replace(string(body), "angry@example.com", "ceo@example.com", 1))},
		{"wrong key", signSendGrid(t, other, stamp(0), body), body},
		{"old timestamp, validly signed", signSendGrid(t, key, stamp(-DefaultSendGridWindow-time.Second), body), body},
		{"future timestamp, validly signed", signSendGrid(t, key, stamp(DefaultSendGridWindow+time.Second), body), body},
		{"timestamp altered after signing", func() http.Header {
			h := signSendGrid(t, key, stamp(0), body)
			h.Set(SendGridTimestampHeader, stamp(time.Second))
			return h
		}(), body},
		{"missing signature header", func() http.Header {
			h := signSendGrid(t, key, stamp(0), body)
			h.Del(SendGridSignatureHeader)
			return h
		}(), body},
		{"missing timestamp header", func() http.Header {
			h := signSendGrid(t, key, stamp(0), body)
			h.Del(SendGridTimestampHeader)
			return h
		}(), body},
		{"timestamp not a number", func() http.Header {
			h := signSendGrid(t, key, "now", body)
			return h
		}(), body},
		{"signature not base64", func() http.Header {
			h := signSendGrid(t, key, stamp(0), body)
			h.Set(SendGridSignatureHeader, "%%%")
			return h
		}(), body},
		{"signature of another body", signSendGrid(t, key, stamp(0), []byte("[]")), body},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			events, err := sg.Receive(c.headers, c.body, now)
			requireKind(t, err, ErrUnauthenticated)
			require.Nil(t, events)
		})
	}

	t.Run("no key configured", func(t *testing.T) {
		_, err := (&SendGrid{}).Receive(signSendGrid(t, key, stamp(0), body), body, now)
		requireKind(t, err, ErrUnauthenticated)
	})
	t.Run("custom window", func(t *testing.T) {
		narrow := &SendGrid{PublicKey: &key.PublicKey, Window: time.Minute}
		_, err := narrow.Receive(signSendGrid(t, key, stamp(-2*time.Minute), body), body, now)
		requireKind(t, err, ErrUnauthenticated)
		_, err = narrow.Receive(signSendGrid(t, key, stamp(-30*time.Second), body), body, now)
		require.NoError(t, err)
	})
}

func TestParseSendGridKey(t *testing.T) {
	key := newSendGridKey(t)
	b64 := sendGridVerificationKey(t, key)
	pub, err := ParseSendGridKey(" " + b64 + "\n")
	require.NoError(t, err)
	require.True(t, pub.Equal(&key.PublicKey))

	der, _ := base64.StdEncoding.DecodeString(b64)
	pub, err = ParseSendGridKey(string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})))
	require.NoError(t, err)
	require.True(t, pub.Equal(&key.PublicKey))

	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	require.NoError(t, err)
	der384, err := x509.MarshalPKIXPublicKey(&p384.PublicKey)
	require.NoError(t, err)
	rsaDER, err := x509.MarshalPKIXPublicKey(&snsKeys()[0].PublicKey)
	require.NoError(t, err)
	for _, bad := range []string{"", "not base64!", base64.StdEncoding.EncodeToString([]byte("junk")),
		base64.StdEncoding.EncodeToString(der384), base64.StdEncoding.EncodeToString(rsaDER)} {
		_, err := ParseSendGridKey(bad)
		require.Error(t, err, bad)
	}
}
