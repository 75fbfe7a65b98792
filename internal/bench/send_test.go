package bench

import (
	"context"
	"fmt"
	"log/slog"
	"net/mail"
	"net/url"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"

	"github.com/rapport-dev/rapport/internal/mailer"
	"github.com/rapport-dev/rapport/internal/metrics"
	"github.com/rapport-dev/rapport/internal/outreach"
	"github.com/rapport-dev/rapport/internal/postgres"
	"github.com/rapport-dev/rapport/internal/postgres/pgtest"
	"github.com/rapport-dev/rapport/internal/render"
	"github.com/rapport-dev/rapport/internal/token"
	"github.com/rapport-dev/rapport/jobs"
)

// The send benchmark's knobs, all from the environment so `make bench`
// needs none: BENCH_MESSAGES (100000), BENCH_SEND_WORKERS (16, the send
// queue's MaxWorkers, SEND_WORKERS in the service), BENCH_SMTP_POOL (16,
// SMTP_POOL_SIZE), BENCH_SEND_BATCH (200, deliveries per send job, the
// service default), BENCH_CLAIM_CHUNK (10, SEND_CLAIM_CHUNK's default),
// BENCH_BASELINE_WORKERS (200); BENCH_BASELINE=0 skips the baseline and
// the raw blast (for profiling the end-to-end phase alone); BENCH_DKIM=rsa
// or ed25519 signs every message of every phase.
func envInt(name string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil && n > 0 {
		return n
	}
	return def
}

// benchFrom is the sender of every phase's messages.
var benchFrom = &mail.Address{Name: "Bench Co", Address: "news@example.com"}

