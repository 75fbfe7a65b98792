// Package contactcsv reads contacts from CSV, streamed: a header row naming
// the columns, then one contact per record, upserted in batches by the
// store's Importer. The HTTP import and `rapport contacts import` share it.
package contactcsv

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/rapport-dev/rapport/internal/outreach"
	"github.com/rapport-dev/rapport/internal/postgres"
)

// HeaderError is a problem with the header row or the request as a whole:
// nothing was written.
type HeaderError struct {
	Field   string
	Message string
}

func (e *HeaderError) Error() string { return e.Field + ": " + e.Message }

func headerErr(field, msg string) error { return &HeaderError{Field: field, Message: msg} }

// ReadError is the input breaking off (too large, connection lost) after
// Rows rows; those rows stay imported.
type ReadError struct {
	Err  error
	Rows int
}

func (e *ReadError) Error() string { return fmt.Sprintf("after %d rows: %v", e.Rows, e.Err) }
func (e *ReadError) Unwrap() error { return e.Err }

// ErrRecordTooLong means the header row alone is longer than maxRecordBytes.
var ErrRecordTooLong = errors.New("record too long")

// Store makes importers (postgres.Store).
type Store interface {
	NewImporter(ctx context.Context, actor string, cols postgres.ImportColumns) (*postgres.Importer, error)
}

// maxRecordBytes bounds one CSV record, so a stray quote cannot make the
// reader hold the rest of a large file as one field.
const maxRecordBytes = 1 << 20

// importColumn is what a header cell names.
type importColumn int

const (
	colEmail importColumn = iota
	colName
	colExternalID
	colTier
	colPreferredTier
	colTimezone
	colLocale
	colTopics
	colPausedUntil
	colAttr
)

var importColumns = map[string]importColumn{
	"email": colEmail, "name": colName, "external_id": colExternalID, "tier": colTier,
	"preferred_tier": colPreferredTier, "timezone": colTimezone, "locale": colLocale,
	"topics_opted_out": colTopics, "paused_until": colPausedUntil,
}

// importLayout is the header row read.
type importLayout struct {
	kinds []importColumn
	attrs []string // attribute key per column, for colAttr
	cols  postgres.ImportColumns
	tier  bool
	email bool
}

// readHeader maps the header row's names (case-insensitive, trimmed;
// attr.<key> keeps its key's case) to columns. Unknown and repeated
// columns are 400s: nothing is written.
func readHeader(header []string) (importLayout, error) {
	l := importLayout{kinds: make([]importColumn, len(header)), attrs: make([]string, len(header))}
	seen := map[string]bool{}
	for i, raw := range header {
		name := strings.TrimSpace(raw)
		if i == 0 {
			name = strings.TrimSpace(strings.TrimPrefix(name, "\ufeff")) // Excel's byte-order mark
		}
		if name == "" {
			return l, headerErr("header", fmt.Sprintf("column %d has no name", i+1))
		}
		if f := outreach.LineFault(name); f != "" {
			return l, headerErr("header", fmt.Sprintf("column %d: the name %s", i+1, f))
		}
		lower := strings.ToLower(name)
		if strings.HasPrefix(lower, "attr.") {
			key := strings.TrimSpace(name[len("attr."):])
			if key == "" {
				return l, headerErr(name, fmt.Sprintf("column %d: attr. needs a key, such as attr.plan", i+1))
			}
			if seen["attr."+key] {
				return l, headerErr(name, fmt.Sprintf("column %q appears more than once", name))
			}
			seen["attr."+key] = true
			l.kinds[i], l.attrs[i] = colAttr, key
			l.cols.AttributeKeys = append(l.cols.AttributeKeys, key)
			continue
		}
		kind, ok := importColumns[lower]
		if !ok {
			msg := fmt.Sprintf("unknown column %q: use email, name, external_id, tier, preferred_tier, timezone, locale, topics_opted_out, paused_until or attr.<key>", name)
			if lower == "status" {
				msg = "column \"status\" cannot be imported: a contact's status changes only through unsubscribes, bounces and complaints"
			}
			return l, headerErr(name, msg)
		}
		if seen[lower] {
			return l, headerErr(name, fmt.Sprintf("column %q appears more than once", lower))
		}
		seen[lower] = true
		l.kinds[i] = kind
		switch kind {
		case colEmail:
			l.email = true
		case colTier:
			l.tier = true
		case colName:
			l.cols.Name = true
		case colExternalID:
			l.cols.ExternalID = true
		case colPreferredTier:
			l.cols.PreferredTier = true
		case colTimezone:
			l.cols.Timezone = true
		case colLocale:
			l.cols.Locale = true
		case colTopics:
			l.cols.TopicsOptedOut = true
		case colPausedUntil:
			l.cols.PausedUntil = true
		}
	}
	if !l.email {
		return l, headerErr("email", "the header row must have an email column")
	}
	return l, nil
}

