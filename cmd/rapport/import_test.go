package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

type importAnswer struct {
	Rows      int `json:"rows"`
	Created   int `json:"created"`
	Updated   int `json:"updated"`
	Unchanged int `json:"unchanged"`
	Invalid   int `json:"invalid"`
	Errors    []struct {
		Line    int    `json:"line"`
		Field   string `json:"field"`
		Message string `json:"message"`
	} `json:"errors"`
	ErrorsTruncated bool `json:"errors_truncated"`
}

// importCSV posts body as a CSV import and returns the status, the decoded
// answer (on 200) and the raw body.
func (a *testApp) importCSV(key, query, contentType, body string) (int, importAnswer, []byte) {
	a.t.Helper()
	req, err := http.NewRequest("POST", a.Base+"/api/v1/contacts/import"+query, strings.NewReader(body))
	require.NoError(a.t, err)
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(a.t, err)
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	a.checkResponse(req, resp, raw)
	var out importAnswer
	if resp.StatusCode == http.StatusOK {
		require.NoError(a.t, json.Unmarshal(raw, &out), string(raw))
	} else {
		require.Equal(a.t, "application/problem+json", resp.Header.Get("Content-Type"), string(raw))
	}
	return resp.StatusCode, out, raw
}

type storedContact struct {
	Name, Tier, Timezone, Locale string
	ExternalID, PreferredTier    *string
	Topics                       []string
	PausedUntil                  *time.Time
	Attributes                   map[string]any
	Status                       string
	UpdatedAt                    time.Time
}

func (a *testApp) storedContact(email string) storedContact {
	a.t.Helper()
	var c storedContact
	var attrs []byte
	err := a.DB.QueryRow(context.Background(), `SELECT name, tier, timezone, locale, external_id, preferred_tier,
		topics_opted_out, paused_until, attributes, status, updated_at FROM contacts WHERE email = $1`, email).
		Scan(&c.Name, &c.Tier, &c.Timezone, &c.Locale, &c.ExternalID, &c.PreferredTier, &c.Topics, &c.PausedUntil, &attrs, &c.Status, &c.UpdatedAt)
	require.NoError(a.t, err, email)
	require.NoError(a.t, json.Unmarshal(attrs, &c.Attributes))
	return c
}