// BenchmarkSendHundredThousand sends BENCH_MESSAGES copies of the realistic
// campaign (testdata/realistic.*) to a discarding SMTP sink (a separate
// process) three times in one run:
//
//  1. raw: go-mail alone, the same message over the same number of reused
//     connections, no River, no database (the ceiling), half of the
//     messages before the other phases and half after them;
//  2. baseline: bare River jobs, one message each, over a pool of reused
//     go-mail connections, with none of rapport's checks;
//  3. rapport end to end: SendNow on a marketing campaign to that many
//     contacts, planned and sent by the real workers (lock, send-time check,
//     claim, send, record) until every delivery is 'sent'.
//
// Each phase prints its rate and its CPU per message for this process,
// the PostgreSQL backends and the sink; the run ends with the ratios and
// rapport's peak RSS. The targets: rapport + PostgreSQL at most
// 150 µs per message (at most 1.19 of the raw blast's CPU,
// e2e_cpu_vs_raw_cpu), end to end at least 0.9 of the raw blast, peak RSS
// at most 100 MB. Alone, and quicker:
//
//	BENCH_MESSAGES=50000 make bench BENCH=SendHundredThousand
//	BENCH_DKIM=ed25519 BENCH_MESSAGES=50000 make bench BENCH=SendHundredThousand
//
// The machine's CPU is the limit (PostgreSQL, this process and the sink
// share it), so other load on it moves the figures; the CPU per message
// lines say where the CPU went and are steadier than the rates.
func BenchmarkSendHundredThousand(b *testing.B) {
	n := envInt("BENCH_MESSAGES", 100_000)
	sendWorkers := envInt("BENCH_SEND_WORKERS", 16)
	smtpPool := envInt("BENCH_SMTP_POOL", 16)
	sendBatch := envInt("BENCH_SEND_BATCH", 200)
	baseWorkers := envInt("BENCH_BASELINE_WORKERS", 200)
	dk := newBenchDKIM(b)
	content := loadContent(b)
	_, msg := benchRenderer(b, content)
	unsub := benchURL("u")
	s := startSink(b)
	fmt.Printf("# message: subject %d B, text %d B, html %d B rendered; %d B on the wire; DKIM %s\n",
		len(msg.Subject), len(msg.Text), len(msg.HTML), wireSize(b, msg, unsub, dk.signer(b)), dk.name())
	b.ResetTimer()

	// The raw blast runs in two halves, one before the other phases and one
	// after, and counts as their sum: the machine's speed drifts over the
	// minutes a run takes, and the ratios should compare like with like.
	baselines := os.Getenv("BENCH_BASELINE") != "0"
	var rawBefore, rawAfter time.Duration
	var cpuBefore, cpuAfter float64
	baseRate, sent := 0.0, n
	if baselines {
		rawBefore, cpuBefore = sendRaw(b, "raw_before", s, n/2, smtpPool, msg, unsub, dk)
		sent += n / 2

		base := sendBaseline(b, s, n, baseWorkers, smtpPool, msg, dk.signer(b))
		sent += n
		fmt.Printf("# baseline: bare River jobs, one message each; River MaxWorkers %d, FetchCooldown 5ms, %d SMTP connections\n", baseWorkers, smtpPool)
		fmt.Printf("baseline_messages: %d msgs\n", n)
		fmt.Printf("baseline_seconds: %.1f s\n", base.Seconds())
		baseRate = float64(n) / base.Seconds()
		fmt.Printf("baseline_msgs_per_s: %.0f msgs/s\n", baseRate)
	}

	e2e, peak, e2eCPU := sendEndToEnd(b, s, n, sendWorkers, smtpPool, sendBatch, content, dk.signer(b))
	rate := float64(n) / e2e.Seconds()
	rawRate, rawCPU := 0.0, 0.0
	if baselines {
		rawAfter, cpuAfter = sendRaw(b, "raw_after", s, n-n/2, smtpPool, msg, unsub, dk)
		sent += n - n/2
		raw := rawBefore + rawAfter
		rawRate = float64(n) / raw.Seconds()
		rawCPU = (cpuBefore*float64(n/2) + cpuAfter*float64(n-n/2)) / float64(n)
		fmt.Printf("# raw: go-mail alone, %d reused connections, no River, no database; half before the other phases, half after\n", smtpPool)
		fmt.Printf("raw_seconds: %.1f s\n", raw.Seconds())
		fmt.Printf("raw_msgs_per_s: %.0f msgs/s\n", rawRate)
		fmt.Printf("raw_us_per_msg_self: %.0f µs\n", rawCPU)
	}
	received, sinkPeak := s.stop()
	fmt.Printf("# e2e: plan, send-time check, claim, send, record; send workers %d, SMTP connections %d, batch %d, claimed %d per commit\n",
		sendWorkers, smtpPool, sendBatch, claimChunk())
	fmt.Printf("e2e_messages: %d msgs\n", n)
	fmt.Printf("e2e_seconds: %.1f s\n", e2e.Seconds())
	fmt.Printf("e2e_msgs_per_s: %.0f msgs/s\n", rate)
	printRatio("e2e_vs_raw", rate, rawRate)
	printRatio("e2e_vs_baseline", rate, baseRate)
	printRatio("baseline_vs_raw", baseRate, rawRate)
	// The CPU target in the machine's own units: 150 µs was set when
	// go-mail's raw blast took 126 µs of CPU a message, and the machine's
	// speed moves both alike (on a slow day both double).
	fmt.Printf("# rapport + PostgreSQL CPU per message over the raw blast's go-mail CPU, same run (target: at most 150/126 = %.2f)\n", cpuTargetRatio)
	printRatio("e2e_cpu_vs_raw_cpu", e2eCPU, rawCPU)
	fmt.Printf("# peak RSS of this process (River, workers, pools) during e2e; the sink runs apart\n")
	fmt.Printf("e2e_peak_rss_mb: %.0f MB\n", peak)
	fmt.Printf("sink_received: %d msgs\n", received)
	fmt.Printf("sink_peak_rss_mb: %.0f MB\n", sinkPeak)
	if received >= 0 && received != sent {
		b.Errorf("sink received %d messages, want %d", received, sent)
	}
	b.ReportMetric(rate, "e2e-msgs/s")
	b.ReportMetric(baseRate, "baseline-msgs/s")
	b.ReportMetric(rawRate, "raw-msgs/s")
	b.ReportMetric(peak, "peak-RSS-MB")
}

// bareSendArgs is the baseline's job: one message, no bookkeeping.
type bareSendArgs struct {
	N int `json:"n"`
}

