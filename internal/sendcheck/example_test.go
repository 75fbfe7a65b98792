package sendcheck_test

import (
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/rapport-dev/rapport/internal/outreach"
	"github.com/rapport-dev/rapport/internal/sendcheck"
)

// A 5xx fails the delivery for good and suppresses the address, on the
// first attempt as on any other.
func ExampleNext_permFail() {
	planned := time.Date(2026, 3, 10, 9, 0, 0, 0, time.UTC)
	now := planned.Add(3 * time.Second)
	reply := sendcheck.Reply{Class: sendcheck.PermFail, Code: 550, Detail: "550 5.1.1 <ada@example.com>: user unknown"}

	step, ok := sendcheck.Next(outreach.DeliverySending, reply, 1, planned, now, rand.New(rand.NewPCG(1, 2)))
	fmt.Println(ok, step.State, step.Reason, "suppress:", step.Suppress, "code:", step.Code)
	fmt.Println("rule:", step.Rule)

	// Once failed, no later reply changes it.
	_, ok = sendcheck.Next(step.State, sendcheck.Reply{Class: sendcheck.Accepted, Code: 250}, 2, step.At, now, nil)
	fmt.Println("moves again:", ok)
	// Output:
	// true failed failed_permanent suppress: true code: 550
	// rule: 550 5.1.1 <ada@example.com>: user unknown
	// moves again: false
}

// A 4xx schedules a retry after a backoff that doubles per attempt (plus up
// to a tenth at random); the eighth attempt's 4xx fails the delivery.
func ExampleNext_tempFail() {
	planned := time.Date(2026, 3, 10, 9, 0, 0, 0, time.UTC)
	now := planned.Add(3 * time.Second)
	reply := sendcheck.Reply{Class: sendcheck.TempFail, Code: 451, Detail: "451 4.7.1 greylisted, try again later"}
	rng := rand.New(rand.NewPCG(1, 2))

	for _, attempts := range []int{1, 2, 3} {
		step, _ := sendcheck.Next(outreach.DeliverySending, reply, attempts, planned, now, rng)
		wait := step.At.Sub(now)
		base := time.Minute << (attempts - 1)
		fmt.Printf("attempt %d: %s, suppress: %v, retry within [%v, %v]: %v\n", attempts, step.State, step.Suppress, base, base+base/10, wait >= base && wait <= base+base/10)
	}

	step, _ := sendcheck.Next(outreach.DeliverySending, reply, sendcheck.MaxAttempts, planned, now, rng)
	fmt.Printf("attempt %d: %s %s, suppress: %v\n", sendcheck.MaxAttempts, step.State, step.Reason, step.Suppress)
	fmt.Println("rule:", step.Rule)

	// A message that never reached the server is tried again soon, and the
	// attempt is given back.
	step, _ = sendcheck.Next(outreach.DeliverySending, sendcheck.Reply{Class: sendcheck.TempFail, Unsent: true, Detail: "dial tcp: connection refused"}, sendcheck.MaxAttempts, planned, now, rng)
	fmt.Println("unsent:", step.State, "in", step.At.Sub(now), "refund:", step.Refund)
	// Output:
	// attempt 1: scheduled, suppress: false, retry within [1m0s, 1m6s]: true
	// attempt 2: scheduled, suppress: false, retry within [2m0s, 2m12s]: true
	// attempt 3: scheduled, suppress: false, retry within [4m0s, 4m24s]: true
	// attempt 8: failed failed_permanent, suppress: false
	// rule: retries exhausted: 451 4.7.1 greylisted, try again later
	// unsent: scheduled in 30s refund: true
}
