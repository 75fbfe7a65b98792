package webhook

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"
)

var testPayload = []byte(`{"type":"contact.unsubscribed","timestamp":"2026-01-02T03:04:05Z","data":{"contact_id":42}}`)

// counter is an httptest handler wrapper that counts requests, so tests can
// prove a server was never reached.
type counter struct{ n atomic.Int64 }

func (c *counter) wrap(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		c.n.Add(1)
		h(w, r)
	}
}

func newTestClient(t *testing.T, opts Options) *Client {
	t.Helper()
	c := NewClient(opts)
	t.Cleanup(c.CloseIdleConnections)
	return c
}

// fakeDNS answers A and AAAA queries from a fixed table and NXDOMAIN for
// anything else, over UDP on 127.0.0.1. It stands in for an attacker's
// authoritative server that points a public-looking name at an internal
// address, which no registration-time check can see.
func fakeDNS(t *testing.T, records map[string][]string) *net.Resolver {
	t.Helper()
	table := map[string][]netip.Addr{}
	for name, addrs := range records {
		for _, a := range addrs {
			table[strings.ToLower(name)+"."] = append(table[strings.ToLower(name)+"."], netip.MustParseAddr(a))
		}
	}
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	go func() {
		buf := make([]byte, 1500)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			if resp := dnsAnswer(buf[:n], table); resp != nil {
				_, _ = pc.WriteTo(resp, from)
			}
		}
	}()
	server := pc.LocalAddr().String()
	return &net.Resolver{
		PreferGo: true,
		Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "udp", server)
		},
	}
}

// dnsAnswer builds the response to one DNS query (RFC 1035 §4), or nil for
// a packet it does not understand.
func dnsAnswer(q []byte, table map[string][]netip.Addr) []byte {
	if len(q) < 12 || binary.BigEndian.Uint16(q[4:6]) != 1 {
		return nil
	}
	off := 12
	var labels []string
	for {
		if off >= len(q) {
			return nil
		}
		l := int(q[off])
		off++
		if l == 0 {
			break
		}
		if l&0xC0 != 0 || off+l > len(q) {
			return nil
		}
		labels = append(labels, string(q[off:off+l]))
		off += l
	}
	if off+4 > len(q) {
		return nil
	}
	qtype := binary.BigEndian.Uint16(q[off : off+2])
	question := q[12 : off+4]
	name := strings.ToLower(strings.Join(labels, ".")) + "."

	addrs, known := table[name]
	var answers [][]byte
	for _, a := range addrs {
		switch {
		case qtype == 1 && a.Is4():
			b := a.As4()
			answers = append(answers, b[:])
		case qtype == 28 && a.Is6():
			b := a.As16()
			answers = append(answers, b[:])
		}
	}
	rcode := byte(0)
	if !known {
		rcode = 3 // NXDOMAIN
	}
	resp := []byte{q[0], q[1], 0x84 | q[2]&0x01, 0x80 | rcode, 0, 1, 0, byte(len(answers)), 0, 0, 0, 0}
	resp = append(resp, question...)
	for _, rdata := range answers {
		resp = append(resp, 0xC0, 0x0C) // name: pointer to the question's
		resp = binary.BigEndian.AppendUint16(resp, qtype)
		resp = append(resp, 0, 1, 0, 0, 0, 0) // class IN, TTL 0
		resp = binary.BigEndian.AppendUint16(resp, uint16(len(rdata)))
		resp = append(resp, rdata...)
	}
	return resp
}

