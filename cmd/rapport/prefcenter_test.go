package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rapport-dev/rapport/internal/mailer/smtptest"
	"github.com/rapport-dev/rapport/internal/token"
)

// Helpers for the preference-center tests (prefcenter_test.go and
// browser_test.go): contacts, campaigns, links out of real sent mail, and
// snapshots of everything a customer page could change.

// pcContact creates a contact through the API and returns its id.
func (a *testApp) pcContact(email, tier, zone, locale string) int64 {
	a.t.Helper()
	var out struct{ ID int64 }
	code, raw := a.call("POST", "/api/v1/contacts", a.Key, map[string]any{
		"email": email, "name": "Grace Hopper", "tier": tier, "timezone": zone, "locale": locale,
	}, &out)
	require.Equal(a.t, http.StatusCreated, code, string(raw))
	return out.ID
}

// pcSend creates a marketing campaign on topic for the contacts and sends
// it now, returning its id.
func (a *testApp) pcSend(name, topic string, contactIDs ...int64) int64 {
	a.t.Helper()
	var camp struct{ ID int64 }
	code, raw := a.call("POST", "/api/v1/campaigns", a.Key, map[string]any{
		"name": name, "topic": topic, "subject": name, "text": "Hello {{.Contact.Name}}.",
		"html": "<p>Hello {{.Contact.Name}}.</p>", "audience": map[string]any{"contact_ids": contactIDs},
	}, &camp)
	require.Equal(a.t, http.StatusCreated, code, string(raw))
	code, raw = a.call("POST", "/api/v1/campaigns/"+itoa(camp.ID)+"/send", a.Key, nil, nil)
	require.Equal(a.t, http.StatusAccepted, code, string(raw))
	return camp.ID
}

// pcDelivery waits until the contact's delivery of the campaign reaches one
// of the states, and returns its state, reason and effective tier.
func (a *testApp) pcDelivery(campaignID, contactID int64, states ...string) (state, reason, tier string) {
	a.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		err := a.DB.QueryRow(context.Background(),
			"SELECT state, reason, tier FROM deliveries WHERE campaign_id = $1 AND contact_id = $2", campaignID, contactID).
			Scan(&state, &reason, &tier)
		if err == nil && slices.Contains(states, state) {
			return state, reason, tier
		}
		time.Sleep(50 * time.Millisecond)
	}
	a.t.Fatalf("delivery of campaign %d to contact %d: state %q (reason %q), want one of %v", campaignID, contactID, state, reason, states)
	return
}

// pcMessagesTo returns the messages the SMTP server accepted for email.
func (a *testApp) pcMessagesTo(email string) []smtptest.Message {
	var out []smtptest.Message
	for _, m := range a.SMTP.Messages() {
		if slices.Contains(m.To, email) {
			out = append(out, m)
		}
	}
	return out
}

// pcWaitMessageTo waits for the nth message to email and returns it.
func (a *testApp) pcWaitMessageTo(email string, n int) smtptest.Message {
	a.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if ms := a.pcMessagesTo(email); len(ms) >= n {
			return ms[n-1]
		}
		time.Sleep(50 * time.Millisecond)
	}
	a.t.Fatalf("no message #%d to %s within 30s", n, email)
	return smtptest.Message{}
}

// pcLinks takes the preference-center link out of a sent message's HTML
// part and the one-click link out of its List-Unsubscribe header, rewritten
// from PUBLIC_URL to the test server.
func (a *testApp) pcLinks(msg smtptest.Message) (prefs, unsub string) {
	a.t.Helper()
	m := msg.Parsed(a.t)
	public := regexp.QuoteMeta(a.Env["PUBLIC_URL"])
	mt, params, err := mime.ParseMediaType(m.Header.Get("Content-Type"))
	require.NoError(a.t, err)
	require.Equal(a.t, "multipart/alternative", mt)
	mr := multipart.NewReader(m.Body, params["boundary"])
	var html string
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		require.NoError(a.t, err)
		if pt, _, _ := mime.ParseMediaType(p.Header.Get("Content-Type")); pt == "text/html" {
			b, err := io.ReadAll(decodePart(p))
			require.NoError(a.t, err)
			html = string(b)
		}
	}
	p := regexp.MustCompile(public + `/p/[A-Za-z0-9_-]+`).FindString(html)
	require.NotEmpty(a.t, p, "preference link in the HTML part")
	u := regexp.MustCompile(`^<(` + public + `/u/[A-Za-z0-9_-]+)>$`).FindStringSubmatch(m.Header.Get("List-Unsubscribe"))
	require.Len(a.t, u, 2, "List-Unsubscribe header %q", m.Header.Get("List-Unsubscribe"))
	return a.Base + strings.TrimPrefix(p, a.Env["PUBLIC_URL"]), a.Base + strings.TrimPrefix(u[1], a.Env["PUBLIC_URL"])
}

