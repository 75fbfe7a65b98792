package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/rapport-dev/rapport/internal/postgres/pgtest"
)

func TestCommands(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	env := map[string]string{"DATABASE_URL": pgtest.URL(t)}
	getenv := func(k string) string { return env[k] }
	var out, errb bytes.Buffer

	require.NoError(t, run(ctx, []string{"migrate"}, getenv, &out, &errb))
	require.NoError(t, run(ctx, []string{"migrate"}, getenv, &out, &errb), "re-running migrations is a no-op")
	require.NoError(t, run(ctx, []string{"version"}, getenv, &out, &errb))
	require.Contains(t, out.String(), "rapport")

	out.Reset()
	require.NoError(t, run(ctx, []string{"keys", "create", "--role", "marketer", "--name", "ci"}, getenv, &out, &errb))
	require.True(t, strings.HasPrefix(out.String(), "rpk_"))
	require.Error(t, run(ctx, []string{"keys", "create", "--role", "root", "--name", "x"}, getenv, &out, &errb))

	file := filepath.Join(t.TempDir(), "c.csv")
	require.NoError(t, os.WriteFile(file, []byte("email,name\nada@example.com,Ada\nnot-an-email,X\n"), 0o600))
	out.Reset()
	require.NoError(t, run(ctx, []string{"contacts", "import", "--tier", "low", file}, getenv, &out, &errb))
	require.Contains(t, out.String(), `"created": 1`)
	require.Contains(t, out.String(), `"line": 3`)

	out.Reset()
	require.NoError(t, run(ctx, []string{"demo"}, getenv, &out, &errb))
	require.Contains(t, out.String(), "draft campaign")

	require.Error(t, run(ctx, []string{"frobnicate"}, getenv, &out, &errb))
	require.Error(t, run(ctx, []string{"serve", "--role=boss"}, getenv, &out, &errb))
	err := run(ctx, []string{"serve"}, func(string) string { return "" }, &out, &errb)
	require.ErrorContains(t, err, "DATABASE_URL")
	require.ErrorContains(t, err, "SECRET_KEY")

	require.NoError(t, run(ctx, []string{"migrate", "down-all"}, getenv, &out, &errb), "every migration has a down")
	require.NoError(t, run(ctx, []string{"migrate", "up"}, getenv, &out, &errb))
}
