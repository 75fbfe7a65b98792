package mailer

import "testing"

func TestMessageIDRoundTrip(t *testing.T) {
	id := MessageID(123, 45, "k3x9a2b1c0", "example.com")
	if id != "rapport.123.45.k3x9a2b1c0@example.com" {
		t.Fatalf("MessageID = %q", id)
	}
	for _, in := range []string{id, "<" + id + ">", " <" + id + "> "} {
		if d, ok := ParseMessageID(in, "k3x9a2b1c0"); !ok || d != 123 {
			t.Errorf("ParseMessageID(%q) = %d, %v", in, d, ok)
		}
	}
	// Another installation's id, the old format, and garbage are not ours.
	for _, in := range []string{MessageID(123, 45, "other00000", "example.com"), "rapport.123.45@example.com",
		"rapport.x.45.k3x9a2b1c0@example.com", "nobody@example.com", "", "rapport.123.45.k3x9a2b1c0"} {
		if _, ok := ParseMessageID(in, "k3x9a2b1c0"); ok {
			t.Errorf("ParseMessageID(%q) claimed it", in)
		}
	}
	// Two installations never collide for the same delivery.
	if MessageID(1, 1, "aaaaaaaaaa", "example.com") == MessageID(1, 1, "bbbbbbbbbb", "example.com") {
		t.Fatal("two installations produced the same Message-ID")
	}
}
