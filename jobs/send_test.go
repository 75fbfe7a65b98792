package jobs

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rapport-dev/rapport/internal/mailer"
	"github.com/rapport-dev/rapport/internal/outreach"
	"github.com/rapport-dev/rapport/internal/postgres"
)

// recorder is a transport that records what it is handed and answers what
// the test says.
type recorder struct {
	mu     sync.Mutex
	sent   []*mailer.Envelope
	answer func(e *mailer.Envelope) mailer.Result
}

func (r *recorder) Session(context.Context) (mailer.Session, error) { return recSession{r}, nil }
func (r *recorder) Close() error                                    { return nil }

type recSession struct{ r *recorder }

func (s recSession) Send(ctx context.Context, e *mailer.Envelope) mailer.Result {
	return s.r.send(ctx, e)
}
func (recSession) Close() {}

func (r *recorder) send(_ context.Context, e *mailer.Envelope) mailer.Result {
	r.mu.Lock()
	defer r.mu.Unlock()
	res := mailer.Result{Outcome: mailer.Accepted}
	if r.answer != nil {
		res = r.answer(e)
	}
	if res.Outcome == mailer.Accepted || res.Outcome == mailer.Uncertain {
		// A copy: the bodies are the renderer's buffers, reused once
		// Send returns.
		kept := *e
		kept.Text, kept.HTML = bytes.Clone(e.Text), bytes.Clone(e.HTML)
		r.sent = append(r.sent, &kept)
	}
	return res
}

func (r *recorder) count() int { r.mu.Lock(); defer r.mu.Unlock(); return len(r.sent) }

func deliveryStates(t *testing.T, b *bundle) map[string]int {
	t.Helper()
	rows, err := b.pool.Query(context.Background(), "SELECT state || '/' || reason, count(*) FROM deliveries GROUP BY 1")
	require.NoError(t, err)
	out := map[string]int{}
	for rows.Next() {
		var k string
		var n int
		require.NoError(t, rows.Scan(&k, &n))
		out[k] = n
	}
	return out
}

func sendSetup(t *testing.T, n int) (*bundle, *recorder) {
	b := setup(t, realClock{})
	rec := &recorder{}
	b.set.transport = rec
	busyTier(t, b)
	b.contacts(t, n, "busy", "UTC")
	return b, rec
}

func (b *bundle) sendNow(t *testing.T, c outreach.Campaign) {
	t.Helper()
	_, _, _, err := b.svc.Send(context.Background(), "test", c.ID, nil)
	require.NoError(t, err)
}

func TestSendDeliversOncePerContact(t *testing.T) {
	t.Parallel()
	b, rec := sendSetup(t, 250)
	b.workers(t, map[string]int{QueuePlan: 1, QueueSend: 4})
	b.sendNow(t, b.campaign(t, "one", 50, 0))
	b.waitJobs(t, time.Minute, "plan_run", "send_batch")
	require.Equal(t, 250, rec.count())
	require.Equal(t, map[string]int{"sent/sent": 250}, deliveryStates(t, b))
	ids := map[string]bool{}
	for _, e := range rec.sent {
		require.False(t, ids[e.MessageID], "Message-ID reused: %s", e.MessageID)
		ids[e.MessageID] = true
		require.Contains(t, e.Headers["List-Unsubscribe"], "https://mail.example.test/u/")
		// The bodies as the session saw them are this contact's (its
		// unsubscribe link): the renderer's reused buffers are not
		// shared between messages in flight.
		unsub := strings.Trim(strings.Split(e.Headers["List-Unsubscribe"], ",")[0], "<> ")
		require.Contains(t, string(e.HTML), unsub)
		require.Contains(t, string(e.Text), unsub)
	}
}