// pcState is everything a customer page may change, to prove that a
// request changed nothing.
type pcState struct {
	Status, PreferredTier, Topics, PausedUntil string
	Events, Suppressions, Audit                int
}

func (a *testApp) pcSnapshot(contactID int64) pcState {
	a.t.Helper()
	var s pcState
	err := a.DB.QueryRow(context.Background(), `
		SELECT status, coalesce(preferred_tier, ''), array_to_string(topics_opted_out, ','), coalesce(paused_until::text, ''),
		       (SELECT count(*) FROM contact_events WHERE contact_id = $1 AND kind <> 'contact_create'),
		       (SELECT count(*) FROM suppressions), (SELECT count(*) FROM audit_log WHERE entity = 'contact')
		FROM contacts WHERE id = $1`, contactID).
		Scan(&s.Status, &s.PreferredTier, &s.Topics, &s.PausedUntil, &s.Events, &s.Suppressions, &s.Audit)
	require.NoError(a.t, err)
	return s
}

// pcSuppression returns the suppression reason on an address ("" if none),
// looked up by hash as the send-time check does.
func (a *testApp) pcSuppression(email string) string {
	a.t.Helper()
	h := sha256.Sum256([]byte(strings.ToLower(email)))
	var reason string
	err := a.DB.QueryRow(context.Background(), "SELECT coalesce((SELECT reason FROM suppressions WHERE email_hash = $1), '')", h[:]).Scan(&reason)
	require.NoError(a.t, err)
	return reason
}

// pcLastEvent returns the contact's latest timeline event.
func (a *testApp) pcLastEvent(contactID int64) (kind, actor, detail string) {
	a.t.Helper()
	err := a.DB.QueryRow(context.Background(),
		"SELECT kind, actor, detail::text FROM contact_events WHERE contact_id = $1 ORDER BY id DESC LIMIT 1", contactID).
		Scan(&kind, &actor, &detail)
	require.NoError(a.t, err)
	return kind, actor, detail
}

// pcAgeHistory moves the contact's past deliveries 60 days back, outside
// every cap window, so that a later campaign is not deferred by the caps
// and what it proves is the preference alone.
func (a *testApp) pcAgeHistory(contactID int64) {
	a.t.Helper()
	_, err := a.DB.Exec(context.Background(), `
		UPDATE deliveries SET planned_for = planned_for - interval '60 days', sent_at = sent_at - interval '60 days'
		WHERE contact_id = $1`, contactID)
	require.NoError(a.t, err)
}

