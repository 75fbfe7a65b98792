package mailer

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
)

// Outbox writes each message as an .eml file instead of sending it, so a
// newcomer without an SMTP server sees exactly what would go out.
type Outbox struct {
	dir  string
	dkim *DKIMSigner
}

// NewOutbox creates dir if needed.
func NewOutbox(dir string, dkim *DKIMSigner) (*Outbox, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("outbox %s: %w", dir, err)
	}
	return &Outbox{dir: dir, dkim: dkim}, nil
}

// Session returns a session writing into the outbox.
func (o *Outbox) Session(context.Context) (Session, error) { return outboxSession{o}, nil }

// Close does nothing; files are closed as they are written.
func (o *Outbox) Close() error { return nil }

type outboxSession struct{ o *Outbox }

var unsafeName = regexp.MustCompile(`[^A-Za-z0-9._@-]+`)

func (s outboxSession) Send(_ context.Context, e *Envelope) Result {
	buf := getBuffer()
	defer putBuffer(buf)
	if err := Compose(buf, e, s.o.dkim); err != nil {
		return Result{Outcome: LocalFail, Err: err, Detail: "build message: " + err.Error()}
	}
	var file bytes.Buffer
	if e.Sender != "" {
		// What the receiving server would add at delivery: shows where
		// bounces go.
		file.WriteString("Return-Path: <" + e.Sender + ">\r\n")
	}
	file.Write(buf.Bytes())
	name := filepath.Join(s.o.dir, unsafeName.ReplaceAllString(e.MessageID, "_")+".eml")
	tmp := name + ".tmp"
	if err := os.WriteFile(tmp, file.Bytes(), 0o644); err != nil {
		return Result{Outcome: TempFail, Err: err, Detail: err.Error()}
	}
	// Rename so a reader never sees half a file.
	if err := os.Rename(tmp, name); err != nil {
		return Result{Outcome: TempFail, Err: err, Detail: err.Error()}
	}
	return Result{Outcome: Accepted}
}

func (outboxSession) Close() {}