// TestCampaignCompletesWithItsLastBatch: no periodic sweep runs here (no
// leader, no fire_due job), yet the campaign is completed as soon as its
// last batch is recorded.
func TestCampaignCompletesWithItsLastBatch(t *testing.T) {
	t.Parallel()
	b, _ := sendSetup(t, 30)
	b.workers(t, map[string]int{QueuePlan: 1, QueueSend: 2})
	c := b.campaign(t, "one", 50, 0)
	b.sendNow(t, c)
	b.waitJobs(t, time.Minute, "plan_run", "send_batch")
	// The job commits, then its worker completes the campaign: moments.
	require.Eventually(t, func() bool {
		got, err := b.store.Campaign(context.Background(), c.ID)
		require.NoError(t, err)
		return got.Status == outreach.CampaignCompleted
	}, 2*time.Second, 10*time.Millisecond)
	var fired int
	require.NoError(t, b.pool.QueryRow(context.Background(), `SELECT count(*) FROM river_job WHERE kind = 'fire_due'`).Scan(&fired))
	require.Zero(t, fired, "completed by the send batch, not by the sweep")
}

func TestSendTimeCheckHonoursChanges(t *testing.T) {
	t.Parallel()
	b, rec := sendSetup(t, 6)
	ctx := context.Background()
	// Plan without send workers, then change contacts while messages wait.
	b.workers(t, map[string]int{QueuePlan: 1})
	b.sendNow(t, b.campaign(t, "held", 50, 0))
	b.waitJobs(t, time.Minute, "plan_run")
	_, err := b.pool.Exec(ctx, `UPDATE contacts SET status = 'unsubscribed' WHERE email = 'c0000000@example.com';
		UPDATE contacts SET topics_opted_out = '{offers}' WHERE email = 'c0000001@example.com';
		UPDATE contacts SET paused_until = now() + interval '30 days' WHERE email = 'c0000002@example.com';
		UPDATE contacts SET status = 'complained' WHERE email = 'c0000003@example.com';`)
	require.NoError(t, err)
	_, err = b.pool.Exec(ctx, `INSERT INTO suppressions (email_hash, email, reason, created_at) VALUES ($1, 'c0000004@example.com', 'hard_bounce', now())`, postgres.EmailHash("c0000004@example.com"))
	require.NoError(t, err)
	b.workers(t, map[string]int{QueueSend: 2})
	b.waitJobs(t, time.Minute, "send_batch")
	require.Equal(t, 1, rec.count(), "only the untouched contact is mailed")
	require.Equal(t, "c0000005@example.com", rec.sent[0].To)
	require.Equal(t, map[string]int{"sent/sent": 1, "skipped/unsubscribed": 1, "skipped/topic_opt_out": 1,
		"skipped/paused": 1, "skipped/suppressed_complaint": 1, "skipped/suppressed_bounce": 1}, deliveryStates(t, b))
}

