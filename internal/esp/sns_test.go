package esp

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

const testTopic = "arn:aws:sns:us-east-1:123456789012:rapport-ses-feedback"

// snsNow is a moment shortly after the sample messages were sent.
var snsNow = ts("2016-01-27T15:00:00Z")

// snsKeys are generated once per test binary: RSA generation is slow under
// -race.
var snsKeys = sync.OnceValue(func() [2]*rsa.PrivateKey {
	var keys [2]*rsa.PrivateKey
	for i := range keys {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			panic(err)
		}
		keys[i] = k
	}
	return keys
})

// selfSignedPEM returns a certificate for key valid from notBefore to notAfter.
func selfSignedPEM(t testing.TB, key *rsa.PrivateKey, notBefore, notAfter time.Time) []byte {
	t.Helper()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "sns.amazonaws.com"},
		NotBefore:    notBefore,
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

// snsFixture is an httptest TLS server serving a signing certificate, and an
// SNS that trusts the server's host and fetches through net/http.
type snsFixture struct {
	key     *rsa.PrivateKey
	srv     *httptest.Server
	certURL string
	fetches atomic.Int32
	sns     *SNS
}

func newSNSFixture(t testing.TB) *snsFixture {
	t.Helper()
	f := &snsFixture{key: snsKeys()[0]}
	certPEM := selfSignedPEM(t, f.key, snsNow.Add(-24*time.Hour), snsNow.Add(24*time.Hour))
	f.srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.fetches.Add(1)
		switch r.URL.Path {
		case "/SimpleNotificationService-test.pem":
			_, _ = w.Write(certPEM)
		case "/redirect.pem":
			http.Redirect(w, r, "/SimpleNotificationService-test.pem", http.StatusFound)
		case "/huge.pem":
			_, _ = w.Write([]byte(strings.Repeat("A", 70<<10)))
		case "/garbage.pem":
			_, _ = w.Write([]byte("not a certificate"))
		default:
			http.Error(w, "no", http.StatusInternalServerError)
		}
	}))
	t.Cleanup(f.srv.Close)
	f.certURL = f.srv.URL + "/SimpleNotificationService-test.pem"
	f.sns = &SNS{
		TopicARNs: []string{testTopic},
		CertHosts: []string{"127.0.0.1"},
		Fetcher:   &HTTPCertFetcher{Client: f.srv.Client()},
	}
	return f
}

// testStringToSign is the test's own reading of SNS's documentation, kept
// apart from stringToSign so that the two check each other.
func testStringToSign(m map[string]any) string {
	keys := []string{"Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"}
	if m["Type"] != SNSNotification {
		keys = []string{"Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"}
	}
	var b strings.Builder
	for _, k := range keys {
		if v, ok := m[k].(string); ok {
			b.WriteString(k + "\n" + v + "\n")
		}
	}
	return b.String()
}

// signSNS signs the envelope m with key, as SNS would with the given
// SignatureVersion, and returns the body SNS would POST.
func signSNS(t testing.TB, m map[string]any, key *rsa.PrivateKey, version string) []byte {
	t.Helper()
	m["SignatureVersion"] = version
	var hash crypto.Hash
	var digest []byte
	switch version {
	case "1":
		d := sha1.Sum([]byte(testStringToSign(m)))
		hash, digest = crypto.SHA1, d[:]
	default:
		d := sha256.Sum256([]byte(testStringToSign(m)))
		hash, digest = crypto.SHA256, d[:]
	}
	sig, err := rsa.SignPKCS1v15(rand.Reader, key, hash, digest)
	require.NoError(t, err)
	m["Signature"] = base64.StdEncoding.EncodeToString(sig)
	body, err := json.Marshal(m)
	require.NoError(t, err)
	return body
}

func loadEnvelope(t testing.TB, name, certURL string) map[string]any {
	t.Helper()
	var m map[string]any
	require.NoError(t, json.Unmarshal(readTestdata(t, name), &m))
	m["SigningCertURL"] = certURL
	return m
}

