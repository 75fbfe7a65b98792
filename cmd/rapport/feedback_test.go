package main

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/smtp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

const (
	postmarkToken = "pm-token-0123456789abcdef"
	mailgunKey    = "mailgun-signing-key-0123456789abcdef"
)

// sent is one message as the mail server received it.
type sent struct {
	envelopeFrom, messageID, listID, feedbackID string
	deliveryID                                  int64
}

// sendToThree sends a campaign to three contacts and returns what each
// address received, by address.
func sendToThree(t *testing.T, a *testApp) map[string]sent {
	t.Helper()
	for _, email := range []string{"ada@example.com", "bob@example.com", "cy@example.com"} {
		code, raw := a.call("POST", "/api/v1/contacts", a.Key, map[string]any{"email": email, "tier": "high",
			"timezone": zoneInWindow()}, nil)
		require.Equal(t, http.StatusCreated, code, string(raw))
	}
	var camp struct{ ID int64 }
	code, raw := a.call("POST", "/api/v1/campaigns", a.Key, map[string]any{"name": "News", "topic": "product-news",
		"subject": "News", "text": "Hello", "html": "<p>Hello</p>", "audience": map[string]any{"tiers": []string{"high"}}}, &camp)
	require.Equal(t, http.StatusCreated, code, string(raw))
	code, raw = a.call("POST", "/api/v1/campaigns/"+itoa(camp.ID)+"/send", a.Key, nil, nil)
	require.Equal(t, http.StatusAccepted, code, string(raw))
	msgs := a.SMTP.Wait(3, 30*time.Second)
	require.Len(t, msgs, 3)
	out := map[string]sent{}
	for _, m := range msgs {
		p := m.Parsed(t)
		s := sent{envelopeFrom: m.From, messageID: p.Header.Get("Message-Id"), listID: p.Header.Get("List-Id"),
			feedbackID: p.Header.Get("Feedback-Id")}
		require.NoError(t, a.DB.QueryRow(context.Background(), `SELECT id FROM deliveries WHERE message_id = $1`,
			strings.Trim(s.messageID, "<>")).Scan(&s.deliveryID))
		out[m.To[0]] = s
	}
	return out
}

func (a *testApp) contactStatus(email string) string {
	a.t.Helper()
	var s string
	require.NoError(a.t, a.DB.QueryRow(context.Background(), `SELECT status FROM contacts WHERE email = $1`, email).Scan(&s))
	return s
}

func (a *testApp) feedbackOf(delivery int64) string {
	a.t.Helper()
	var s *string
	require.NoError(a.t, a.DB.QueryRow(context.Background(), `SELECT feedback FROM deliveries WHERE id = $1`, delivery).Scan(&s))
	if s == nil {
		return ""
	}
	return *s
}

func (a *testApp) suppressedEvents(email string) int {
	a.t.Helper()
	var n int
	require.NoError(a.t, a.DB.QueryRow(context.Background(), `SELECT count(*) FROM contact_events e JOIN contacts c ON c.id = e.contact_id
		WHERE c.email = $1 AND e.kind = 'suppressed'`, email).Scan(&n))
	return n
}

func dsnFor(to, recipient string) string {
	return strings.ReplaceAll(`From: MAILER-DAEMON@mx.example.net (Mail Delivery System)
To: `+to+`
Subject: Undelivered Mail Returned to Sender
Auto-Submitted: auto-replied
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="B1"

--B1
Content-Type: text/plain

I'm sorry to have to inform you that your message could not be delivered.

--B1
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.example.net

Final-Recipient: rfc822; `+recipient+`
Action: failed
Status: 5.1.1
Diagnostic-Code: smtp; 550 5.1.1 <`+recipient+`>: Recipient address rejected: User unknown

--B1--
`, "\n", "\r\n")
}

func outOfOffice(to string) string {
	return strings.ReplaceAll(`From: Bob <bob@example.com>
To: `+to+`
Subject: Automatic reply: News
Auto-Submitted: auto-replied
Content-Type: text/plain

I am out of the office until Monday.
`, "\n", "\r\n")
}