func TestSendOutcomes(t *testing.T) {
	t.Parallel()
	b, rec := sendSetup(t, 3)
	rec.answer = func(e *mailer.Envelope) mailer.Result {
		switch e.To {
		case "c0000000@example.com":
			return mailer.Result{Outcome: mailer.PermFail, Code: 550, Detail: "550 5.1.1 no such user"}
		case "c0000001@example.com":
			return mailer.Result{Outcome: mailer.TempFail, Code: 451, Detail: "451 4.3.0 try later"}
		}
		return mailer.Result{Outcome: mailer.Uncertain, Detail: "connection reset after DATA"}
	}
	b.workers(t, map[string]int{QueuePlan: 1, QueueSend: 2})
	b.sendNow(t, b.campaign(t, "outcomes", 50, 0))
	b.waitJobs(t, time.Minute, "plan_run")
	require.Eventually(t, func() bool {
		s := deliveryStates(t, b)
		return s["failed/failed_permanent"] == 1 && s["scheduled/scheduled"] == 1 && s["unknown/unknown"] == 1
	}, 30*time.Second, 50*time.Millisecond, "%v", deliveryStates(t, b))
	var status string
	var planned time.Time
	require.NoError(t, b.pool.QueryRow(context.Background(), "SELECT status FROM contacts WHERE email = 'c0000000@example.com'").Scan(&status))
	require.Equal(t, "bounced", status)
	var sup int
	require.NoError(t, b.pool.QueryRow(context.Background(), "SELECT count(*) FROM suppressions WHERE reason = 'hard_bounce'").Scan(&sup))
	require.Equal(t, 1, sup)
	require.NoError(t, b.pool.QueryRow(context.Background(), "SELECT planned_for FROM deliveries WHERE state = 'scheduled'").Scan(&planned))
	require.Greater(t, time.Until(planned), 50*time.Second, "a 4xx is retried with backoff")
	// The bounce went through the one suppression path: the contact's
	// timeline says why they became bounced, and the audit log has it.
	var events, audits int
	require.NoError(t, b.pool.QueryRow(context.Background(), `SELECT count(*) FROM contact_events e JOIN contacts c ON c.id = e.contact_id
		WHERE c.email = 'c0000000@example.com' AND e.kind = 'suppressed' AND e.actor = 'smtp'
		  AND e.detail->>'smtp_code' = '550' AND e.detail->>'delivery_id' IS NOT NULL`).Scan(&events))
	require.Equal(t, 1, events)
	require.NoError(t, b.pool.QueryRow(context.Background(), `SELECT count(*) FROM audit_log
		WHERE entity = 'suppression' AND entity_id = 'c0000000@example.com' AND actor = 'smtp'`).Scan(&audits))
	require.Equal(t, 1, audits)
}

// TestRetryFinishesABounce simulates a worker killed after a chunk's
// commit recorded a 5xx and before the batch's end suppressed the address:
// the retried job suppresses it, through the one suppression path, and
// sends nothing.
func TestRetryFinishesABounce(t *testing.T) {
	t.Parallel()
	b, rec := sendSetup(t, 2)
	ctx := context.Background()
	b.workers(t, map[string]int{QueuePlan: 1})
	b.sendNow(t, b.campaign(t, "bounce-crash", 50, 0))
	b.waitJobs(t, time.Minute, "plan_run")
	var jobID int64
	require.NoError(t, b.pool.QueryRow(ctx, "SELECT id FROM river_job WHERE kind = 'send_batch'").Scan(&jobID))
	for _, stmt := range []string{
		`UPDATE deliveries SET state = 'failed', reason = 'failed_permanent', rule = '550 5.1.1 no such user',
		 smtp_code = 550, send_job_id = $1, attempts = 1 WHERE contact_id = (SELECT id FROM contacts WHERE email = 'c0000000@example.com')`,
		`UPDATE deliveries SET state = 'sent', reason = 'sent', send_job_id = $1, attempts = 1, sent_at = now()
		 WHERE contact_id = (SELECT id FROM contacts WHERE email = 'c0000001@example.com')`,
		`UPDATE river_job SET attempt = 1 WHERE id = $1`,
	} {
		_, err := b.pool.Exec(ctx, stmt, jobID)
		require.NoError(t, err)
	}
	b.workers(t, map[string]int{QueueSend: 1})
	b.waitJobs(t, time.Minute, "send_batch")
	require.Zero(t, rec.count(), "nothing is sent again")
	var status, reason string
	require.NoError(t, b.pool.QueryRow(ctx, `SELECT c.status, s.reason FROM contacts c JOIN suppressions s ON s.email = c.email
		WHERE c.email = 'c0000000@example.com'`).Scan(&status, &reason))
	require.Equal(t, []string{"bounced", "hard_bounce"}, []string{status, reason})
	var n int
	require.NoError(t, b.pool.QueryRow(ctx, "SELECT count(*) FROM suppressions").Scan(&n))
	require.Equal(t, 1, n, "only the bounced address")
}

