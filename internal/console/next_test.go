package console

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// TestSafeNext: after signing in, only a console path is followed, so a
// crafted sign-in link cannot send anyone to another site.
func TestSafeNext(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"":                                "/console/",
		"/console/users?after=3":          "/console/users?after=3",
		"/console/audit?actor=user%3Aa":   "/console/audit?actor=user%3Aa",
		"https://evil.example/console/":   "/console/",
		"//evil.example/console/":         "/console/",
		"/console/\\evil.example":         "/console/",
		"/consolex/":                      "/console/",
		"/api/v1/keys":                    "/console/",
		"/console/sign-out":               "/console/",
		"/console/sign-in?next=/console/": "/console/",
		"javascript:alert(1)":             "/console/",
	} {
		require.Equal(t, want, safeNext(in), "next=%q", in)
	}
}

func TestSentence(t *testing.T) {
	t.Parallel()
	require.Equal(t, "This is the last admin key", sentence("this is the last admin key"))
	require.Equal(t, "ada@example.com is the last admin", sentence("ada@example.com is the last admin"))
	require.Equal(t, "domains.x: not valid", sentence("domains.x: not valid"))
	require.Equal(t, "", sentence(""))
}
