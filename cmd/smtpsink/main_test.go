package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/smtp"
	"net/textproto"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestSink(t *testing.T) {
	t.Parallel()
	journal := filepath.Join(t.TempDir(), "sink.journal")
	ctx, cancel := context.WithCancel(context.Background())
	out := &syncBuffer{}
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"-addr", "127.0.0.1:0", "-out", journal,
			"-fail-rcpt-domain", "example.net", "-tempfail-every", "3"}, out)
	}()
	var addr string
	for deadline := time.Now().Add(10 * time.Second); addr == ""; {
		if m := regexp.MustCompile(`listening on (\S+)`).FindStringSubmatch(out.String()); m != nil {
			addr = m[1]
		} else if time.Now().After(deadline) {
			t.Fatal("the sink did not start")
		}
		time.Sleep(10 * time.Millisecond)
	}

	c, err := smtp.Dial(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	code := func(err error) int {
		var pe *textproto.Error
		if errors.As(err, &pe) {
			return pe.Code
		}
		return 0
	}
	// RCPT 1 is accepted, 2 is at the failing domain, 3 is every third.
	send := func(to, id string) error {
		if err := c.Mail("news@example.com"); err != nil {
			t.Fatal(err)
		}
		if err := c.Rcpt(to); err != nil {
			_ = c.Reset()
			return err
		}
		w, err := c.Data()
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(w, "Message-ID: <%s>\r\nSubject: hi\r\n\r\nbody\r\n", id)
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		// The 250 has been answered: the line is already in the journal.
		b, _ := os.ReadFile(journal)
		if !strings.Contains(string(b), "\t"+id+"\t"+to+"\n") {
			t.Errorf("after the 250 for %s the journal holds %q", id, b)
		}
		return nil
	}
	if err := send("a@ok.test", "one@x"); err != nil {
		t.Fatalf("first message: %v", err)
	}
	if err := send("b@example.net", "two@x"); code(err) != 550 {
		t.Errorf("recipient at the failing domain: %v, want 550", err)
	}
	if err := send("c@ok.test", "three@x"); code(err) != 451 {
		t.Errorf("third recipient: %v, want 451", err)
	}
	if err := send("d@ok.test", "four@x"); err != nil {
		t.Fatalf("fourth message: %v", err)
	}
	_ = c.Quit()
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("run: %v", err)
	}
	b, _ := os.ReadFile(journal)
	if n := strings.Count(string(b), "\n"); n != 2 {
		t.Errorf("journal has %d lines, want 2:\n%s", n, b)
	}
}
