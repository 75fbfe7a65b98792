package webhook

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Defaults for Options fields left zero.
const (
	// DefaultTimeout bounds one whole attempt: connecting, TLS, sending the
	// request and reading the (capped) response. The specification
	// recommends 15 to 30 seconds so receivers have time to acknowledge;
	// its lower end keeps a slow endpoint from holding a delivery worker.
	DefaultTimeout = 15 * time.Second
	// DefaultConnectTimeout bounds the TCP connect, per address tried.
	DefaultConnectTimeout = 5 * time.Second
	// DefaultTLSHandshakeTimeout bounds the TLS handshake.
	DefaultTLSHandshakeTimeout = 5 * time.Second
	// DefaultMaxResponseBytes is how much of a response body is read at
	// most. Reading a small body to the end lets the connection be reused;
	// past this the connection is dropped instead, so a hostile endpoint
	// cannot make rapport download without bound.
	DefaultMaxResponseBytes = 64 << 10
	// DefaultUserAgent identifies rapport to receivers and their firewalls.
	DefaultUserAgent = "rapport-webhooks/1"
)

// ExcerptBytes is how much of a response body Result.Excerpt keeps: enough
// for an error message in the delivery log, little enough to store for
// every attempt.
const ExcerptBytes = 1 << 10

// maxResponseHeaderBytes bounds response headers; net/http's 1 MB default
// is generous for a reply whose headers rapport ignores but for two.
const maxResponseHeaderBytes = 32 << 10

// Options configure a Client. The zero value is the production setting.
type Options struct {
	// AllowPrivate turns off the address policy and allows http URLs, so
	// tests can deliver to httptest servers on 127.0.0.1 and developers to
	// a receiver on their machine. It must stay false in production.
	AllowPrivate bool
	// Timeout bounds one attempt end to end (DefaultTimeout when zero).
	Timeout time.Duration
	// ConnectTimeout bounds each TCP connect (DefaultConnectTimeout when zero).
	ConnectTimeout time.Duration
	// TLSHandshakeTimeout bounds the TLS handshake
	// (DefaultTLSHandshakeTimeout when zero).
	TLSHandshakeTimeout time.Duration
	// MaxResponseBytes caps how much of a response body is read
	// (DefaultMaxResponseBytes when zero or negative).
	MaxResponseBytes int64
	// UserAgent is sent with every request (DefaultUserAgent when empty).
	UserAgent string
	// Resolver resolves endpoint hostnames; nil means net.DefaultResolver.
	// The address policy applies to whatever it answers, which is what lets
	// tests point a name at 127.0.0.1 with a fake DNS server.
	Resolver *net.Resolver
}

// Client delivers signed webhooks to customer endpoints. It is safe for
// concurrent use and keeps connections alive between deliveries, so make
// one and share it.
type Client struct {
	hc           *http.Client
	allowPrivate bool
	maxBody      int64
	userAgent    string
}

// NewClient returns a Client configured by opts.
//
// Its transport ignores HTTP_PROXY and friends: a proxy would make the
// dial-time address check see the proxy's address instead of the
// endpoint's. Redirects are never followed, because the address a redirect
// points to was never validated and the specification counts a 3xx as a
// failure anyway (the customer should update the URL).
func NewClient(opts Options) *Client {
	timeout := orDefault(opts.Timeout, DefaultTimeout)
	dialer := &net.Dialer{
		Timeout:   orDefault(opts.ConnectTimeout, DefaultConnectTimeout),
		KeepAlive: 30 * time.Second,
		Resolver:  opts.Resolver,
	}
	if !opts.AllowPrivate {
		dialer.Control = dialControl
	}
	tr := &http.Transport{
		Proxy:                  nil,
		DialContext:            dialer.DialContext,
		TLSClientConfig:        &tls.Config{MinVersion: tls.VersionTLS12},
		TLSHandshakeTimeout:    orDefault(opts.TLSHandshakeTimeout, DefaultTLSHandshakeTimeout),
		ResponseHeaderTimeout:  timeout,
		ExpectContinueTimeout:  time.Second,
		ForceAttemptHTTP2:      true,
		MaxIdleConns:           100,
		MaxIdleConnsPerHost:    4,
		IdleConnTimeout:        90 * time.Second,
		MaxResponseHeaderBytes: maxResponseHeaderBytes,
		// The excerpt is for people reading a log; decompressing would only
		// let a small compressed reply expand in memory.
		DisableCompression: true,
	}
	maxBody := opts.MaxResponseBytes
	if maxBody <= 0 {
		maxBody = DefaultMaxResponseBytes
	}
	ua := opts.UserAgent
	if ua == "" {
		ua = DefaultUserAgent
	}
	return &Client{
		hc: &http.Client{
			Transport: tr,
			Timeout:   timeout,
			CheckRedirect: func(*http.Request, []*http.Request) error {
				return http.ErrUseLastResponse
			},
		},
		allowPrivate: opts.AllowPrivate,
		maxBody:      maxBody,
		userAgent:    ua,
	}
}

func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

// CloseIdleConnections closes kept-alive connections, for shutdown and for
// tests that close their servers.
func (c *Client) CloseIdleConnections() { c.hc.CloseIdleConnections() }