func (bareSendArgs) Kind() string { return "bench_bare_send" }

type bareSendWorker struct {
	river.WorkerDefaults[bareSendArgs]
	pool  *mailer.Pool
	msg   render.Message
	from  *mail.Address
	unsub string
	// The bodies as bytes, made once and shared by every message (a
	// session never changes them).
	text, html []byte
}

func (w *bareSendWorker) Work(ctx context.Context, job *river.Job[bareSendArgs]) error {
	sess, err := w.pool.Session(ctx)
	if err != nil {
		return err
	}
	defer sess.Close()
	unsub := w.unsub
	res := sess.Send(ctx, &mailer.Envelope{
		From: w.from, To: "c" + strconv.Itoa(job.Args.N) + "@example.com", ToName: "Contact " + strconv.Itoa(job.Args.N),
		Subject: w.msg.Subject, Text: w.text, HTML: w.html,
		MessageID: "bare." + strconv.Itoa(job.Args.N) + "@example.com", Date: time.Now(),
		Headers: map[string]string{"List-Unsubscribe": "<" + unsub + ">", "List-Unsubscribe-Post": "List-Unsubscribe=One-Click", "Precedence": "bulk"},
	})
	if res.Outcome != mailer.Accepted {
		return fmt.Errorf("send: %s: %s", res.Outcome, res.Detail)
	}
	return nil
}

// benchURL is a link of the length rapport's signed links have.
func benchURL(kind string) string {
	signer, _ := token.New([]string{"bench-secret-0123456789abcdefghijklmnopqrstuv"})
	return "https://mail.example.test/" + kind + "/" + signer.Sign(token.Claims{Purpose: token.Unsubscribe, ContactID: 123456, CampaignID: 1})
}

// benchRenderer renders the benchmark's content once, for the raw blast's
// and the baseline's messages, so every phase sends messages of the same
// size.
func benchRenderer(b *testing.B, content outreach.Content) (*render.Renderer, render.Message) {
	renderer, err := render.New(render.Company{Name: "Bench Co", Address: "1 Bench Way, 12345 Benchton"})
	if err != nil {
		b.Fatal(err)
	}
	comp, errs := render.Compile(content, "")
	if len(errs) > 0 {
		b.Fatal(errs[0])
	}
	msg, err := renderer.Render(context.Background(), comp, render.Data{Contact: render.ContactData{ID: 1, Name: "Contact 1", Email: "c1@example.com"},
		Campaign: render.CampaignData{ID: 1, Name: "Autumn", Topic: "offers"}, PreferencesURL: benchURL("p"), UnsubscribeURL: benchURL("u")})
	if err != nil {
		b.Fatal(err)
	}
	return renderer, msg
}

func sendBaseline(b *testing.B, s *sink, n, workers, smtpPool int, msg render.Message, dk *mailer.DKIMSigner) time.Duration {
	ctx := context.Background()
	pool, err := postgres.Open(ctx, pgtest.URL(b), 40)
	if err != nil {
		b.Fatal(err)
	}
	defer pool.Close()
	tr := mailer.NewPool(mailer.SMTPConfig{Host: s.host, Port: s.port, TLS: "none", PoolSize: smtpPool}, dk)
	defer tr.Close()
	w := river.NewWorkers()
	river.AddWorker(w, &bareSendWorker{pool: tr, msg: msg, from: benchFrom, unsub: benchURL("u"),
		text: []byte(msg.Text), html: []byte(msg.HTML)})
	rc, err := river.NewClient[pgx.Tx](riverpgxv5.New(pool), &river.Config{Logger: slog.New(slog.DiscardHandler), Workers: w,
		Queues: map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: workers}}, FetchCooldown: 5 * time.Millisecond, FetchPollInterval: 50 * time.Millisecond})
	if err != nil {
		b.Fatal(err)
	}
	for lo := 0; lo < n; lo += 10_000 {
		params := make([]river.InsertManyParams, 0, 10_000)
		for i := lo; i < min(n, lo+10_000); i++ {
			params = append(params, river.InsertManyParams{Args: bareSendArgs{N: i}})
		}
		if _, err := rc.InsertManyFast(ctx, params); err != nil {
			b.Fatal(err)
		}
	}
	pgBefore, goBefore, sinkBefore := backendCPU(ctx, pool), selfCPU(), procCPU(s.cmd.Process.Pid)
	start := time.Now()
	if err := rc.Start(ctx); err != nil {
		b.Fatal(err)
	}
	waitDone(b, pool, "SELECT count(*) FROM river_job WHERE state IN ('available', 'running', 'retryable', 'scheduled', 'pending')", nil, start)
	elapsed := time.Since(start)
	printCPU("baseline", elapsed, n, selfCPU()-goBefore, cpuSince(pgBefore, backendCPU(ctx, pool)), procCPU(s.cmd.Process.Pid)-sinkBefore)
	stopCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	_ = rc.Stop(stopCtx)
	return elapsed
}