func TestImportGoodFileIsIdempotent(t *testing.T) {
	t.Parallel()
	a := startApp(t, nil)
	marketer := a.newKey("marketer")
	file := "email,name,external_id,tier,preferred_tier,timezone,locale,topics_opted_out,paused_until,attr.plan,attr.Region\n" +
		"Ada@Example.com,Ada Lovelace,crm-1,high,medium,Europe/London,en-GB,offers;events,2030-01-02T03:04:05Z,pro,EU\n" +
		"bob@example.com,Bob,,low,,,,,,,\n" +
		"carol@example.com,\"Carol, \"\"CJ\"\" Jones\",crm-3,medium,,America/New_York,de,product-news,,basic,\n"

	code, res, raw := a.importCSV(marketer, "", "text/csv", file)
	require.Equal(t, 200, code, string(raw))
	require.Equal(t, importAnswer{Rows: 3, Created: 3, Errors: res.Errors}, res, string(raw))
	require.Empty(t, res.Errors)

	ada := a.storedContact("ada@example.com")
	require.Equal(t, "Ada Lovelace", ada.Name)
	require.Equal(t, "high", ada.Tier)
	require.Equal(t, "medium", *ada.PreferredTier)
	require.Equal(t, "crm-1", *ada.ExternalID)
	require.Equal(t, "Europe/London", ada.Timezone)
	require.Equal(t, "en-GB", ada.Locale)
	require.Equal(t, []string{"events", "offers"}, ada.Topics, "stored sorted")
	require.True(t, ada.PausedUntil.Equal(time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)))
	require.Equal(t, map[string]any{"plan": "pro", "Region": "EU"}, ada.Attributes)
	require.Equal(t, "active", ada.Status)
	bob := a.storedContact("bob@example.com")
	require.Nil(t, bob.ExternalID)
	require.Nil(t, bob.PreferredTier)
	require.Equal(t, "en", bob.Locale)
	require.Empty(t, bob.Topics)
	require.Empty(t, bob.Attributes)
	require.Equal(t, `Carol, "CJ" Jones`, a.storedContact("carol@example.com").Name)

	// The same file again changes nothing and says so.
	code, res, raw = a.importCSV(marketer, "", "text/csv", file)
	require.Equal(t, 200, code, string(raw))
	require.Equal(t, 3, res.Rows)
	require.Equal(t, 3, res.Unchanged, string(raw))
	require.Zero(t, res.Created+res.Updated+res.Invalid)
	require.Equal(t, ada.UpdatedAt, a.storedContact("ada@example.com").UpdatedAt, "an unchanged row is not rewritten")
	require.Equal(t, 3, a.count("contacts"))

	// A change is an update; columns the file lacks keep their values, and
	// attr.<key> columns replace only their keys (empty removes).
	code, res, raw = a.importCSV(marketer, "", "text/csv; charset=utf-8",
		"email,tier,attr.plan\nada@example.com,low,\nbob@example.com,low,\n")
	require.Equal(t, 200, code, string(raw))
	require.Equal(t, importAnswer{Rows: 2, Updated: 1, Unchanged: 1, Errors: res.Errors}, res, string(raw))
	ada = a.storedContact("ada@example.com")
	require.Equal(t, "low", ada.Tier)
	require.Equal(t, "Ada Lovelace", ada.Name)
	require.Equal(t, []string{"events", "offers"}, ada.Topics, "stored sorted")
	require.Equal(t, map[string]any{"Region": "EU"}, ada.Attributes)

	// ?tier= names the tier of rows without one; a repeated email: the later
	// row wins, and each row is counted for what it did.
	code, res, raw = a.importCSV(marketer, "?tier=medium", "text/csv",
		"email,name\ndan@example.com,Dan\ndan@example.com,Daniel\n")
	require.Equal(t, 200, code, string(raw))
	require.Equal(t, importAnswer{Rows: 2, Created: 1, Updated: 1, Errors: res.Errors}, res, string(raw))
	dan := a.storedContact("dan@example.com")
	require.Equal(t, "Daniel", dan.Name)
	require.Equal(t, "medium", dan.Tier)

	// One audit entry per import, no timeline event per row.
	var audits int
	var after string
	require.NoError(t, a.DB.QueryRow(context.Background(),
		`SELECT count(*), max(after::text) FILTER (WHERE id = (SELECT max(id) FROM audit_log WHERE action = 'import'))
		 FROM audit_log WHERE action = 'import' AND entity = 'contact' AND actor LIKE 'key:marketer key#%'`).Scan(&audits, &after))
	require.Equal(t, 4, audits)
	require.JSONEq(t, `{"rows":2,"created":1,"updated":1,"unchanged":0,"invalid":0}`, after)
	require.Zero(t, a.count("contact_events"))
}

func TestImportRowErrors(t *testing.T) {
	t.Parallel()
	a := startApp(t, nil)
	marketer := a.newKey("marketer")
	lines := []string{
		"email,name,tier,timezone,topics_opted_out,paused_until,external_id", // 1
		"good1@example.com,Good One,low,UTC,,,",                              // 2
		"not-an-email,Bad,low,,,,",                                           // 3 email
		"x@example.com,X,platinum,,,,",                                       // 4 tier
		"y@example.com,Y,low,,gossip,,",                                      // 5 topics_opted_out
		"z@example.com,Z,low,Mars/Olympus,,,",                                // 6 timezone
		"w@example.com,W,low,,,next tuesday,",                                // 7 paused_until
		"v@example.com,V,low",                                                // 8 column count
		",Nobody,low,,,,",                                                    // 9 email (empty)
		"good2@example.com,\"Two, lines\",medium,,\"events;\n\",,",           // 10-11 quoted newline
		"u@example.com,U,\"low\"x,,,,",                                       // 12 malformed quote
		"dup-ext@example.com,E,low,,,,ext-1",                                 // 13
		"good3@example.com,Good Three,high,,,2031-05-06T07:08:09+02:00,",     // 14
	}
	// ext-1 belongs to another contact already: a row error, not a failed batch.
	code, _, raw := a.importCSV(marketer, "", "text/csv", "email,tier,external_id\nowner@example.com,low,ext-1\n")
	require.Equal(t, 200, code, string(raw))

	code, res, raw := a.importCSV(marketer, "", "text/csv", strings.Join(lines, "\n")+"\n")
	require.Equal(t, 200, code, string(raw))
	require.Equal(t, 12, res.Rows, string(raw))
	require.Equal(t, 3, res.Created, string(raw))
	require.Equal(t, 9, res.Invalid, string(raw))
	require.False(t, res.ErrorsTruncated)
	got := map[int]string{}
	for _, e := range res.Errors {
		require.NotEmpty(t, e.Message)
		require.Empty(t, got[e.Line], "one error per line here: %s", raw)
		got[e.Line] = e.Field
	}
	require.Equal(t, map[int]string{3: "email", 4: "tier", 5: "topics_opted_out", 6: "timezone", 7: "paused_until",
		8: "row", 9: "email", 12: "row", 13: "external_id"}, got, string(raw))
	for _, e := range res.Errors {
		if e.Line == 9 {
			require.Equal(t, "is required", e.Message)
		}
	}
	require.Equal(t, "Two, lines", a.storedContact("good2@example.com").Name)
	require.Equal(t, []string{"events"}, a.storedContact("good2@example.com").Topics)
	require.True(t, a.storedContact("good3@example.com").PausedUntil.Equal(time.Date(2031, 5, 6, 5, 8, 9, 0, time.UTC)))
	require.Equal(t, 4, a.count("contacts")) // owner + three good rows
}

