package webhook

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
)

func TestRefusedReason(t *testing.T) {
	refused := map[string]string{ // address: part of the reason
		"127.0.0.1":       "loopback",
		"127.255.255.254": "loopback",
		"::1":             "loopback",
		"10.0.0.1":        "private",
		"10.255.255.255":  "private",
		"172.16.0.1":      "private",
		"172.31.255.255":  "private",
		"192.168.1.1":     "private",
		"fc00::1":         "unique local",
		"fd12:3456::1":    "unique local",
		"169.254.169.254": "metadata",
		"169.254.0.1":     "link-local",
		"fe80::1":         "link-local",
		"fe80::1%eth0":    "link-local", // zoned: netip.Prefix.Contains alone would miss it
		"febf::1":         "link-local",
		"0.0.0.0":         "unspecified",
		"0.1.2.3":         "unspecified",
		"::":              "unspecified",
		"224.0.0.1":       "multicast",
		"239.255.255.250": "multicast",
		"ff02::1":         "multicast",
		"100.64.0.1":      "carrier-grade NAT",
		"100.127.255.255": "carrier-grade NAT",
		"255.255.255.255": "broadcast",
		"240.0.0.1":       "reserved",
		"192.0.0.8":       "IETF",
		"198.18.0.1":      "benchmarking",
		"192.0.2.1":       "documentation",
		"2001:db8::1":     "documentation",
		"fec0::1":         "site-local",

		// IPv4 addresses hidden in IPv6 forms.
		"::ffff:127.0.0.1":       "loopback, IPv4-mapped",
		"::ffff:7f00:1":          "loopback, IPv4-mapped",
		"::ffff:169.254.169.254": "metadata",
		"::ffff:10.1.2.3":        "private",
		"::ffff:100.64.0.1":      "carrier-grade NAT",
		"::ffff:0.0.0.0":         "unspecified",
		"::127.0.0.1":            "IPv4-compatible",
		"::8.8.8.8":              "IPv4-compatible",
		"64:ff9b::7f00:1":        "loopback, through NAT64",
		"64:ff9b::a9fe:a9fe":     "metadata",
		"64:ff9b:1::1":           "NAT64",
		"2002:7f00:1::1":         "loopback, through 6to4",
		"2002:a00:1::1":          "private (RFC 1918), through 6to4",
		"2001:0:4136:e378::1":    "Teredo",
	}
	for addr, want := range refused {
		ip, err := netip.ParseAddr(addr)
		if err != nil {
			t.Fatalf("bad test address %q: %v", addr, err)
		}
		got := refusedReason(ip)
		if got == "" {
			t.Errorf("%s allowed, want refused (%s)", addr, want)
		} else if !strings.Contains(got, want) {
			t.Errorf("%s refused as %q, want it to mention %q", addr, got, want)
		}
	}

	allowed := []string{
		"8.8.8.8", "1.1.1.1", "93.184.215.14",
		"9.255.255.255", "11.0.0.0", // around 10/8
		"172.15.255.255", "172.32.0.0", // around 172.16/12
		"192.167.255.255", "192.169.0.0", // around 192.168/16
		"169.253.255.255", "169.255.0.0", // around 169.254/16
		"100.63.255.255", "100.128.0.0", // around 100.64/10
		"126.255.255.255", "128.0.0.0", // around 127/8
		"223.255.255.255",                         // below multicast
		"2606:4700:4700::1111", "2a00:1450::200e", // public IPv6
		"::ffff:8.8.8.8",     // mapped public
		"64:ff9b::808:808",   // NAT64 of a public address
		"2002:808:808::1",    // 6to4 of a public address
		"2001:4860:4860::88", // Google DNS, outside 2001::/23
	}
	for _, addr := range allowed {
		if why := refusedReason(netip.MustParseAddr(addr)); why != "" {
			t.Errorf("%s refused (%s), want allowed", addr, why)
		}
	}
	if refusedReason(netip.Addr{}) == "" {
		t.Error("the zero netip.Addr is allowed")
	}
}

func TestDialControl(t *testing.T) {
	for _, addr := range []string{"127.0.0.1:443", "[::1]:443", "[::ffff:169.254.169.254]:80", "10.0.0.1:8080", "not-an-address", "example.com:443"} {
		if err := dialControl("tcp", addr, nil); !errors.Is(err, ErrRefusedAddress) {
			t.Errorf("dialControl(%q) = %v, want ErrRefusedAddress", addr, err)
		}
	}
	for _, addr := range []string{"8.8.8.8:443", "[2606:4700:4700::1111]:443"} {
		if err := dialControl("tcp", addr, nil); err != nil {
			t.Errorf("dialControl(%q) = %v, want nil", addr, err)
		}
	}
	err := dialControl("tcp4", "169.254.169.254:80", nil)
	if err == nil || !strings.Contains(err.Error(), "169.254.169.254 is link-local (includes the cloud metadata address") {
		t.Errorf("metadata refusal message = %v", err)
	}
}