func TestSNSStringToSignMatchesDocumentation(t *testing.T) {
	// The examples in "Verifying the signatures of Amazon SNS messages".
	n := &snsEnvelope{Type: SNSNotification, Message: "My Test Message",
		MessageID: "4d4dc071-ddbf-465d-bba8-08f81c89da64", Subject: new("My subject"),
		Timestamp: "2019-01-31T04:37:04.321Z", TopicARN: "arn:aws:sns:us-east-2:123456789012:s4-MySNSTopic-1G1WEFCOXTC0P",
		Token: "not signed", SubscribeURL: "not signed"}
	require.Equal(t, "Message\nMy Test Message\nMessageId\n4d4dc071-ddbf-465d-bba8-08f81c89da64\nSubject\nMy subject\n"+
		"Timestamp\n2019-01-31T04:37:04.321Z\nTopicArn\narn:aws:sns:us-east-2:123456789012:s4-MySNSTopic-1G1WEFCOXTC0P\nType\nNotification\n",
		stringToSign(n))
	n.Subject = nil
	require.NotContains(t, stringToSign(n), "Subject")

	c := &snsEnvelope{Type: SNSSubscriptionConfirmation, Message: "My Test Message",
		MessageID: "3d891288-136d-417f-bc05-901c108273ee", Subject: new("not signed"),
		SubscribeURL: "https://sns.us-east-2.amazonaws.com/?Action=ConfirmSubscription&TopicArn=arn:aws:sns:us-east-2:123456789012:s4-MySNSTopic-1G1WEFCOXTC0P&Token=233...",
		Timestamp:    "2019-01-31T19:25:13.719Z", Token: "233...", TopicARN: "arn:aws:sns:us-east-2:123456789012:s4-MySNSTopic-1G1WEFCOXTC0P"}
	require.Equal(t, "Message\nMy Test Message\nMessageId\n3d891288-136d-417f-bc05-901c108273ee\n"+
		"SubscribeURL\nhttps://sns.us-east-2.amazonaws.com/?Action=ConfirmSubscription&TopicArn=arn:aws:sns:us-east-2:123456789012:s4-MySNSTopic-1G1WEFCOXTC0P&Token=233...\n"+
		"Timestamp\n2019-01-31T19:25:13.719Z\nToken\n233...\nTopicArn\narn:aws:sns:us-east-2:123456789012:s4-MySNSTopic-1G1WEFCOXTC0P\nType\nSubscriptionConfirmation\n",
		stringToSign(c))
}

