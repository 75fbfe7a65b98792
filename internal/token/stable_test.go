package token

import (
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestTokensStayTheSame: the links and bounce tags in mail already sent
// must keep verifying, so a change to how they are computed (such as
// reusing HMACs) may not change a byte of them. The values were made by
// the code before that change.
func TestTokensStayTheSame(t *testing.T) {
	s, err := New([]string{"a-secret-of-at-least-thirty-two-bytes!!"})
	require.NoError(t, err)
	require.Equal(t, wantUnsub, s.Sign(Claims{Purpose: Unsubscribe, ContactID: 123456, CampaignID: 789, Topic: "news"}))
	require.Equal(t, wantPrefs, s.Sign(Claims{Purpose: Preferences, ContactID: 1, CampaignID: 0}))
	require.Equal(t, wantTag, s.BounceTag(987654321))
}

const (
	wantUnsub = "AYJXAcDEB5UGBG5ld3PZX5ZzBhZMYvUo4jXKWhFdKwE32Q"
	wantPrefs = "AYJXAgEAAFhr-lJQNgVHxx6SC1fsIH0Rfi-R"
	wantTag   = "gc0uy9-ewngxvpytairfgvn"
)

// TestLinksAreBaseAndToken: a link is the public URL, the page and the
// token Sign gives, whatever the topic's length.
func TestLinksAreBaseAndToken(t *testing.T) {
	s, err := New([]string{"a-secret-of-at-least-thirty-two-bytes!!"})
	require.NoError(t, err)
	base, err := url.Parse("https://mail.example.com/prefix")
	require.NoError(t, err)
	l := Links{Signer: s, Base: base}
	require.Equal(t, "https://mail.example.com/prefix/u/"+s.Sign(Claims{Purpose: Unsubscribe, ContactID: 5, CampaignID: 9}), l.Unsubscribe(5, 9))
	require.Equal(t, "https://mail.example.com/prefix/p/"+s.Sign(Claims{Purpose: Preferences, ContactID: 5, CampaignID: 9}), l.Preferences(5, 9))
	long := Claims{Purpose: Unsubscribe, ContactID: 1 << 62, CampaignID: 1 << 62, Topic: strings.Repeat("t", MaxTopicLen)}
	require.Equal(t, "https://mail.example.com/prefix/u/"+s.Sign(long), l.link("u", long))
}
