package cadence

import (
	"fmt"
	"slices"
	"testing"
	"time"
)

// The tests use the standard library only: testify's assert package needs a
// go.sum entry (go.yaml.in/yaml/v3) this module does not have yet.

func msg(args []any) string {
	if len(args) == 0 {
		return ""
	}
	// A func() string argument is called only now, on failure, so callers
	// can pass expensive descriptions for free.
	format, isFormat := args[0].(string)
	args = slices.Clone(args)
	for i, a := range args {
		if f, ok := a.(func() string); ok {
			args[i] = f()
		}
	}
	if isFormat {
		return ": " + fmt.Sprintf(format, args[1:]...)
	}
	return ": " + fmt.Sprint(args...)
}

// expectEq reports got != want and carries on.
func expectEq[T comparable](t testing.TB, want, got T, args ...any) {
	t.Helper()
	if want != got {
		t.Errorf("got %v, want %v%s", got, want, msg(args))
	}
}

// expectTrue reports a false condition and carries on.
func expectTrue(t testing.TB, cond bool, args ...any) {
	t.Helper()
	if !cond {
		t.Errorf("condition failed%s", msg(args))
	}
}

// mustEq stops the test when got != want.
func mustEq[T comparable](t testing.TB, want, got T, args ...any) {
	t.Helper()
	if want != got {
		t.Fatalf("got %v, want %v%s", got, want, msg(args))
	}
}

// mustTrue stops the test on a false condition.
func mustTrue(t testing.TB, cond bool, args ...any) {
	t.Helper()
	if !cond {
		t.Fatalf("condition failed%s", msg(args))
	}
}

func mustZone(t testing.TB, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}
