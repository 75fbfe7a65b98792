package bench

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/rapport-dev/rapport/internal/campaign"
	"github.com/rapport-dev/rapport/internal/outreach"
	"github.com/rapport-dev/rapport/internal/postgres"
	"github.com/rapport-dev/rapport/internal/postgres/pgtest"
	"github.com/rapport-dev/rapport/internal/render"
	"github.com/rapport-dev/rapport/internal/token"
)

// noQueue enqueues nothing: a forecast starts no job.
type noQueue struct{}

func (noQueue) PlanRun(context.Context, *postgres.Tx, int64, int64, int64) error { return nil }
func (noQueue) ReplanCampaign(context.Context, *postgres.Tx, int64) error        { return nil }

// BenchmarkForecastMillion times the dry run behind GET
// /campaigns/{id}/forecast and the console's launch page: a priority-90
// campaign over a million contacts (BENCH_CONTACTS) with seedSQL's
// history, half of them holding a priority-40 reservation the launch
// displaces, planned exactly (the baseline; compare planning it for real,
// BenchmarkPlanMillion's plan_seconds) and sampled as the launch page
// does (5,000 contacts, scaled); and the stats the run view polls, over
// the million deliveries of one seeded campaign.
func BenchmarkForecastMillion(b *testing.B) {
	n := contactsFromEnv()
	ctx := context.Background()
	pool, err := postgres.Open(ctx, pgtest.URL(b), 8)
	if err != nil {
		b.Fatal(err)
	}
	defer pool.Close()
	store := postgres.NewStore(pool, outreach.SystemClock{})
	if err := store.Seed(ctx); err != nil {
		b.Fatal(err)
	}
	for i, stmt := range strings.Split(seedSQL, ";\n") {
		var args []any
		if i == 0 {
			args = append(args, n)
		}
		if _, err := pool.Exec(ctx, stmt, args...); err != nil {
			b.Fatal(err)
		}
	}
	signer, _ := token.New([]string{"bench-secret-0123456789abcdefghijklmnopqrstuv"})
	renderer, _ := render.New(render.Company{Name: "Bench", Address: "1 Bench Way"})
	pub, _ := url.Parse("https://mail.example.test")
	svc := campaign.New(store, noQueue{}, campaign.Config{Renderer: renderer, Links: token.Links{Signer: signer, Base: pub}, Jitter: 30 * time.Minute})
	prio := 90
	camp, _, err := svc.Create(ctx, "bench", campaign.Draft{Name: "Urgent", Topic: "offers", Priority: &prio,
		Content: outreach.Content{Subject: "Hi", Text: "Hello", HTML: "<p>Hello</p>"}}, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	start := time.Now()
	var fc campaign.Forecast
	for range b.N {
		if fc, err = svc.Forecast(ctx, camp.ID); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	if fc.Contacts != n {
		b.Fatalf("forecast %d contacts, want %d", fc.Contacts, n)
	}
	displaced := 0
	for _, d := range fc.Displaces {
		displaced += d.Count
	}
	fmt.Printf("forecast_contacts: %d\n", fc.Contacts)
	fmt.Printf("forecast_seconds: %.2f s\n", time.Since(start).Seconds()/float64(b.N))
	fmt.Printf("forecast_displaced: %d deliveries of %d campaigns\n", displaced, len(fc.Displaces))
	fmt.Printf("forecast_reasons: %v\n", fc.Reasons)

	start = time.Now()
	est, err := svc.ForecastSample(ctx, camp.ID, 5000)
	if err != nil {
		b.Fatal(err)
	}
	fmt.Printf("forecast_sample_seconds: %.3f s (5,000 of %d planned; estimate %d contacts, %v)\n", time.Since(start).Seconds(), n, est.Contacts, est.Reasons)
	start = time.Now()
	st, err := svc.Progress(ctx, 2)
	if err != nil {
		b.Fatal(err)
	}
	fmt.Printf("stats_seconds: %.3f s (%d deliveries of one campaign)\n", time.Since(start).Seconds(), st.Total.Total)
}