func TestSNSReceiveSESSamples(t *testing.T) {
	cases := []struct {
		file string
		want []Event
	}{
		{"sns_ses_bounce_permanent.json", []Event{
			{Provider: "ses", Kind: HardBounce, Email: "jane@example.com", MessageID: "rapport.1001.7@example.com",
				ProviderMessageID: "00000138111222aa-33322211-cccc-cccc-cccc-ddddaaaa0680-000000",
				ProviderID:        "00000138111222aa-33322211-cccc-cccc-cccc-ddddaaaa068a-000000",
				Type:              "Bounce/Permanent", Detail: "General; 5.1.1; smtp; 550 5.1.1 <jane@example.com>... User",
				At: ts("2016-01-27T14:59:38.237Z")},
			{Provider: "ses", Kind: SoftBounce, Email: "richard@example.com", MessageID: "rapport.1001.7@example.com",
				ProviderMessageID: "00000138111222aa-33322211-cccc-cccc-cccc-ddddaaaa0680-000000",
				ProviderID:        "00000138111222aa-33322211-cccc-cccc-cccc-ddddaaaa068a-000000",
				Type:              "Bounce/Permanent", Detail: "General; 4.0.0", At: ts("2016-01-27T14:59:38.237Z")},
		}},
		{"sns_ses_bounce_transient.json", []Event{
			{Provider: "ses", Kind: SoftBounce, Email: "mary@example.com", MessageID: "rapport.1002.7@example.com",
				ProviderMessageID: "0100017d9b2e3f11-8a6b1c2d-3e4f-4a5b-9c6d-7e8f9a0b1c2d-000000",
				ProviderID:        "0100017d9b2e4a6b-6f5a7c1e-2c8d-4f0e-9b1a-3e5d7c9f1a2b-000000",
				Type:              "Bounce/Transient",
				Detail:            "MailboxFull; 4.2.2; smtp; 452 4.2.2 The email account that you tried to reach is over quota.",
				At:                ts("2016-01-27T14:59:38.800Z")},
			{Provider: "ses", Kind: Ignored, MessageID: "rapport.1002.7@example.com",
				ProviderMessageID: "0100017d9b2e3f11-8a6b1c2d-3e4f-4a5b-9c6d-7e8f9a0b1c2d-000000",
				ProviderID:        "0100017d9b2e4a6b-6f5a7c1e-2c8d-4f0e-9b1a-3e5d7c9f1a2b-000000",
				Type:              "Bounce/Transient", Detail: `invalid recipient address "not-an-address"`,
				At: ts("2016-01-27T14:59:38.800Z")},
		}},
		{"sns_ses_complaint.json", []Event{
			{Provider: "ses", Kind: Complaint, Email: "richard@example.com", MessageID: "custom-message-ID",
				ProviderMessageID: "000001378603177f-7a5433e7-8edb-42ae-af10-f0181f34d6ee-000000",
				ProviderID:        "000001378603177f-18c07c78-fa81-4a58-9dd1-fedc3cb8f49a-000000",
				Type:              "Complaint/abuse", Detail: "AnyCompany Feedback Loop (V0.01)",
				At: ts("2016-01-27T14:59:38.237Z")},
		}},
		{"sns_ses_delivery.json", []Event{
			{Provider: "ses", Kind: Ignored, MessageID: "custom-message-ID",
				ProviderMessageID: "0000014644fe5ef6-9a483358-9170-4cb4-a269-f5dcdf415321-000000",
				ProviderID:        "165545c9-2a5c-472c-8df2-7ff2be2b3b1b", Type: "Delivery",
				At: ts("2016-01-27T14:59:39.321Z")},
		}},
	}
	f := newSNSFixture(t)
	for _, version := range []string{"1", "2"} {
		for _, c := range cases {
			t.Run(c.file+"/v"+version, func(t *testing.T) {
				body := signSNS(t, loadEnvelope(t, c.file, f.certURL), f.key, version)
				msg, err := f.sns.Receive(context.Background(), body, snsNow)
				require.NoError(t, err)
				require.Equal(t, SNSNotification, msg.Type)
				require.Equal(t, testTopic, msg.TopicARN)
				require.Empty(t, msg.SubscribeURL)
				require.Equal(t, c.want, msg.Events)
				checkInvariants(t, ProviderSES, msg.Events)
			})
		}
	}
	require.Equal(t, int32(1), f.fetches.Load(), "the certificate is fetched once and then cached by URL")
}

