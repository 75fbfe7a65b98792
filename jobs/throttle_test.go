package jobs

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/rapport-dev/rapport/internal/throttle"
)

// TestSendSlowDomainHoldsUpNothing sends one batch mixing a throttled
// domain into unthrottled mail. The unthrottled messages go first, without
// waiting behind the slow ones; the slow domain's messages past the pace
// horizon (maxPace) wait for later runs of the job, which snoozes in
// between, and reserve their slots only then, so every slot reserved is a
// message sent (none held for a message that went elsewhere), and
// everything is sent once.
func TestSendSlowDomainHoldsUpNothing(t *testing.T) {
	t.Parallel()
	// 80 messages: 30 unthrottled, 50 to a domain at 4/s (10 in the first
	// half by contact id, then all): 12.5 s at 4/s.
	const total, rate = 80, 4.0
	b := setup(t, realClock{})
	rec := &recorder{}
	b.set.transport = rec
	lim := throttle.New(b.store, realClock{}, throttle.Config{})
	b.set.throttle = lim
	_, err := lim.Put(context.Background(), "test", throttle.Settings{Domains: map[string]float64{"slow.test": rate}})
	require.NoError(t, err)
	busyTier(t, b)
	now := time.Now()
	rows := make([][]any, 0, total)
	for i := range total {
		domain := "fast.test"
		if i%4 == 0 || i >= total/2 {
			domain = "slow.test"
		}
		rows = append(rows, []any{fmt.Sprintf("c%03d@%s", i, domain), "busy", "UTC", now, now})
	}
	_, err = b.pool.CopyFrom(context.Background(), pgx.Identifier{"contacts"}, []string{"email", "tier", "timezone", "created_at", "updated_at"}, pgx.CopyFromRows(rows))
	require.NoError(t, err)
	slow := countSlow(rows)
	fast := total - slow
	require.Equal(t, 50, slow)

	b.workers(t, map[string]int{QueuePlan: 1, QueueSend: 2})
	b.sendNow(t, b.campaign(t, "mixed", 50, 0))
	b.waitJobs(t, time.Minute, "plan_run", "send_batch")

	require.Equal(t, map[string]int{"sent/sent": fast + slow}, deliveryStates(t, b))
	require.Equal(t, fast+slow, rec.count())
	lastFast, secondSlow, slowSeen := -1, -1, 0
	for i, e := range rec.sent {
		if strings.HasSuffix(e.To, "@fast.test") {
			lastFast = i
		} else if slowSeen++; slowSeen == 2 {
			secondSlow = i
		}
	}
	require.Less(t, lastFast, secondSlow, "every fast message goes before the slow domain's second turn")
	require.EqualValues(t, fast+slow, lim.Stats().Reserved, "one slot per message sent: none reserved and left unused")
	var jobs, snoozes int
	require.NoError(t, b.pool.QueryRow(context.Background(),
		"SELECT count(*), coalesce(sum((metadata->>'snoozes')::int), 0) FROM river_job WHERE kind = 'send_batch'").Scan(&jobs, &snoozes))
	require.Equal(t, 1, jobs, "one batch")
	require.Greater(t, snoozes, 3, "the slow messages past the horizon waited for later runs (%v of slow.test's turns)", maxPace)
}

func countSlow(rows [][]any) int {
	n := 0
	for _, r := range rows {
		if strings.HasSuffix(r[0].(string), "@slow.test") {
			n++
		}
	}
	return n
}
