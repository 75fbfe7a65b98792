package render

import (
	"math/rand/v2"
	"strings"
)

// randomValues makes the contact values and links the differential tests
// render both ways: words of characters to escape, and links plain as
// rapport signs them or not (spaces, quotes, a script scheme).
type randomValues struct {
	rng      *rand.Rand
	alphabet []string
}

// valueAlphabet is every kind of character the escapers treat apart.
var valueAlphabet = []string{"a", "Z", "0", " ", "<", ">", "&", "'", "\"", "+", "`", "=", "ü", "€", "\t", "%", "%2F", "/", "?", "#", ";", "(", ")", "\x00"}

func newRandomValues(seed uint64, extra ...string) randomValues {
	return randomValues{rng: rand.New(rand.NewPCG(seed, seed+1)), alphabet: append(append([]string{}, valueAlphabet...), extra...)}
}

// word is up to n characters of the alphabet.
func (v randomValues) word(n int) string {
	var b strings.Builder
	for range v.rng.IntN(n) {
		b.WriteString(v.alphabet[v.rng.IntN(len(v.alphabet))])
	}
	return b.String()
}

// link is a link of one of the three kinds.
func (v randomValues) link() string {
	switch v.rng.IntN(4) {
	case 0:
		return "https://mail.example.com/u/" + v.word(20)
	case 1:
		return "javascript:alert(" + v.word(5) + ")"
	default:
		return "https://mail.example.com/p/AbC-_" + strings.Repeat("x9", v.rng.IntN(30))
	}
}