// noRedirects is a client that reports redirects instead of following
// them, with no cookie jar: how a mailbox provider posts.
var noRedirects = &http.Client{
	Timeout:       10 * time.Second,
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

// pcDo sends a request with the client and returns status, headers and body.
func (a *testApp) pcDo(method, link string, form url.Values, header map[string]string) (int, http.Header, string) {
	a.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, link, body)
	require.NoError(a.t, err)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := noRedirects.Do(req)
	require.NoError(a.t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(a.t, err)
	return resp.StatusCode, resp.Header, string(raw)
}

// pcCSRF fetches a page and returns its CSRF field.
func (a *testApp) pcCSRF(link string) string {
	a.t.Helper()
	code, _, body := a.pcDo("GET", link, nil, nil)
	require.Equal(a.t, http.StatusOK, code, body)
	m := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindStringSubmatch(body)
	require.Len(a.t, m, 2, "csrf field in %s", body)
	return m[1]
}

// zoneAt is a fixed-offset zone where the local time is now about hour.
func zoneAt(hour int) string {
	off := hour - time.Now().UTC().Hour()
	for off > 12 {
		off -= 24
	}
	for off < -12 {
		off += 24
	}
	switch {
	case off == 0:
		return "UTC"
	case off > 0:
		return "Etc/GMT-" + itoa(int64(off))
	default:
		return "Etc/GMT+" + itoa(int64(-off))
	}
}

// requireSecureHeaders checks the headers every customer page carries.
func requireSecureHeaders(t *testing.T, h http.Header) {
	t.Helper()
	csp := h.Get("Content-Security-Policy")
	for _, d := range []string{"default-src 'none'", "style-src 'nonce-", "form-action 'self'", "frame-ancestors 'none'", "base-uri 'none'"} {
		require.Contains(t, csp, d)
	}
	require.Equal(t, "no-referrer", h.Get("Referrer-Policy"))
	require.Equal(t, "nosniff", h.Get("X-Content-Type-Options"))
	require.Equal(t, "no-store", h.Get("Cache-Control"))
	require.True(t, strings.HasPrefix(h.Get("Content-Type"), "text/html"), h.Get("Content-Type"))
}

// TestOneClickUnsubscribe posts exactly what a mailbox provider sends for
// RFC 8058 to the List-Unsubscribe URL of a real sent message: the contact
// is unsubscribed at once, with a suppression, a timeline event and an
// audit entry, and the next campaign sends them nothing.
func TestOneClickUnsubscribe(t *testing.T) {
	t.Parallel()
	a := startApp(t, nil)
	const email = "oneclick@example.com"
	id := a.pcContact(email, "high", zoneInWindow(), "en")
	camp := a.pcSend("First news", "product-news", id)
	_, unsub := a.pcLinks(a.pcWaitMessageTo(email, 1))

	code, hdr, body := a.pcDo("POST", unsub, url.Values{"List-Unsubscribe": {"One-Click"}}, nil)
	require.Equal(t, http.StatusOK, code, body)
	require.Empty(t, hdr.Get("Location"), "no redirect")
	requireSecureHeaders(t, hdr)
	require.Contains(t, body, "You are unsubscribed")

	s := a.pcSnapshot(id)
	require.Equal(t, "unsubscribed", s.Status)
	require.Equal(t, "unsubscribe", a.pcSuppression(email))
	kind, actor, detail := a.pcLastEvent(id)
	require.Equal(t, "unsubscribed", kind)
	require.Equal(t, "one-click", actor)
	require.Contains(t, detail, `"campaign_id": `+itoa(camp))
	require.Contains(t, detail, `"before": {"status": "active"`)
	require.Contains(t, detail, `"after": {"status": "unsubscribed"`)
	var audits int
	require.NoError(t, a.DB.QueryRow(context.Background(),
		"SELECT count(*) FROM audit_log WHERE entity = 'contact' AND entity_id = $1 AND action = 'unsubscribed' AND actor = 'one-click'", itoa(id)).Scan(&audits))
	require.Equal(t, 1, audits)
	var got struct{ Status string }
	code, raw := a.call("GET", "/api/v1/contacts/"+itoa(id), a.Key, nil, &got)
	require.Equal(t, http.StatusOK, code, string(raw))
	require.Equal(t, "unsubscribed", got.Status)

	// Posting again, multipart this time (RFC 8058 allows it), is harmless
	// and records nothing more.
	var mp bytes.Buffer
	mw := multipart.NewWriter(&mp)
	require.NoError(t, mw.WriteField("List-Unsubscribe", "One-Click"))
	require.NoError(t, mw.Close())
	resp, err := noRedirects.Post(unsub, mw.FormDataContentType(), &mp)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, s, a.pcSnapshot(id))

	next := a.pcSend("Second news", "product-news", id)
	_, reason, _ := a.pcDelivery(next, id, "skipped")
	require.Equal(t, "unsubscribed", reason)
	require.Len(t, a.pcMessagesTo(email), 1, "nothing sent after the unsubscribe")
}

