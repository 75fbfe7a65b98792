package console

import (
	"encoding/json"
	"net/http"
	"slices"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/rapport-dev/rapport/internal/outreach"
	"github.com/rapport-dev/rapport/internal/postgres"
)

// auditData is the audit page's content.
type auditData struct {
	Entries []auditRow
	Pager   Pager
	Any     bool // a filter is set
}

type auditRow struct {
	outreach.AuditEntry
	Changes []change
}

// change is one field of an entry's before and after: what a person reads
// instead of two JSON documents.
type change struct {
	Field, Before, After string
}

// audit is GET /console/audit: every change, newest first, filtered by
// actor, action, entity and dates (UTC days, both included). A filter
// that cannot be read is shown next to its field, with nothing listed.
func (c *Console) audit(ec echo.Context) error {
	f := newForm(ec.QueryParams(), "actor", "Who", "action", "Action", "entity", "What", "from", "From", "to", "To")
	filter := postgres.AuditFilter{Actor: f.Get("actor"), Action: f.Get("action"), Entity: f.Get("entity"),
		BeforeID: cursor(ec, "before"), Limit: pageSize + 1}
	day := func(name string) *time.Time {
		s := f.Get(name)
		if s == "" {
			return nil
		}
		t, err := time.Parse(time.DateOnly, s)
		if err != nil {
			f.Fail(name, "must be a date such as 2026-12-01")
			return nil
		}
		return &t
	}
	filter.Since = day("from")
	if to := day("to"); to != nil {
		end := to.Add(24 * time.Hour)
		filter.Until = &end
		if filter.Since != nil && to.Before(*filter.Since) {
			f.Fail("to", "must not be before From")
		}
	}
	d := auditData{Any: filter.Actor != "" || filter.Action != "" || filter.Entity != "" || filter.Since != nil || filter.Until != nil}
	if f.Failed() {
		return c.render(ec, http.StatusUnprocessableEntity, "audit", &View{Title: "Audit log", Form: f, Data: d})
	}
	entries, err := c.Store.Audit(ec.Request().Context(), filter)
	if err != nil {
		return err
	}
	entries, d.Pager = paginate(ec, entries, pageSize, "before", "Older →", func(e outreach.AuditEntry) int64 { return e.ID })
	for _, e := range entries {
		d.Entries = append(d.Entries, auditRow{AuditEntry: e, Changes: changes(e.Before, e.After)})
	}
	return c.render(ec, http.StatusOK, "audit", &View{Title: "Audit log", Form: f, Data: d})
}

// changes lists the fields that differ between an entry's before and
// after objects, in name order; values that are not objects are shown
// whole under "".
func changes(before, after json.RawMessage) []change {
	var b, a map[string]json.RawMessage
	okB := len(before) == 0 || string(before) == "null" || json.Unmarshal(before, &b) == nil
	okA := len(after) == 0 || string(after) == "null" || json.Unmarshal(after, &a) == nil
	if !okB || !okA {
		return []change{{Before: compact(before), After: compact(after)}}
	}
	var names []string
	for k := range b {
		names = append(names, k)
	}
	for k := range a {
		if _, dup := b[k]; !dup {
			names = append(names, k)
		}
	}
	slices.Sort(names)
	var out []change
	for _, k := range names {
		bv, av := compact(b[k]), compact(a[k])
		if bv != av {
			out = append(out, change{Field: k, Before: bv, After: av})
		}
	}
	return out
}

// compact shows a JSON value on one line; strings without their quotes.
func compact(raw json.RawMessage) string {
	if len(raw) == 0 {
		return ""
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var v any
	if json.Unmarshal(raw, &v) != nil {
		return string(raw)
	}
	out, _ := json.Marshal(v)
	return string(out)
}
