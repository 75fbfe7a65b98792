package esp

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// mailgunKey signed the samples in testdata.
const mailgunKey = "test-mailgun-signing-key-0123456789"

func mailgunSignature(key, timestamp, token string) string {
	mac := hmac.New(sha256.New, []byte(key))
	mac.Write([]byte(timestamp + token))
	return hex.EncodeToString(mac.Sum(nil))
}

// mailgunBodyFor returns a signed Mailgun body around eventData.
func mailgunBodyFor(key, timestamp, token, eventData string) []byte {
	return fmt.Appendf(nil, `{"signature":{"timestamp":%q,"token":%q,"signature":%q},"event-data":%s}`,
		timestamp, token, mailgunSignature(key, timestamp, token), eventData)
}

// mailgunSampleNow is 30 seconds after a sample's signature timestamp.
func mailgunSampleNow(t testing.TB, body []byte) time.Time {
	t.Helper()
	var b struct {
		Signature struct {
			Timestamp string `json:"timestamp"`
		} `json:"signature"`
	}
	require.NoError(t, json.Unmarshal(body, &b))
	sec, err := strconv.ParseInt(b.Signature.Timestamp, 10, 64)
	require.NoError(t, err)
	return time.Unix(sec+30, 0).UTC()
}

func TestMailgunReceiveSamples(t *testing.T) {
	mu := func(sec, nsec int64) time.Time { return time.Unix(sec, nsec).UTC() }
	cases := []struct {
		file string
		want Event
	}{
		{"mailgun_failed_permanent.json", Event{Provider: "mailgun", Kind: HardBounce, Email: "invalid@example.com",
			MessageID: "rapport.3001.7@example.com", ProviderID: "G9Bn5sl1TC6nu79C8C0bwg", Type: "failed/permanent",
			Detail: "bounce; 550; 5.1.1 The email account that you tried to reach does not exist. Please try 5.1.1 double-checking the recipient's email address for typos",
			At:     mu(1534110422, 389832000)}},
		{"mailgun_failed_temporary.json", Event{Provider: "mailgun", Kind: Ignored, Email: "slow@mx.example.com",
			MessageID: "rapport.3002.7@example.com", ProviderID: "Fs7-5t81S2ClGLdHsCpyRg", Type: "failed/temporary",
			Detail: "Mailgun retries in 300s; greylisted; 450; 4.7.1 <slow@mx.example.com>: Recipient address rejected: Greylisted, see https://postgrey.schweikert.ch/help/mx.example.com.html",
			At:     mu(1534111899, 659519000)}},
		{"mailgun_failed_old.json", Event{Provider: "mailgun", Kind: SoftBounce, Email: "nomx@nomx.example.com",
			MessageID: "rapport.3003.7@example.com", ProviderID: "Xn3Q1l0gQq2dOWk0cK9Zmw", Type: "failed/permanent",
			Detail: "old; 498; No MX for nomx.example.com", At: mu(1534139999, 500000000)}},
		{"mailgun_failed_suppress.json", Event{Provider: "mailgun", Kind: Ignored, Email: "bounced-before@example.com",
			MessageID: "rapport.3004.7@example.com", ProviderID: "Qp0Lrk6wRRmuoYVFmz-2bA", Type: "failed/permanent",
			Detail: "suppress-bounce; 605; Not delivering to previously bounced address", At: mu(1534149999, 250000000)}},
		{"mailgun_complained.json", Event{Provider: "mailgun", Kind: Complaint, Email: "recipient@example.com",
			MessageID: "rapport.3005.7@example.com", ProviderID: "ncV2XwymRUKbPek_MIM-Gw", Type: "complained",
			At: mu(1377214260, 49634000)}},
		{"mailgun_delivered.json", Event{Provider: "mailgun", Kind: Ignored, Email: "recipient@example.com",
			MessageID: "20180812211713.1.DF5966851B4BAA99@example.org", ProviderID: "hTWCTD81RtiDN-a3dTq3Ag", Type: "delivered",
			At: mu(1534108637, 153125000)}},
	}
	m := &Mailgun{SigningKey: mailgunKey}
	for _, c := range cases {
		t.Run(c.file, func(t *testing.T) {
			body := readTestdata(t, c.file)
			events, err := m.Receive(body, mailgunSampleNow(t, body))
			require.NoError(t, err)
			require.Equal(t, []Event{c.want}, events)
			checkInvariants(t, ProviderMailgun, events)
		})
	}
}

