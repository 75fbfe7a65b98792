package dsn

import "strings"

// maxTag bounds a VERP tag: a local part is at most 64 octets (RFC 5321).
const maxTag = 64

// VERPTag returns the tag of a VERP bounce address: for localPrefix
// "bounces", "bounces+abc@b.example.com" gives "abc". Rapport puts a tag
// naming the delivery in each message's envelope sender, so a bounce to it
// identifies the delivery even when the bounce itself is unreadable.
//
// The prefix matches case-insensitively, since some MTAs change the case
// of addresses; the tag does not, since it is case-sensitive base64. The
// tag must be non-empty and of the URL-safe base64 alphabet [A-Za-z0-9_-],
// which also rejects classic "user=domain" VERP. The address may be in
// angle brackets. An empty prefix matches nothing, so a misconfiguration
// cannot turn every plus-address into a tag.
func VERPTag(address, localPrefix string) (tag string, ok bool) {
	a := strings.TrimSpace(address)
	a = strings.TrimSuffix(strings.TrimPrefix(a, "<"), ">")
	at := strings.LastIndexByte(a, '@')
	if localPrefix == "" || at <= 0 || at == len(a)-1 {
		return "", false
	}
	local, domain := a[:at], a[at+1:]
	if strings.ContainsAny(domain, "@<> \t\"") {
		return "", false
	}
	n := len(localPrefix)
	if len(local) <= n+1 || local[n] != '+' || !strings.EqualFold(local[:n], localPrefix) {
		return "", false
	}
	tag = local[n+1:]
	if len(tag) > maxTag {
		return "", false
	}
	for i := 0; i < len(tag); i++ {
		c := tag[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return "", false
		}
	}
	return tag, true
}