// TestDeliverRefusesNonPublicAddresses is the SSRF guarantee: with
// AllowPrivate false, nothing non-public is connected to, whether the URL
// names it by IP literal, by "localhost", or by a hostname whose DNS answer
// (which ValidateURL never sees) points inside. A live server listens on
// 127.0.0.1 throughout and must receive nothing.
func TestDeliverRefusesNonPublicAddresses(t *testing.T) {
	var hits counter
	srv := httptest.NewTLSServer(hits.wrap(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	port := srv.Listener.Addr().(*net.TCPAddr).Port
	p := strconv.Itoa(port)

	resolver := fakeDNS(t, map[string][]string{
		"rebind.test":   {"127.0.0.1"},
		"metadata.test": {"169.254.169.254"},
		"intranet.test": {"10.0.0.1"},
		"v6.test":       {"::1"},
		"ula.test":      {"fd00::1"},
		"mapped.test":   {"::ffff:127.0.0.1"},
		"mixed.test":    {"127.0.0.1", "fd00::1"},
	})
	c := newTestClient(t, Options{Resolver: resolver, Timeout: 5 * time.Second})

	tests := []struct {
		url      string
		hostname bool   // passes ValidateURL: only the dial-time check can stop it
		want     string // in the error message
	}{
		{url: "https://127.0.0.1:" + p + "/hook", want: "127.0.0.1 is loopback"},
		{url: "https://localhost:" + p + "/hook", want: "is loopback"},
		{url: "https://[::1]:" + p + "/hook", want: "::1 is loopback"},
		{url: "https://10.0.0.1/hook", want: "10.0.0.1 is private"},
		{url: "https://169.254.169.254/latest/meta-data/", want: "169.254.169.254 is link-local (includes the cloud metadata address"},
		{url: "https://[::ffff:127.0.0.1]:" + p + "/", want: "loopback"},
		{url: "https://[::ffff:169.254.169.254]/", want: "metadata"},
		{url: "https://rebind.test:" + p + "/hook", hostname: true, want: "127.0.0.1 is loopback"},
		{url: "https://metadata.test/latest/meta-data/", hostname: true, want: "169.254.169.254 is link-local"},
		{url: "https://intranet.test/", hostname: true, want: "10.0.0.1 is private"},
		{url: "https://v6.test:" + p + "/", hostname: true, want: "::1 is loopback"},
		{url: "https://ula.test/", hostname: true, want: "fd00::1 is unique local"},
		{url: "https://mapped.test:" + p + "/", hostname: true, want: "loopback"},
		{url: "https://mixed.test:" + p + "/", hostname: true, want: "refused non-public address"},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			if tt.hostname {
				if err := ValidateURL(tt.url, false); err != nil {
					t.Fatalf("ValidateURL = %v; this case is meant to get past registration", err)
				}
			}
			start := time.Now()
			res := c.Deliver(context.Background(), tt.url, []string{vectorSecret}, "evt_ssrf", time.Now(), testPayload)
			if res.Success || res.StatusCode != 0 {
				t.Fatalf("Deliver = %+v, want no response", res)
			}
			t.Log(res.Err)
			if !errors.Is(res.Err, ErrRefusedAddress) || !IsRefused(res.Err) {
				t.Fatalf("Err = %v, want ErrRefusedAddress", res.Err)
			}
			var op *net.OpError
			if !errors.As(res.Err, &op) || op.Op != "dial" {
				t.Fatalf("Err = %v, want it to come from the dialer (*net.OpError dial)", res.Err)
			}
			if !strings.Contains(res.Err.Error(), tt.want) {
				t.Fatalf("Err = %q, want it to mention %q", res.Err, tt.want)
			}
			if d := time.Since(start); d > 2*time.Second {
				t.Fatalf("refusal took %v; it must happen before connecting", d)
			}
		})
	}
	if n := hits.n.Load(); n != 0 {
		t.Fatalf("the loopback server received %d requests", n)
	}

	// Control: the same names reach the server when the policy is off, so
	// the refusals above are the policy's doing, not DNS failing.
	var plainHits counter
	plain := httptest.NewServer(plainHits.wrap(func(w http.ResponseWriter, r *http.Request) {}))
	defer plain.Close()
	pp := strconv.Itoa(plain.Listener.Addr().(*net.TCPAddr).Port)
	open := newTestClient(t, Options{Resolver: resolver, AllowPrivate: true})
	for _, host := range []string{"rebind.test", "mapped.test", "localhost"} {
		res := open.Deliver(context.Background(), "http://"+host+":"+pp+"/", []string{vectorSecret}, "evt_ssrf", time.Now(), testPayload)
		if !res.Success {
			t.Errorf("AllowPrivate delivery to %s = %+v, want success", host, res)
		}
	}
}

func TestDeliverDoesNotFollowRedirects(t *testing.T) {
	var targetHits counter
	target := httptest.NewServer(targetHits.wrap(func(w http.ResponseWriter, r *http.Request) {}))
	defer target.Close()
	var redirectorHits counter
	redirector := httptest.NewServer(redirectorHits.wrap(func(w http.ResponseWriter, r *http.Request) {
		code, _ := strconv.Atoi(strings.TrimPrefix(r.URL.Path, "/"))
		http.Redirect(w, r, target.URL+"/moved", code)
	}))
	defer redirector.Close()

	c := newTestClient(t, Options{AllowPrivate: true})
	for _, code := range []int{301, 302, 303, 307, 308} {
		res := c.Deliver(context.Background(), redirector.URL+"/"+strconv.Itoa(code), []string{vectorSecret}, "evt_redirect", time.Now(), testPayload)
		if res.Err != nil || res.StatusCode != code || res.Success {
			t.Errorf("%d: Deliver = %+v, want the %d itself as a failure", code, res, code)
		}
		if res.Location != target.URL+"/moved" {
			t.Errorf("%d: Location = %q, want %q", code, res.Location, target.URL+"/moved")
		}
	}
	if n := targetHits.n.Load(); n != 0 {
		t.Fatalf("redirect target received %d requests, want 0", n)
	}
	if n := redirectorHits.n.Load(); n != 5 {
		t.Fatalf("redirector received %d requests, want 5", n)
	}
}

