package api

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

// TestReadOnlyOnly: read-only fields are refused (400) only when a PATCH
// names nothing else; with any other field they pass on to the handler,
// which ignores them when they match and refuses them (422) when not.
func TestReadOnlyOnly(t *testing.T) {
	for _, tc := range []struct {
		body   string
		fields []string // nil: accepted
	}{
		{`{}`, nil},
		{`{"name":"x"}`, nil},
		{`{"name":"x","status":"active","id":1}`, nil},
		{`{"colour":"red","status":"active"}`, nil}, // the unknown field is the handler's 400
		{`{"status":"active"}`, []string{"status"}},
		{`{"updated_at":"2026-01-01T00:00:00Z","id":1}`, []string{"id", "updated_at"}},
	} {
		var raw map[string]json.RawMessage
		if err := json.Unmarshal([]byte(tc.body), &raw); err != nil {
			t.Fatal(err)
		}
		err := readOnlyOnly(raw, contactReadOnly)
		if tc.fields == nil {
			if err != nil {
				t.Errorf("%s: %v, want accepted", tc.body, err)
			}
			continue
		}
		var br *badRequest
		if !errors.As(err, &br) {
			t.Errorf("%s: %v, want a 400", tc.body, err)
			continue
		}
		var got []string
		for _, f := range br.err.Fields {
			got = append(got, f.Field)
			if !strings.HasPrefix(f.Message, "is read-only: ") {
				t.Errorf("%s: %s: message %q", tc.body, f.Field, f.Message)
			}
		}
		if strings.Join(got, ",") != strings.Join(tc.fields, ",") {
			t.Errorf("%s: fields %v, want %v", tc.body, got, tc.fields)
		}
	}
}