func TestMailgunSeverities(t *testing.T) {
	sent := time.Unix(1534110423, 0).UTC()
	for _, c := range []struct {
		data string
		kind Kind
		typ  string
	}{
		{`{"event":"failed","severity":"temporary","recipient":"a@example.com","delivery-status":{"code":421}}`, SoftBounce, "failed/temporary"},
		{`{"event":"failed","severity":"temporary","recipient":"a@example.com","delivery-status":{"retry-seconds":"600"}}`, Ignored, "failed/temporary"},
		{`{"event":"failed","severity":"permanent","reason":"suppress-unsubscribe","recipient":"a@example.com"}`, Ignored, "failed/permanent"},
		{`{"event":"failed","severity":"permanent","reason":"suppress-complaint","recipient":"a@example.com"}`, Ignored, "failed/permanent"},
		{`{"event":"failed","severity":"permanent","reason":"generic","recipient":"a@example.com"}`, HardBounce, "failed/permanent"},
		{`{"event":"failed","recipient":"a@example.com"}`, SoftBounce, "failed"},
		{`{"event":"failed","severity":"permanent","recipient":"not an address"}`, Ignored, "failed/permanent"},
		{`{"event":"unsubscribed","recipient":"a@example.com"}`, Ignored, "unsubscribed"},
		{`{"event":"accepted","recipient":"a@example.com"}`, Ignored, "accepted"},
		{`{"recipient":"a@example.com"}`, Ignored, "unknown"},
	} {
		events, err := parseMailgun(json.RawMessage(c.data), sent)
		require.NoError(t, err, c.data)
		require.Len(t, events, 1)
		require.Equal(t, c.kind, events[0].Kind, c.data)
		require.Equal(t, c.typ, events[0].Type, c.data)
		require.Equal(t, sent, events[0].At, "events without a timestamp take the signature's")
		checkInvariants(t, ProviderMailgun, events)
	}
	for _, data := range []string{"", "null", "[]", `"x"`, `{"event":`} {
		_, err := parseMailgun(json.RawMessage(data), sent)
		requireKind(t, err, ErrMalformed)
	}
}

func TestMailgunRejectsForgeries(t *testing.T) {
	sample := string(readTestdata(t, "mailgun_failed_permanent.json"))
	now := mailgunSampleNow(t, []byte(sample))
	const ts0, token0 = "1534110423", "a8ce0edb2dd8301dee6c2405235584e45aa91d1e9f979f3de0"
	eventData := `{"event":"failed","severity":"permanent","recipient":"victim@example.com"}`
	stamp := func(d time.Duration) string { return strconv.FormatInt(now.Add(d).Unix(), 10) }
	cases := []struct {
		name string
		body string
		want error
	}{
		{"wrong key", string(mailgunBodyFor("another-key", ts0, token0, eventData)), ErrUnauthenticated},
		{"token altered", strings.Replace(sample, token0, "b"+token0[1:], 1), ErrUnauthenticated},
		{"timestamp altered", strings.Replace(sample, `"timestamp": "1534110423"`, `"timestamp": "1534110424"`, 1), ErrUnauthenticated},
		{"signature altered", strings.Replace(sample, `"signature": "a9116f15`, `"signature": "a9116f16`, 1), ErrUnauthenticated},
		{"signature not hex", strings.Replace(sample, `"signature": "a9116f15`, `"signature": "zz116f15`, 1), ErrUnauthenticated},
		{"old timestamp, validly signed", string(mailgunBodyFor(mailgunKey, stamp(-DefaultMailgunWindow-time.Second), "tok-old", eventData)), ErrUnauthenticated},
		{"future timestamp, validly signed", string(mailgunBodyFor(mailgunKey, stamp(DefaultMailgunWindow+time.Second), "tok-future", eventData)), ErrUnauthenticated},
		{"timestamp not a number", string(mailgunBodyFor(mailgunKey, "soon", "tok-soon", eventData)), ErrUnauthenticated},
		{"signature missing", `{"event-data":` + eventData + `}`, ErrUnauthenticated},
		{"signature empty", `{"signature":{"timestamp":"1534110423","token":"t","signature":""},"event-data":` + eventData + `}`, ErrUnauthenticated},
		{"token too long", string(mailgunBodyFor(mailgunKey, stamp(0), strings.Repeat("t", 300), eventData)), ErrUnauthenticated},
		{"not JSON", "signature=abc&token=def", ErrMalformed},
		{"signed, but no event-data", string(mailgunBodyFor(mailgunKey, stamp(0), "tok-noevent", "null")), ErrMalformed},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := &Mailgun{SigningKey: mailgunKey}
			events, err := m.Receive([]byte(c.body), now)
			requireKind(t, err, c.want)
			require.Nil(t, events)
		})
	}
	t.Run("no key configured", func(t *testing.T) {
		_, err := (&Mailgun{}).Receive([]byte(sample), now)
		requireKind(t, err, ErrUnauthenticated)
	})
}