func TestSNSSESVariants(t *testing.T) {
	f := newSNSFixture(t)
	receive := func(t *testing.T, sesJSON string) []Event {
		t.Helper()
		m := loadEnvelope(t, "sns_ses_complaint.json", f.certURL)
		m["Message"] = sesJSON
		msg, err := f.sns.Receive(context.Background(), signSNS(t, m, f.key, "2"), snsNow)
		require.NoError(t, err)
		checkInvariants(t, ProviderSES, msg.Events)
		return msg.Events
	}
	snsID, sent := "0a9b8c7d-6e5f-5a4b-9c3d-2e1f0a9b8c7d", ts("2016-01-27T14:59:39.789Z")

	t.Run("not-spam feedback is not a complaint", func(t *testing.T) {
		events := receive(t, `{"notificationType":"Complaint","complaint":{"complainedRecipients":[{"emailAddress":"a@example.com"}],"complaintFeedbackType":"not-spam","feedbackId":"f1","timestamp":"2016-01-27T14:59:38.237Z"},"mail":{"messageId":"m1"}}`)
		require.Equal(t, []Event{{Provider: "ses", Kind: Ignored, Email: "a@example.com", ProviderMessageID: "m1", ProviderID: "f1",
			Type: "Complaint/not-spam", Detail: "feedback type not-spam: the reporter says the message is not spam", At: ts("2016-01-27T14:59:38.237Z")}}, events)
	})
	t.Run("complaint without feedback report", func(t *testing.T) {
		events := receive(t, `{"notificationType":"Complaint","complaint":{"complainedRecipients":[{"emailAddress":"a@example.com"},{"emailAddress":"b@example.com"}],"feedbackId":"f2"},"mail":{"messageId":"m2"}}`)
		require.Len(t, events, 2)
		require.Equal(t, Event{Provider: "ses", Kind: Complaint, Email: "b@example.com", ProviderMessageID: "m2", ProviderID: "f2", Type: "Complaint", At: sent}, events[1])
	})
	t.Run("undetermined bounce is soft", func(t *testing.T) {
		events := receive(t, `{"eventType":"Bounce","bounce":{"bounceType":"Undetermined","bounceSubType":"Undetermined","bouncedRecipients":[{"emailAddress":"u@example.com"}],"feedbackId":"f3"},"mail":{"messageId":"m3"}}`)
		require.Equal(t, []Event{{Provider: "ses", Kind: SoftBounce, Email: "u@example.com", ProviderMessageID: "m3", ProviderID: "f3",
			Type: "Bounce/Undetermined", Detail: "Undetermined", At: sent}}, events)
	})
	t.Run("suppressed permanent bounce is hard", func(t *testing.T) {
		events := receive(t, `{"notificationType":"Bounce","bounce":{"bounceType":"Permanent","bounceSubType":"OnAccountSuppressionList","bouncedRecipients":[{"emailAddress":"s@example.com","action":"failed","status":"5.1.1","diagnosticCode":"Amazon SES did not send the message to this address because it is on the suppression list for your account."}],"feedbackId":"f4"},"mail":{"messageId":"m4"}}`)
		require.Equal(t, HardBounce, events[0].Kind)
	})
	t.Run("other event types are ignored", func(t *testing.T) {
		for _, typ := range []string{"Send", "Open", "Click", "DeliveryDelay", "Reject", "Rendering Failure", "Subscription"} {
			events := receive(t, `{"eventType":"`+typ+`","mail":{"messageId":"m5"}}`)
			require.Equal(t, []Event{{Provider: "ses", Kind: Ignored, ProviderMessageID: "m5", ProviderID: snsID, Type: typ, At: sent}}, events)
		}
	})
	t.Run("a message that is not SES JSON is ignored, not an error", func(t *testing.T) {
		events := receive(t, "hello from a test publish")
		require.Equal(t, []Event{{Provider: "ses", Kind: Ignored, ProviderID: snsID, Detail: "SNS message is not an SES notification", At: sent}}, events)
		events = receive(t, `{"notificationType":"Bounce","mail":{}}`)
		require.Equal(t, []Event{{Provider: "ses", Kind: Ignored, ProviderID: snsID, Type: "Bounce", Detail: "SES Bounce notification without its bounce object", At: sent}}, events)
	})
}

func TestSNSSubscriptionConfirmation(t *testing.T) {
	f := newSNSFixture(t)
	body := signSNS(t, loadEnvelope(t, "sns_subscription_confirmation.json", f.certURL), f.key, "1")
	msg, err := f.sns.Receive(context.Background(), body, snsNow)
	require.NoError(t, err)
	wantURL := "https://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription&TopicArn=" + testTopic +
		"&Token=2336412f37fb687f5d51e6e241d09c805a5a57b30d712f794cc5f6a988666d92768dd60a747ba6f3beb71854e285d6ad02428b09ceece29417f1f02d609c582afbacc99c583a916b9981dd2728f4ae6fdb82efd087cc3b7849e05798d2d2785c03b0879594eeac82c01f235d0e717736"
	require.Equal(t, &SNSMessage{Type: SNSSubscriptionConfirmation, MessageID: "165545c9-2a5c-472c-8df2-7ff2be2b3b1b",
		TopicARN: testTopic, SubscribeURL: wantURL}, msg)

	doer := &fakeDoer{status: http.StatusOK}
	require.NoError(t, f.sns.Confirm(context.Background(), doer, msg.SubscribeURL))
	require.Equal(t, []string{"GET " + wantURL}, doer.requests)

	// An UnsubscribeConfirmation is signed over the same fields.
	m := loadEnvelope(t, "sns_subscription_confirmation.json", f.certURL)
	m["Type"] = SNSUnsubscribeConfirmation
	msg, err = f.sns.Receive(context.Background(), signSNS(t, m, f.key, "2"), snsNow)
	require.NoError(t, err)
	require.Equal(t, SNSUnsubscribeConfirmation, msg.Type)

	// A signed confirmation whose SubscribeURL leaves SNS is refused.
	for _, u := range []string{
		"https://evil.example.com/?Action=ConfirmSubscription&TopicArn=" + testTopic,
		"https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe&TopicArn=" + testTopic,
		"https://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription&TopicArn=arn:aws:sns:us-east-1:999999999999:other",
	} {
		m := loadEnvelope(t, "sns_subscription_confirmation.json", f.certURL)
		m["SubscribeURL"] = u
		_, err := f.sns.Receive(context.Background(), signSNS(t, m, f.key, "2"), snsNow)
		requireKind(t, err, ErrUnauthenticated)
	}
}

