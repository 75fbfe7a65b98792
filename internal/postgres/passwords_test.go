package postgres

import (
	"testing"

	"github.com/alexedwards/argon2id"
	"github.com/stretchr/testify/require"
)

// TestDecoyCostsWhatAPasswordCosts: a sign-in for an address without an
// account is checked against the decoy, which must cost exactly what a
// real hash costs, so timing cannot tell the two apart.
func TestDecoyCostsWhatAPasswordCosts(t *testing.T) {
	t.Parallel()
	real, err := hashPassword("correct horse battery staple")
	require.NoError(t, err)
	pReal, _, _, err := argon2id.DecodeHash(real)
	require.NoError(t, err)
	pDecoy, _, _, err := argon2id.DecodeHash(decoyHash())
	require.NoError(t, err)
	require.Equal(t, *pReal, *pDecoy)
	require.Equal(t, *passwordParams, *pReal)
}

func TestOneTimePasswordsFollowTheRule(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for range 100 {
		p := oneTimePassword()
		require.Nil(t, checkPassword("password", p))
		require.False(t, seen[p])
		seen[p] = true
	}
}
