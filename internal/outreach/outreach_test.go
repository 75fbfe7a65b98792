package outreach

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestParseDuration(t *testing.T) {
	for in, want := range map[string]time.Duration{
		"7d": 7 * 24 * time.Hour, "36h": 36 * time.Hour, "90m": 90 * time.Minute, "1d12h": 36 * time.Hour,
		"2w": 14 * 24 * time.Hour, "0s": 0, "30s": 30 * time.Second,
	} {
		got, err := ParseDuration(in)
		require.NoError(t, err, in)
		require.Equal(t, want, got, in)
	}
	for _, bad := range []string{"", "7", "d", "7x", "-1d", "1.5h", "7 d", "99999999999999999999d"} {
		_, err := ParseDuration(bad)
		require.Error(t, err, bad)
	}
	require.Equal(t, "1d12h", FormatDuration(36*time.Hour))
	require.Equal(t, "7d", FormatDuration(7*24*time.Hour))
}

func FuzzParseDuration(f *testing.F) {
	for _, s := range []string{"7d", "1d12h", "90m", "x", "", "1w2d3h4m5s6ms"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseDuration(s)
		if err != nil || d < 0 {
			return
		}
		back, err := ParseDuration(FormatDuration(d))
		if err != nil || back != d {
			t.Fatalf("%q → %v → %q → %v, %v", s, d, FormatDuration(d), back, err)
		}
	})
}

func TestNormalizeEmail(t *testing.T) {
	ok := map[string]string{"Ada@Example.com": "ada@example.com", " ada@example.co.uk ": "ada@example.co.uk", "a+tag@x.io": "a+tag@x.io"}
	for in, want := range ok {
		got, valid := NormalizeEmail(in)
		require.True(t, valid, in)
		require.Equal(t, want, got)
	}
	for _, bad := range []string{"", "ada", "ada@", "@example.com", "ada@localhost", "Ada <ada@example.com>", "a b@example.com", "ada@example.com.", "ada@@example.com", "erased-1@erased.invalid", "x@Foo.INVALID"} {
		_, valid := NormalizeEmail(bad)
		require.False(t, valid, bad)
	}
}

func TestRuleJSONRoundTripAndValidation(t *testing.T) {
	in := `{"caps":[{"max":1,"window":"1d"},{"max":3,"window":"7d"}],"min_gap":"6h","target_interval":"14d",
		"send_window":{"days":["mon","fri"],"start":"09:00","end":"20:00"}}`
	var r Rule
	require.NoError(t, json.Unmarshal([]byte(in), &r))
	require.Empty(t, r.Validate())
	out, err := json.Marshal(r)
	require.NoError(t, err)
	require.JSONEq(t, in, string(out))

	require.Error(t, json.Unmarshal([]byte(`{"caps":[],"extra":1}`), &r), "unknown fields are rejected")
	require.Error(t, json.Unmarshal([]byte(`{"caps":[],"send_window":{"days":["someday"],"start":"09:00","end":"10:00"}}`), &r))
	bad := Rule{Caps: []Cap{{Max: 0, Window: 0}}, SendWindow: SendWindow{Days: nil, Start: 600, End: 500}}
	fields := map[string]bool{}
	for _, e := range bad.Validate() {
		fields[e.Field] = true
	}
	for _, f := range []string{"caps[0].max", "caps[0].window", "send_window.days", "send_window"} {
		require.True(t, fields[f], f)
	}
}

func TestStricterAndRoles(t *testing.T) {
	low, high := Tier{Key: "low", Rank: 10}, Tier{Key: "high", Rank: 30}
	require.Equal(t, "low", Stricter(high, &low).Key, "a customer can ask for less")
	require.Equal(t, "low", Stricter(low, &high).Key, "never for more")
	require.Equal(t, "high", Stricter(high, nil).Key)
	require.True(t, RoleAdmin.Includes(RoleViewer))
	require.True(t, RoleMarketer.Includes(RoleViewer))
	require.False(t, RoleViewer.Includes(RoleMarketer))
	require.False(t, RoleMarketer.Includes(RoleAdmin))
	require.False(t, Role("root").Includes(RoleViewer))
}

// TestEffectiveTier: the one rule for which tier applies to a contact,
// case by case.
func TestEffectiveTier(t *testing.T) {
	tiers := map[string]Tier{
		"low": {Key: "low", Rank: 10}, "medium": {Key: "medium", Rank: 20}, "high": {Key: "high", Rank: 30},
		"twin": {Key: "twin", Rank: 20}, // ranked as medium
	}
	for _, tc := range []struct {
		name                string
		assigned, preferred string
		want                string // "" with ok false: no tier applies
	}{
		{"preferred stricter: the customer asked for less", "high", "low", "low"},
		{"preferred looser: never more than assigned", "low", "high", "low"},
		{"preferred the same as assigned", "medium", "medium", "medium"},
		{"an equal rank keeps the assigned", "medium", "twin", "medium"},
		{"no preference", "high", "", "high"},
		{"unknown preference: ignored", "high", "gone", "high"},
		{"unknown assigned, known preference: none", "gone", "low", ""},
		{"unknown assigned, no preference: none", "gone", "", ""},
		{"both unknown: none", "gone", "missing", ""},
	} {
		got, ok := EffectiveTier(tiers, tc.assigned, tc.preferred)
		require.Equal(t, tc.want != "", ok, tc.name)
		require.Equal(t, tc.want, got.Key, tc.name)
		if !ok {
			require.Zero(t, got, tc.name)
		}
	}
	_, ok := EffectiveTier(nil, "low", "low")
	require.False(t, ok, "no tiers at all")
}

func TestTextFaults(t *testing.T) {
	for _, ok := range []string{"", "Ada Lovelace", "René Müller", "李小龙", "a@b.c"} {
		require.Empty(t, LineFault(ok), ok)
		require.Empty(t, TextFault(ok), ok)
	}
	require.Empty(t, TextFault("line one\r\nline two\tand a tab"))
	for _, bad := range []string{"a\x00b", "Ada\r\nBcc: x@example.com", "tab\there", "bell\a", "del\x7f", "c1\u0085", "latin1 \xe9"} {
		require.NotEmpty(t, LineFault(bad), "%q", bad)
	}
	for _, bad := range []string{"a\x00b", "bell\a", "latin1 \xe9"} {
		require.NotEmpty(t, TextFault(bad), "%q", bad)
	}
	require.Contains(t, LineFault("a\x00b"), "U+0000")
	require.Contains(t, LineFault("\xe9"), "UTF-8")
}

func TestNormalizeRefusesBadText(t *testing.T) {
	c := Contact{Email: "ada@example.com", Tier: "low", Name: "Ada\r\nBcc: evil@example.com", Locale: "e\x00n",
		Attributes: map[string]any{"nested": []any{map[string]any{"k": "v\x00"}}}}
	fields := map[string]bool{}
	for _, e := range c.Normalize() {
		fields[e.Field] = true
	}
	require.Equal(t, map[string]bool{"name": true, "locale": true, "attributes": true}, fields)
	ok := Contact{Email: " Ada@Example.com ", Tier: "low", Name: "  Ada Lovelace\n", Attributes: map[string]any{"note": "two\nlines"}}
	require.Empty(t, ok.Normalize(), "surrounding space is trimmed; attribute values may span lines")
	require.Equal(t, "Ada Lovelace", ok.Name)
}