type fakeDoer struct {
	status   int
	err      error
	requests []string
}

func (d *fakeDoer) Do(r *http.Request) (*http.Response, error) {
	d.requests = append(d.requests, r.Method+" "+r.URL.String())
	if d.err != nil {
		return nil, d.err
	}
	return &http.Response{StatusCode: d.status, Body: io.NopCloser(strings.NewReader("<ConfirmSubscriptionResponse/>"))}, nil
}

func TestSNSConfirmChecksURLWithoutRequest(t *testing.T) {
	s := &SNS{TopicARNs: []string{testTopic}}
	for _, u := range []string{
		"http://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription&TopicArn=" + testTopic,
		"https://evil.example.com/?Action=ConfirmSubscription&TopicArn=" + testTopic,
		"https://sns.us-east-1.amazonaws.com.evil.example.com/?Action=ConfirmSubscription&TopicArn=" + testTopic,
		"https://sns.us-east-1.amazonaws.com/?Action=DeleteTopic&TopicArn=" + testTopic,
		"https://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription&TopicArn=arn:aws:sns:us-east-1:999999999999:other",
		"https://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription",
	} {
		doer := &fakeDoer{status: http.StatusOK}
		require.Error(t, s.Confirm(context.Background(), doer, u), u)
		require.Empty(t, doer.requests, u)
	}
	ok := "https://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription&TopicArn=" + testTopic + "&Token=t"
	require.Error(t, s.Confirm(context.Background(), &fakeDoer{status: http.StatusForbidden}, ok))
	require.Error(t, s.Confirm(context.Background(), &fakeDoer{err: errors.New("network down")}, ok))
	require.Error(t, s.Confirm(context.Background(), nil, ok))
}

// countingFetcher records fetches without making them.
type countingFetcher struct {
	calls atomic.Int32
	data  []byte
	err   error
}

func (c *countingFetcher) Fetch(context.Context, string) ([]byte, error) {
	c.calls.Add(1)
	return c.data, c.err
}

