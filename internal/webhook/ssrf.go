package webhook

import (
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"syscall"
)

// ErrRefusedAddress is wrapped by every error for an address a delivery may
// not connect to: loopback, private, link-local (including the cloud
// metadata address), CGNAT, multicast, unspecified and other non-public
// ranges, in IPv4, IPv6 and IPv4-in-IPv6 forms. It reaches callers inside
// the *url.Error and *net.OpError that net/http returns, so match it with
// errors.Is.
var ErrRefusedAddress = errors.New("webhook: refused non-public address")

// ErrInvalidURL is wrapped by every error ValidateURL returns, so the API
// can answer 422 for it and 500 for anything else.
var ErrInvalidURL = errors.New("invalid webhook URL")

// maxURLLen bounds registered URLs; browsers and proxies start failing
// around 2 KB, and a bound keeps stored rows and logs small.
const maxURLLen = 2048

// refusedRange is one block of addresses no delivery may reach, with the
// name used in error messages so an operator reading a log knows why.
type refusedRange struct {
	prefix netip.Prefix
	why    string
}

// refusedRanges lists the IPv4 and IPv6 blocks that are not reachable
// public unicast addresses (IANA special-purpose registries, RFC 6890).
// Some, like the documentation blocks, cannot be reached at all; refusing
// them costs nothing and keeps the list simple to audit. IPv4-mapped,
// IPv4-compatible, NAT64 and 6to4 IPv6 addresses are unwrapped before this
// list is consulted (see refusedReason).
var refusedRanges = func() []refusedRange {
	rs := []struct{ cidr, why string }{
		{"0.0.0.0/8", "unspecified (\"this network\")"},
		{"10.0.0.0/8", "private (RFC 1918)"},
		{"100.64.0.0/10", "carrier-grade NAT (RFC 6598)"},
		{"127.0.0.0/8", "loopback"},
		{"169.254.0.0/16", "link-local (includes the cloud metadata address 169.254.169.254)"},
		{"172.16.0.0/12", "private (RFC 1918)"},
		{"192.0.0.0/24", "IETF protocol assignments"},
		{"192.0.2.0/24", "documentation (TEST-NET-1)"},
		{"192.88.99.0/24", "6to4 relay anycast"},
		{"192.168.0.0/16", "private (RFC 1918)"},
		{"198.18.0.0/15", "benchmarking"},
		{"198.51.100.0/24", "documentation (TEST-NET-2)"},
		{"203.0.113.0/24", "documentation (TEST-NET-3)"},
		{"224.0.0.0/4", "multicast"},
		{"240.0.0.0/4", "reserved (includes broadcast 255.255.255.255)"},

		{"::/128", "unspecified"},
		{"::1/128", "loopback"},
		{"64:ff9b:1::/48", "local-use NAT64 (RFC 8215)"},
		{"100::/64", "discard-only"},
		{"2001::/23", "IETF protocol assignments (includes Teredo)"},
		{"2001:db8::/32", "documentation"},
		{"fc00::/7", "unique local (private IPv6)"},
		{"fe80::/10", "link-local"},
		{"fec0::/10", "site-local (deprecated private IPv6)"},
		{"ff00::/8", "multicast"},
	}
	out := make([]refusedRange, len(rs))
	for i, r := range rs {
		out[i] = refusedRange{netip.MustParsePrefix(r.cidr), r.why}
	}
	return out
}()

// IPv6 blocks that embed an IPv4 address: the IPv4 address is what the
// packet finally reaches (through a NAT64 or 6to4 gateway), so it is
// checked in place of the IPv6 one.
var (
	ipv4Compatible = netip.MustParsePrefix("::/96")        // deprecated ::a.b.c.d
	nat64          = netip.MustParsePrefix("64:ff9b::/96") // RFC 6052 well-known prefix
	sixToFour      = netip.MustParsePrefix("2002::/16")    // RFC 3056, address in bits 16–47
)

// refusedReason says why ip may not be connected to, or "" when it is a
// public unicast address. The zone is dropped first because
// netip.Prefix.Contains never matches a zoned address, which would otherwise
// let "fe80::1%eth0" through.
func refusedReason(ip netip.Addr) string {
	if !ip.IsValid() {
		return "not a valid IP address"
	}
	ip = ip.WithZone("")
	if ip.Is4In6() {
		if why := refusedReason(ip.Unmap()); why != "" {
			return why + ", IPv4-mapped"
		}
		return ""
	}
	if ip.Is6() {
		b := ip.As16()
		switch {
		case ip == netip.IPv6Unspecified() || ip == netip.IPv6Loopback():
			// Fall through to the table for their own names.
		case ipv4Compatible.Contains(ip):
			return "IPv4-compatible IPv6 (deprecated)"
		case nat64.Contains(ip):
			if why := refusedReason(netip.AddrFrom4([4]byte(b[12:16]))); why != "" {
				return why + ", through NAT64"
			}
			return ""
		case sixToFour.Contains(ip):
			if why := refusedReason(netip.AddrFrom4([4]byte(b[2:6]))); why != "" {
				return why + ", through 6to4"
			}
			return ""
		}
	}
	for _, r := range refusedRanges {
		if r.prefix.Contains(ip) {
			return r.why
		}
	}
	return ""
}

