package main

import (
	"context"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestSendEndToEnd(t *testing.T) {
	t.Parallel()
	a := startApp(t, nil)

	var contact struct {
		ID    int64
		Email string
	}
	code, raw := a.call("POST", "/api/v1/contacts", a.Key, map[string]any{
		"email": "Ada@Example.com", "name": "Ada Lovelace", "tier": "high", "timezone": zoneInWindow(),
		"attributes": map[string]any{"plan": "pro"},
	}, &contact)
	require.Equal(t, http.StatusCreated, code, string(raw))
	require.Equal(t, "ada@example.com", contact.Email)

	// The same email again updates the contact.
	code, raw = a.call("POST", "/api/v1/contacts", a.Key, map[string]any{
		"email": "ada@example.com", "name": "Ada King", "tier": "high", "timezone": zoneInWindow(),
		"attributes": map[string]any{"plan": "pro"},
	}, nil)
	require.Equal(t, http.StatusOK, code, string(raw))

	var camp struct {
		ID     int64
		Status string
	}
	code, raw = a.call("POST", "/api/v1/campaigns", a.Key, map[string]any{
		"name": "Autumn news", "topic": "product-news",
		"subject":  "News for {{.Contact.Name}}",
		"text":     "Hello {{.Contact.Name}}, your plan is {{.Contact.Attributes.plan}}.",
		"html":     "<p>Hello <b>{{.Contact.Name}}</b></p>",
		"audience": map[string]any{"tiers": []string{"high"}},
	}, &camp)
	require.Equal(t, http.StatusCreated, code, string(raw))
	require.Equal(t, "draft", camp.Status)

	code, raw = a.call("POST", "/api/v1/campaigns/"+itoa(camp.ID)+"/send", a.Key, nil, &camp)
	require.Equal(t, http.StatusAccepted, code, string(raw))
	require.Equal(t, "running", camp.Status)

	msgs := a.SMTP.Wait(1, 30*time.Second)
	require.Len(t, msgs, 1, "the SMTP server received the message")
	m := msgs[0].Parsed(t)
	require.Equal(t, []string{"ada@example.com"}, msgs[0].To)
	require.Equal(t, "news@example.com", msgs[0].From)
	require.Contains(t, m.Header.Get("From"), "news@example.com")
	require.Contains(t, m.Header.Get("To"), "ada@example.com")
	require.Equal(t, "News for Ada King", m.Header.Get("Subject"))
	require.Regexp(t, `^<rapport\.\d+\.\d+\.[a-z2-7]{8}@example\.com>$`, m.Header.Get("Message-Id"))
	require.Regexp(t, `^<https://mail\.example\.test/u/[A-Za-z0-9_-]+>$`, m.Header.Get("List-Unsubscribe"))
	require.Equal(t, "List-Unsubscribe=One-Click", m.Header.Get("List-Unsubscribe-Post"))

	mt, params, err := mime.ParseMediaType(m.Header.Get("Content-Type"))
	require.NoError(t, err)
	require.Equal(t, "multipart/alternative", mt)
	mr := multipart.NewReader(m.Body, params["boundary"])
	parts := map[string]string{}
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		require.NoError(t, err)
		pt, _, _ := mime.ParseMediaType(p.Header.Get("Content-Type"))
		body, err := io.ReadAll(decodePart(p))
		require.NoError(t, err)
		parts[pt] = string(body)
	}
	require.Contains(t, parts["text/plain"], "Hello Ada King, your plan is pro.")
	require.Contains(t, parts["text/html"], "<p>Hello <b>Ada King</b></p>")
	for _, part := range parts {
		require.Regexp(t, `https://mail\.example\.test/p/[A-Za-z0-9_-]+`, part, "preference link")
		require.Contains(t, part, "1 Example Street", "postal address")
	}

	// The delivery is recorded as sent, with the Message-ID the server saw.
	require.Eventually(t, func() bool {
		var state, msgID string
		err := a.DB.QueryRow(context.Background(), "SELECT state, message_id FROM deliveries WHERE contact_id = $1", contact.ID).Scan(&state, &msgID)
		return err == nil && state == "sent" && "<"+msgID+">" == m.Header.Get("Message-Id")
	}, 10*time.Second, 50*time.Millisecond)
}

func decodePart(p *multipart.Part) io.Reader {
	switch strings.ToLower(p.Header.Get("Content-Transfer-Encoding")) {
	case "quoted-printable":
		return qpReader(p)
	case "base64":
		return b64Reader(p)
	}
	return p
}

func itoa(n int64) string { return formatInt(n) }