// Result is the outcome of one delivery attempt, what the delivery log
// records and the retry policy acts on.
type Result struct {
	// StatusCode is the response's HTTP status, 0 when none was received.
	StatusCode int
	// Latency is the time from sending the request to receiving the
	// response headers, or to the failure when there was no response.
	Latency time.Duration
	// Excerpt is the start of the response body, at most ExcerptBytes and
	// cut at a UTF-8 boundary, for the delivery log.
	Excerpt string
	// Location is a 3xx response's Location header (cut to ExcerptBytes),
	// so the log can tell the customer where their endpoint moved.
	Location string
	// RetryAfter is the delay a 429 or 503 (or any failed) response asked
	// for in its Retry-After header, 0 when absent or unparsable, at most
	// MaxBackoff. Schedule the next attempt no sooner than this.
	RetryAfter time.Duration
	// Success is true for a 2xx response and only then: the specification
	// counts every other status, a redirect included, as a failure.
	Success bool
	// Err is why no response was received: an invalid URL or secret, a
	// refused address (errors.Is(Err, ErrRefusedAddress)), a DNS, connect,
	// TLS or timeout failure. It is nil whenever StatusCode is set.
	Err error
}

// Gone reports whether the endpoint answered 410 Gone, which the
// specification reads as "stop sending": disable the endpoint now instead
// of retrying.
func (r Result) Gone() bool { return r.StatusCode == http.StatusGone }

// Deliver makes one attempt to POST payload (JSON) to endpointURL, signed
// with secrets for event id at time ts (the attempt's time, normally now),
// and reports what happened. It does not retry; the caller schedules the
// next attempt with Backoff. The URL is checked again as ValidateURL checks
// its form, but the address it points to is checked when connecting, so a
// refused address shows up as a dial error wrapping ErrRefusedAddress.
func (c *Client) Deliver(ctx context.Context, endpointURL string, secrets []string, id string, ts time.Time, payload []byte) Result {
	if _, err := checkURLShape(endpointURL, c.allowPrivate); err != nil {
		return Result{Err: err}
	}
	h, err := SignHeaders(secrets, id, ts, payload)
	if err != nil {
		return Result{Err: err}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpointURL, bytes.NewReader(payload))
	if err != nil {
		return Result{Err: err}
	}
	for k, v := range h {
		req.Header[k] = v
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", c.userAgent)

	start := time.Now()
	resp, err := c.hc.Do(req)
	latency := time.Since(start)
	if err != nil {
		return Result{Latency: latency, Err: err}
	}
	defer resp.Body.Close()

	r := Result{
		StatusCode: resp.StatusCode,
		Latency:    latency,
		Success:    resp.StatusCode >= 200 && resp.StatusCode <= 299,
	}
	// Read errors after the status line are ignored: the receiver has
	// answered, and the status is what counts.
	head := make([]byte, min(int64(ExcerptBytes), c.maxBody))
	n, _ := io.ReadFull(resp.Body, head)
	r.Excerpt = excerpt(head[:n])
	if int64(n) == int64(len(head)) {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, c.maxBody-int64(n)))
	}
	if resp.StatusCode >= 300 && resp.StatusCode <= 399 {
		r.Location = excerpt([]byte(resp.Header.Get("Location")))
	}
	if !r.Success {
		r.RetryAfter = parseRetryAfter(resp.Header.Get("Retry-After"), time.Now())
	}
	return r
}

// excerpt returns b, at most ExcerptBytes of it, as a string that is valid
// UTF-8: a rune cut at the end is dropped, invalid bytes elsewhere become
// U+FFFD, so the log never stores half a character.
func excerpt(b []byte) string {
	if len(b) > ExcerptBytes {
		b = b[:ExcerptBytes]
	}
	// Drop a trailing incomplete rune (at most utf8.UTFMax-1 bytes).
	for i := 1; i < utf8.UTFMax && i <= len(b); i++ {
		c := b[len(b)-i]
		if c < utf8.RuneSelf {
			break // ASCII: nothing incomplete after it
		}
		if utf8.RuneStart(c) {
			if !utf8.FullRune(b[len(b)-i:]) {
				b = b[:len(b)-i]
			}
			break
		}
	}
	return strings.ToValidUTF8(string(b), "\uFFFD")
}

// parseRetryAfter reads a Retry-After header in either of its forms,
// delay-seconds or an HTTP date, as a delay from now clamped to
// [0, MaxBackoff]: a receiver may ask rapport to wait, not to stop.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	var d time.Duration
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs > int64(MaxBackoff/time.Second) {
			return MaxBackoff
		}
		d = time.Duration(secs) * time.Second
	} else if t, err := http.ParseTime(v); err == nil {
		d = t.Sub(now)
	} else {
		return 0
	}
	return max(0, min(d, MaxBackoff))
}

// IsRefused reports whether err (typically Result.Err) is the address
// policy refusing a connection, as opposed to the endpoint being down:
// retrying will not help, and the customer should be told their URL points
// at a non-public address.
func IsRefused(err error) bool { return errors.Is(err, ErrRefusedAddress) }