// TestRetryAfterCrashMarksUnknown simulates a worker killed between the
// claim commit and the completion: the retried job finds its deliveries
// 'sending' and must mark them unknown, never resend.
func TestRetryAfterCrashMarksUnknown(t *testing.T) {
	t.Parallel()
	b, rec := sendSetup(t, 5)
	ctx := context.Background()
	b.workers(t, map[string]int{QueuePlan: 1})
	b.sendNow(t, b.campaign(t, "crash", 50, 0))
	b.waitJobs(t, time.Minute, "plan_run")
	// Pretend attempt 1 of the send job claimed everything and died.
	var jobID int64
	require.NoError(t, b.pool.QueryRow(ctx, "SELECT id FROM river_job WHERE kind = 'send_batch'").Scan(&jobID))
	_, err := b.pool.Exec(ctx, "UPDATE deliveries SET state = 'sending', send_job_id = $1, attempts = 1", jobID)
	require.NoError(t, err)
	b.workers(t, map[string]int{QueueSend: 1})
	b.waitJobs(t, time.Minute, "send_batch")
	require.Zero(t, rec.count(), "nothing is sent twice")
	require.Equal(t, map[string]int{"unknown/unknown": 5}, deliveryStates(t, b))
}

func TestPauseResumeCancel(t *testing.T) {
	t.Parallel()
	b, rec := sendSetup(t, 20)
	ctx := context.Background()
	b.workers(t, map[string]int{QueuePlan: 1})
	c := b.campaign(t, "lifecycle", 50, 0)
	b.sendNow(t, c)
	b.waitJobs(t, time.Minute, "plan_run")
	_, err := b.svc.Pause(ctx, "test", c.ID)
	require.NoError(t, err)
	b.workers(t, map[string]int{QueueSend: 2})
	b.waitJobs(t, time.Minute, "send_batch")
	require.Zero(t, rec.count(), "a paused campaign sends nothing")
	require.Equal(t, map[string]int{"scheduled/scheduled": 20}, deliveryStates(t, b), "held, not lost")

	_, err = b.svc.Pause(ctx, "test", c.ID)
	require.Error(t, err, "pausing twice is a conflict")
	_, err = b.svc.Resume(ctx, "test", c.ID)
	require.NoError(t, err)
	b.workers(t, map[string]int{QueuePlan: 1})
	b.waitJobs(t, time.Minute, "replan_campaign", "send_batch")
	require.Equal(t, 20, rec.count())

	c2 := b.campaign(t, "canceled", 50, 0)
	b.startRun(t, c2, time.Now().Add(time.Hour))
	b.waitJobs(t, time.Minute, "plan_run")
	_, err = b.svc.Cancel(ctx, "test", c2.ID)
	require.NoError(t, err)
	var canceled int
	require.NoError(t, b.pool.QueryRow(ctx, "SELECT count(*) FROM deliveries WHERE campaign_id = $1 AND state = 'skipped' AND reason = 'canceled'", c2.ID).Scan(&canceled))
	require.Equal(t, 20, canceled)
	_, err = b.svc.Resume(ctx, "test", c2.ID)
	require.Error(t, err)
	require.Equal(t, outreach.ECONFLICT, outreach.ErrorCode(err))
}

func TestCampaignCompletes(t *testing.T) {
	t.Parallel()
	b, _ := sendSetup(t, 10)
	b.workers(t, map[string]int{QueuePlan: 1, QueueSend: 2})
	c := b.campaign(t, "complete", 50, 0)
	b.sendNow(t, c)
	b.waitJobs(t, time.Minute, "plan_run", "send_batch")
	w := NewFireDueWorker(b.svc)
	require.NoError(t, w.Work(context.Background(), nil))
	got, err := b.store.Campaign(context.Background(), c.ID)
	require.NoError(t, err)
	require.Equal(t, outreach.CampaignCompleted, got.Status)
}

// unreachableTransport is an SMTP server that cannot be reached.
type unreachableTransport struct{}

func (unreachableTransport) Session(context.Context) (mailer.Session, error) {
	return nil, errors.New("connection refused")
}
func (unreachableTransport) Close() error { return nil }