func TestMailgunRefusesReplays(t *testing.T) {
	body := readTestdata(t, "mailgun_failed_permanent.json")
	now := mailgunSampleNow(t, body)
	m := &Mailgun{SigningKey: mailgunKey}
	_, err := m.Receive(body, now)
	require.NoError(t, err)

	// The same request again, even a minute later, is a replay.
	_, err = m.Receive(body, now.Add(time.Minute))
	requireKind(t, err, ErrUnauthenticated)

	// Mailgun does not sign event-data: the captured signature with other
	// event-data is the attack the replay check exists for.
	var b map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(body, &b))
	forged := fmt.Appendf(nil, `{"signature":%s,"event-data":{"event":"complained","recipient":"ceo@example.com"}}`, b["signature"])
	_, err = m.Receive(forged, now)
	requireKind(t, err, ErrUnauthenticated)

	// Another Mailgun value has its own cache: that is what "per process" means.
	_, err = (&Mailgun{SigningKey: mailgunKey}).Receive(body, now)
	require.NoError(t, err)
}

func TestMailgunParentSignature(t *testing.T) {
	now := time.Unix(1700000000, 0).UTC()
	ts, token := "1700000000", "parenttoken0123456789"
	body := fmt.Appendf(nil, `{"signature":{"timestamp":%q,"token":%q,"signature":%q,"parent-signature":%q},"event-data":{"event":"complained","recipient":"a@example.com"}}`,
		ts, token, mailgunSignature("subaccount-key", ts, token), mailgunSignature(mailgunKey, ts, token))
	events, err := (&Mailgun{SigningKey: mailgunKey}).Receive(body, now)
	require.NoError(t, err)
	require.Equal(t, Complaint, events[0].Kind)
	events, err = (&Mailgun{SigningKey: "subaccount-key"}).Receive(body, now)
	require.NoError(t, err)
	require.Equal(t, Complaint, events[0].Kind)
}

type recordingGuard struct {
	mu      sync.Mutex
	seen    map[string]bool
	expires []time.Time
}

func (g *recordingGuard) Seen(token string, _, expires time.Time) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.expires = append(g.expires, expires)
	if g.seen[token] {
		return true
	}
	g.seen[token] = true
	return false
}

func TestMailgunInjectedReplayGuard(t *testing.T) {
	guard := &recordingGuard{seen: map[string]bool{}}
	m := &Mailgun{SigningKey: mailgunKey, Replay: guard, Window: time.Minute}
	now := time.Unix(1700000000, 0).UTC()
	body := mailgunBodyFor(mailgunKey, "1699999990", "tok-1", `{"event":"delivered","recipient":"a@example.com"}`)
	_, err := m.Receive(body, now)
	require.NoError(t, err)
	_, err = m.Receive(body, now)
	requireKind(t, err, ErrUnauthenticated)
	require.Equal(t, time.Unix(1699999990+60+1, 0).UTC(), guard.expires[0], "tokens are kept until their timestamp leaves the window")

	// Forged requests never reach the guard, so they cannot fill it.
	_, err = m.Receive(mailgunBodyFor("wrong-key", "1699999990", "tok-2", `{}`), now)
	requireKind(t, err, ErrUnauthenticated)
	require.Len(t, guard.expires, 2)
}

func TestTokenCache(t *testing.T) {
	now := time.Unix(1700000000, 0)
	c := NewTokenCache(3)
	exp := now.Add(5 * time.Minute)
	require.False(t, c.Seen("a", now, exp))
	require.True(t, c.Seen("a", now.Add(time.Minute), exp))
	require.False(t, c.Seen("b", now, exp))
	require.False(t, c.Seen("c", now, exp))
	require.Equal(t, 3, c.Len())

	// Full: the oldest token goes first.
	require.False(t, c.Seen("d", now, exp))
	require.Equal(t, 3, c.Len())
	require.False(t, c.Seen("a", now, exp), "evicted")
	require.True(t, c.Seen("d", now, exp))

	// Expired tokens are forgotten.
	later := exp.Add(time.Second)
	require.False(t, c.Seen("d", later, later.Add(time.Minute)))
	require.Equal(t, 1, c.Len())
	require.True(t, c.Seen("d", later, later.Add(time.Minute)))

	// A token recorded again after expiry keeps its new record when the old
	// entry is evicted.
	c = NewTokenCache(2)
	require.False(t, c.Seen("y", now, now.Add(time.Hour)))
	require.False(t, c.Seen("x", now, now.Add(time.Second)))
	require.False(t, c.Seen("x", now.Add(2*time.Second), now.Add(time.Hour)))
	require.True(t, c.Seen("x", now.Add(3*time.Second), now.Add(time.Hour)))
	require.Equal(t, 1, c.Len())

	require.NotPanics(t, func() { NewTokenCache(0).Seen("z", now, exp) })
}

func TestTokenCacheConcurrentReplays(t *testing.T) {
	c := NewTokenCache(100)
	now := time.Unix(1700000000, 0)
	var wg sync.WaitGroup
	var mu sync.Mutex
	fresh := 0
	for range 50 {
		wg.Go(func() {
			if !c.Seen("same-token", now, now.Add(time.Minute)) {
				mu.Lock()
				fresh++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	require.Equal(t, 1, fresh, "exactly one of concurrent identical requests passes")
}