func TestImportListsAtMostAThousandErrors(t *testing.T) {
	t.Parallel()
	a := startApp(t, map[string]string{"BODY_LIMIT": "64K"})
	var b strings.Builder
	b.WriteString("email,tier,name\n")
	for i := range 1500 {
		fmt.Fprintf(&b, "bad-%d,low,%s\n", i, strings.Repeat("n", 40))
	}
	b.WriteString("fine@example.com,low,Fine\n")
	require.Greater(t, b.Len(), 64<<10, "bigger than BODY_LIMIT, which the import does not use")
	code, res, raw := a.importCSV(a.Key, "", "text/csv", b.String())
	require.Equal(t, 200, code, string(raw))
	require.Equal(t, 1501, res.Rows)
	require.Equal(t, 1500, res.Invalid)
	require.Equal(t, 1, res.Created)
	require.Len(t, res.Errors, 1000)
	require.True(t, res.ErrorsTruncated)
	require.Equal(t, 2, res.Errors[0].Line)
}

func TestImportRejectsBeforeWriting(t *testing.T) {
	t.Parallel()
	a := startApp(t, nil)
	marketer, viewer := a.newKey("marketer"), a.newKey("viewer")
	rows := "\na@example.com,low,x\n"
	cases := []struct {
		name, key, query, ctype, body string
		status                        int
		field                         string
	}{
		{"unknown column", marketer, "", "text/csv", "email,tier,shoe_size" + rows, 400, "shoe_size"},
		{"status is not importable", marketer, "", "text/csv", "email,tier,status" + rows, 400, "status"},
		{"duplicated column", marketer, "", "text/csv", "email,tier,Email" + rows, 400, "Email"},
		{"duplicated attribute", marketer, "", "text/csv", "email,tier,attr.a,attr.a\na@example.com,low,1,2\n", 400, "attr.a"},
		{"no email column", marketer, "", "text/csv", "name,tier\nA,low\n", 400, "email"},
		{"no tier and no default", marketer, "", "text/csv", "email,name\na@example.com,A\n", 400, "tier"},
		{"unknown default tier", marketer, "?tier=gold", "text/csv", "email\na@example.com\n", 400, "tier"},
		{"empty file", marketer, "", "text/csv", "", 400, "header"},
		{"JSON", marketer, "", "application/json", `{"email":"a@example.com","tier":"low"}`, 415, ""},
		{"no content type", marketer, "", "", "email,tier\na@example.com,low\n", 415, ""},
		{"not UTF-8", marketer, "", "text/csv; charset=latin1", "email,tier\na@example.com,low\n", 415, ""},
		{"viewer", viewer, "", "text/csv", "email,tier\na@example.com,low\n", 403, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, _, raw := a.importCSV(tc.key, tc.query, tc.ctype, tc.body)
			require.Equal(t, tc.status, code, string(raw))
			if tc.field != "" {
				require.Contains(t, fieldsOf(t, raw), tc.field, string(raw))
				require.Contains(t, string(raw), tc.field)
			}
		})
	}
	require.Zero(t, a.count("contacts"))
	var audits int
	require.NoError(t, a.DB.QueryRow(context.Background(), "SELECT count(*) FROM audit_log WHERE action = 'import'").Scan(&audits))
	require.Zero(t, audits)
}