// TestConnectionFailuresCostNoAttempts checks that messages never handed
// to the server (no connection, or one that died before DATA) wait and are
// retried without using up their attempts, so an outage of any length
// fails nothing.
func TestConnectionFailuresCostNoAttempts(t *testing.T) {
	t.Parallel()
	b, rec := sendSetup(t, 3)
	ctx := context.Background()
	b.set.transport = unreachableTransport{}
	b.workers(t, map[string]int{QueuePlan: 1, QueueSend: 1})
	b.sendNow(t, b.campaign(t, "outage", 50, 0))
	require.Eventually(t, func() bool {
		var snoozed int
		_ = b.pool.QueryRow(ctx, "SELECT count(*) FROM river_job WHERE kind = 'send_batch' AND state = 'scheduled'").Scan(&snoozed)
		return snoozed == 1
	}, 30*time.Second, 50*time.Millisecond, "the batch is snoozed")
	require.Equal(t, map[string]int{"scheduled/scheduled": 3}, deliveryStates(t, b))
	var attempts int
	require.NoError(t, b.pool.QueryRow(ctx, "SELECT coalesce(sum(attempts), 0) FROM deliveries").Scan(&attempts))
	require.Zero(t, attempts)

	// A connection that dies before DATA on the second message: that one and
	// the rest go back without an attempt; the first was sent.
	b2, rec2 := sendSetup(t, 3)
	n := 0
	rec2.answer = func(e *mailer.Envelope) mailer.Result {
		n++
		if n == 1 {
			return mailer.Result{Outcome: mailer.Accepted}
		}
		return mailer.Result{Outcome: mailer.TempFail, Unsent: true, Detail: "broken pipe"}
	}
	b2.workers(t, map[string]int{QueuePlan: 1, QueueSend: 1})
	b2.sendNow(t, b2.campaign(t, "broken", 50, 0))
	require.Eventually(t, func() bool {
		s := deliveryStates(t, b2)
		return s["sent/sent"] == 1 && s["scheduled/scheduled"] == 2
	}, 30*time.Second, 50*time.Millisecond, "%v", deliveryStates(t, b2))
	require.NoError(t, b2.pool.QueryRow(ctx, "SELECT coalesce(sum(attempts), 0) FROM deliveries WHERE state = 'scheduled'").Scan(&attempts))
	require.Zero(t, attempts)
	var planned time.Time
	require.NoError(t, b2.pool.QueryRow(ctx, "SELECT min(planned_for) FROM deliveries WHERE state = 'scheduled'").Scan(&planned))
	require.InDelta(t, 30, time.Until(planned).Seconds(), 5, "retried in about 30 s")
	require.Zero(t, rec.count())
}

// TestPauseStopsARunningBatch pauses a campaign while one of its batches is
// handing messages to the server: the batch sends what it had claimed (the
// chunk in hand, of the size configured) and claims nothing more; the rest
// are held, and resume sends each of them once.
func TestPauseStopsARunningBatch(t *testing.T) {
	t.Parallel()
	for _, chunk := range []int{0, 4, 25} {
		t.Run(fmt.Sprintf("chunk %d", chunk), func(t *testing.T) {
			t.Parallel()
			testPauseStopsARunningBatch(t, chunk)
		})
	}
}