// contact reads one record; errs are the cells that could not be read.
func (l *importLayout) contact(rec []string, defaultTier string) (outreach.Contact, []outreach.FieldError) {
	c := outreach.Contact{Tier: defaultTier}
	var errs []outreach.FieldError
	for i, v := range rec {
		switch l.kinds[i] {
		case colEmail:
			c.Email = v
		case colName:
			c.Name = v
		case colExternalID:
			c.ExternalID = strings.TrimSpace(v)
		case colTier:
			if v = strings.TrimSpace(v); v != "" {
				c.Tier = v
			}
		case colPreferredTier:
			c.PreferredTier = strings.TrimSpace(v)
		case colTimezone:
			c.Timezone = strings.TrimSpace(v)
		case colLocale:
			c.Locale = strings.TrimSpace(v)
		case colTopics:
			for t := range strings.SplitSeq(v, ";") {
				if t = strings.TrimSpace(t); t != "" {
					c.TopicsOptedOut = append(c.TopicsOptedOut, t)
				}
			}
		case colPausedUntil:
			if v = strings.TrimSpace(v); v != "" {
				t, err := time.Parse(time.RFC3339, v)
				if err != nil {
					errs = append(errs, outreach.FieldError{Field: "paused_until", Message: fmt.Sprintf("%q is not an RFC 3339 time such as 2026-01-31T09:00:00Z", v)})
				} else {
					c.PausedUntil = &t
				}
			}
		case colAttr:
			if v != "" { // an empty cell removes the attribute
				if c.Attributes == nil {
					c.Attributes = map[string]any{}
				}
				c.Attributes[l.attrs[i]] = v
			}
		}
	}
	return c, errs
}

// recordGuard counts the bytes read since the last record and fails a
// record longer than maxRecordBytes.
type recordGuard struct {
	r io.Reader
	n int
}

func (g *recordGuard) Read(p []byte) (int, error) {
	if g.n > maxRecordBytes {
		return 0, ErrRecordTooLong
	}
	n, err := g.r.Read(p)
	g.n += n
	return n, err
}

// Import reads CSV from r and upserts its contacts. A bad row is reported
// with its line (the line its record starts on; the header is line 1) and
// never stops the others. defaultTier is the tier of rows without one (and
// of every row when the file has no tier column).
func Import(ctx context.Context, store Store, actor string, in io.Reader, defaultTier string) (postgres.ImportResult, error) {
	return ImportWithProgress(ctx, store, actor, in, defaultTier, nil)
}

// ProgressEvery is how many data rows an import reads between two calls
// of its progress function.
const ProgressEvery = 1000

// ImportWithProgress is Import that calls progress (when not nil) with the
// number of data rows read so far, every ProgressEvery rows and once at
// the end, from the importing goroutine: the console's progress bar.
func ImportWithProgress(ctx context.Context, store Store, actor string, in io.Reader, defaultTier string,
	progress func(rows int)) (postgres.ImportResult, error) {
	if progress == nil {
		progress = func(int) {}
	}
	guard := &recordGuard{r: in}
	r := csv.NewReader(guard)
	r.ReuseRecord = true
	r.FieldsPerRecord = 0 // the header's count, then checked on every record
	header, err := r.Read()
	if err != nil {
		if errors.Is(err, io.EOF) {
			return postgres.ImportResult{}, headerErr("header", "the file is empty: the first row must name the columns, such as email,name,tier")
		}
		var pe *csv.ParseError
		if errors.As(err, &pe) {
			return postgres.ImportResult{}, headerErr("header", "malformed CSV header: "+pe.Error())
		}
		if errors.Is(err, ErrRecordTooLong) {
			return postgres.ImportResult{}, headerErr("header", fmt.Sprintf("the header row is longer than %d bytes", maxRecordBytes))
		}
		return postgres.ImportResult{}, &ReadError{Err: err}
	}
	layout, err := readHeader(header)
	if err != nil {
		return postgres.ImportResult{}, err
	}
	defaultTier = strings.TrimSpace(defaultTier)
	if !layout.tier && defaultTier == "" {
		return postgres.ImportResult{}, headerErr("tier", "the header row must have a tier column, or ?tier= must name the tier for every row")
	}
	im, err := store.NewImporter(ctx, actor, layout.cols)
	if err != nil {
		return postgres.ImportResult{}, err
	}
	if defaultTier != "" && !im.TierExists(defaultTier) {
		return postgres.ImportResult{}, headerErr("tier", "no such tier: "+defaultTier)
	}
	var readErr, dbErr error
	last := 1 // the line the last record read starts on
	rows := 0
	defer func() { progress(rows) }()
	for {
		if rows%ProgressEvery == 0 && rows > 0 {
			progress(rows)
		}
		guard.n = 0
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		var pe *csv.ParseError
		if err != nil && !errors.As(err, &pe) {
			readErr = err
			break
		}
		rows++
		if pe != nil {
			last = pe.StartLine
			if errors.Is(pe.Err, csv.ErrFieldCount) {
				im.Reject(pe.StartLine, "row", fmt.Sprintf("has %d fields; the header has %d", len(rec), len(layout.kinds)))
			} else {
				im.Reject(pe.StartLine, "row", fmt.Sprintf("malformed CSV at line %d, column %d: %v", pe.Line, pe.Column, pe.Err))
			}
			continue
		}
		line, _ := r.FieldPos(0)
		last = line
		ct, errs := layout.contact(rec, defaultTier)
		if dbErr = im.Add(ctx, line, ct, errs); dbErr != nil {
			break
		}
	}
	if errors.Is(readErr, ErrRecordTooLong) {
		// The rest of the file cannot be told apart from this record.
		im.Note(last, "row", fmt.Sprintf("the record after this one is longer than %d bytes (a quote left open?); the rest of the file was not read", maxRecordBytes))
		readErr = nil
	}
	res, err := im.Finish(ctx)
	if dbErr != nil {
		return res, dbErr
	}
	if readErr != nil {
		return res, &ReadError{Err: readErr, Rows: res.Rows}
	}
	return res, err
}
