package token

import (
	"errors"
	"strings"
	"testing"
)

func TestBounceTag(t *testing.T) {
	old, _ := New([]string{strings.Repeat("o", 32)})
	s, _ := New([]string{strings.Repeat("n", 32), strings.Repeat("o", 32)})
	for _, id := range []int64{1, 42, 1 << 40, 9223372036854775807} {
		tag := s.BounceTag(id)
		if strings.ToLower(tag) != tag || strings.ContainsAny(tag, "_+=/.") || len("bounces+"+tag) > 64 {
			t.Fatalf("tag %q is not a safe, lower-case local part", tag)
		}
		for _, variant := range []string{tag, strings.ToUpper(tag)} {
			got, err := s.VerifyBounceTag(variant)
			if err != nil || got != id {
				t.Fatalf("VerifyBounceTag(%q) = %d, %v; want %d", variant, got, err, id)
			}
		}
		// A tag signed with a key being rotated out still verifies.
		if got, err := s.VerifyBounceTag(old.BounceTag(id)); err != nil || got != id {
			t.Fatalf("old-key tag: %d, %v", got, err)
		}
	}
	good := s.BounceTag(42)
	for _, bad := range []string{"", "-", "16", good + "a", "17" + good[2:], strings.Replace(good, "-", "", 1),
		"016-" + good[3:], "-16-" + good[3:], "zzzzzzzzzzzzzzzzzzzzzzzzzz-aaaaaaaaaaaaaaaa", good[:len(good)-1] + "b"} {
		if _, err := s.VerifyBounceTag(bad); !errors.Is(err, ErrInvalid) {
			t.Errorf("VerifyBounceTag(%q) accepted a forged tag", bad)
		}
	}
	other, _ := New([]string{strings.Repeat("x", 32)})
	if _, err := other.VerifyBounceTag(good); !errors.Is(err, ErrInvalid) {
		t.Error("a tag verified under a key that did not sign it")
	}
}

func TestSealOpen(t *testing.T) {
	old, _ := New([]string{strings.Repeat("o", 32)})
	s, _ := New([]string{strings.Repeat("n", 32), strings.Repeat("o", 32)})
	sealed, err := s.Seal([]byte("whsec_secret"))
	if err != nil || strings.Contains(string(sealed), "whsec_secret") {
		t.Fatalf("Seal: %v, %q", err, sealed)
	}
	if p, err := s.Open(sealed); err != nil || string(p) != "whsec_secret" {
		t.Fatalf("Open = %q, %v", p, err)
	}
	byOld, _ := old.Seal([]byte("rotated"))
	if p, err := s.Open(byOld); err != nil || string(p) != "rotated" {
		t.Fatalf("a value sealed under a key being rotated out: %q, %v", p, err)
	}
	tampered := append([]byte(nil), sealed...)
	tampered[len(tampered)-1] ^= 1
	if _, err := s.Open(tampered); err == nil {
		t.Fatal("a tampered value opened")
	}
	other, _ := New([]string{strings.Repeat("x", 32)})
	if _, err := other.Open(sealed); err == nil {
		t.Fatal("opened without the key")
	}
}
