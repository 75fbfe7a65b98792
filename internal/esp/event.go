package esp

import (
	"encoding/json"
	"errors"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/rapport-dev/rapport/internal/outreach"
)

// Kind is what a provider's event means for rapport's suppression rules. The
// values are the event types that POST /api/v1/events already accepts, plus
// Ignored.
type Kind string

const (
	// HardBounce means the address is permanently undeliverable; rapport
	// suppresses it at once.
	HardBounce Kind = "hard_bounce"
	// SoftBounce means delivery failed for a reason that may pass (a full
	// mailbox, a provider that gave up after retrying); rapport suppresses the
	// address only after several of them.
	SoftBounce Kind = "soft_bounce"
	// Complaint means the recipient reported the message as spam; rapport
	// suppresses the address at once.
	Complaint Kind = "complaint"
	// Ignored marks an authentic event that must not change any suppression:
	// a delivery, an open, a deferral that the provider will retry, a drop
	// that is the consequence of an earlier suppression, or an event whose
	// recipient is not a valid address. The caller counts it and answers 2xx.
	Ignored Kind = "ignored"
)

// Provider names, as they appear in Event.Provider.
const (
	// ProviderSES is Amazon SES, whose notifications arrive through SNS.
	ProviderSES = "ses"
	// ProviderSendGrid is Twilio SendGrid's Event Webhook.
	ProviderSendGrid = "sendgrid"
	// ProviderPostmark is Postmark's bounce and spam complaint webhooks.
	ProviderPostmark = "postmark"
	// ProviderMailgun is Mailgun's webhooks.
	ProviderMailgun = "mailgun"
)

// MaxDetail is the longest Event.Detail in bytes. Providers copy whole SMTP
// transcripts into their diagnostics; a bound keeps logs and database rows
// small whatever they send.
const MaxDetail = 500

// Event is one normalized provider event about one recipient.
//
// Provider, ProviderID and Email together identify the event: providers
// retry webhooks, and one SES notification can name several recipients under
// one feedback id, so the caller deduplicates on the three together.
type Event struct {
	// Provider is ProviderSES, ProviderSendGrid, ProviderPostmark or
	// ProviderMailgun.
	Provider string
	// Kind is what the event means for suppression.
	Kind Kind
	// Email is the recipient as rapport stores addresses (see
	// outreach.NormalizeEmail). It is empty for an ignored event that names
	// no valid recipient.
	Email string
	// MessageID is the Message-ID header of the original message, without
	// angle brackets, when the provider reports it; rapport sets it per
	// delivery, so it links the event to the delivery. It is never the
	// provider's own message id, which is ProviderMessageID.
	MessageID string
	// ProviderMessageID is the provider's own id for the original message
	// (SES mail.messageId, SendGrid sg_message_id, Postmark MessageID), for
	// looking the message up at the provider. Mailgun reports none.
	ProviderMessageID string
	// ProviderID is the provider's id for this event or notification, which
	// stays the same when the provider retries the webhook.
	ProviderID string
	// Type is the provider's own name for the event, such as
	// "Bounce/Permanent", "bounce/blocked", "HardBounce" or
	// "failed/permanent", for counting and for logs.
	Type string
	// Detail is the provider's diagnostic (SMTP status and reply, feedback
	// type) or the reason the event was ignored, on one line and at most
	// MaxDetail bytes of valid UTF-8.
	Detail string
	// At is when the provider says the event happened, in UTC; when the
	// payload has no usable time it is the time of the webhook request, and
	// zero only when that is unknown too.
	At time.Time
}

var (
	// ErrUnauthenticated reports that a webhook request failed its
	// signature, credential, freshness or replay check. The caller answers
	// 401 or 403 and acts on nothing in the body.
	ErrUnauthenticated = errors.New("esp: webhook request not authenticated")
	// ErrMalformed reports a body that is not the provider's webhook
	// format. The caller answers 400.
	ErrMalformed = errors.New("esp: webhook body not understood")
)

// recipient sets e.Email from the address the provider reported. A bounce or
// complaint whose address is not valid becomes an ignored event saying why,
// so that one bad entry neither fails nor hides the rest of the payload.
func recipient(e Event, raw string) Event {
	if email, ok := outreach.NormalizeEmail(raw); ok {
		e.Email = email
		return e
	}
	if e.Kind != Ignored {
		e.Kind = Ignored
		e.Detail = clip("invalid recipient address "+strconv.Quote(clip(raw, 200)), MaxDetail)
	}
	return e
}

// detail joins the non-empty diagnostic parts with "; " and bounds the result.
func detail(parts ...string) string {
	var b strings.Builder
	for _, p := range parts {
		p = oneLine(p)
		if p == "" {
			continue
		}
		if b.Len() > 0 {
			b.WriteString("; ")
		}
		b.WriteString(p)
		if b.Len() > MaxDetail {
			break
		}
	}
	return clip(b.String(), MaxDetail)
}