// TestDeliverSignsVerifiably: a receiver running Verify on what arrives
// accepts it, and sees the event id, JSON content type and user agent.
func TestDeliverSignsVerifiably(t *testing.T) {
	secret := mustSecret(t)
	type seen struct {
		id, ts, ctype, ua, method string
		err                       error
	}
	var mu sync.Mutex
	var got []seen
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		err := Verify([]string{secret}, r.Header, body, time.Now(), 0)
		mu.Lock()
		got = append(got, seen{r.Header.Get("webhook-id"), r.Header.Get("webhook-timestamp"), r.Header.Get("Content-Type"), r.UserAgent(), r.Method, err})
		mu.Unlock()
		if err != nil {
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()

	c := newTestClient(t, Options{AllowPrivate: true})
	first := time.Now().Add(-time.Minute)
	for _, ts := range []time.Time{first, time.Now()} {
		res := c.Deliver(context.Background(), srv.URL+"/hooks", []string{secret}, "evt_01JSTABLE", ts, testPayload)
		if !res.Success || res.StatusCode != http.StatusNoContent || res.Err != nil {
			t.Fatalf("Deliver = %+v, want 204 success", res)
		}
		if res.Latency <= 0 {
			t.Errorf("Latency = %v", res.Latency)
		}
	}
	if len(got) != 2 {
		t.Fatalf("server saw %d requests", len(got))
	}
	for _, s := range got {
		if s.err != nil || s.id != "evt_01JSTABLE" || s.ctype != "application/json" || s.ua != DefaultUserAgent || s.method != http.MethodPost {
			t.Errorf("receiver saw %+v", s)
		}
	}
	if got[0].ts == got[1].ts {
		t.Errorf("retries carried the same webhook-timestamp %s; it is the attempt's time", got[0].ts)
	}

	// A wrong secret is caught by the receiver and reported as a failure,
	// with the receiver's message in the excerpt.
	res := c.Deliver(context.Background(), srv.URL, []string{mustSecret(t)}, "evt_wrong", time.Now(), testPayload)
	if res.Success || res.StatusCode != http.StatusUnauthorized || !strings.Contains(res.Excerpt, "no matching signature") {
		t.Fatalf("wrong secret: Deliver = %+v", res)
	}
}

// TestDeliverDuringRotation: signed with new and old secrets, a receiver
// still configured with the old one accepts the delivery.
func TestDeliverDuringRotation(t *testing.T) {
	oldSecret, newSecret := mustSecret(t), mustSecret(t)
	for name, known := range map[string]string{"old": oldSecret, "new": newSecret} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			body, _ := io.ReadAll(r.Body)
			if err := Verify([]string{known}, r.Header, body, time.Now(), 0); err != nil {
				http.Error(w, err.Error(), http.StatusUnauthorized)
			}
		}))
		c := newTestClient(t, Options{AllowPrivate: true})
		res := c.Deliver(context.Background(), srv.URL, []string{newSecret, oldSecret}, "evt_rotation", time.Now(), testPayload)
		srv.Close()
		if !res.Success {
			t.Errorf("receiver knowing only the %s secret: %+v", name, res)
		}
	}
}