// cpuTargetRatio is issue 16's CPU target, rapport + PostgreSQL at most
// 150 µs a message, over the go-mail CPU of the raw blast on the day it
// was set (126 µs, MEASUREMENTS.md).
const cpuTargetRatio = 150.0 / 126

// printCPU prints where a phase's CPU went, in all and per message: this
// process, the PostgreSQL backends serving its database (the server's
// shared WAL writer and checkpointer are not counted) and the sink process.
// On two cores the sum per message bounds the rate: about 2 s / rate. It
// returns this process's and PostgreSQL's µs per message.
func printCPU(phase string, elapsed time.Duration, n int, goCPU, pgCPU, sinkCPU float64) float64 {
	us := func(sec float64) float64 { return sec * 1e6 / float64(n) }
	fmt.Printf("# %s CPU: wall %.1f s on %d CPUs; PostgreSQL counts the backends serving this database only\n", phase, elapsed.Seconds(), runtime.NumCPU())
	fmt.Printf("%s_cpu_seconds: %.1f s\n", phase, goCPU+pgCPU+sinkCPU)
	fmt.Printf("%s_cpu_self_seconds: %.1f s\n", phase, goCPU)
	fmt.Printf("%s_cpu_postgres_seconds: %.1f s\n", phase, pgCPU)
	fmt.Printf("%s_cpu_sink_seconds: %.1f s\n", phase, sinkCPU)
	fmt.Printf("%s_us_per_msg_self: %.0f µs\n", phase, us(goCPU))
	fmt.Printf("%s_us_per_msg_postgres: %.0f µs\n", phase, us(pgCPU))
	fmt.Printf("%s_us_per_msg_self_plus_postgres: %.0f µs\n", phase, us(goCPU+pgCPU))
	fmt.Printf("%s_us_per_msg_sink: %.0f µs\n", phase, us(sinkCPU))
	return us(goCPU + pgCPU)
}