// oneLine replaces invalid UTF-8 and runs of control characters and spaces
// with single spaces: diagnostics end up in log lines, where a newline from a
// remote SMTP server could forge a second entry.
func oneLine(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	var b strings.Builder
	space := false
	for _, r := range s {
		if unicode.IsSpace(r) || unicode.IsControl(r) {
			space = true
			continue
		}
		if space && b.Len() > 0 {
			b.WriteByte(' ')
		}
		space = false
		b.WriteRune(r)
	}
	return b.String()
}

// clip cuts s to at most n bytes without splitting a UTF-8 sequence.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	s = s[:n]
	for len(s) > 0 {
		r, size := utf8.DecodeLastRuneInString(s)
		if r != utf8.RuneError || size > 1 {
			break
		}
		s = s[:len(s)-1]
	}
	return s
}

// maxMessageID bounds MessageID: RFC 5322 lines stop at 998 characters, so
// nothing longer is a Message-ID rapport sent.
const maxMessageID = 998

// messageID returns a Message-ID header value without its angle brackets
// (nor stray ones: no Message-ID rapport sends begins or ends with one).
func messageID(s string) string {
	return clip(strings.Trim(oneLine(s), "<> "), maxMessageID)
}

// maxID bounds the provider ids copied into events, which the caller may
// use as database keys.
const maxID = 255

// id returns a provider id on one line and bounded.
func id(s string) string { return clip(oneLine(s), maxID) }

// text decodes any JSON scalar into its text: a provider that turns a field
// from a number into a string (Mailgun's delivery-status.code is either)
// must not make the whole payload unreadable. null, objects and arrays
// decode as "".
type text string

// UnmarshalJSON implements json.Unmarshaler.
func (t *text) UnmarshalJSON(b []byte) error {
	if len(b) == 0 {
		return nil
	}
	switch b[0] {
	case '"':
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*t = text(s)
	case 'n', '{', '[':
		*t = ""
	default:
		*t = text(b)
	}
	return nil
}

// maxUnix is the last second of year 9999: later times are not real event
// times and would not survive a round trip through PostgreSQL.
const maxUnix = 253402300799

// parseUnix reads seconds since 1970, with an optional fraction
// ("1534110422.389832"), as SendGrid and Mailgun send them. It parses the
// digits itself because a float64 loses the microseconds.
func parseUnix(s string) (time.Time, bool) {
	s = strings.TrimSpace(s)
	secs, frac, _ := strings.Cut(s, ".")
	if allDigits(secs) && (frac == "" || allDigits(frac)) && len(secs) <= 12 {
		n, err := strconv.ParseInt(secs, 10, 64)
		if err != nil || n > maxUnix {
			return time.Time{}, false
		}
		var ns int64
		for i := 0; i < 9; i++ {
			ns *= 10
			if i < len(frac) {
				ns += int64(frac[i] - '0')
			}
		}
		return time.Unix(n, ns).UTC(), true
	}
	f, err := strconv.ParseFloat(s, 64) // exponent forms such as 1.5e9
	if err != nil || math.IsNaN(f) || f < 0 || f > maxUnix {
		return time.Time{}, false
	}
	whole, fraction := math.Modf(f)
	return time.Unix(int64(whole), int64(fraction*1e9)).UTC(), true
}

// parseUnixSeconds reads a signature timestamp: whole seconds, digits only.
// It is stricter than parseUnix because the value is part of what was signed.
func parseUnixSeconds(s string) (time.Time, bool) {
	if !allDigits(s) || len(s) > 12 {
		return time.Time{}, false
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n > maxUnix {
		return time.Time{}, false
	}
	return time.Unix(n, 0).UTC(), true
}

func allDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// isoLayouts are the ISO 8601 forms the providers use; SES documents
// "2018-10-08T14:05:45 +0000" beside the usual RFC 3339.
var isoLayouts = []string{
	time.RFC3339Nano,
	"2006-01-02T15:04:05.999999999Z0700",
	"2006-01-02T15:04:05.999999999 Z0700",
	"2006-01-02T15:04:05.999999999",
}

// parseISO reads an ISO 8601 time such as SES's and Postmark's.
func parseISO(s string) (time.Time, bool) {
	s = strings.TrimSpace(s)
	if s == "" || len(s) > 64 {
		return time.Time{}, false
	}
	for _, layout := range isoLayouts {
		if t, err := time.Parse(layout, s); err == nil && t.Year() >= 1970 && t.Year() <= 9999 {
			return t.UTC(), true
		}
	}
	return time.Time{}, false
}

// firstTime returns the first parsed time that is set.
func firstTime(ts ...time.Time) time.Time {
	for _, t := range ts {
		if !t.IsZero() {
			return t
		}
	}
	return time.Time{}
}

func isoTime(s string) time.Time {
	t, _ := parseISO(s)
	return t
}

func unixTime(s string) time.Time {
	t, _ := parseUnix(s)
	return t
}

// withinWindow reports whether a signed timestamp is no further than window
// from now, in either direction: an old one is a replay, one far ahead means
// a wrong clock or a forger stockpiling requests.
func withinWindow(ts, now time.Time, window time.Duration) bool {
	d := now.Sub(ts)
	return d <= window && d >= -window
}