func TestSNSRejectsForgeries(t *testing.T) {
	f := newSNSFixture(t)
	keys := snsKeys()
	base := func() map[string]any { return loadEnvelope(t, "sns_ses_bounce_permanent.json", f.certURL) }
	cases := []struct {
		name string
		body func() []byte
		want error
	}{
		{"altered message", func() []byte {
			m := base()
			body := signSNS(t, m, f.key, "2")
			return []byte(strings.Replace(string(body), `jane@example.com`, `ceo@example.com`, 1))
		}, ErrUnauthenticated},
		{"subject added after signing", func() []byte {
			m := base()
			signSNS(t, m, f.key, "2")
			m["Subject"] = "Amazon SES Email Event Notification"
			b, _ := json.Marshal(m)
			return b
		}, ErrUnauthenticated},
		{"subject removed after signing", func() []byte {
			m := base()
			m["Subject"] = "Amazon SES Email Event Notification"
			signSNS(t, m, f.key, "2")
			delete(m, "Subject")
			b, _ := json.Marshal(m)
			return b
		}, ErrUnauthenticated},
		{"signed with another key", func() []byte { return signSNS(t, base(), keys[1], "2") }, ErrUnauthenticated},
		{"version 1 signature claimed as version 2", func() []byte {
			m := base()
			signSNS(t, m, f.key, "1")
			m["SignatureVersion"] = "2"
			b, _ := json.Marshal(m)
			return b
		}, ErrUnauthenticated},
		{"unknown signature version", func() []byte {
			m := base()
			signSNS(t, m, f.key, "2")
			m["SignatureVersion"] = "3"
			b, _ := json.Marshal(m)
			return b
		}, ErrUnauthenticated},
		{"missing signature", func() []byte {
			m := base()
			delete(m, "Signature")
			b, _ := json.Marshal(m)
			return b
		}, ErrUnauthenticated},
		{"signature not base64", func() []byte {
			m := base()
			signSNS(t, m, f.key, "2")
			m["Signature"] = "!!!"
			b, _ := json.Marshal(m)
			return b
		}, ErrUnauthenticated},
		{"old timestamp, validly signed", func() []byte {
			m := base()
			m["Timestamp"] = snsNow.Add(-DefaultSNSMaxAge - time.Second).Format("2006-01-02T15:04:05.000Z")
			return signSNS(t, m, f.key, "2")
		}, ErrUnauthenticated},
		{"future timestamp, validly signed", func() []byte {
			m := base()
			m["Timestamp"] = snsNow.Add(10 * time.Minute).Format("2006-01-02T15:04:05.000Z")
			return signSNS(t, m, f.key, "2")
		}, ErrUnauthenticated},
		{"timestamp altered after signing", func() []byte {
			m := base()
			signSNS(t, m, f.key, "2")
			m["Timestamp"] = "2016-01-27T14:59:59.000Z"
			b, _ := json.Marshal(m)
			return b
		}, ErrUnauthenticated},
		{"topic not configured, validly signed", func() []byte {
			m := base()
			m["TopicArn"] = "arn:aws:sns:us-east-1:999999999999:attacker"
			return signSNS(t, m, f.key, "2")
		}, ErrUnauthenticated},
		{"not JSON", func() []byte { return []byte("Type=Notification") }, ErrMalformed},
		{"unknown type", func() []byte {
			m := base()
			m["Type"] = "Surprise"
			return signSNS(t, m, f.key, "2")
		}, ErrMalformed},
		{"unparseable timestamp", func() []byte {
			m := base()
			m["Timestamp"] = "yesterday"
			return signSNS(t, m, f.key, "2")
		}, ErrMalformed},
		{"confirmation without token", func() []byte {
			m := loadEnvelope(t, "sns_subscription_confirmation.json", f.certURL)
			delete(m, "Token")
			return signSNS(t, m, f.key, "2")
		}, ErrMalformed},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			msg, err := f.sns.Receive(context.Background(), c.body(), snsNow)
			requireKind(t, err, c.want)
			require.Nil(t, msg)
		})
	}
}

func TestSNSCertURLCheckedBeforeFetching(t *testing.T) {
	keys := snsKeys()
	for _, certURL := range []string{
		"https://evil.example.com/cert.pem",
		"http://sns.us-east-1.amazonaws.com/SimpleNotificationService-x.pem",
		"https://sns.us-east-1.amazonaws.com.evil.example.com/SimpleNotificationService-x.pem",
		"https://evilsns.us-east-1.amazonaws.com/SimpleNotificationService-x.pem",
		"https://sns.us-east-1.amazonaws.com@evil.example.com/SimpleNotificationService-x.pem",
		"https://user@sns.us-east-1.amazonaws.com/SimpleNotificationService-x.pem",
		"https://sns.us-east-1.amazonaws.com:8443/SimpleNotificationService-x.pem",
		"https://sns.us-east-1.amazonaws.com/SimpleNotificationService-x.txt",
		"https://evil.example.com#@sns.us-east-1.amazonaws.com/x.pem",
		"https://s3.amazonaws.com/evil-bucket/cert.pem",
		"file:///etc/ssl/cert.pem",
		"//sns.us-east-1.amazonaws.com/x.pem",
		"",
	} {
		t.Run(certURL, func(t *testing.T) {
			fetcher := &countingFetcher{err: errors.New("must not be called")}
			s := &SNS{TopicARNs: []string{testTopic}, Fetcher: fetcher}
			m := loadEnvelope(t, "sns_ses_bounce_permanent.json", certURL)
			_, err := s.Receive(context.Background(), signSNS(t, m, keys[0], "2"), snsNow)
			requireKind(t, err, ErrUnauthenticated)
			require.Zero(t, fetcher.calls.Load())
		})
	}
}