func TestDeliverStatusCodes(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		code, _ := strconv.Atoi(r.URL.Query().Get("status"))
		if ra := r.URL.Query().Get("retry_after"); ra != "" {
			w.Header().Set("Retry-After", ra)
		}
		if code >= 300 && code < 400 {
			w.Header().Set("Location", "https://elsewhere.example/")
		}
		w.WriteHeader(code)
		_, _ = io.WriteString(w, "status "+strconv.Itoa(code))
	}))
	defer srv.Close()
	c := newTestClient(t, Options{AllowPrivate: true})

	tests := []struct {
		status     int
		retryAfter string
		success    bool
		gone       bool
		wantRA     time.Duration
	}{
		{status: 200, success: true},
		{status: 201, success: true},
		{status: 202, success: true},
		{status: 204, success: true},
		{status: 299, success: true},
		{status: 300},
		{status: 304},
		{status: 400},
		{status: 401},
		{status: 404},
		{status: 410, gone: true},
		{status: 429, retryAfter: "120", wantRA: 2 * time.Minute},
		{status: 500},
		{status: 502},
		{status: 503, retryAfter: "86400", wantRA: MaxBackoff},
		{status: 504},
		{status: 200, retryAfter: "60", success: true}, // ignored on success
	}
	for _, tt := range tests {
		u := srv.URL + "/?status=" + strconv.Itoa(tt.status) + "&retry_after=" + url.QueryEscape(tt.retryAfter)
		res := c.Deliver(context.Background(), u, []string{vectorSecret}, "evt_status", time.Now(), testPayload)
		if res.Err != nil || res.StatusCode != tt.status {
			t.Errorf("%d: Deliver = %+v", tt.status, res)
			continue
		}
		if res.Success != tt.success || res.Gone() != tt.gone || res.RetryAfter != tt.wantRA {
			t.Errorf("%d: Success %v Gone %v RetryAfter %v, want %v %v %v", tt.status, res.Success, res.Gone(), res.RetryAfter, tt.success, tt.gone, tt.wantRA)
		}
		if tt.status != 204 && tt.status != 304 && res.Excerpt != "status "+strconv.Itoa(tt.status) {
			t.Errorf("%d: Excerpt = %q", tt.status, res.Excerpt)
		}
	}
}

func TestDeliverTimeout(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)

	c := newTestClient(t, Options{AllowPrivate: true, Timeout: 300 * time.Millisecond})
	res := c.Deliver(context.Background(), srv.URL, []string{vectorSecret}, "evt_slow", time.Now(), testPayload)
	var ne net.Error
	if res.Success || res.StatusCode != 0 || !errors.As(res.Err, &ne) || !ne.Timeout() {
		t.Fatalf("Deliver = %+v, want a timeout error", res)
	}
	if res.Latency < 300*time.Millisecond || res.Latency > 3*time.Second {
		t.Fatalf("Latency = %v, want about the 300ms timeout", res.Latency)
	}
}

func TestDeliverHonoursContext(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	res := newTestClient(t, Options{AllowPrivate: true}).Deliver(ctx, srv.URL, []string{vectorSecret}, "evt_ctx", time.Now(), testPayload)
	if !errors.Is(res.Err, context.Canceled) {
		t.Fatalf("Deliver with cancelled context = %+v", res)
	}
}

// TestDeliverCapsResponseBody: an endpoint that streams without end does
// not hold the delivery until the timeout, and only the excerpt is kept.
func TestDeliverCapsResponseBody(t *testing.T) {
	var written atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		chunk := []byte(strings.Repeat("x", 32<<10))
		for r.Context().Err() == nil {
			n, err := w.Write(chunk)
			written.Add(int64(n))
			if err != nil {
				return
			}
		}
	}))
	defer srv.Close()

	c := newTestClient(t, Options{AllowPrivate: true, Timeout: 10 * time.Second})
	start := time.Now()
	res := c.Deliver(context.Background(), srv.URL, []string{vectorSecret}, "evt_big", time.Now(), testPayload)
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("Deliver took %v reading an endless body", d)
	}
	if !res.Success || res.Err != nil || len(res.Excerpt) != ExcerptBytes || strings.Trim(res.Excerpt, "x") != "" {
		t.Fatalf("Deliver = {Status %d, Success %v, Err %v, len(Excerpt) %d}", res.StatusCode, res.Success, res.Err, len(res.Excerpt))
	}
}

func TestDeliverExcerptCutsAtRuneBoundary(t *testing.T) {
	body := strings.Repeat("a", ExcerptBytes-1) + "é and more"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusBadRequest)
		_, _ = io.WriteString(w, body)
	}))
	defer srv.Close()
	res := newTestClient(t, Options{AllowPrivate: true}).Deliver(context.Background(), srv.URL, []string{vectorSecret}, "evt_utf8", time.Now(), testPayload)
	if res.Excerpt != strings.Repeat("a", ExcerptBytes-1) {
		t.Fatalf("Excerpt = %d bytes ending %q, want the %d ASCII bytes before the cut rune", len(res.Excerpt), res.Excerpt[max(0, len(res.Excerpt)-4):], ExcerptBytes-1)
	}
}

