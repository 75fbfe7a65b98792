package token

import (
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