// checkAddr is the error for connecting to ip, or nil when that is allowed.
func checkAddr(ip netip.Addr) error {
	if why := refusedReason(ip); why != "" {
		return fmt.Errorf("%w: %s is %s", ErrRefusedAddress, ip, why)
	}
	return nil
}

// dialControl is the net.Dialer Control hook that enforces the address
// policy. It runs for every address the dialer tries, after DNS resolution
// and before connect(2), so it sees the IP the socket is about to reach:
// neither a hostname that resolves to a private address nor one whose DNS
// answer changes between registration and delivery (DNS rebinding) gets
// past it. An address it cannot parse is refused: this is a guard, it fails
// closed.
func dialControl(network, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("%w: cannot parse dial address %q (%s)", ErrRefusedAddress, address, network)
	}
	return checkAddr(ap.Addr())
}

// ValidateURL checks an endpoint URL when a customer registers it, so that
// a mistake is reported at once with a message naming the problem, instead
// of as failed deliveries later. It requires an absolute https URL (http is
// accepted too when allowPrivate is set, for development and tests) with a
// host, an optional port from 1 to 65535, and no user name or password
// (credentials in URLs leak into logs; receivers authenticate rapport by
// the signature instead). A host written as an IP address in a refused
// range, "localhost", a name under ".localhost", or a number-like host that
// some resolvers read as an IPv4 address ("2130706433", "0x7f.1") is
// refused unless allowPrivate is set.
//
// Other hostnames are not resolved here: what a name resolves to can change
// after registration, so the Client checks the resolved address on every
// connection instead, and that check is the one that matters.
func ValidateURL(raw string, allowPrivate bool) error {
	u, err := checkURLShape(raw, allowPrivate)
	if err != nil {
		return err
	}
	if allowPrivate {
		return nil
	}
	host := strings.TrimSuffix(strings.ToLower(u.Hostname()), ".")
	if ip, err := netip.ParseAddr(host); err == nil {
		if err := checkAddr(ip); err != nil {
			return fmt.Errorf("%w: host %s: %w", ErrInvalidURL, u.Hostname(), err)
		}
		return nil
	}
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return fmt.Errorf("%w: host %q is a loopback name", ErrInvalidURL, u.Hostname())
	}
	if numericHost(host) {
		return fmt.Errorf("%w: host %q looks like an IP address in a non-standard form; write it as a hostname or a dotted-decimal address", ErrInvalidURL, u.Hostname())
	}
	return nil
}

// checkURLShape is the part of ValidateURL that does not depend on where
// the host points; Deliver runs it again on every attempt because a stored
// URL is only as good as the code that stored it.
func checkURLShape(raw string, allowPrivate bool) (*url.URL, error) {
	if raw == "" {
		return nil, fmt.Errorf("%w: empty", ErrInvalidURL)
	}
	if len(raw) > maxURLLen {
		return nil, fmt.Errorf("%w: %d characters long, at most %d allowed", ErrInvalidURL, len(raw), maxURLLen)
	}
	u, err := url.Parse(raw)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // url.Error repeats the whole URL; the caller has it.
		}
		return nil, fmt.Errorf("%w: %v", ErrInvalidURL, err)
	}
	switch {
	case u.Scheme == "":
		return nil, fmt.Errorf("%w: it must be absolute, starting with https://", ErrInvalidURL)
	case u.Scheme == "http" && !allowPrivate:
		return nil, fmt.Errorf("%w: scheme must be https, not http (webhook payloads carry contact data)", ErrInvalidURL)
	case u.Scheme != "https" && u.Scheme != "http":
		return nil, fmt.Errorf("%w: scheme must be https, not %q", ErrInvalidURL, u.Scheme)
	case u.Opaque != "":
		return nil, fmt.Errorf("%w: it must be of the form %s://host/path", ErrInvalidURL, u.Scheme)
	case u.User != nil:
		return nil, fmt.Errorf("%w: it must not contain a user name or password", ErrInvalidURL)
	case u.Hostname() == "":
		return nil, fmt.Errorf("%w: it has no host", ErrInvalidURL)
	}
	if p := u.Port(); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return nil, fmt.Errorf("%w: port %q is not between 1 and 65535", ErrInvalidURL, p)
		}
	}
	return u, nil
}

// numericHost reports whether host's last label is a number (decimal or
// 0x hex). No top-level domain is numeric, but inet_aton-style resolvers
// (the cgo resolver among them) read "127.1", "2130706433" and "0x7f.0.0.1"
// as IPv4 addresses, so such hosts are refused outright rather than left to
// the dial-time check alone.
func numericHost(host string) bool {
	last := host[strings.LastIndexByte(host, '.')+1:]
	if last == "" {
		return false
	}
	if h, ok := strings.CutPrefix(last, "0x"); ok {
		last = h
		if last == "" {
			return true
		}
		for _, c := range last {
			if !strings.ContainsRune("0123456789abcdef", c) {
				return false
			}
		}
		return true
	}
	for _, c := range last {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}