func TestImportStopsAtRunawayQuote(t *testing.T) {
	t.Parallel()
	a := startApp(t, nil)
	// A quote left open would make the rest of the file one field: the
	// import stops at 1 MiB instead of holding it, keeping the rows before.
	file := "email,tier,name\nfirst@example.com,low,First\nsecond@example.com,low,\"Sec\n" +
		strings.Repeat("third@example.com,low,Third\n", 50_000)
	code, res, raw := a.importCSV(a.Key, "", "text/csv", file)
	require.Equal(t, 200, code, string(raw))
	require.Equal(t, 1, res.Rows, string(raw))
	require.Equal(t, 1, res.Created, string(raw))
	require.Len(t, res.Errors, 1, string(raw))
	require.Equal(t, 2, res.Errors[0].Line)
	require.Contains(t, res.Errors[0].Message, "the rest of the file was not read")
	require.Equal(t, 1, a.count("contacts"))
}

func TestImportHasItsOwnLimit(t *testing.T) {
	t.Parallel()
	a := startApp(t, map[string]string{"IMPORT_BODY_LIMIT": "2K"})
	var b strings.Builder
	b.WriteString("email,tier\n")
	for i := 0; b.Len() < 8<<10; i++ {
		fmt.Fprintf(&b, "big%05d@example.com,low\n", i)
	}
	code, _, raw := a.importCSV(a.Key, "", "text/csv", b.String())
	require.Equal(t, http.StatusRequestEntityTooLarge, code, string(raw))
	require.Contains(t, string(raw), "import limit")
}

// TestImportBadBytesKeepGoodRows: a Latin-1 byte, a NUL or a line break in
// a row is an error on that row's line and field; the good rows around it
// (in the same batch) are imported, and the answer is a 200, not a 500.
func TestImportBadBytesKeepGoodRows(t *testing.T) {
	t.Parallel()
	a := startApp(t, nil)
	file := "email,name,tier,locale,paused_until,attr.plan\n" +
		"good1@example.com,Good One,low,en,,pro\n" +
		"latin1@example.com,Ren\xe9,low,en,,pro\n" + // line 3: Latin-1 é
		"good2@example.com,Good Two,low,en,,pro\n" +
		"nul@example.com,A\x00B,low,en,,pro\n" + // line 5
		"good3@example.com,Good Three,low,en,,pro\n" +
		"\"crlf@example.com\",\"Ada\r\nBcc: evil@example.com\",low,en,,pro\n" + // line 7 (two lines)
		"attr@example.com,Attr,low,en,,p\x00ro\n" + // line 9
		"locale@example.com,Locale,low,e\xffn,,pro\n" + // line 10
		// Valid RFC 3339 that PostgreSQL cannot store (it has no year 0):
		// the database refuses the batch, which is then written row by row.
		"year0@example.com,Year Zero,low,en,0000-01-01T00:00:00Z,pro\n" + // line 11
		"good4@example.com,Good Four,low,en,,pro\n"
	code, res, raw := a.importCSV(a.Key, "", "text/csv", file)
	require.Equal(t, 200, code, string(raw))
	require.Equal(t, 10, res.Rows, string(raw))
	require.Equal(t, 4, res.Created, string(raw))
	require.Equal(t, 6, res.Invalid, string(raw))
	got := map[int]string{}
	for _, e := range res.Errors {
		got[e.Line] = e.Field
		if e.Line == 11 {
			require.Contains(t, e.Message, "could not be stored")
		}
	}
	require.Equal(t, map[int]string{3: "name", 5: "name", 7: "name", 9: "attributes", 10: "locale", 11: "row"}, got, string(raw))
	for i, n := range []string{"One", "Two", "Three", "Four"} {
		require.Equal(t, "Good "+n, a.storedContact(fmt.Sprintf("good%d@example.com", i+1)).Name)
	}
	require.Equal(t, 4, a.count("contacts"))
}