// TestGetChangesNothing fetches every page, as a mail scanner would, and
// proves that nothing changed: status, preferences, events, suppressions.
func TestGetChangesNothing(t *testing.T) {
	t.Parallel()
	a := startApp(t, nil)
	const email = "scanner@example.com"
	id := a.pcContact(email, "high", zoneInWindow(), "en")
	a.pcSend("News", "product-news", id)
	prefs, unsub := a.pcLinks(a.pcWaitMessageTo(email, 1))
	before := a.pcSnapshot(id)
	for range 3 {
		for _, link := range []string{prefs, unsub, unsub + "?List-Unsubscribe=One-Click"} {
			code, hdr, body := a.pcDo("GET", link, nil, nil)
			require.Equal(t, http.StatusOK, code, body)
			requireSecureHeaders(t, hdr)
			require.Contains(t, body, "1 Example Street", "the company's postal address")
		}
	}
	require.Equal(t, before, a.pcSnapshot(id))
	require.Equal(t, "active", before.Status)
	require.Empty(t, a.pcSuppression(email))
	_, _, body := a.pcDo("GET", unsub, nil, nil)
	require.Contains(t, body, `<form method="post">`, "the unsubscribe page asks with a button")
}

// TestBadTokens404 sends forged, altered, truncated and wrong-purpose tokens
// to every route: each gets the same plain 404 page and changes nothing.
func TestBadTokens404(t *testing.T) {
	t.Parallel()
	// Trusting the loopback proxy lets each probe come from its own client
	// address, so the per-client rate limit does not cut the test short.
	a := startApp(t, map[string]string{"TRUSTED_PROXIES": "127.0.0.1/32"})
	const email = "forger@example.com"
	id := a.pcContact(email, "high", zoneInWindow(), "en")
	a.pcSend("News", "product-news", id)
	prefs, unsub := a.pcLinks(a.pcWaitMessageTo(email, 1))
	ptok, utok := prefs[strings.LastIndex(prefs, "/")+1:], unsub[strings.LastIndex(unsub, "/")+1:]
	alter := func(tok string, i int) string {
		b := []byte(tok)
		if b[i] == 'A' {
			b[i] = 'B'
		} else {
			b[i] = 'A'
		}
		return string(b)
	}
	bad := map[string][]string{
		"forged":    {"AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyAh", "x", strings.Repeat("A", 300)},
		"altered":   {alter(ptok, len(ptok)/2), alter(utok, 5), alter(utok, len(utok)-1)},
		"truncated": {ptok[:len(ptok)-1], utok[:len(utok)-1], utok[:len(utok)/2]},
		"padded":    {ptok + "A", utok + "="},
		"swapped":   {utok, ptok}, // a token of the other purpose
	}
	valid := map[string]bool{"/p/" + ptok: true, "/u/" + utok: true}
	probe := 0
	before := a.pcSnapshot(id)
	for name, toks := range bad {
		for _, tok := range toks {
			for _, prefix := range []string{"/p/", "/u/"} {
				if valid[prefix+tok] {
					continue // the swapped tokens are valid on their own route
				}
				for _, method := range []string{"GET", "POST"} {
					var form url.Values
					if method == "POST" {
						form = url.Values{"List-Unsubscribe": {"One-Click"}, "action": {"unsubscribe"}}
					}
					probe++
					xff := map[string]string{"X-Forwarded-For": "203.0.113." + itoa(int64(probe))}
					code, hdr, body := a.pcDo(method, a.Base+prefix+url.PathEscape(tok), form, xff)
					require.Equal(t, http.StatusNotFound, code, "%s %s %s: %s", name, method, prefix, body)
					requireSecureHeaders(t, hdr)
					require.Contains(t, body, "This link is not valid")
				}
			}
		}
	}
	require.Equal(t, before, a.pcSnapshot(id))
	require.Empty(t, a.pcSuppression(email))
}

