package bench

import (
	"log/slog"
	"net/mail"
	"net/url"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"

	"github.com/rapport-dev/rapport/internal/campaign"
	"github.com/rapport-dev/rapport/internal/mailer"
	"github.com/rapport-dev/rapport/internal/outreach"
	"github.com/rapport-dev/rapport/internal/postgres"
	"github.com/rapport-dev/rapport/internal/render"
	"github.com/rapport-dev/rapport/internal/token"
	"github.com/rapport-dev/rapport/internal/webhook"
	"github.com/rapport-dev/rapport/jobs"
)

// benchWorkers wires the campaign service and the workers as cmd/rapport
// does (see build in cmd/rapport/app.go).
func benchWorkers(b *testing.B, pool *pgxpool.Pool, store *postgres.Store, clock outreach.Clock, renderer *render.Renderer,
	signer *token.Signer, pub *url.URL, tr mailer.Transport, sendBatch int, m jobs.Metrics, sendTimeout, planTimeout time.Duration) (*campaign.Service, jobs.Workers) {
	b.Helper()
	inserter, err := river.NewClient[pgx.Tx](riverpgxv5.New(pool), &river.Config{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	links := token.Links{Signer: signer, Base: pub}
	cad := jobs.Cadence{DefaultZone: time.UTC, Jitter: 30 * time.Minute}
	svc := campaign.New(store, jobs.Queue{Client: inserter}, campaign.Config{Clock: clock, Renderer: renderer, Links: links,
		DefaultZone: cad.DefaultZone, Jitter: cad.Jitter})
	ws := jobs.Workers{
		Plan: jobs.NewPlanWorker(store, jobs.PlanConfig{Clock: clock, Cadence: cad, BatchSize: 5000, SendBatch: sendBatch, Timeout: planTimeout}),
		Send: jobs.NewSendWorker(store, jobs.SendConfig{Clock: clock, Cadence: cad, Metrics: m, SendBatch: sendBatch, ClaimChunk: claimChunk(), Timeout: sendTimeout,
			Mail: jobs.Mail{Renderer: renderer, Transport: tr, Links: links, From: &mail.Address{Name: "Bench Co", Address: "news@example.com"}}}),
		Replan:  jobs.NewReplanWorker(store, jobs.ReplanConfig{Clock: clock, Cadence: cad, SendBatch: sendBatch, Metrics: m}),
		FireDue: jobs.NewFireDueWorker(svc),
		Webhook: jobs.NewWebhookDispatchWorker(store, jobs.WebhookConfig{Clock: clock, Secrets: signer,
			Client: webhook.NewClient(webhook.Options{})}),
	}
	return svc, ws
}

// claimChunk is the send workers' SEND_CLAIM_CHUNK, BENCH_CLAIM_CHUNK
// (default jobs.DefaultClaimChunk).
func claimChunk() int { return envInt("BENCH_CLAIM_CHUNK", jobs.DefaultClaimChunk) }