func TestExcerpt(t *testing.T) {
	long := strings.Repeat("a", ExcerptBytes)
	tests := []struct{ in, want string }{
		{"", ""},
		{"ok", "ok"},
		{"bad \xff byte", "bad \uFFFD byte"},
		{"ends mid rune \xe2\x82", "ends mid rune "},
		{"complete €", "complete €"},
		{long + "tail", long},
		{long[:ExcerptBytes-2] + "€", long[:ExcerptBytes-2]}, // € is 3 bytes; 1 would fit
		{long[:ExcerptBytes-3] + "€", long[:ExcerptBytes-3] + "€"},
		{long[:ExcerptBytes-4] + "😀", long[:ExcerptBytes-4] + "😀"},
		{long[:ExcerptBytes-3] + "😀", long[:ExcerptBytes-3]},
	}
	for _, tt := range tests {
		got := excerpt([]byte(tt.in))
		if got != tt.want || !utf8.ValidString(got) || len(got) > ExcerptBytes {
			t.Errorf("excerpt(%d bytes ending %q) = %d bytes ending %q, want %d bytes", len(tt.in), tail(tt.in), len(got), tail(got), len(tt.want))
		}
	}
}

func tail(s string) string { return s[max(0, len(s)-8):] }

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		v    string
		want time.Duration
	}{
		{"", 0},
		{"0", 0},
		{"-5", 0},
		{"30", 30 * time.Second},
		{" 120 ", 2 * time.Minute},
		{"28800", MaxBackoff},
		{"99999999999999999999", 0}, // overflows int64: unparsable
		{"999999999999", MaxBackoff},
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second},
		{now.Add(-time.Hour).Format(http.TimeFormat), 0},
		{now.Add(48 * time.Hour).Format(http.TimeFormat), MaxBackoff},
		{"soon", 0},
		{"1.5", 0},
	}
	for _, tt := range tests {
		if got := parseRetryAfter(tt.v, now); got != tt.want {
			t.Errorf("parseRetryAfter(%q) = %v, want %v", tt.v, got, tt.want)
		}
	}
}

func TestDeliverRejectsBadInputBeforeSending(t *testing.T) {
	var hits counter
	srv := httptest.NewServer(hits.wrap(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	strict := newTestClient(t, Options{})
	open := newTestClient(t, Options{AllowPrivate: true})
	ts := time.Now()

	tests := []struct {
		name string
		c    *Client
		url  string
		sec  []string
		id   string
		want error
	}{
		{"http without AllowPrivate", strict, srv.URL, []string{vectorSecret}, "evt_1", ErrInvalidURL},
		{"credentials in URL", open, strings.Replace(srv.URL, "http://", "http://u:p@", 1), []string{vectorSecret}, "evt_1", ErrInvalidURL},
		{"no secrets", open, srv.URL, nil, "evt_1", ErrInvalidSecret},
		{"bad secret", open, srv.URL, []string{"whsec_nope"}, "evt_1", ErrInvalidSecret},
		{"id with dot", open, srv.URL, []string{vectorSecret}, "evt.1", ErrInvalidID},
	}
	for _, tt := range tests {
		res := tt.c.Deliver(context.Background(), tt.url, tt.sec, tt.id, ts, testPayload)
		if !errors.Is(res.Err, tt.want) || res.Success {
			t.Errorf("%s: Deliver = %+v, want %v", tt.name, res, tt.want)
		}
	}
	if n := hits.n.Load(); n != 0 {
		t.Fatalf("server received %d requests", n)
	}
}

// TestClientTransportSettings pins the settings whose loss would reopen a
// hole without any other test failing: a proxy from the environment would
// make the dial check see the proxy's address, and a followed redirect
// would reach an address never validated.
func TestClientTransportSettings(t *testing.T) {
	c := NewClient(Options{})
	tr, ok := c.hc.Transport.(*http.Transport)
	if !ok {
		t.Fatalf("transport is %T", c.hc.Transport)
	}
	if tr.Proxy != nil {
		t.Error("transport uses a proxy function; it must connect directly")
	}
	//lint:ignore SA1019 checking that the deprecated hooks are unset is the point
	if tr.DialTLSContext != nil || tr.DialTLS != nil || tr.Dial != nil {
		t.Error("a dial hook other than DialContext bypasses the address check")
	}
	if c.hc.Timeout != DefaultTimeout || tr.TLSHandshakeTimeout != DefaultTLSHandshakeTimeout {
		t.Errorf("timeouts: total %v, TLS %v", c.hc.Timeout, tr.TLSHandshakeTimeout)
	}
	req := httptest.NewRequest(http.MethodPost, "https://a.example/", nil)
	if err := c.hc.CheckRedirect(req, []*http.Request{req}); !errors.Is(err, http.ErrUseLastResponse) {
		t.Errorf("CheckRedirect = %v, want http.ErrUseLastResponse", err)
	}
}
