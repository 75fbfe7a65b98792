package esp

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"
)

// DefaultMailgunWindow is how far a Mailgun signature timestamp may be from
// now when Mailgun.Window is zero.
const DefaultMailgunWindow = 5 * time.Minute

// defaultReplayTokens bounds the per-process replay cache: about 33
// webhooks a second for five minutes, in a megabyte or two.
const defaultReplayTokens = 10000

// maxMailgunToken bounds the tokens remembered for replay detection; Mailgun's
// are 50 characters.
const maxMailgunToken = 256

// Mailgun authenticates Mailgun's webhooks and reads their event-data.
//
// Mailgun's signature is an HMAC-SHA256 of the signature timestamp and
// token only; it does not cover event-data. Within the window, a captured
// request's signature could therefore be sent again with other event-data,
// which is why Receive also refuses a token it has already seen.
//
// Event.ProviderID is event-data's id, which Mailgun keeps across webhook
// retries but documents as unique only within a day; deduplicate on it over
// days, not forever.
//
// A Mailgun is safe for concurrent use; use it through a pointer and do not
// copy it after first use.
type Mailgun struct {
	// SigningKey is the "HTTP webhook signing key" from Mailgun's settings
	// (not the API key). Without one every request fails with
	// ErrUnauthenticated.
	SigningKey string
	// Window is how far the signed timestamp may be from now, either way;
	// zero means DefaultMailgunWindow.
	Window time.Duration
	// Replay detects reused tokens. nil means a TokenCache private to this
	// Mailgun, which only sees the requests this process receives: with
	// several API processes, inject one shared guard (such as a unique
	// database row per token) to refuse a replay sent to another process.
	Replay ReplayGuard

	once  sync.Once
	cache *TokenCache
}

// ReplayGuard remembers single-use tokens.
type ReplayGuard interface {
	// Seen records token as used until expires and reports whether it was
	// already recorded and not yet expired at now. It must check and record
	// atomically, or two concurrent replays could both pass.
	Seen(token string, now, expires time.Time) bool
}

// mailgunBody is a Mailgun webhook request body.
type mailgunBody struct {
	Signature *struct {
		Timestamp       text `json:"timestamp"`
		Token           text `json:"token"`
		Signature       text `json:"signature"`
		ParentSignature text `json:"parent-signature"`
	} `json:"signature"`
	EventData json.RawMessage `json:"event-data"`
}

// Receive authenticates a Mailgun webhook body and returns its event. now
// is the current time. The signature, the timestamp window and the replay
// guard are all checked before event-data is read; a token is recorded only
// once the signature over it verified, so forged requests cannot fill the
// replay cache.
func (m *Mailgun) Receive(body []byte, now time.Time) ([]Event, error) {
	if m.SigningKey == "" {
		return nil, fmt.Errorf("%w: no Mailgun signing key configured", ErrUnauthenticated)
	}
	var b mailgunBody
	if err := json.Unmarshal(body, &b); err != nil {
		return nil, fmt.Errorf("%w: Mailgun body: %v", ErrMalformed, err)
	}
	if b.Signature == nil || b.Signature.Timestamp == "" || b.Signature.Token == "" ||
		(b.Signature.Signature == "" && b.Signature.ParentSignature == "") {
		return nil, fmt.Errorf("%w: Mailgun body without signature", ErrUnauthenticated)
	}
	sig := b.Signature
	ts, ok := parseUnixSeconds(string(sig.Timestamp))
	if !ok {
		return nil, fmt.Errorf("%w: Mailgun signature timestamp is not a Unix time", ErrUnauthenticated)
	}
	window := m.Window
	if window <= 0 {
		window = DefaultMailgunWindow
	}
	if !withinWindow(ts, now, window) {
		return nil, fmt.Errorf("%w: Mailgun timestamp %s is outside the accepted window", ErrUnauthenticated, ts.Format(time.RFC3339))
	}
	if len(sig.Token) > maxMailgunToken {
		return nil, fmt.Errorf("%w: Mailgun token too long", ErrUnauthenticated)
	}
	mac := hmac.New(sha256.New, []byte(m.SigningKey))
	mac.Write([]byte(sig.Timestamp))
	mac.Write([]byte(sig.Token))
	want := mac.Sum(nil)
	// A subaccount's events carry parent-signature, made with the primary
	// account's key, so one key verifies all subaccounts.
	if !hexMACEqual(string(sig.Signature), want) && !hexMACEqual(string(sig.ParentSignature), want) {
		return nil, fmt.Errorf("%w: Mailgun signature does not match", ErrUnauthenticated)
	}
	// The token is remembered a little past the last instant the window
	// accepts its timestamp, so no replay slips in at the boundary.
	if m.guard().Seen(string(sig.Token), now, ts.Add(window+time.Second)) {
		return nil, fmt.Errorf("%w: Mailgun token already used", ErrUnauthenticated)
	}
	return parseMailgun(b.EventData, ts)
}

func (m *Mailgun) guard() ReplayGuard {
	if m.Replay != nil {
		return m.Replay
	}
	m.once.Do(func() { m.cache = NewTokenCache(defaultReplayTokens) })
	return m.cache
}

// hexMACEqual compares a hex signature with a MAC in constant time.
func hexMACEqual(sig string, mac []byte) bool {
	got, err := hex.DecodeString(strings.TrimSpace(sig))
	return err == nil && hmac.Equal(got, mac)
}