func TestValidateURL(t *testing.T) {
	tests := []struct {
		url          string
		allowPrivate bool
		want         string // "" for valid; otherwise part of the message
	}{
		{url: "https://crm.example.com/hooks/rapport"},
		{url: "https://crm.example.com:8443/hooks?tenant=7"},
		{url: "https://CRM.Example.COM./x"},
		{url: "https://8.8.8.8/hook"},
		{url: "https://[2606:4700:4700::1111]/hook"},
		{url: "https://xn--bcher-kva.example/hook"},
		{url: "http://localhost:8080/hook", allowPrivate: true},
		{url: "http://127.0.0.1:9999/", allowPrivate: true},
		{url: "https://10.0.0.1/", allowPrivate: true},

		{url: "", want: "empty"},
		{url: "https://example.com/" + strings.Repeat("a", 2048), want: "at most 2048"},
		{url: "http://crm.example.com/hook", want: "scheme must be https, not http"},
		{url: "ftp://crm.example.com/", want: `scheme must be https, not "ftp"`},
		{url: "ftp://crm.example.com/", allowPrivate: true, want: `scheme must be https, not "ftp"`},
		{url: "javascript:alert(1)", want: `not "javascript"`},
		{url: "crm.example.com/hook", want: "must be absolute"},
		{url: "//crm.example.com/hook", want: "must be absolute"},
		{url: "https:crm.example.com", want: "of the form https://host/path"},
		{url: "https://user:pass@crm.example.com/", want: "user name or password"},
		{url: "https://token@crm.example.com/", want: "user name or password"},
		{url: "https:///path", want: "no host"},
		{url: "https://:443/path", want: "no host"},
		{url: "https://crm.example.com:0/", want: `port "0" is not between 1 and 65535`},
		{url: "https://crm.example.com:65536/", want: `port "65536"`},
		{url: "https://crm.example.com:https/", want: "invalid port"},
		{url: "https://crm example.com/", want: "invalid character"},
		{url: "https://127.0.0.1/hook", want: "127.0.0.1 is loopback"},
		{url: "https://127.0.0.1./hook", want: "loopback"},
		{url: "https://[::1]:8443/hook", want: "::1 is loopback"},
		{url: "https://10.0.0.1/", want: "10.0.0.1 is private"},
		{url: "https://192.168.0.10/", want: "private"},
		{url: "https://169.254.169.254/latest/meta-data/", want: "cloud metadata"},
		{url: "https://[fe80::1%25eth0]/", want: "link-local"},
		{url: "https://[::ffff:127.0.0.1]/", want: "loopback, IPv4-mapped"},
		{url: "https://[::ffff:a9fe:a9fe]/", want: "metadata"},
		{url: "https://100.64.1.1/", want: "carrier-grade NAT"},
		{url: "https://0.0.0.0/", want: "unspecified"},
		{url: "https://[::]/", want: "unspecified"},
		{url: "https://224.0.0.1/", want: "multicast"},
		{url: "https://localhost/hook", want: "loopback name"},
		{url: "https://LOCALHOST./hook", want: "loopback name"},
		{url: "https://api.localhost/hook", want: "loopback name"},
		{url: "https://2130706433/", want: "non-standard form"},
		{url: "https://127.1/", want: "non-standard form"},
		{url: "https://0x7f.0.0.1/", want: "non-standard form"},
		{url: "https://0x7f000001/", want: "non-standard form"},
	}
	for _, tt := range tests {
		err := ValidateURL(tt.url, tt.allowPrivate)
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("ValidateURL(%q, %v) = %v, want nil", tt.url, tt.allowPrivate, err)
		case tt.want != "" && err == nil:
			t.Errorf("ValidateURL(%q, %v) = nil, want an error mentioning %q", tt.url, tt.allowPrivate, tt.want)
		case tt.want != "" && (!errors.Is(err, ErrInvalidURL) || !strings.Contains(err.Error(), tt.want)):
			t.Errorf("ValidateURL(%q, %v) = %v, want ErrInvalidURL mentioning %q", tt.url, tt.allowPrivate, err, tt.want)
		}
	}
}

// TestValidateURLDoesNotResolve: a hostname passes registration whatever it
// resolves to today; the dial-time check is what stops it (see
// TestDeliverRefusesNonPublicAddresses), because the answer can change.
func TestValidateURLDoesNotResolve(t *testing.T) {
	if err := ValidateURL("https://rebind.test/hook", false); err != nil {
		t.Fatalf("ValidateURL(hostname) = %v", err)
	}
}
