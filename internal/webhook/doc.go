// Package webhook holds the parts of rapport's outbound webhooks that need
// neither the database nor the HTTP API: signing events the way the
// Standard Webhooks specification (https://www.standardwebhooks.com, version
// 1.0.0) describes, delivering one signed event to a customer's endpoint
// without letting that endpoint reach rapport's own network, and the pure
// retry and disable policy that decides when to try again and when to give
// up on an endpoint.
//
// # Signing
//
// Each request carries three headers:
//
//	webhook-id:        the event's stable id ("evt_…"), the same on every retry,
//	                   so receivers can use it as an idempotency key
//	webhook-timestamp: the attempt's time in Unix seconds, new on every retry,
//	                   so receivers can reject replays
//	webhook-signature: "v1,<base64 HMAC-SHA256 of id.timestamp.body>", one entry
//	                   per active secret, separated by spaces
//
// A secret is "whsec_" followed by the standard base64 of 24 to 64 random
// bytes; the HMAC key is the decoded bytes. Signing with several secrets at
// once is how a secret is rotated without dropping deliveries: the receiver
// accepts the request when any one entry matches any secret it knows.
// Because receivers can use any Standard Webhooks library, the tests check
// this package against the specification's published test vector.
//
// # Server-side request forgery
//
// Endpoint URLs are chosen by customers, so a delivery is a request rapport
// makes on a stranger's behalf. ValidateURL refuses the obvious cases when
// an endpoint is registered, but the real guard is in the Client's dialer:
// it checks the address actually being connected to, after DNS resolution,
// so a hostname that resolves (or later re-resolves) to 127.0.0.1, a private
// network or the cloud metadata address 169.254.169.254 is refused however
// it was spelled. The Client never follows redirects, ignores proxy
// environment variables, and bounds every attempt in time and in bytes read.
//
// # Retries
//
// Backoff and Disable are pure functions of their arguments so the job that
// schedules deliveries can be tested without clocks or randomness; see
// Backoff for the exact schedule.
package webhook
