// Package esp turns the bounce and complaint webhooks of email service
// providers (Amazon SES through SNS, SendGrid, Postmark, Mailgun) into
// rapport's normalized [Event]s.
//
// Each provider has a type whose Receive method first authenticates the
// request and only then reads its payload, so a caller cannot act on a body
// that nobody vouched for. The package keeps no database and runs no server:
// the caller reads a bounded body, passes it with the request headers and the
// current time, and acts on the events. The only network access is fetching
// SNS signing certificates and confirming SNS subscriptions, both through
// interfaces the caller injects.
//
// Errors tell the caller what to answer:
//
//   - [ErrUnauthenticated] (use errors.Is): the signature or credentials did
//     not check out, or the request is too old or a replay; answer 401 or 403.
//   - [ErrMalformed]: the body is not the provider's format (JSON of the
//     wrong shape, or too broken to find a signature in); answer 400.
//   - any other error is rapport's own failure (a signing certificate could
//     not be fetched); answer 5xx so that the provider retries.
//
// The error texts name the failed check for logs; do not echo them to the
// client, which would tell a forger which check to work on.
//
// Events that are not bounces or complaints (deliveries, opens, deferrals,
// drops caused by an earlier suppression) come back with Kind [Ignored] and
// the provider's own Type, so the caller can count them and still answer
// 2xx: answering an error would only make the provider retry them.
package esp