// waitDone polls query, which counts the work left, until it answers 0,
// failing on a stall. It polls every 50 ms with queries that use River's
// state index, so the polling costs the database next to nothing.
func waitDone(b *testing.B, pool *pgxpool.Pool, query string, args []any, start time.Time) {
	ctx := context.Background()
	last, lastChange := -1, time.Now()
	for {
		var got int
		if err := pool.QueryRow(ctx, query, args...).Scan(&got); err != nil {
			b.Fatal(err)
		}
		if got == 0 {
			return
		}
		if got != last {
			last, lastChange = got, time.Now()
		} else if time.Since(lastChange) > 60*time.Second {
			b.Fatalf("stalled with %d left after %s", got, time.Since(start).Round(time.Second))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// sendEndToEnd plans and sends one campaign of n contacts through the real
// workers, as cmd/rapport runs them. It returns the elapsed time, the peak
// RSS in MB and this process's and PostgreSQL's CPU per message in µs.
func sendEndToEnd(b *testing.B, s *sink, n, sendWorkers, smtpPool, sendBatch int, content outreach.Content, dk *mailer.DKIMSigner) (time.Duration, float64, float64) {
	ctx := context.Background()
	// As cmd/rapport builds it (postgres.Open): 2 connections per send
	// worker plus 20.
	pcfg, err := pgxpool.ParseConfig(pgtest.URL(b))
	if err != nil {
		b.Fatal(err)
	}
	pcfg.MaxConns = int32(2*sendWorkers + 20)
	var tracer *queryTracer
	if os.Getenv("BENCH_TRACE") == "1" {
		tracer = newQueryTracer()
		pcfg.ConnConfig.Tracer = tracer
	}
	pool, err := pgxpool.NewWithConfig(ctx, pcfg)
	if err != nil {
		b.Fatal(err)
	}
	defer pool.Close()
	clock := outreach.SystemClock{}
	store := postgres.NewStore(pool, clock)
	if err := store.Seed(ctx); err != nil {
		b.Fatal(err)
	}
	// Everyone may receive one message now: 10 an hour, any time of day.
	tier := outreach.Tier{Key: "bench", Name: "Bench", Rank: 50, Rule: outreach.Rule{
		Caps: []outreach.Cap{{Max: 10, Window: outreach.Duration(time.Hour)}}, SendWindow: outreach.AlwaysOpen}}
	if _, err := store.CreateTier(ctx, "bench", tier); err != nil {
		b.Fatal(err)
	}
	now := time.Now()
	i := 0
	_, err = pool.CopyFrom(ctx, pgx.Identifier{"contacts"}, []string{"email", "name", "tier", "timezone", "created_at", "updated_at"},
		pgx.CopyFromFunc(func() ([]any, error) {
			if i == n {
				return nil, nil
			}
			i++
			return []any{fmt.Sprintf("c%07d@example.com", i), "Contact " + strconv.Itoa(i), "bench", "UTC", now, now}, nil
		}))
	if err != nil {
		b.Fatal(err)
	}
	if _, err := pool.Exec(ctx, "ANALYZE"); err != nil {
		b.Fatal(err)
	}
	renderer, _ := benchRenderer(b, content)
	signer, _ := token.New([]string{"bench-secret-0123456789abcdefghijklmnopqrstuv"})
	pub, _ := url.Parse("https://mail.example.test")
	tr := mailer.NewPool(mailer.SMTPConfig{Host: s.host, Port: s.port, TLS: "none", PoolSize: smtpPool}, dk)
	defer tr.Close()
	rescue := 15 * time.Minute
	sendTimeout, planTimeout := jobs.Timeouts(rescue)
	svc, ws := benchWorkers(b, pool, store, clock, renderer, signer, pub, tr, sendBatch, metrics.New(metrics.Options{}), sendTimeout, planTimeout)
	workers := river.NewWorkers()
	jobs.Register(workers, ws)
	// The River client exactly as cmd/rapport's newRiver builds it.
	rc, err := river.NewClient[pgx.Tx](riverpgxv5.New(pool), &river.Config{Logger: slog.New(slog.DiscardHandler), Workers: workers,
		PeriodicJobs:  jobs.PeriodicJobs(ws),
		Queues:        map[string]river.QueueConfig{jobs.QueuePlan: {MaxWorkers: 2}, jobs.QueueSend: {MaxWorkers: sendWorkers}},
		FetchCooldown: 10 * time.Millisecond, FetchPollInterval: 250 * time.Millisecond,
		JobTimeout: planTimeout, RescueStuckJobsAfter: rescue})
	if err != nil {
		b.Fatal(err)
	}
	camp, err := store.CreateCampaign(ctx, "bench", outreach.Campaign{Name: "Autumn", Topic: "offers", Category: outreach.Marketing,
		Priority: 50, ExpiresAfter: 24 * time.Hour, Content: content})
	if err != nil {
		b.Fatal(err)
	}
	if err := rc.Start(ctx); err != nil {
		b.Fatal(err)
	}
	defer func() {
		stopCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		_ = rc.Stop(stopCtx)
	}()
	time.Sleep(500 * time.Millisecond) // leader election, the periodic job
	runtime.GC()
	debug.FreeOSMemory()
	ResetPeakRSS()
	pgBefore, goBefore, sinkBefore := backendCPU(ctx, pool), selfCPU(), procCPU(s.cmd.Process.Pid)
	if tracer != nil {
		tracer.reset()
	}
	start := time.Now()
	_, runID, _, err := svc.Send(ctx, "bench", camp.ID, nil)
	if err != nil {
		b.Fatal(err)
	}
	planned := make(chan time.Duration, 1)
	go func() {
		for {
			var status string
			if err := pool.QueryRow(ctx, "SELECT status FROM campaign_runs WHERE id = $1", runID).Scan(&status); err != nil || status == "planned" {
				planned <- time.Since(start)
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
	}()
	// Cheap to poll: every delivery is recorded in the transaction that
	// completes its send job, so the run is done when it is planned and no
	// plan or send job is left.
	waitDone(b, pool, `SELECT (SELECT count(*) FROM campaign_runs WHERE id = $1 AND status <> 'planned')
		+ (SELECT count(*) FROM river_job WHERE state IN ('available', 'running', 'retryable', 'scheduled', 'pending')
		   AND kind IN ('plan_run', 'send_batch'))`, []any{runID}, start)
	elapsed := time.Since(start)
	peak := PeakRSSMB()
	fmt.Printf("# e2e_plan_seconds: SendNow until the run is planned; sends start meanwhile\n")
	fmt.Printf("e2e_plan_seconds: %.1f s\n", (<-planned).Seconds())
	if tracer != nil {
		tracer.print("e2e")
	}
	cpu := printCPU("e2e", elapsed, n, selfCPU()-goBefore, cpuSince(pgBefore, backendCPU(ctx, pool)), procCPU(s.cmd.Process.Pid)-sinkBefore)
	rows, err := pool.Query(ctx, "SELECT state, reason, count(*) FROM deliveries WHERE run_id = $1 GROUP BY 1, 2 ORDER BY 3 DESC", runID)
	if err != nil {
		b.Fatal(err)
	}
	sent := 0
	for rows.Next() {
		var state, reason string
		var c int
		_ = rows.Scan(&state, &reason, &c)
		fmt.Printf("e2e_deliveries_%s_%s: %d deliveries\n", state, reason, c)
		if state == string(outreach.DeliverySent) {
			sent += c
		}
	}
	if sent != n {
		b.Fatalf("%d deliveries sent, want %d", sent, n)
	}
	var sendJobs int
	_ = pool.QueryRow(ctx, "SELECT count(*) FROM river_job WHERE kind = 'send_batch'").Scan(&sendJobs)
	fmt.Printf("e2e_send_jobs: %d jobs\n", sendJobs)
	// The chunk commits that met and shared a statement (Store.RecordAndClaim).
	calls, statements := store.ClaimFigures()
	fmt.Printf("e2e_chunk_commits: %d calls in %d statements\n", calls, statements)
	if statements > 0 {
		fmt.Printf("e2e_calls_per_chunk_commit: %.1f calls\n", float64(calls)/float64(statements))
	}
	// Row updates per message and how many were HOT (no index touched):
	// what PostgreSQL does per row. The statistics reach the view within
	// a second or so of each backend's last commit.
	time.Sleep(1500 * time.Millisecond)
	fmt.Printf("# rows inserted and updated per message in the tables the send path writes, and the share of updates that were HOT\n")
	trows, err := pool.Query(ctx, `SELECT relname, n_tup_ins, n_tup_upd, n_tup_hot_upd FROM pg_stat_user_tables
		WHERE relname IN ('deliveries', 'contacts', 'contact_last_sent', 'river_job') ORDER BY relname`)
	if err == nil {
		for trows.Next() {
			var rel string
			var ins, upd, hot int64
			if trows.Scan(&rel, &ins, &upd, &hot) == nil {
				share := 0.0
				if upd > 0 {
					share = 100 * float64(hot) / float64(upd)
				}
				fmt.Printf("e2e_writes_per_msg_%s: %.2f inserts, %.2f updates, %.0f%% HOT\n", rel,
					float64(ins)/float64(n), float64(upd)/float64(n), share)
			}
		}
		trows.Close()
	}
	return elapsed, peak, cpu
}