// TestPreferenceFormRejections sends every kind of bad form: missing or
// forged CSRF, cross-site, unknown action, unknown or non-selectable tier,
// unknown topic, bad pause. Each gets a clear 4xx and changes nothing; a
// good form then goes through.
func TestPreferenceFormRejections(t *testing.T) {
	t.Parallel()
	a := startApp(t, nil)
	const email = "forms@example.com"
	id := a.pcContact(email, "high", zoneInWindow(), "en")
	a.pcSend("News", "product-news", id)
	prefs, unsub := a.pcLinks(a.pcWaitMessageTo(email, 1))
	csrf := a.pcCSRF(prefs)
	unsubCSRF := a.pcCSRF(unsub)
	_, err := a.DB.Exec(context.Background(), "UPDATE tiers SET selectable = false WHERE key = 'high'")
	require.NoError(t, err)
	save := func(extra url.Values) url.Values {
		v := url.Values{"csrf": {csrf}, "action": {"save"}, "frequency": {"medium"}, "topic": {"product-news", "events"}}
		for k, vals := range extra {
			v[k] = vals
		}
		return v
	}
	cases := []struct {
		name   string
		form   url.Values
		header map[string]string
		code   int
		text   string
	}{
		{"no csrf", url.Values{"action": {"unsubscribe"}}, nil, 403, "could not be verified"},
		{"forged csrf", url.Values{"action": {"unsubscribe"}, "csrf": {"AAAA" + csrf[4:]}}, nil, 403, "could not be verified"},
		{"csrf of another page", url.Values{"action": {"unsubscribe"}, "csrf": {unsubCSRF}}, nil, 403, "could not be verified"},
		{"cross-site fetch", url.Values{"action": {"unsubscribe"}, "csrf": {csrf}}, map[string]string{"Sec-Fetch-Site": "cross-site"}, 403, "could not be verified"},
		{"foreign origin", url.Values{"action": {"unsubscribe"}, "csrf": {csrf}}, map[string]string{"Origin": "https://evil.example"}, 403, "could not be verified"},
		{"unknown action", url.Values{"action": {"delete"}, "csrf": {csrf}}, nil, 400, "does not do"},
		{"no action", url.Values{"csrf": {csrf}}, nil, 400, "does not do"},
		{"unknown tier", save(url.Values{"frequency": {"platinum"}}), nil, 400, "frequencies offered"},
		{"non-selectable tier", save(url.Values{"frequency": {"high"}}), nil, 400, "frequencies offered"},
		{"empty tier", save(url.Values{"frequency": {""}}), nil, 400, "frequencies offered"},
		{"two tiers", save(url.Values{"frequency": {"low", "medium"}}), nil, 400, "frequencies offered"},
		{"unknown topic", save(url.Values{"topic": {"product-news", "gossip"}}), nil, 400, "topics offered"},
		{"bad pause", url.Values{"action": {"pause"}, "pause": {"7d"}, "csrf": {csrf}}, nil, 400, "30 or 90 days"},
		{"no pause", url.Values{"action": {"pause"}, "csrf": {csrf}}, nil, 400, "30 or 90 days"},
	}
	before := a.pcSnapshot(id)
	for _, c := range cases {
		code, hdr, body := a.pcDo("POST", prefs, c.form, c.header)
		require.Equal(t, c.code, code, "%s: %s", c.name, body)
		require.Contains(t, body, c.text, c.name)
		requireSecureHeaders(t, hdr)
	}
	// The unsubscribe page's own button is a form like any other, and the
	// one-click field counts only in the body, never in the URL.
	code, _, body := a.pcDo("POST", unsub, url.Values{"csrf": {csrf}}, nil)
	require.Equal(t, http.StatusForbidden, code, body)
	code, _, body = a.pcDo("POST", unsub+"?List-Unsubscribe=One-Click", url.Values{}, nil)
	require.Equal(t, http.StatusForbidden, code, body)
	require.Equal(t, before, a.pcSnapshot(id), "rejected forms change nothing")

	// A same-origin browser POST (Origin: null under no-referrer) passes.
	code, _, body = a.pcDo("POST", prefs, save(nil), map[string]string{"Origin": "null", "Sec-Fetch-Site": "same-origin"})
	require.Equal(t, http.StatusOK, code, body)
	require.Contains(t, body, "How often: “About once a week” (before: “Everything, up to daily”).")
	require.Contains(t, body, "You will no longer receive email about Offers.")
	s := a.pcSnapshot(id)
	require.Equal(t, "medium", s.PreferredTier)
	require.Equal(t, "offers", s.Topics)
	kind, actor, detail := a.pcLastEvent(id)
	require.Equal(t, "preferences_changed", kind)
	require.Equal(t, "customer", actor)
	require.Contains(t, detail, `"preferred_tier": "medium"`)

	// The same form again changes nothing and says so.
	code, _, body = a.pcDo("POST", prefs, save(nil), map[string]string{"Origin": a.Base})
	require.Equal(t, http.StatusOK, code, body)
	require.Contains(t, body, "Nothing changed")
	require.Equal(t, s, a.pcSnapshot(id))
}