func testPauseStopsARunningBatch(t *testing.T, chunk int) {
	b, rec := sendSetup(t, 50)
	b.set.claimChunk = chunk
	// The pause comes at the fifth message: its chunk is sent whole.
	claimed := DefaultClaimChunk
	if chunk > 0 {
		claimed = (4/chunk + 1) * chunk
	}
	ctx := context.Background()
	c := b.campaign(t, "paused mid-batch", 50, 0)
	rec.answer = func(e *mailer.Envelope) mailer.Result {
		if len(rec.sent) == 4 { // the fifth message, in the first chunk
			_, err := b.svc.Pause(ctx, "test", c.ID)
			require.NoError(t, err)
		}
		return mailer.Result{Outcome: mailer.Accepted}
	}
	b.workers(t, map[string]int{QueuePlan: 1, QueueSend: 1})
	b.sendNow(t, c)
	b.waitJobs(t, time.Minute, "plan_run", "send_batch")
	require.Equal(t, claimed, rec.count(), "the claimed chunk goes, nothing after the pause")
	require.Equal(t, map[string]int{"sent/sent": claimed, "scheduled/scheduled": 50 - claimed}, deliveryStates(t, b))

	rec.mu.Lock()
	rec.answer = nil
	rec.mu.Unlock()
	_, err := b.svc.Resume(ctx, "test", c.ID)
	require.NoError(t, err)
	b.waitJobs(t, time.Minute, "replan_campaign", "send_batch")
	require.Equal(t, map[string]int{"sent/sent": 50}, deliveryStates(t, b))
	seen := map[string]bool{}
	for _, e := range rec.sent {
		require.False(t, seen[e.To], "%s mailed twice", e.To)
		seen[e.To] = true
	}
	require.Len(t, seen, 50)
}

// TestSlowServerStopsBeforeTimeout: a batch whose server is so slow that it
// would run into its job timeout stops claiming in time and leaves the rest
// scheduled for a later job — nothing unknown, nothing failed, no attempt
// used — instead of being cut off half sent.
func TestSlowServerStopsBeforeTimeout(t *testing.T) {
	t.Parallel()
	b, rec := sendSetup(t, 30)
	ctx := context.Background()
	b.set.sendTimeout = stopMargin + time.Second // one second to claim in
	rec.answer = func(*mailer.Envelope) mailer.Result {
		time.Sleep(150 * time.Millisecond)
		return mailer.Result{Outcome: mailer.Accepted}
	}
	b.workers(t, map[string]int{QueuePlan: 1, QueueSend: 1})
	b.sendNow(t, b.campaign(t, "slow server", 50, 0))
	b.waitJobs(t, time.Minute, "plan_run")
	require.Eventually(t, func() bool {
		var done int
		_ = b.pool.QueryRow(ctx, "SELECT count(*) FROM river_job WHERE kind = 'send_batch' AND state = 'completed'").Scan(&done)
		return done == 1
	}, 30*time.Second, 20*time.Millisecond)
	require.Equal(t, map[string]int{"sent/sent": DefaultClaimChunk, "scheduled/scheduled": 30 - DefaultClaimChunk}, deliveryStates(t, b),
		"the first chunk (1.5 s) is sent; after it the job's time is too short to claim more")
	var attempts int
	require.NoError(t, b.pool.QueryRow(ctx, "SELECT coalesce(sum(attempts), 0) FROM deliveries WHERE state = 'scheduled'").Scan(&attempts))
	require.Zero(t, attempts)
	var later int
	require.NoError(t, b.pool.QueryRow(ctx, "SELECT count(*) FROM river_job WHERE kind = 'send_batch' AND state = 'scheduled'").Scan(&later))
	require.Equal(t, 1, later, "the rest wait in a later job")
}

