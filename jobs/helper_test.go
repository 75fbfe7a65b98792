package jobs

import (
	"fmt"
	"os"
	"testing"
)

// helperT is the little of testing.T a helper process needs: it lets the
// test helpers run outside `go test`'s own runner.
type helperT struct {
	testing.TB
	failed   bool
	cleanups []func()
}

func (h *helperT) Helper()                   {}
func (h *helperT) Cleanup(f func())          { h.cleanups = append(h.cleanups, f) }
func (h *helperT) TempDir() string           { d, _ := os.MkdirTemp("", "rapport-helper"); return d }
func (h *helperT) Errorf(f string, a ...any) { fmt.Fprintf(os.Stderr, f+"\n", a...); h.failed = true }
func (h *helperT) FailNow()                  { h.failed = true; h.cleanup(); os.Exit(1) }
func (h *helperT) Fatal(a ...any)            { fmt.Fprintln(os.Stderr, a...); h.FailNow() }
func (h *helperT) Fatalf(f string, a ...any) { fmt.Fprintf(os.Stderr, f+"\n", a...); h.FailNow() }
func (h *helperT) Logf(f string, a ...any)   { fmt.Fprintf(os.Stderr, f+"\n", a...) }
func (h *helperT) Failed() bool              { return h.failed }

func (h *helperT) cleanup() {
	for i := len(h.cleanups) - 1; i >= 0; i-- {
		h.cleanups[i]()
	}
	h.cleanups = nil
}
