package main

import (
	"bytes"
	"context"
	"net/http"
	"net/url"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/emersion/go-smtp"
	"github.com/stretchr/testify/require"
)

// TestEraseLeavesNothing gives a contact a life (a message sent, a pause and
// a resume through their link, a marketer's preview, a manual suppression
// lifted, a bounce whose reply quotes their address and name), erases them,
// and then checks that erasure erases: their old links are 404s and change
// nothing, a transactional campaign naming them sends nothing, the erased
// row cannot be written again, and a full pg_dump of the database holds
// neither their address, nor their name, nor anything else they gave.
func TestEraseLeavesNothing(t *testing.T) {
	t.Parallel()
	a := startApp(t, nil)
	const (
		email    = "zebulon.erasure-7f3a@example.com"
		name     = "Zebulon Quixote-Erasure"
		external = "crm-zq-7f3a"
		nickname = "Zeb the Quixotic"
	)
	var ct struct{ ID int64 }
	code, raw := a.call("POST", "/api/v1/contacts", a.Key, map[string]any{"email": email, "name": name, "tier": "high",
		"timezone": zoneInWindow(), "external_id": external, "attributes": map[string]any{"nickname": nickname}}, &ct)
	require.Equal(t, http.StatusCreated, code, string(raw))
	id := ct.ID
	first := a.pcSend("First", "product-news", id)
	prefs, unsub := a.pcLinks(a.pcWaitMessageTo(email, 1))

	// The customer pauses and resumes through their link.
	for _, pause := range []string{"30d", "resume"} {
		code, _, body := a.pcDo("POST", prefs, url.Values{"action": {"pause"}, "pause": {pause}, "csrf": {a.pcCSRF(prefs)}}, nil)
		require.Equal(t, http.StatusOK, code, body)
	}
	// A marketer previews their message; an admin suppresses the address
	// by hand and lifts it.
	code, raw = a.call("POST", "/api/v1/campaigns/"+itoa(first)+"/preview", a.Key, map[string]any{"contact_id": id}, nil)
	require.Equal(t, http.StatusOK, code, string(raw))
	code, raw = a.call("POST", "/api/v1/suppressions", a.Key, map[string]any{"email": email, "reason": "manual"}, nil)
	require.Equal(t, http.StatusCreated, code, string(raw))
	code, raw = a.call("DELETE", "/api/v1/suppressions/"+url.PathEscape(email), a.Key, nil, nil)
	require.Equal(t, http.StatusNoContent, code, string(raw))
	// A second message bounces, the server's reply quoting them.
	a.pcAgeHistory(id)
	a.SMTP.SetRcpt(func(to string) error {
		if to == email {
			return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "<" + to + "> (" + name + "): no such user"}
		}
		return nil
	})
	second := a.pcSend("Second", "product-news", id)
	state, reason, _ := a.pcDelivery(second, id, "failed", "sent")
	require.Equal(t, "failed/failed_permanent", state+"/"+reason)
	a.SMTP.SetRcpt(nil)
	require.Equal(t, "hard_bounce", a.pcSuppression(email))
	require.Contains(t, pgDump(t, a), email, "the dump finds the address before the erasure")

	code, raw = a.call("DELETE", "/api/v1/contacts/"+itoa(id), a.Key, nil, nil)
	require.Equal(t, http.StatusNoContent, code, string(raw))

	// The old links lead nowhere and change nothing.
	before := a.pcSnapshot(id)
	require.Equal(t, "erased", before.Status)
	for _, link := range []string{prefs, unsub} {
		code, _, body := a.pcDo("GET", link, nil, nil)
		require.Equal(t, http.StatusNotFound, code, body)
	}
	code, _, body := a.pcDo("POST", unsub, url.Values{"List-Unsubscribe": {"One-Click"}}, nil)
	require.Equal(t, http.StatusNotFound, code, body)
	code, _, body = a.pcDo("POST", prefs, url.Values{"action": {"resubscribe"}}, nil)
	require.Equal(t, http.StatusNotFound, code, body)
	require.Equal(t, before, a.pcSnapshot(id))
	require.Zero(t, before.Events, "no timeline events left or added")

	// The row can never be written again, nor mailed, even transactionally.
	code, raw = a.call("PATCH", "/api/v1/contacts/"+itoa(id), a.Key, map[string]any{"name": name}, nil)
	require.Equal(t, http.StatusConflict, code, string(raw))
	var receipt struct{ ID int64 }
	code, raw = a.call("POST", "/api/v1/campaigns", a.Key, map[string]any{"name": "Receipt", "category": "transactional",
		"subject": "Your receipt", "text": "Thanks", "html": "<p>Thanks</p>", "audience": map[string]any{"contact_ids": []int64{id}}}, &receipt)
	require.Equal(t, http.StatusCreated, code, string(raw))
	code, raw = a.call("POST", "/api/v1/campaigns/"+itoa(receipt.ID)+"/send", a.Key, nil, nil)
	require.Equal(t, http.StatusAccepted, code, string(raw))
	state, reason, _ = a.pcDelivery(receipt.ID, id, "skipped", "sent", "failed")
	require.Equal(t, "skipped/unsubscribed", state+"/"+reason)
	for _, m := range a.SMTP.Messages() {
		require.False(t, slices.ContainsFunc(m.To, func(to string) bool { return strings.HasSuffix(to, ".invalid") }),
			"nothing goes to an erased placeholder: %v", m.To)
	}

	code, raw = a.call("DELETE", "/api/v1/contacts/"+itoa(id), a.Key, nil, nil)
	require.Equal(t, http.StatusNoContent, code, "erasing again changes nothing: %s", raw)
	require.Equal(t, before, a.pcSnapshot(id))

	// Nothing they gave is left anywhere in the database.
	dump := strings.ToLower(pgDump(t, a))
	for _, s := range []string{email, strings.Split(email, "@")[0], name, "Zebulon", "Quixote", external, nickname} {
		require.NotContains(t, dump, strings.ToLower(s), "the dump still holds %q", s)
	}
}

// pgDump dumps the test app's whole database with the server's pg_dump.
func pgDump(t *testing.T, a *testApp) string {
	t.Helper()
	bin, err := exec.LookPath("pg_dump")
	if err != nil {
		found, _ := filepath.Glob("/usr/lib/postgresql/*/bin/pg_dump")
		if len(found) == 0 {
			t.Skip("no pg_dump binary")
		}
		slices.Sort(found)
		bin = found[len(found)-1]
	}
	var out, stderr bytes.Buffer
	cmd := exec.CommandContext(context.Background(), bin, "--no-owner", "--dbname", a.Env["DATABASE_URL"])
	cmd.Stdout, cmd.Stderr = &out, &stderr
	require.NoError(t, cmd.Run(), stderr.String())
	return out.String()
}
