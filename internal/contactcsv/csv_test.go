package contactcsv_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/rapport-dev/rapport/internal/contactcsv"
	"github.com/rapport-dev/rapport/internal/postgres"
	"github.com/rapport-dev/rapport/internal/postgres/pgtest"
)

// TestImportWithProgress: progress hears the rows read, every
// ProgressEvery and at the end, bad rows included; the result is Import's.
func TestImportWithProgress(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store := postgres.NewStore(pgtest.Pool(t), nil)
	require.NoError(t, store.Seed(ctx))
	var in strings.Builder
	in.WriteString("email,tier\n")
	for i := range 2500 {
		if i == 1500 {
			in.WriteString("not an address,low\n")
			continue
		}
		fmt.Fprintf(&in, "p%d@example.com,low\n", i)
	}
	var seen []int
	res, err := contactcsv.ImportWithProgress(ctx, store, "test", strings.NewReader(in.String()), "", func(n int) { seen = append(seen, n) })
	require.NoError(t, err)
	require.Equal(t, []int{1000, 2000, 2500}, seen)
	require.Equal(t, 2500, res.Rows)
	require.Equal(t, 2499, res.Created)
	require.Equal(t, 1, res.Invalid)
	require.Equal(t, 1502, res.Errors[0].Line)

	seen = nil
	_, err = contactcsv.ImportWithProgress(ctx, store, "test", strings.NewReader("email,bogus\n"), "low", func(n int) { seen = append(seen, n) })
	require.Error(t, err)
	require.Empty(t, seen, "a header that cannot be read reads no rows")
}
