package esp

import (
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func basicAuth(user, pass string) http.Header {
	r, _ := http.NewRequest(http.MethodPost, "https://rapport.example.com/webhooks/postmark", nil)
	r.SetBasicAuth(user, pass)
	return r.Header
}

func TestPostmarkReceiveSamples(t *testing.T) {
	p := &Postmark{Username: "postmark", Password: "s3cret-webhook-password"}
	h := basicAuth("postmark", "s3cret-webhook-password")
	cases := []struct {
		file string
		want Event
	}{
		{"postmark_hard_bounce.json", Event{Provider: "postmark", Kind: HardBounce, Email: "john@example.com",
			ProviderMessageID: "883953f4-6105-42a2-a16a-77a8eac79483", ProviderID: "4323372036854775807", Type: "HardBounce",
			Detail: "smtp;550 5.1.1 The email account that you tried to reach does not exist. Please try double-checking the recipient's email address for typos or unnecessary spaces.",
			At:     ts("2019-11-05T16:33:54.9070259Z")}},
		{"postmark_soft_bounce.json", Event{Provider: "postmark", Kind: SoftBounce, Email: "full@example.com",
			ProviderMessageID: "0d2a0b8f-62e0-4f7e-9a7a-32f0cf7ae14e", ProviderID: "692560173", Type: "SoftBounce",
			Detail: "smtp;452 4.2.2 The email account that you tried to reach is over quota.",
			At:     ts("2024-03-11T13:15:02.1234567Z")}},
		{"postmark_spam_complaint.json", Event{Provider: "postmark", Kind: Complaint, Email: "john@example.com",
			ProviderMessageID: "00000000-0000-0000-0000-000000000000", ProviderID: "42", Type: "SpamComplaint",
			Detail: "Test spam complaint details", At: ts("2019-11-05T16:33:54.9070259Z")}},
		{"postmark_delivery.json", Event{Provider: "postmark", Kind: Ignored, Email: "john@example.com",
			ProviderMessageID: "00000000-0000-0000-0000-000000000000", Type: "Delivery",
			At: ts("2019-11-05T16:33:54.9070259Z")}},
	}
	for _, c := range cases {
		t.Run(c.file, func(t *testing.T) {
			events, err := p.Receive(h, readTestdata(t, c.file))
			require.NoError(t, err)
			require.Equal(t, []Event{c.want}, events)
			checkInvariants(t, ProviderPostmark, events)
		})
	}
}

func TestPostmarkBounceTypes(t *testing.T) {
	want := map[string]Kind{
		"HardBounce": HardBounce, "BadEmailAddress": HardBounce, "ManuallyDeactivated": HardBounce,
		"SoftBounce": SoftBounce, "Transient": SoftBounce, "DnsError": SoftBounce,
		"SpamComplaint": Complaint,
		"AutoResponder": Ignored, "SpamNotification": Ignored, "Unsubscribe": Ignored, "Subscribe": Ignored,
		"AddressChange": Ignored, "OpenRelayTest": Ignored, "Unknown": Ignored, "VirusNotification": Ignored,
		"ChallengeVerification": Ignored, "Unconfirmed": Ignored, "Blocked": Ignored, "SMTPApiError": Ignored,
		"InboundError": Ignored, "DMARCPolicy": Ignored, "TemplateRenderingFailed": Ignored, "SomethingNew": Ignored,
	}
	body := string(readTestdata(t, "postmark_hard_bounce.json"))
	for typ, kind := range want {
		events, err := parsePostmark([]byte(strings.Replace(body, `"Type": "HardBounce"`, `"Type": "`+typ+`"`, 1)))
		require.NoError(t, err)
		require.Len(t, events, 1)
		require.Equal(t, kind, events[0].Kind, typ)
		require.Equal(t, typ, events[0].Type)
	}

	// Bounce webhooks from before RecordType existed are bounces.
	events, err := parsePostmark([]byte(`{"ID":42,"Type":"HardBounce","TypeCode":1,"Email":"a@example.com","BouncedAt":"2014-08-01T13:28:10.2735393-04:00"}`))
	require.NoError(t, err)
	require.Equal(t, []Event{{Provider: "postmark", Kind: HardBounce, Email: "a@example.com", ProviderID: "42",
		Type: "HardBounce", At: ts("2014-08-01T17:28:10.2735393Z")}}, events)

	// Other record types are ignored, and so is a bounce without a valid address.
	events, err = parsePostmark([]byte(`{"RecordType":"Open","Recipient":"a@example.com","ReceivedAt":"2019-11-05T16:33:54Z","MessageID":"m"}`))
	require.NoError(t, err)
	require.Equal(t, []Event{{Provider: "postmark", Kind: Ignored, Email: "a@example.com", ProviderMessageID: "m", Type: "Open",
		At: ts("2019-11-05T16:33:54Z")}}, events)
	events, err = parsePostmark([]byte(`{"RecordType":"Bounce","Type":"HardBounce","Email":""}`))
	require.NoError(t, err)
	require.Equal(t, []Event{{Provider: "postmark", Kind: Ignored, Type: "HardBounce", Detail: `invalid recipient address ""`}}, events)

	for _, body := range []string{"", "[]", "null", `{"RecordType":`, `{"RecordType":"Bounce"} trailing`} {
		_, err := parsePostmark([]byte(body))
		requireKind(t, err, ErrMalformed)
	}
}

func TestPostmarkAuthentication(t *testing.T) {
	body := readTestdata(t, "postmark_spam_complaint.json")
	withHeader := func(h http.Header, name, value string) http.Header {
		h = h.Clone()
		if h == nil {
			h = http.Header{}
		}
		h.Add(name, value)
		return h
	}
	basic := &Postmark{Username: "postmark", Password: "s3cret-webhook-password"}
	header := &Postmark{HeaderName: "X-Rapport-Webhook-Token", HeaderValue: "tok-0123456789abcdef"}
	both := &Postmark{Username: "postmark", Password: "s3cret-webhook-password",
		HeaderName: "X-Rapport-Webhook-Token", HeaderValue: "tok-0123456789abcdef"}
	good := basicAuth("postmark", "s3cret-webhook-password")

	cases := []struct {
		name string
		p    *Postmark
		h    http.Header
		ok   bool
	}{
		{"basic auth", basic, good, true},
		{"basic auth, wrong password", basic, basicAuth("postmark", "s3cret-webhook-passwore"), false},
		{"basic auth, wrong user", basic, basicAuth("postmork", "s3cret-webhook-password"), false},
		{"basic auth, password prefix", basic, basicAuth("postmark", "s3cret"), false},
		{"basic auth missing", basic, http.Header{}, false},
		{"basic auth, bearer instead", basic, http.Header{"Authorization": {"Bearer s3cret-webhook-password"}}, false},
		{"header token", header, withHeader(nil, "X-Rapport-Webhook-Token", "tok-0123456789abcdef"), true},
		{"header token wrong", header, withHeader(nil, "X-Rapport-Webhook-Token", "tok-0123456789abcdeg"), false},
		{"header token missing", header, good, false},
		{"header token twice", header, withHeader(withHeader(nil, "X-Rapport-Webhook-Token", "x"), "X-Rapport-Webhook-Token", "tok-0123456789abcdef"), false},
		{"both configured, both sent", both, withHeader(good, "X-Rapport-Webhook-Token", "tok-0123456789abcdef"), true},
		{"both configured, only basic sent", both, good, false},
		{"both configured, only header sent", both, withHeader(nil, "X-Rapport-Webhook-Token", "tok-0123456789abcdef"), false},
		{"nothing configured", &Postmark{}, good, false},
		{"user without password configured", &Postmark{Username: "postmark"}, basicAuth("postmark", ""), false},
		{"header name without value configured", &Postmark{HeaderName: "X-Rapport-Webhook-Token"}, http.Header{}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			events, err := c.p.Receive(c.h, body)
			if c.ok {
				require.NoError(t, err)
				require.Len(t, events, 1)
				return
			}
			requireKind(t, err, ErrUnauthenticated)
			require.Nil(t, events)
		})
	}

	// Authentication comes first: a forged request learns nothing about
	// whether its body would have parsed.
	_, err := basic.Receive(http.Header{}, []byte("garbage"))
	requireKind(t, err, ErrUnauthenticated)
	_, err = basic.Receive(good, []byte("garbage"))
	requireKind(t, err, ErrMalformed)
}
