package api

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/rapport-dev/rapport/internal/outreach"
	"github.com/rapport-dev/rapport/internal/postgres"
)

// importPath is the import route; the global body limit skips it.
const importPath = "/api/v1/contacts/import"

// isImport tells the global body limit to leave the import alone: it
// streams, under a limit of its own (Deps.ImportBodyLimit).
func isImport(c echo.Context) bool {
	return c.Request().Method == http.MethodPost && c.Path() == importPath
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
			return l, newBadRequest("header", fmt.Sprintf("column %d has no name", i+1))
		}
		lower := strings.ToLower(name)
		if strings.HasPrefix(lower, "attr.") {
			key := strings.TrimSpace(name[len("attr."):])
			if key == "" {
				return l, newBadRequest(name, fmt.Sprintf("column %d: attr. needs a key, such as attr.plan", i+1))
			}
			if seen["attr."+key] {
				return l, newBadRequest(name, fmt.Sprintf("column %q appears more than once", name))
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
			return l, newBadRequest(name, msg)
		}
		if seen[lower] {
			return l, newBadRequest(name, fmt.Sprintf("column %q appears more than once", lower))
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
		return l, newBadRequest("email", "the header row must have an email column")
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

// bodyGuard counts the bytes read since the last record, failing a record
// longer than maxRecordBytes, and keeps the connection's deadlines ahead of
// a long upload that is still moving (the server's ReadTimeout is meant for
// ordinary requests).
type bodyGuard struct {
	r     io.Reader
	n     int
	rc    *http.ResponseController
	moved time.Time
}

var errRecordTooLong = errors.New("record too long")

func (g *bodyGuard) Read(p []byte) (int, error) {
	if g.n > maxRecordBytes {
		return 0, errRecordTooLong
	}
	if now := time.Now(); now.Sub(g.moved) > time.Second {
		g.moved = now
		_ = g.rc.SetReadDeadline(now.Add(time.Minute))
		_ = g.rc.SetWriteDeadline(now.Add(2 * time.Minute))
	}
	n, err := g.r.Read(p)
	g.n += n
	return n, err
}

// importContacts streams a CSV file into contacts: POST /contacts/import.
// The body is read record by record and upserted in batches; a bad row is
// reported with its line (the line its record starts on; the header is
// line 1) and never stops the others. ?tier= is the tier of rows without
// one (and of every row when the file has no tier column).
func (s *Server) importContacts(c echo.Context) error {
	req := c.Request()
	ctx := req.Context()
	mt, params, err := mime.ParseMediaType(req.Header.Get(echo.HeaderContentType))
	if err != nil || mt != "text/csv" {
		return echo.NewHTTPError(http.StatusUnsupportedMediaType, "send the file as text/csv")
	}
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") {
		return echo.NewHTTPError(http.StatusUnsupportedMediaType, "the file must be UTF-8 (charset=utf-8)")
	}
	guard := &bodyGuard{r: http.MaxBytesReader(c.Response(), req.Body, s.ImportBodyLimit),
		rc: http.NewResponseController(c.Response())}
	r := csv.NewReader(guard)
	r.ReuseRecord = true
	r.FieldsPerRecord = 0 // the header's count, then checked on every record
	header, err := r.Read()
	if err != nil {
		if errors.Is(err, io.EOF) {
			return newBadRequest("header", "the file is empty: the first row must name the columns, such as email,name,tier")
		}
		var pe *csv.ParseError
		if errors.As(err, &pe) {
			return newBadRequest("header", "malformed CSV header: "+pe.Error())
		}
		return importReadError(err, s.ImportBodyLimit, "header")
	}
	layout, err := readHeader(header)
	if err != nil {
		return err
	}
	defaultTier := strings.TrimSpace(c.QueryParam("tier"))
	if !layout.tier && defaultTier == "" {
		return newBadRequest("tier", "the header row must have a tier column, or ?tier= must name the tier for every row")
	}
	im, err := s.Store.NewImporter(ctx, actor(c), layout.cols)
	if err != nil {
		return err
	}
	if defaultTier != "" && !im.TierExists(defaultTier) {
		return newBadRequest("tier", "no such tier: "+defaultTier)
	}
	var readErr, dbErr error
	last := 1 // the line the last record read starts on
	for {
		guard.n = 0
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		var pe *csv.ParseError
		if errors.As(err, &pe) {
			last = pe.StartLine
			if errors.Is(pe.Err, csv.ErrFieldCount) {
				im.Reject(pe.StartLine, "row", fmt.Sprintf("has %d fields; the header has %d", len(rec), len(layout.kinds)))
			} else {
				im.Reject(pe.StartLine, "row", fmt.Sprintf("malformed CSV at line %d, column %d: %v", pe.Line, pe.Column, pe.Err))
			}
			continue
		}
		if err != nil {
			readErr = err
			break
		}
		line, _ := r.FieldPos(0)
		last = line
		ct, errs := layout.contact(rec, defaultTier)
		if dbErr = im.Add(ctx, line, ct, errs); dbErr != nil {
			break
		}
	}
	if errors.Is(readErr, errRecordTooLong) {
		// The rest of the file cannot be told apart from this record.
		im.Note(last, "row", fmt.Sprintf("the record after this one is longer than %d bytes (a quote left open?); the rest of the file was not read", maxRecordBytes))
		readErr = nil
	}
	res, err := im.Finish(ctx)
	if dbErr != nil {
		return dbErr
	}
	if readErr != nil {
		return importReadError(readErr, s.ImportBodyLimit, fmt.Sprintf("%d rows were read", res.Rows))
	}
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, res)
}

// importReadError explains why the body stopped being readable. Rows read
// before stay imported, and the audit log has their counts.
func importReadError(err error, limit int64, progress string) error {
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe):
		return echo.NewHTTPError(http.StatusRequestEntityTooLarge,
			fmt.Sprintf("the file is larger than the import limit of %d bytes (%s)", limit, progress))
	case errors.Is(err, errRecordTooLong):
		return newBadRequest("header", fmt.Sprintf("the header row is longer than %d bytes", maxRecordBytes))
	}
	return newBadRequest("", fmt.Sprintf("the upload broke off (%s): %v", progress, err))
}
