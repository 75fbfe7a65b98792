package outreach

import (
	"net/mail"
	"regexp"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"
)

// NormalizeEmail checks that s is one bare address (no display name, a domain
// with a dot) and returns it lower-cased, the form rapport stores and
// compares.
func NormalizeEmail(s string) (string, bool) {
	s = strings.TrimSpace(s)
	if s == "" || len(s) > 254 {
		return "", false
	}
	a, err := mail.ParseAddress(s)
	if err != nil || a.Name != "" || a.Address != s {
		return "", false
	}
	at := strings.LastIndexByte(s, '@')
	domain := s[at+1:]
	if at < 1 || !strings.Contains(domain, ".") || strings.HasPrefix(domain, ".") || strings.HasSuffix(domain, ".") ||
		strings.ContainsAny(s, " \t\r\n<>\"") {
		return "", false
	}
	if strings.HasSuffix(strings.ToLower(domain), ".invalid") {
		// RFC 6761: never deliverable. It is also the domain of erased
		// contacts' placeholders, which no upsert or import may claim.
		return "", false
	}
	return strings.ToLower(s), true
}

// EmailDomain returns the part after the last @.
func EmailDomain(email string) string {
	return email[strings.LastIndexByte(email, '@')+1:]
}

var keyPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)

// ValidKey reports whether s is a valid slug for tiers and topics.
func ValidKey(s string) bool { return keyPattern.MatchString(s) }

var zoneCache sync.Map // name → *time.Location

// LoadZone resolves an IANA time zone name, caching the result because the
// planner asks for the same few zones a million times.
func LoadZone(name string) (*time.Location, bool) {
	if v, ok := zoneCache.Load(name); ok {
		return v.(*time.Location), true
	}
	if name == "" || name == "Local" || strings.EqualFold(name, "local") {
		return nil, false
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return nil, false
	}
	zoneCache.Store(name, loc)
	return loc, true
}

// PrintableText reports whether s is valid UTF-8 free of control
// characters (tabs and newlines included): what a name or a description
// shown on one line may hold.
func PrintableText(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			return false
		}
	}
	return true
}

// OneLine makes text from elsewhere (a server's reply, an error) fit for a
// text column and a log line: valid UTF-8, control characters as spaces,
// cut at a character boundary to at most maxBytes.
func OneLine(s string, maxBytes int) string {
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, strings.ToValidUTF8(s, "\uFFFD"))
	if len(s) <= maxBytes {
		return s
	}
	cut := maxBytes
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut]
}
