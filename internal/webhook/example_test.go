package webhook_test

import (
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/rapport-dev/rapport/internal/webhook"
)

// A receiver checks a delivery with Verify, using the raw body and the
// request's headers. The values are the Standard Webhooks specification's
// published test vector.
func ExampleVerify() {
	body := `{"test": 2432232314}`
	req, _ := http.NewRequest(http.MethodPost, "https://crm.example.com/hooks", strings.NewReader(body))
	req.Header.Set("webhook-id", "msg_p5jXN8AQM9LWM0D4loKWxJek")
	req.Header.Set("webhook-timestamp", "1614265330")
	req.Header.Set("webhook-signature", "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=")

	secrets := []string{"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}
	now := time.Unix(1614265330, 0).Add(3 * time.Second) // the receiver's clock
	fmt.Println(webhook.Verify(secrets, req.Header, []byte(body), now, 0))
	fmt.Println(webhook.Verify(secrets, req.Header, []byte(body+" "), now, 0))
	fmt.Println(webhook.Verify(secrets, req.Header, []byte(body), now.Add(time.Hour), 0) != nil)
	// Output:
	// <nil>
	// webhook: no matching signature
	// true
}

// The nominal retry schedule, before jitter.
func ExampleBackoff() {
	var total time.Duration
	for attempt := 1; attempt < webhook.MaxAttempts; attempt++ {
		d := webhook.Backoff(attempt, nil)
		total += d
		fmt.Printf("attempt %2d failed: wait %-6v (attempt %d at +%v)\n", attempt, d, attempt+1, total)
	}
	// Output:
	// attempt  1 failed: wait 5s     (attempt 2 at +5s)
	// attempt  2 failed: wait 30s    (attempt 3 at +35s)
	// attempt  3 failed: wait 2m0s   (attempt 4 at +2m35s)
	// attempt  4 failed: wait 10m0s  (attempt 5 at +12m35s)
	// attempt  5 failed: wait 30m0s  (attempt 6 at +42m35s)
	// attempt  6 failed: wait 1h0m0s (attempt 7 at +1h42m35s)
	// attempt  7 failed: wait 2h0m0s (attempt 8 at +3h42m35s)
	// attempt  8 failed: wait 4h0m0s (attempt 9 at +7h42m35s)
	// attempt  9 failed: wait 8h0m0s (attempt 10 at +15h42m35s)
	// attempt 10 failed: wait 8h0m0s (attempt 11 at +23h42m35s)
	// attempt 11 failed: wait 8h0m0s (attempt 12 at +31h42m35s)
}