// TestBouncedCannotResubscribe: only an unsubscribe is the customer's to
// undo; a bounced address stays suppressed, and the page says why.
func TestBouncedCannotResubscribe(t *testing.T) {
	t.Parallel()
	a := startApp(t, nil)
	const email = "bounced@example.com"
	id := a.pcContact(email, "high", zoneInWindow(), "en")
	a.pcSend("News", "product-news", id)
	prefs, _ := a.pcLinks(a.pcWaitMessageTo(email, 1))
	h := sha256.Sum256([]byte(email))
	_, err := a.DB.Exec(context.Background(), `
		WITH s AS (INSERT INTO suppressions (email_hash, email, reason, created_at) VALUES ($2, $3, 'hard_bounce', now()))
		UPDATE contacts SET status = 'bounced' WHERE id = $1`, id, h[:], email)
	require.NoError(t, err)
	code, _, body := a.pcDo("GET", prefs, nil, nil)
	require.Equal(t, http.StatusOK, code)
	require.Contains(t, body, "You cannot resubscribe yourself: please contact Rapport Demo Inc.</p>", "one full stop after Inc.")
	require.NotContains(t, body, `value="resubscribe"`)
	require.NotContains(t, body, `value="unsubscribe"`)
	before := a.pcSnapshot(id)
	code, _, body = a.pcDo("POST", prefs, url.Values{"action": {"resubscribe"}, "csrf": {a.pcCSRF(prefs)}}, nil)
	require.Equal(t, http.StatusConflict, code, body)
	require.Contains(t, body, "cannot be resubscribed")
	require.Equal(t, before, a.pcSnapshot(id))
	require.Equal(t, "hard_bounce", a.pcSuppression(email))
}

// TestLocalizedPage: the page speaks the contact's language, falling back
// to English for languages without a catalog.
func TestLocalizedPage(t *testing.T) {
	t.Parallel()
	a := startApp(t, nil)
	a.pcSend("News", "product-news", a.pcContact("de@example.com", "high", zoneInWindow(), "de-CH"),
		a.pcContact("fr@example.com", "high", zoneInWindow(), "fr"))
	de, _ := a.pcLinks(a.pcWaitMessageTo("de@example.com", 1))
	fr, _ := a.pcLinks(a.pcWaitMessageTo("fr@example.com", 1))
	_, _, body := a.pcDo("GET", de, nil, nil)
	require.Contains(t, body, `<html lang="de">`)
	require.Contains(t, body, "Ihre E-Mail-Einstellungen")
	require.Contains(t, body, "Höchstens eine E-Mail pro Tag und drei pro Woche. Nur zwischen 08:00 und 20:00 Uhr Ortszeit.", "the rules in words, in German")
	require.Contains(t, body, "Gilt jetzt: von Rapport Demo Inc. festgelegt")
	_, _, body = a.pcDo("GET", fr, nil, nil)
	require.Contains(t, body, `<html lang="en">`)
	require.Contains(t, body, "Your email preferences")
	require.Contains(t, body, "At most one email a day and three a week.")
}

