package contactcsv_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/rapport-dev/rapport/internal/contactcsv"
	"github.com/rapport-dev/rapport/internal/outreach"
	"github.com/rapport-dev/rapport/internal/postgres"
	"github.com/rapport-dev/rapport/internal/postgres/pgtest"
)

// FuzzImportKeepsValidRows writes files whose rows alternate between rows
// that are valid on their own and garbage made of the fuzzer's bytes —
// invalid UTF-8, NUL, control characters, quotes, wrong field counts,
// anything — each garbage row still one CSV record, so that it cannot
// swallow its neighbours (an open quote legitimately would). Whatever the
// garbage, the import succeeds (a database error would be a 500) and
// every valid row is imported with its name, also when garbage lands in
// the same batch.
func FuzzImportKeepsValidRows(f *testing.F) {
	pool := pgtest.Pool(f)
	store := postgres.NewStore(pool, outreach.SystemClock{})
	require.NoError(f, store.Seed(context.Background()))
	for _, g := range []string{
		"Ren\xe9,low,pro", "a\x00b,low,pro", "Ada\r\nBcc: evil@example.com,low,", "x@example.com,N\x07,low,p",
		"nul@example.com,\x00,low,", "y@example.com,Y,low,\x00", "z@example.com,Z,low,a\xff", `"unclosed,low`,
		"only-one-field", "a,b,c,d,e,f,g", "w@example.com,W,platinum,", "v@example.com,,low,,extra",
		"\ufeffbom@example.com,B,low,", "e@x.invalid,E,low,", strings.Repeat("z", 3000), "",
	} {
		for mode := range uint8(3) {
			f.Add([]byte(g), mode)
		}
	}
	var run atomic.Int64
	f.Fuzz(func(t *testing.T, garbage []byte, mode uint8) {
		if len(garbage) > 4096 {
			garbage = garbage[:4096]
		}
		n := run.Add(1)
		prefix := fmt.Sprintf("v%d-", n)
		var file bytes.Buffer
		w := csv.NewWriter(&file)
		require.NoError(t, w.Write([]string{"email", "name", "tier", "attr.note"}))
		w.Flush()
		type row struct{ email, name string }
		var valid []row
		for i := range 5 {
			r := row{fmt.Sprintf("%s%d@example.com", prefix, i), fmt.Sprintf("Valid %d %d", n, i)}
			valid = append(valid, r)
			require.NoError(t, w.Write([]string{r.email, r.name, "low", "ok"}))
			w.Flush()
			writeGarbage(t, &file, garbage, mode+uint8(i))
		}
		res, err := contactcsv.Import(context.Background(), store, "fuzz", bytes.NewReader(file.Bytes()), "")
		require.NoError(t, err, "file: %q", file.Bytes())
		require.GreaterOrEqual(t, res.Created+res.Updated, len(valid)-overridden(garbage, prefix), "result %+v", res)
		for _, r := range valid {
			var name string
			err := pool.QueryRow(context.Background(), "SELECT name FROM contacts WHERE email = $1", r.email).Scan(&name)
			require.NoError(t, err, "valid row %s lost; file %q; result %+v", r.email, file.Bytes(), res)
			if overridden(garbage, prefix) == 0 {
				require.Equal(t, r.name, name)
			}
		}
	})
}

// writeGarbage writes one record made of the fuzzer's bytes: mode 0 as
// four cells through csv.Writer (quoted as needed), 1 as a raw line with
// no quote or line break, 2 as csv.Writer cells of the wrong count.
func writeGarbage(t *testing.T, file *bytes.Buffer, g []byte, mode uint8) {
	cells := strings.SplitN(string(g), ",", 4)
	switch mode % 3 {
	case 0:
		for len(cells) < 4 {
			cells = append(cells, "")
		}
	case 1:
		// Byte by byte, so bytes that are not UTF-8 stay as they are.
		var line []byte
		for _, b := range g {
			if b != '"' && b != '\n' && b != '\r' {
				line = append(line, b)
			}
		}
		if len(bytes.TrimSpace(line)) == 0 {
			line = []byte("blank")
		}
		file.Write(append(line, '\n'))
		return
	case 2:
		cells = append(cells, "extra", "more")
	}
	w := csv.NewWriter(file)
	require.NoError(t, w.Write(cells))
	w.Flush()
}

// overridden is how many valid rows garbage could itself rewrite (a
// garbage row holding one of their addresses wins, as a later row does).
func overridden(g []byte, prefix string) int {
	if bytes.Contains(bytes.ToLower(g), []byte(prefix)) {
		return 5
	}
	return 0
}