// TestBouncesComeBack follows bounces and complaints from where they really
// come from to the one suppression path: a DSN to the VERP address at the
// bounce listener, Postmark's and Mailgun's webhooks; forged, repeated and
// auto-reply reports change nothing.
func TestBouncesComeBack(t *testing.T) {
	bounceAddr := freeAddr(t)
	a := startApp(t, map[string]string{"BOUNCE_DOMAIN": "bounces.example.com", "BOUNCE_SMTP_ADDR": bounceAddr,
		"POSTMARK_WEBHOOK_TOKEN": postmarkToken, "MAILGUN_SIGNING_KEY": mailgunKey})
	got := sendToThree(t, a)

	for email, s := range got {
		require.Regexp(t, `^bounces\+[a-z0-9]+[.-][a-z2-7]+@bounces\.example\.com$`, s.envelopeFrom, "VERP sender for %s", email)
		require.Equal(t, "product-news <product-news.example.com>", s.listID)
		require.Regexp(t, `^\d+:product-news:rapport$`, s.feedbackID)
	}
	require.NotEqual(t, got["ada@example.com"].envelopeFrom, got["bob@example.com"].envelopeFrom, "one address per delivery")

	// A DSN at the listener: Ada's delivery bounced, she is suppressed once.
	ada := got["ada@example.com"]
	require.NoError(t, smtp.SendMail(bounceAddr, nil, "", []string{ada.envelopeFrom}, []byte(dsnFor(ada.envelopeFrom, "ada@example.com"))))
	require.Eventually(t, func() bool { return a.contactStatus("ada@example.com") != "active" }, 10*time.Second, 50*time.Millisecond)
	require.Equal(t, "hard_bounce", a.feedbackOf(ada.deliveryID))
	require.Equal(t, 1, a.suppressedEvents("ada@example.com"))
	// The same bounce again (a retrying MTA) changes nothing.
	require.NoError(t, smtp.SendMail(bounceAddr, nil, "", []string{ada.envelopeFrom}, []byte(dsnFor(ada.envelopeFrom, "ada@example.com"))))
	require.Equal(t, 1, a.suppressedEvents("ada@example.com"))

	// A forged tag (Bob's, one character changed) and an out-of-office
	// reply to Bob's real address: Bob stays active.
	bob := got["bob@example.com"]
	forged := flipTag(bob.envelopeFrom)
	_ = smtp.SendMail(bounceAddr, nil, "", []string{forged}, []byte(dsnFor(forged, "bob@example.com"))) // refused or ignored
	require.NoError(t, smtp.SendMail(bounceAddr, nil, "bob@example.com", []string{bob.envelopeFrom}, []byte(outOfOffice(bob.envelopeFrom))))
	// Mail for another domain is refused at RCPT.
	require.Error(t, smtp.SendMail(bounceAddr, nil, "", []string{"bounces+x@example.org"}, []byte(dsnFor("x", "bob@example.com"))))
	time.Sleep(300 * time.Millisecond)
	require.Equal(t, "active", a.contactStatus("bob@example.com"))
	require.Equal(t, "", a.feedbackOf(bob.deliveryID))

	// Postmark: a complaint for Cy (Postmark's MessageID is its own: the
	// signed request is believed by address).
	complaint := `{"RecordType":"SpamComplaint","ID":4242,"Type":"SpamComplaint","TypeCode":512,
		"MessageID":"00000000-0000-0000-0000-000000000001","Email":"cy@example.com","Details":"complaint","Metadata":{}}`
	code, raw := postmark(t, a, "wrong-token", complaint)
	require.Equal(t, http.StatusUnauthorized, code, string(raw))
	require.Equal(t, "active", a.contactStatus("cy@example.com"), "a forged request changes nothing")
	code, raw = postmark(t, a, postmarkToken, complaint)
	require.Equal(t, http.StatusOK, code, string(raw))
	require.JSONEq(t, `{"applied":1,"duplicates":0,"ignored":0}`, string(raw))
	require.Equal(t, "complained", a.contactStatus("cy@example.com"))
	code, raw = postmark(t, a, postmarkToken, complaint)
	require.Equal(t, http.StatusOK, code, string(raw))
	require.JSONEq(t, `{"applied":0,"duplicates":1,"ignored":0}`, string(raw), "Postmark's retry is a duplicate")
	require.Equal(t, 1, a.suppressedEvents("cy@example.com"))

	// Mailgun: a permanent failure for Bob; a forged signature first.
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	event := fmt.Sprintf(`{"id":"mg-1","event":"failed","severity":"permanent","reason":"bounce","recipient":"bob@example.com",
		"message":{"headers":{"message-id":%q}},"delivery-status":{"code":550,"message":"5.1.1 no such user"}}`, strings.Trim(bob.messageID, "<>"))
	code, raw = a.call("POST", "/api/v1/inbound/mailgun", "", mailgunBody("not-the-key-0123456789", ts, "tok-1", event), nil)
	require.Equal(t, http.StatusUnauthorized, code, string(raw))
	require.Equal(t, "active", a.contactStatus("bob@example.com"))
	code, raw = a.call("POST", "/api/v1/inbound/mailgun", "", mailgunBody(mailgunKey, ts, "tok-2", event), nil)
	require.Equal(t, http.StatusOK, code, string(raw))
	require.NotEqual(t, "active", a.contactStatus("bob@example.com"))
	require.Equal(t, "hard_bounce", a.feedbackOf(bob.deliveryID))
	// A replayed request (same token) is refused.
	code, _ = a.call("POST", "/api/v1/inbound/mailgun", "", mailgunBody(mailgunKey, ts, "tok-2", event), nil)
	require.Equal(t, http.StatusUnauthorized, code)

	// SendGrid and SES are off until configured.
	code, _ = a.call("POST", "/api/v1/inbound/sendgrid", "", "[]", nil)
	require.Equal(t, http.StatusNotFound, code)

	// Counted by source and outcome.
	resp, err := http.Get(a.Ops + "/metrics")
	require.NoError(t, err)
	defer resp.Body.Close()
	metrics := readAll(t, resp)
	require.Contains(t, metrics, `rapport_feedback_total{outcome="applied",source="dsn"} 1`)
	require.Contains(t, metrics, `rapport_feedback_total{outcome="duplicate",source="postmark"} 1`)
}

// flipTag changes the last character of a VERP address's tag.
func flipTag(addr string) string {
	at := strings.LastIndexByte(addr, '@')
	c := addr[at-1]
	r := byte('a')
	if c == 'a' {
		r = 'b'
	}
	return addr[:at-1] + string(r) + addr[at:]
}

func postmark(t *testing.T, a *testApp, token, body string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest("POST", a.Base+"/api/v1/inbound/postmark", strings.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Postmark-Token", token)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	raw := []byte(readAll(t, resp))
	a.checkResponse(req, resp, raw)
	return resp.StatusCode, raw
}

func mailgunBody(key, ts, token, eventData string) string {
	mac := hmac.New(sha256.New, []byte(key))
	mac.Write([]byte(ts + token))
	return fmt.Sprintf(`{"signature":{"timestamp":%q,"token":%q,"signature":%q},"event-data":%s}`,
		ts, token, hex.EncodeToString(mac.Sum(nil)), eventData)
}

func readAll(t *testing.T, resp *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return string(b)
}