// mailgunEvent is Mailgun's event-data, as far as rapport reads it.
type mailgunEvent struct {
	Event     text `json:"event"`
	ID        text `json:"id"`
	Timestamp text `json:"timestamp"`
	Severity  text `json:"severity"`
	Reason    text `json:"reason"`
	Recipient text `json:"recipient"`
	Message   struct {
		Headers struct {
			MessageID text `json:"message-id"`
		} `json:"headers"`
	} `json:"message"`
	DeliveryStatus struct {
		Code         text `json:"code"`
		Message      text `json:"message"`
		Description  text `json:"description"`
		RetrySeconds text `json:"retry-seconds"`
	} `json:"delivery-status"`
}

// parseMailgun reads event-data. sent is the signature time, used when the
// event has no timestamp.
func parseMailgun(raw json.RawMessage, sent time.Time) ([]Event, error) {
	if t := bytes.TrimLeft(raw, " \t\r\n"); len(t) == 0 || t[0] != '{' {
		return nil, fmt.Errorf("%w: Mailgun body without event-data object", ErrMalformed)
	}
	var ev mailgunEvent
	if err := json.Unmarshal(raw, &ev); err != nil {
		return nil, fmt.Errorf("%w: Mailgun event-data: %v", ErrMalformed, err)
	}
	name := clip(oneLine(string(ev.Event)), 64)
	severity := clip(oneLine(string(ev.Severity)), 64)
	reason := strings.ToLower(oneLine(string(ev.Reason)))
	ds := ev.DeliveryStatus
	e := Event{
		Provider:   ProviderMailgun,
		Kind:       Ignored,
		MessageID:  messageID(string(ev.Message.Headers.MessageID)),
		ProviderID: id(string(ev.ID)),
		Type:       firstString(name, "unknown"),
		At:         firstTime(unixTime(string(ev.Timestamp)), sent),
	}
	diagnostic := detail(string(ev.Reason), string(ds.Code), firstString(string(ds.Message), string(ds.Description)))
	switch name {
	case "failed":
		if severity != "" {
			e.Type = "failed/" + severity
		}
		e.Detail = diagnostic
		switch {
		case severity == "temporary" && retrySeconds(string(ds.RetrySeconds)) > 0:
			// Mailgun will try again (greylisting, a busy server); when it
			// gives up it sends a permanent failure with reason "old".
			// Counting each attempt as a soft bounce would suppress good
			// addresses after one greylisted message.
			e.Detail = detail("Mailgun retries in "+strconv.Itoa(retrySeconds(string(ds.RetrySeconds)))+"s", diagnostic)
		case severity == "permanent" && strings.HasPrefix(reason, "suppress-"):
			// Mailgun did not send to an address on its bounce, complaint or
			// unsubscribe list: a consequence of an earlier event, and no
			// news about the address.
		case severity == "permanent" && reason == "old":
			// Mailgun gave up after retrying temporary failures: the address
			// may work another day.
			e.Kind = SoftBounce
		case severity == "permanent":
			e.Kind = HardBounce
		default:
			e.Kind = SoftBounce
		}
	case "complained":
		e.Kind = Complaint
	}
	return []Event{recipient(e, string(ev.Recipient))}, nil
}

// retrySeconds reads delivery-status.retry-seconds; 0 when absent or not a
// positive number.
func retrySeconds(s string) int {
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil || n < 0 {
		return 0
	}
	return n
}

// TokenCache is an in-memory ReplayGuard holding at most a fixed number of
// tokens. When full it forgets the oldest token first: only tokens whose
// signature verified are recorded, so only a burst of genuine webhooks can
// fill it, and the oldest tokens are the nearest to leaving the timestamp
// window that refuses them anyway. It is per process and safe for
// concurrent use.
type TokenCache struct {
	mu    sync.Mutex
	max   int
	seen  map[string]time.Time
	order []tokenExpiry // insertion order, for eviction
}

type tokenExpiry struct {
	token   string
	expires time.Time
}

// NewTokenCache returns a TokenCache that holds at most max tokens (at least
// one).
func NewTokenCache(max int) *TokenCache {
	if max < 1 {
		max = 1
	}
	return &TokenCache{max: max, seen: make(map[string]time.Time)}
}

// Seen implements ReplayGuard.
func (c *TokenCache) Seen(token string, now, expires time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for len(c.order) > 0 && !now.Before(c.order[0].expires) {
		c.pop()
	}
	if exp, ok := c.seen[token]; ok && now.Before(exp) {
		return true
	}
	for len(c.seen) >= c.max && len(c.order) > 0 {
		c.pop()
	}
	c.seen[token] = expires
	c.order = append(c.order, tokenExpiry{token, expires})
	return false
}

// Len reports how many tokens the cache holds.
func (c *TokenCache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.seen)
}

// pop forgets the oldest entry. A token recorded again after it expired has
// a newer entry further on; its old entry must not delete the new record.
func (c *TokenCache) pop() {
	e := c.order[0]
	c.order[0] = tokenExpiry{}
	c.order = c.order[1:]
	if exp, ok := c.seen[e.token]; ok && exp.Equal(e.expires) {
		delete(c.seen, e.token)
	}
}