// TestUnbuildableMessageFailsLocally: a contact whose stored name holds a
// line break (written before names were checked) gets a message go-mail
// cannot build. The delivery fails with failed_local; the address is not
// suppressed and the contact stays active: it was our fault, not a bounce.
func TestUnbuildableMessageFailsLocally(t *testing.T) {
	t.Parallel()
	b := setup(t, realClock{}) // the outbox transport builds every message
	busyTier(t, b)
	b.contacts(t, 2, "busy", "UTC")
	ctx := context.Background()
	_, err := b.pool.Exec(ctx, `UPDATE contacts SET name = E'Ada\r\nBcc: evil@example.com' WHERE email = 'c0000000@example.com'`)
	require.NoError(t, err)
	b.workers(t, map[string]int{QueuePlan: 1, QueueSend: 2})
	b.sendNow(t, b.campaign(t, "one", 50, 0))
	b.waitJobs(t, time.Minute, "plan_run", "send_batch")
	require.Equal(t, map[string]int{"sent/sent": 1, "failed/failed_local": 1}, deliveryStates(t, b))
	var status, rule string
	var sups int
	require.NoError(t, b.pool.QueryRow(ctx, `SELECT c.status, d.rule, (SELECT count(*) FROM suppressions)
		FROM contacts c JOIN deliveries d ON d.contact_id = c.id WHERE c.email = 'c0000000@example.com'`).Scan(&status, &rule, &sups))
	require.Equal(t, "active", status)
	require.Zero(t, sups, "no suppression")
	require.Contains(t, rule, "build message")
}

// TestResendLostDeliveries: a send job deleted (as River's UI can) leaves
// its deliveries scheduled with nothing to send them. The sweep finds
// those whose moment passed LostAfter ago and gives them a new job, once
// however often it runs; it leaves a paused campaign's held deliveries
// alone. The deliveries are then sent.
func TestResendLostDeliveries(t *testing.T) {
	t.Parallel()
	b, rec := sendSetup(t, 3)
	ctx := context.Background()
	b.workers(t, map[string]int{QueuePlan: 1})
	lost, held := b.campaign(t, "lost", 50, 0), b.campaign(t, "held", 60, 0)
	b.sendNow(t, lost)
	b.sendNow(t, held)
	b.waitJobs(t, time.Minute, "plan_run")
	_, err := b.svc.Pause(ctx, "test", held.ID)
	require.NoError(t, err)
	rows, err := b.pool.Query(ctx, "SELECT id FROM river_job WHERE kind = 'send_batch'")
	require.NoError(t, err)
	var jobIDs []int64
	for rows.Next() {
		var id int64
		require.NoError(t, rows.Scan(&id))
		jobIDs = append(jobIDs, id)
	}
	require.NoError(t, rows.Err())
	require.NotEmpty(t, jobIDs)
	for _, id := range jobIDs {
		_, err := b.insert.JobDelete(ctx, id)
		require.NoError(t, err)
	}
	_, err = b.pool.Exec(ctx, "UPDATE deliveries SET planned_for = now() - interval '10 minutes'")
	require.NoError(t, err)
	var scheduled int
	require.NoError(t, b.pool.QueryRow(ctx, "SELECT count(*) FROM deliveries WHERE state = 'scheduled'").Scan(&scheduled))
	require.Equal(t, 6, scheduled, "lost: nothing will ever send them")

	for range 2 { // the same sweep again finds nothing more to do
		_, err := b.insert.Insert(ctx, ResendLostArgs{}, nil)
		require.NoError(t, err)
		b.waitJobs(t, time.Minute, "resend_lost")
	}
	var jobs, carried int
	require.NoError(t, b.pool.QueryRow(ctx, `SELECT count(*), coalesce(sum(jsonb_array_length(args->'delivery_ids')), 0)
		FROM river_job WHERE kind = 'send_batch'`).Scan(&jobs, &carried))
	require.Equal(t, 1, jobs, "one new job")
	require.Equal(t, 3, carried, "for the lost campaign's deliveries only")

	b.workers(t, map[string]int{QueueSend: 2})
	b.waitJobs(t, time.Minute, "send_batch")
	require.Equal(t, 3, rec.count())
	var sent, waiting int
	require.NoError(t, b.pool.QueryRow(ctx, `SELECT count(*) FILTER (WHERE campaign_id = $1 AND state = 'sent'),
		count(*) FILTER (WHERE campaign_id = $2 AND state = 'scheduled') FROM deliveries`, lost.ID, held.ID).Scan(&sent, &waiting))
	require.Equal(t, 3, sent)
	require.Equal(t, 3, waiting, "a paused campaign's deliveries stay held")
}