// TestQueuedMessageNotSentAfterUnsubscribe plans a campaign for two contacts
// whose send window opens hours later, so their messages wait in the queue;
// one unsubscribes; then both messages are made due. The other contact's
// message goes out (the queue works), the unsubscribed one's never does.
func TestQueuedMessageNotSentAfterUnsubscribe(t *testing.T) {
	t.Parallel()
	a := startApp(t, nil)
	night := zoneAt(2) // 02:00 local: the 08:00–20:00 window opens hours later
	quit := a.pcContact("quit@example.com", "high", night, "en")
	stay := a.pcContact("stay@example.com", "high", night, "en")
	camp := a.pcSend("Queued news", "product-news", quit, stay)
	for _, id := range []int64{quit, stay} {
		_, reason, _ := a.pcDelivery(camp, id, "scheduled")
		require.Equal(t, "deferred_send_window", reason)
	}

	// Unsubscribe through the one-click link of the contact's signed token:
	// the queued message carries the same link, so sign it the same way.
	signer, err := token.New([]string{testSecret})
	require.NoError(t, err)
	link := a.Base + "/u/" + signer.Sign(token.Claims{Purpose: token.Unsubscribe, ContactID: quit, CampaignID: camp})
	code, _, body := a.pcDo("POST", link, url.Values{"List-Unsubscribe": {"One-Click"}}, nil)
	require.Equal(t, http.StatusOK, code, body)

	// Make both due now, in a zone where the window is open.
	ctx := context.Background()
	_, err = a.DB.Exec(ctx, "UPDATE contacts SET timezone = $1 WHERE id = ANY($2)", zoneInWindow(), []int64{quit, stay})
	require.NoError(t, err)
	_, err = a.DB.Exec(ctx, "UPDATE deliveries SET planned_for = now() WHERE campaign_id = $1", camp)
	require.NoError(t, err)
	_, err = a.DB.Exec(ctx, `UPDATE river_job SET state = 'available', scheduled_at = now()
		WHERE kind = 'send_batch' AND state = 'scheduled'`)
	require.NoError(t, err)

	a.pcWaitMessageTo("stay@example.com", 1)
	state, reason, _ := a.pcDelivery(camp, quit, "skipped", "sent")
	require.Equal(t, "skipped", state)
	require.Equal(t, "unsubscribed", reason)
	require.Empty(t, a.pcMessagesTo("quit@example.com"))
}

// TestRateLimitPerClient: one client address hammering the pages gets a
// plain 429 page with the security headers; another address is unaffected.
func TestRateLimitPerClient(t *testing.T) {
	t.Parallel()
	a := startApp(t, map[string]string{"TRUSTED_PROXIES": "127.0.0.1/32"})
	from := func(ip string) map[string]string { return map[string]string{"X-Forwarded-For": ip} }
	limited := false
	for range 100 {
		code, hdr, body := a.pcDo("GET", a.Base+"/p/nope", nil, from("198.51.100.7"))
		if code == http.StatusTooManyRequests {
			requireSecureHeaders(t, hdr)
			require.Contains(t, body, "Too many requests")
			limited = true
			break
		}
		require.Equal(t, http.StatusNotFound, code)
	}
	require.True(t, limited, "100 requests at once from one address are limited")
	code, _, _ := a.pcDo("GET", a.Base+"/p/nope", nil, from("198.51.100.8"))
	require.Equal(t, http.StatusNotFound, code, "another client is not limited")
}

