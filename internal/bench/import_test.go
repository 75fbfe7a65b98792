package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"runtime"
	"testing"
	"time"

	"github.com/rapport-dev/rapport/internal/api"
	"github.com/rapport-dev/rapport/internal/outreach"
	"github.com/rapport-dev/rapport/internal/postgres"
	"github.com/rapport-dev/rapport/internal/postgres/pgtest"
)

// writeImportCSV writes n contact rows, one in every 1000 with an invalid
// address, and returns how many were bad. It writes as it goes: the file
// never exists in memory.
func writeImportCSV(w io.Writer, n int) (bad int, err error) {
	bw := bufio.NewWriterSize(w, 64<<10)
	tiers := [...]string{"low", "medium", "high"}
	zones := [...]string{"UTC", "Europe/Berlin", "America/New_York", "Asia/Kolkata"}
	if _, err := bw.WriteString("email,name,external_id,tier,timezone,locale,topics_opted_out,attr.plan\n"); err != nil {
		return 0, err
	}
	for i := 1; i <= n; i++ {
		email := fmt.Sprintf("c%d@example.com", i)
		if i%1000 == 500 {
			email = fmt.Sprintf("c%d-at-example.com", i)
			bad++
		}
		topics := ""
		if i%7 == 0 {
			topics = "offers;events"
		}
		if _, err := fmt.Fprintf(bw, "%s,\"Contact %d, Jr.\",crm-%d,%s,%s,en,%s,plan-%d\n",
			email, i, i, tiers[i%3], zones[i%4], topics, i%5); err != nil {
			return bad, err
		}
	}
	return bad, bw.Flush()
}

// BenchmarkImportMillion streams a million-row CSV (BENCH_CONTACTS rows)
// through an io.Pipe into POST /api/v1/contacts/import of an API server on
// a real socket, and reports throughput and the process's peak RSS, which
// holds the client writing the file as well as the server reading it.
func BenchmarkImportMillion(b *testing.B) {
	n := contactsFromEnv()
	ctx := context.Background()
	pool, err := postgres.Open(ctx, pgtest.URL(b), 10)
	if err != nil {
		b.Fatal(err)
	}
	defer pool.Close()
	store := postgres.NewStore(pool, outreach.SystemClock{})
	if err := store.Seed(ctx); err != nil {
		b.Fatal(err)
	}
	key, _, err := store.CreateKey(ctx, "bench", "bench marketer", outreach.RoleMarketer)
	if err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewServer(api.New(api.Deps{Store: store, Log: slog.New(slog.DiscardHandler), Clock: outreach.SystemClock{}}))
	defer srv.Close()

	runtime.GC()
	ResetPeakRSS()
	b.ResetTimer()
	start := time.Now()
	pr, pw := io.Pipe()
	badc := make(chan int, 1)
	go func() {
		bad, err := writeImportCSV(pw, n)
		badc <- bad
		pw.CloseWithError(err)
	}()
	req, err := http.NewRequest("POST", srv.URL+"/api/v1/contacts/import", pr)
	if err != nil {
		b.Fatal(err)
	}
	req.Header.Set("Content-Type", "text/csv")
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	elapsed := time.Since(start)
	b.StopTimer()
	peak := PeakRSSMB()
	if resp.StatusCode != http.StatusOK {
		b.Fatalf("import: %d %s", resp.StatusCode, raw)
	}
	var res struct {
		Rows    int `json:"rows"`
		Created int `json:"created"`
		Invalid int `json:"invalid"`
	}
	if err := json.Unmarshal(raw, &res); err != nil {
		b.Fatal(err)
	}
	bad := <-badc
	var stored int
	if err := pool.QueryRow(ctx, "SELECT count(*) FROM contacts").Scan(&stored); err != nil {
		b.Fatal(err)
	}
	if res.Rows != n || res.Invalid != bad || res.Created != n-bad || stored != n-bad {
		b.Fatalf("imported %+v (%d stored), want %d rows, %d invalid", res, stored, n, bad)
	}
	fmt.Printf("import_rows: %d rows\n", n)
	fmt.Printf("import_seconds: %.1f s\n", elapsed.Seconds())
	fmt.Printf("import_rows_per_s: %.0f rows/s\n", float64(n)/elapsed.Seconds())
	fmt.Printf("import_errors: %d rows\n", res.Invalid)
	fmt.Printf("import_peak_rss_mb: %.0f MB\n", peak)
	b.ReportMetric(float64(n)/elapsed.Seconds(), "rows/s")
	b.ReportMetric(peak, "peak-RSS-MB")
	if peak >= 150 {
		b.Errorf("peak RSS %.0f MB, want under 150 MB", peak)
	}
}
