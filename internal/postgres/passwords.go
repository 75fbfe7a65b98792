package postgres

import (
	"crypto/rand"
	"fmt"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/alexedwards/argon2id"

	"github.com/rapport-dev/rapport/internal/outreach"
)

// The password rule, after NIST SP 800-63B: a length, and nothing else —
// no required character classes, no forced rotation. Long passphrases are
// welcome; the maximum only bounds the hashing work one request can ask for.
const (
	MinPasswordLength = 12
	MaxPasswordLength = 256
)

// passwordParams are argon2id's costs for new hashes: OWASP's recommended
// minimum (19 MiB, two passes, one lane). It keeps a sign-in near 30 ms on
// a shared two-core machine while costing an attacker 19 MiB per guess.
// Each hash records its own parameters, so raising these later leaves old
// hashes verifiable.
var passwordParams = &argon2id.Params{Memory: 19 * 1024, Iterations: 2, Parallelism: 1, SaltLength: 16, KeyLength: 32}

// checkPassword applies the password rule, naming field in the error.
func checkPassword(field, pw string) *outreach.FieldError {
	n := utf8.RuneCountInString(pw)
	switch {
	case n < MinPasswordLength:
		return &outreach.FieldError{Field: field, Message: fmt.Sprintf("must be at least %d characters long", MinPasswordLength)}
	case n > MaxPasswordLength:
		return &outreach.FieldError{Field: field, Message: fmt.Sprintf("must be at most %d characters long", MaxPasswordLength)}
	case !utf8.ValidString(pw):
		return &outreach.FieldError{Field: field, Message: "must be valid text"}
	}
	return nil
}

func hashPassword(pw string) (string, error) {
	h, err := argon2id.CreateHash(pw, passwordParams)
	if err != nil {
		return "", fmt.Errorf("hash password: %w", err)
	}
	return h, nil
}

// verifyPassword compares in constant time (the library's
// subtle.ConstantTimeCompare over the derived keys).
func verifyPassword(pw, hash string) (bool, error) {
	ok, err := argon2id.ComparePasswordAndHash(pw, hash)
	if err != nil {
		return false, fmt.Errorf("verify password: %w", err)
	}
	return ok, nil
}

// decoyHash is a hash of a random password with the current parameters. A
// sign-in for an address without an account is checked against it, so it
// takes as long as a wrong password for a real one and timing tells no one
// which addresses have accounts.
var decoyHash = sync.OnceValue(func() string {
	h, err := hashPassword(rand.Text())
	if err != nil {
		panic(err) // crypto/rand does not fail
	}
	return h
})

// otpAlphabet has 32 characters, none of them easy to mistake for another
// (no o, i, l or 1): a one-time password is read off a screen and typed.
const otpAlphabet = "abcdefghjkmnpqrstuvwxyz023456789"

// oneTimePassword is 20 random characters in groups of four
// ("k7vq-3mzp-…"): 100 bits, well over the minimum length, and easy to
// read out. Its holder must replace it at the first sign-in.
func oneTimePassword() string {
	var b [20]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	var sb strings.Builder
	for i, c := range b {
		if i > 0 && i%4 == 0 {
			sb.WriteByte('-')
		}
		sb.WriteByte(otpAlphabet[c%32]) // 256 is a multiple of 32: no bias
	}
	return sb.String()
}
