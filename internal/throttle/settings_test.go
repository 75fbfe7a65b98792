package throttle

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/rapport-dev/rapport/internal/outreach"
)

func TestPutValidation(t *testing.T) {
	t.Parallel()
	many := map[string]float64{}
	for i := range MaxDomains + 1 {
		many[fmt.Sprintf("d%d.example", i)] = 1
	}
	tests := []struct {
		name   string
		s      Settings
		fields []string
	}{
		{"negative global", Settings{GlobalPerSecond: -1}, []string{"global_per_second"}},
		{"global too high", Settings{GlobalPerSecond: MaxPerSecond + 1}, []string{"global_per_second"}},
		{"global NaN", Settings{GlobalPerSecond: math.NaN()}, []string{"global_per_second"}},
		{"global infinite", Settings{GlobalPerSecond: math.Inf(1)}, []string{"global_per_second"}},
		{"global too slow", Settings{GlobalPerSecond: 0.001}, []string{"global_per_second"}},
		{"negative domain", Settings{Domains: map[string]float64{"gmail.com": -5}}, []string{"domains.gmail.com"}},
		{"domain too high", Settings{Domains: map[string]float64{"gmail.com": 2e6}}, []string{"domains.gmail.com"}},
		{"space in name", Settings{Domains: map[string]float64{"not a domain": 5}}, []string{"domains.not a domain"}},
		{"single label", Settings{Domains: map[string]float64{"localhost": 5}}, []string{"domains.localhost"}},
		{"leading hyphen", Settings{Domains: map[string]float64{"-bad.com": 5}}, []string{"domains.-bad.com"}},
		{"empty label", Settings{Domains: map[string]float64{"a..com": 5}}, []string{"domains.a..com"}},
		{"empty name", Settings{Domains: map[string]float64{"": 5}}, []string{"domains."}},
		{"long label", Settings{Domains: map[string]float64{strings.Repeat("a", 64) + ".com": 5}}, []string{"domains." + strings.Repeat("a", 64) + ".com"}},
		{"underscore", Settings{Domains: map[string]float64{"a_b.com": 5}}, []string{"domains.a_b.com"}},
		{"duplicate after lower-casing", Settings{Domains: map[string]float64{"Gmail.com": 5, "gmail.com": 6}}, []string{"domains.gmail.com"}},
		{"too many domains", Settings{Domains: many}, []string{"domains"}},
		{"several at once", Settings{GlobalPerSecond: -1, Domains: map[string]float64{"gmail.com": -1, "x": 1}},
			[]string{"global_per_second", "domains.gmail.com", "domains.x"}},
	}
	b := setup(t)
	ctx := context.Background()
	good := Settings{GlobalPerSecond: 200, Domains: map[string]float64{"gmail.com": 20}}
	put(t, b.lim, good)
	audits := func() int {
		var n int
		if err := b.pool.QueryRow(ctx, "SELECT count(*) FROM audit_log WHERE entity = 'throttles'").Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	before := audits()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := b.lim.Put(ctx, "test", tt.s)
			var oe *outreach.Error
			if !errors.As(err, &oe) || oe.Code != outreach.EINVALID {
				t.Fatalf("got %v, want an invalid-input error", err)
			}
			var got []string
			for _, f := range oe.Fields {
				got = append(got, f.Field)
			}
			for _, want := range tt.fields {
				if !containsString(got, want) {
					t.Errorf("fields %q lack %q", got, want)
				}
			}
			if len(got) != len(tt.fields) {
				t.Errorf("fields %q, want %q", got, tt.fields)
			}
			s, err := b.lim.Get(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if s.GlobalPerSecond != 200 || !reflect.DeepEqual(s.Domains, good.Domains) {
				t.Errorf("settings changed to %+v", s)
			}
		})
	}
	if n := audits(); n != before {
		t.Errorf("invalid puts wrote %d audit rows", n-before)
	}
}

func containsString(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

func TestPutGetAudit(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()

	s, err := b.lim.Get(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if s.GlobalPerSecond != 0 || len(s.Domains) != 0 || s.Domains == nil || !s.UpdatedAt.IsZero() {
		t.Fatalf("fresh settings %+v, want unlimited with an empty domain map", s)
	}

	first := Settings{GlobalPerSecond: 200, Domains: map[string]float64{"GMAIL.com.": 20, "yahoo.com": 0.5}}
	before, err := b.lim.Put(ctx, "alice", first)
	if err != nil {
		t.Fatal(err)
	}
	if before.GlobalPerSecond != 0 || len(before.Domains) != 0 {
		t.Errorf("before = %+v, want empty", before)
	}
	got, err := b.lim.Get(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]float64{"gmail.com": 20, "yahoo.com": 0.5}
	if got.GlobalPerSecond != 200 || !reflect.DeepEqual(got.Domains, want) || !got.UpdatedAt.Equal(t0.Truncate(time.Microsecond)) {
		t.Errorf("got %+v, want global 200, domains %v, updated at %v", got, want, t0)
	}

	b.clock.now = t0.Add(time.Minute)
	second := Settings{GlobalPerSecond: 100, Domains: map[string]float64{"gmail.com": 10}}
	before, err = b.lim.Put(ctx, "bob", second)
	if err != nil {
		t.Fatal(err)
	}
	if before.GlobalPerSecond != 200 || !reflect.DeepEqual(before.Domains, want) {
		t.Errorf("before = %+v", before)
	}
	got, err = b.lim.Get(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got.GlobalPerSecond != 100 || !reflect.DeepEqual(got.Domains, second.Domains) {
		t.Errorf("got %+v, want %+v (yahoo.com removed)", got, second)
	}

	// The API's JSON shape.
	raw, _ := json.Marshal(Settings{GlobalPerSecond: 200, Domains: map[string]float64{"gmail.com": 20}})
	if string(raw) != `{"global_per_second":200,"domains":{"gmail.com":20}}` {
		t.Errorf("json = %s", raw)
	}

	rows, err := b.pool.Query(ctx, "SELECT actor, action, entity_id, before, after, created_at FROM audit_log WHERE entity = 'throttles' ORDER BY id")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	type entry struct {
		actor, action, id string
		before, after     Settings
		at                time.Time
	}
	var log []entry
	for rows.Next() {
		var e entry
		var bj, aj []byte
		if err := rows.Scan(&e.actor, &e.action, &e.id, &bj, &aj, &e.at); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(bj, &e.before); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(aj, &e.after); err != nil {
			t.Fatal(err)
		}
		log = append(log, e)
	}
	if len(log) != 2 {
		t.Fatalf("%d audit rows, want 2", len(log))
	}
	if log[0].actor != "alice" || log[0].action != "update" || log[0].id != "global" || !log[0].at.Equal(t0.Truncate(time.Microsecond)) ||
		log[0].after.GlobalPerSecond != 200 || !reflect.DeepEqual(log[0].after.Domains, want) {
		t.Errorf("first audit row %+v", log[0])
	}
	if log[1].actor != "bob" || log[1].before.GlobalPerSecond != 200 || log[1].after.GlobalPerSecond != 100 ||
		!reflect.DeepEqual(log[1].after.Domains, second.Domains) {
		t.Errorf("second audit row %+v", log[1])
	}
}