// TestPreviewLinksChangeNothing: a marketer's preview of a real contact
// carries preview links. They show the contact's pages read-only, marked
// as a preview, with every control disabled and no CSRF field, and every
// POST through them (a resubscribe, a one-click unsubscribe) is a 403 that
// changes nothing; the preview itself is in the audit log, naming the
// contact by id only.
func TestPreviewLinksChangeNothing(t *testing.T) {
	t.Parallel()
	a := startApp(t, nil)
	marketer := a.newKey("marketer")
	const email = "previewed@example.com"
	id := a.pcContact(email, "high", zoneInWindow(), "en")
	camp := a.pcSend("News", "product-news", id)
	_, unsub := a.pcLinks(a.pcWaitMessageTo(email, 1))
	code, _, body := a.pcDo("POST", unsub, url.Values{"List-Unsubscribe": {"One-Click"}}, nil)
	require.Equal(t, http.StatusOK, code, body)

	var p struct {
		PreferencesURL string `json:"preferences_url"`
		UnsubscribeURL string `json:"unsubscribe_url"`
		HTML           string `json:"html"`
	}
	code, raw := a.call("POST", "/api/v1/campaigns/"+itoa(camp)+"/preview", marketer, map[string]any{"contact_id": id}, &p)
	require.Equal(t, http.StatusOK, code, string(raw))
	require.Contains(t, p.HTML, p.PreferencesURL, "the message shows the preview link")
	local := func(link string) string { return a.Base + strings.TrimPrefix(link, a.Env["PUBLIC_URL"]) }
	prefs, previewUnsub := local(p.PreferencesURL), local(p.UnsubscribeURL)

	before := a.pcSnapshot(id)
	require.Equal(t, "unsubscribed", before.Status)
	for _, link := range []string{prefs, previewUnsub} {
		code, hdr, body := a.pcDo("GET", link, nil, nil)
		require.Equal(t, http.StatusOK, code, body)
		requireSecureHeaders(t, hdr)
		require.Contains(t, body, "Preview: this is the page the customer sees")
		if link == prefs {
			require.Contains(t, body, `<button type="submit" disabled>Resubscribe</button>`)
		}
		require.NotRegexp(t, `name="csrf" value="[^"]+"`, body, "a preview page has no CSRF field to post with")
	}
	// Whatever a marketer posts, nothing changes.
	csrf := ""
	if m := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindStringSubmatch(func() string { _, _, b := a.pcDo("GET", prefs, nil, nil); return b }()); m != nil {
		csrf = m[1]
	}
	for _, form := range []url.Values{{"action": {"resubscribe"}, "csrf": {csrf}}, {"action": {"pause"}, "pause": {"30d"}, "csrf": {csrf}}} {
		code, _, body := a.pcDo("POST", prefs, form, nil)
		require.Equal(t, http.StatusForbidden, code, body)
		require.Contains(t, body, "This is a preview")
	}
	code, _, body = a.pcDo("POST", previewUnsub, url.Values{"List-Unsubscribe": {"One-Click"}}, nil)
	require.Equal(t, http.StatusForbidden, code, body)
	require.Equal(t, before, a.pcSnapshot(id), "previews change nothing")
	require.Equal(t, "unsubscribe", a.pcSuppression(email))

	var n int
	var actor, after string
	require.NoError(t, a.DB.QueryRow(context.Background(), `SELECT count(*), min(actor), min(after::text) FROM audit_log
		WHERE action = 'preview' AND entity = 'campaign' AND entity_id = $1`, itoa(camp)).Scan(&n, &actor, &after))
	require.Equal(t, 1, n, "the preview of a real contact is audited")
	require.True(t, strings.HasPrefix(actor, "key:marketer key#"), actor)
	require.JSONEq(t, `{"contact_id": `+itoa(id)+`}`, after)
	// A sample preview shows no one's data and is not audited.
	code, _ = a.call("POST", "/api/v1/campaigns/"+itoa(camp)+"/preview", marketer, nil, nil)
	require.Equal(t, http.StatusOK, code)
	require.NoError(t, a.DB.QueryRow(context.Background(), `SELECT count(*) FROM audit_log WHERE action = 'preview'`).Scan(&n))
	require.Equal(t, 1, n)
}

// TestOneClickHasItsOwnLimit: a mailbox provider posts one-click
// unsubscribes for all its users from one address. 1,000 of them in about
// 10 s from one client all succeed; the pages keep their own per-client
// limit for that same client.
func TestOneClickHasItsOwnLimit(t *testing.T) {
	t.Parallel()
	a := startApp(t, nil)
	const email = "provider@example.com"
	id := a.pcContact(email, "high", zoneInWindow(), "en")
	a.pcSend("News", "product-news", id)
	_, unsub := a.pcLinks(a.pcWaitMessageTo(email, 1))

	const n = 1000
	codes := make(chan int, n)
	tick := time.NewTicker(10 * time.Millisecond) // 100 a second: 1,000 in 10 s
	defer tick.Stop()
	work := make(chan struct{})
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range work {
				req, _ := http.NewRequest("POST", unsub, strings.NewReader("List-Unsubscribe=One-Click"))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				resp, err := noRedirects.Do(req)
				if err != nil {
					codes <- 0
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				codes <- resp.StatusCode
			}
		}()
	}
	for range n {
		<-tick.C
		work <- struct{}{}
	}
	close(work)
	wg.Wait()
	close(codes)
	got := map[int]int{}
	for c := range codes {
		got[c]++
	}
	require.Equal(t, map[int]int{http.StatusOK: n}, got, "every one-click POST succeeds")
	require.Equal(t, "unsubscribed", a.pcSnapshot(id).Status)

	limited := false
	for range 100 {
		code, _, _ := a.pcDo("GET", unsub, nil, nil)
		if code == http.StatusTooManyRequests {
			limited = true
			break
		}
		require.Equal(t, http.StatusOK, code)
	}
	require.True(t, limited, "the pages' own limit still holds for the same client")
}
