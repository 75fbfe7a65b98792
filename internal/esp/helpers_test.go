package esp

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/require"
)

func readTestdata(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	require.NoError(t, err)
	return b
}

func ts(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return t.UTC()
}

// requireKind asserts that err wraps want (ErrUnauthenticated or ErrMalformed).
func requireKind(t testing.TB, err, want error) {
	t.Helper()
	require.Error(t, err)
	require.Truef(t, errors.Is(err, want), "error %q does not wrap %q", err, want)
}

// checkInvariants asserts what every event from every parser must satisfy,
// whatever the input: the fuzz tests call it on garbage.
func checkInvariants(t testing.TB, provider string, events []Event) {
	t.Helper()
	for _, e := range events {
		require.Equal(t, provider, e.Provider)
		switch e.Kind {
		case HardBounce, SoftBounce, Complaint:
			require.NotEmpty(t, e.Email, "a %s needs a recipient: %+v", e.Kind, e)
		case Ignored:
		default:
			t.Fatalf("unknown kind %q", e.Kind)
		}
		if e.Email != "" {
			require.Equal(t, strings.ToLower(e.Email), e.Email)
			require.Contains(t, e.Email, "@")
		}
		require.LessOrEqual(t, len(e.Detail), MaxDetail)
		for _, s := range []string{e.Detail, e.Type, e.ProviderID, e.ProviderMessageID, e.MessageID, e.Email} {
			require.True(t, utf8.ValidString(s), "invalid UTF-8 in %q", s)
			require.NotContains(t, s, "\n")
		}
		require.False(t, strings.HasPrefix(e.MessageID, "<"), "MessageID %q keeps its brackets", e.MessageID)
		require.Equal(t, time.UTC, e.At.Location())
	}
}

func TestDetailIsOneBoundedLine(t *testing.T) {
	long := strings.Repeat("é", 400) // 800 bytes
	d := detail("5.1.1", "line one\r\nline two\tand\x00more", long)
	require.LessOrEqual(t, len(d), MaxDetail)
	require.True(t, utf8.ValidString(d))
	require.True(t, strings.HasPrefix(d, "5.1.1; line one line two and more; éé"), d)
	require.Equal(t, "a; b", detail("", " a ", "", "b\n"))
	require.Equal(t, "\uFFFDx", detail("\xffx"))
}

func TestClipKeepsRunes(t *testing.T) {
	require.Equal(t, "ab", clip("abé", 3))
	require.Equal(t, "abé", clip("abé", 4))
	require.Equal(t, "", clip("é", 1))
}

func TestMessageIDStripsBrackets(t *testing.T) {
	require.Equal(t, "rapport.1.2@example.com", messageID(" <rapport.1.2@example.com> "))
	require.Equal(t, "custom-message-ID", messageID("custom-message-ID"))
	require.Equal(t, "", messageID(""))
}

func TestParseUnix(t *testing.T) {
	for in, want := range map[string]time.Time{
		"1534110422.389832": time.Unix(1534110422, 389832000).UTC(),
		"1513299569":        time.Unix(1513299569, 0).UTC(),
		"1.5e9":             time.Unix(1500000000, 0).UTC(),
		"0":                 time.Unix(0, 0).UTC(),
	} {
		got, ok := parseUnix(in)
		require.True(t, ok, in)
		require.Equal(t, want, got, in)
	}
	for _, in := range []string{"", "-1", "abc", "NaN", "Inf", "1e300", "99999999999999", "1.2.3"} {
		_, ok := parseUnix(in)
		require.False(t, ok, in)
	}
	for _, in := range []string{"+1513299569", " 1513299569", "1513299569.5", "0x10", ""} {
		_, ok := parseUnixSeconds(in)
		require.False(t, ok, in)
	}
}

func TestParseISO(t *testing.T) {
	for in, want := range map[string]time.Time{
		"2016-01-27T14:59:38.237Z":          ts("2016-01-27T14:59:38.237Z"),
		"2019-11-05T16:33:54.9070259Z":      ts("2019-11-05T16:33:54.9070259Z"),
		"2014-08-01T13:28:10.2735393-04:00": ts("2014-08-01T17:28:10.2735393Z"),
		"2018-10-08T14:05:45 +0000":         ts("2018-10-08T14:05:45Z"),
		"2009-12-03T04:24:21.000-05:00":     ts("2009-12-03T09:24:21Z"),
	} {
		got, ok := parseISO(in)
		require.True(t, ok, in)
		require.Equal(t, want, got, in)
	}
	_, ok := parseISO("yesterday")
	require.False(t, ok)
}

func TestRecipientInvalidBecomesIgnored(t *testing.T) {
	e := recipient(Event{Provider: ProviderSES, Kind: HardBounce, Detail: "5.1.1"}, "Jane Doe <jane@example.com>")
	require.Equal(t, Ignored, e.Kind)
	require.Equal(t, "", e.Email)
	require.Equal(t, `invalid recipient address "Jane Doe <jane@example.com>"`, e.Detail)

	e = recipient(Event{Kind: Ignored, Detail: "deferred"}, "nope")
	require.Equal(t, Event{Kind: Ignored, Detail: "deferred"}, e, "an ignored event keeps its reason")

	e = recipient(Event{Kind: Complaint}, " Jane@Example.COM ")
	require.Equal(t, Complaint, e.Kind)
	require.Equal(t, "jane@example.com", e.Email)
}
