package main

import (
	"bytes"
	"context"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/rapport-dev/rapport/internal/postgres"
	"github.com/rapport-dev/rapport/internal/postgres/pgtest"
)

// TestUsersCommand runs `rapport users …` as an operator would: create
// (a one-time password printed), list, set-password from stdin or a new
// one-time one, disable and enable, each through the store and audited as
// "cli".
func TestUsersCommand(t *testing.T) {
	ctx := context.Background()
	url := pgtest.URL(t)
	env := map[string]string{"DATABASE_URL": url}
	getenv := func(k string) string { return env[k] }
	var out, errb bytes.Buffer
	users := func(in string, args ...string) error {
		out.Reset()
		stdin = strings.NewReader(in)
		return run(ctx, append([]string{"users"}, args...), getenv, &out, &errb)
	}
	t.Cleanup(func() { stdin = os.Stdin })
	oneTime := regexp.MustCompile(`[a-z0-9]{4}(-[a-z0-9]{4}){4}`)

	require.NoError(t, users("", "create", "--email", "Ada@Example.com", "--name", "Ada Lovelace", "--role", "marketer"))
	require.Contains(t, out.String(), "Created ada@example.com (marketer)")
	first := oneTime.FindString(out.String())
	require.NotEmpty(t, first)
	require.ErrorContains(t, users("", "create", "--email", "ada@example.com", "--name", "Twin", "--role", "viewer"), "already used by another user")
	require.ErrorContains(t, users("", "create", "--email", "bob@example.com", "--name", "Bob", "--role", "root"), "must be admin, marketer or viewer")
	require.ErrorContains(t, users("", "disable"), "--email is required")
	require.ErrorContains(t, users("", "frobnicate", "--email", "x@example.com"), "unknown command")

	require.NoError(t, users("", "list"))
	require.Regexp(t, `ada@example.com\s+Ada Lovelace\s+marketer\s+one-time password`, out.String())

	pool, err := postgres.Open(ctx, url, 2)
	require.NoError(t, err)
	defer pool.Close()
	store := postgres.NewStore(pool, nil)
	require.ErrorContains(t, users("short\n", "set-password", "--email", "ada@example.com"), "at least 12 characters")
	require.NoError(t, users("my own long password\n", "set-password", "--email", "ADA@example.com"))
	_, err = store.SignIn(ctx, "ada@example.com", "my own long password", "cli-test", postgres.LoginLimits{})
	require.NoError(t, err, "the password from stdin works")
	require.NoError(t, users("", "set-password", "--email", "ada@example.com"))
	again := oneTime.FindString(out.String())
	require.NotEmpty(t, again, "no password on stdin: a one-time one")
	u, err := store.SignIn(ctx, "ada@example.com", again, "cli-test", postgres.LoginLimits{})
	require.NoError(t, err)
	require.True(t, u.MustChangePassword)

	require.NoError(t, users("", "disable", "--email", "ada@example.com"))
	require.Contains(t, out.String(), "ada@example.com is disabled.")
	require.NoError(t, users("", "list"))
	require.Regexp(t, `ada@example.com\s+Ada Lovelace\s+marketer\s+disabled`, out.String())
	require.NoError(t, users("", "enable", "--email", "ada@example.com"))
	require.ErrorContains(t, users("", "disable", "--email", "nobody@example.com"), "not found")

	entries, err := store.Audit(ctx, postgres.AuditFilter{Actor: "cli", Limit: 10})
	require.NoError(t, err)
	var actions []string
	for _, e := range entries {
		actions = append(actions, e.Action)
	}
	require.Equal(t, []string{"enable", "disable", "reset_password", "set_password", "create"}, actions)
}
