// Package testproc lets a test binary act as a helper process: a test
// starts os.Args[0] again with an environment variable set, and that
// package's TestMain runs the helper's body instead of the tests. The body
// gets a testing.TB, so the package's test helpers work in it unchanged.
package testproc

import (
	"fmt"
	"os"
	"testing"
)

// T is the testing.TB of a helper process: failures go to stderr and make
// the process exit non-zero; cleanups run when the body returns or fails.
type T struct {
	testing.TB
	failed   bool
	cleanups []func()
}

// Helper does nothing: there is no test output to attribute lines to.
func (h *T) Helper() {}

// Cleanup registers f to run when the body ends.
func (h *T) Cleanup(f func()) { h.cleanups = append(h.cleanups, f) }

// TempDir makes a fresh directory.
func (h *T) TempDir() string {
	d, err := os.MkdirTemp("", "testproc")
	if err != nil {
		h.Fatal(err)
	}
	h.Cleanup(func() { _ = os.RemoveAll(d) })
	return d
}

// Errorf reports a failure and carries on.
func (h *T) Errorf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, format+"\n", args...)
	h.failed = true
}

// Error reports a failure and carries on.
func (h *T) Error(args ...any) { fmt.Fprintln(os.Stderr, args...); h.failed = true }

// FailNow ends the process as failed, after the cleanups.
func (h *T) FailNow() { h.failed = true; h.cleanup(); os.Exit(1) }

// Fatal reports a failure and ends the process.
func (h *T) Fatal(args ...any) { fmt.Fprintln(os.Stderr, args...); h.FailNow() }

// Fatalf reports a failure and ends the process.
func (h *T) Fatalf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, format+"\n", args...)
	h.FailNow()
}

// Log writes to stderr.
func (h *T) Log(args ...any) { fmt.Fprintln(os.Stderr, args...) }

// Logf writes to stderr.
func (h *T) Logf(format string, args ...any) { fmt.Fprintf(os.Stderr, format+"\n", args...) }

// Failed reports whether the body failed.
func (h *T) Failed() bool { return h.failed }

// Name names the helper in messages.
func (h *T) Name() string { return "helper process" }

func (h *T) cleanup() {
	for i := len(h.cleanups) - 1; i >= 0; i-- {
		h.cleanups[i]()
	}
	h.cleanups = nil
}

// Run runs body as the helper process and returns its exit code.
func Run(body func(t testing.TB)) int {
	t := &T{}
	body(t)
	t.cleanup()
	if t.failed {
		return 1
	}
	return 0
}