func TestSNSCheckURLAcceptsSNSHosts(t *testing.T) {
	s := &SNS{CertHosts: []string{"Certs.Internal.Example"}}
	for _, u := range []string{
		"https://sns.us-east-1.amazonaws.com/SimpleNotificationService-9c6465fa7f48f5cacd23014631ec1136.pem",
		"https://sns.eu-west-3.amazonaws.com:443/x.pem",
		"https://SNS.AP-SOUTHEAST-2.AMAZONAWS.COM/x.pem",
		"https://sns.cn-north-1.amazonaws.com.cn/x.pem",
		"https://certs.internal.example:9443/x.pem",
	} {
		_, err := s.checkURL(u)
		require.NoError(t, err, u)
	}
}

func TestSNSRequiresConfiguredTopics(t *testing.T) {
	f := newSNSFixture(t)
	f.sns.TopicARNs = nil
	_, err := f.sns.Receive(context.Background(), signSNS(t, loadEnvelope(t, "sns_ses_complaint.json", f.certURL), f.key, "2"), snsNow)
	requireKind(t, err, ErrUnauthenticated)
	require.Zero(t, f.fetches.Load())
}

func TestSNSCertificateProblems(t *testing.T) {
	f := newSNSFixture(t)
	keys := snsKeys()
	receive := func(s *SNS, certURL string) error {
		m := loadEnvelope(t, "sns_ses_complaint.json", certURL)
		_, err := s.Receive(context.Background(), signSNS(t, m, keys[0], "2"), snsNow)
		return err
	}

	// A fetch failure is rapport's problem: a plain error, so the caller
	// answers 5xx and SNS retries.
	err := receive(f.sns, f.srv.URL+"/missing.pem")
	require.Error(t, err)
	require.False(t, errors.Is(err, ErrUnauthenticated) || errors.Is(err, ErrMalformed), err)

	// The fetcher follows no redirect and reads a bounded body.
	err = receive(f.sns, f.srv.URL+"/redirect.pem")
	require.Error(t, err)
	require.Contains(t, err.Error(), "HTTP 302")
	err = receive(f.sns, f.srv.URL+"/huge.pem")
	require.ErrorContains(t, err, "larger than")

	// What an allowed host serves must be a valid RSA certificate.
	requireKind(t, receive(f.sns, f.srv.URL+"/garbage.pem"), ErrUnauthenticated)
	expired := &SNS{TopicARNs: []string{testTopic}, Fetcher: &countingFetcher{
		data: selfSignedPEM(t, keys[0], snsNow.Add(-48*time.Hour), snsNow.Add(-time.Hour))}}
	requireKind(t, receive(expired, "https://sns.us-east-1.amazonaws.com/x.pem"), ErrUnauthenticated)

	// A good certificate is cached by URL: two messages, one fetch.
	good := &countingFetcher{data: selfSignedPEM(t, keys[0], snsNow.Add(-time.Hour), snsNow.Add(time.Hour))}
	s := &SNS{TopicARNs: []string{testTopic}, Fetcher: good}
	require.NoError(t, receive(s, "https://sns.us-east-1.amazonaws.com/x.pem"))
	require.NoError(t, receive(s, "https://sns.us-east-1.amazonaws.com/x.pem"))
	require.Equal(t, int32(1), good.calls.Load())
}

func TestHTTPCertFetcherRefusesPlainHTTP(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Error("plain HTTP must not be fetched")
	}))
	defer srv.Close()
	_, err := (&HTTPCertFetcher{}).Fetch(context.Background(), srv.URL+"/x.pem")
	require.ErrorContains(t, err, "not https")
}

func TestSNSCertCacheIsBounded(t *testing.T) {
	keys := snsKeys()
	fetcher := &countingFetcher{data: selfSignedPEM(t, keys[0], snsNow.Add(-time.Hour), snsNow.Add(time.Hour))}
	s := &SNS{TopicARNs: []string{testTopic}, Fetcher: fetcher}
	for i := range 3 * maxCachedCerts {
		u := "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-" + string(rune('a'+i%26)) + strings.Repeat("0", i/26) + ".pem"
		m := loadEnvelope(t, "sns_ses_complaint.json", u)
		_, err := s.Receive(context.Background(), signSNS(t, m, keys[0], "2"), snsNow)
		require.NoError(t, err)
		require.LessOrEqual(t, len(s.certs), maxCachedCerts)
	}
}
