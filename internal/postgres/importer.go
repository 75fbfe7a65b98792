package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/rapport-dev/rapport/internal/outreach"
	"github.com/rapport-dev/rapport/internal/postgres/internal/dbsqlc"
)

// ImportBatchSize is how many valid rows an import upserts per statement.
const ImportBatchSize = 2000

// MaxImportErrors is how many row errors an import lists; it counts all.
const MaxImportErrors = 1000

// ImportColumns says which optional columns an import file has. A column
// the file lacks keeps its stored value on contacts that exist; a column it
// has is written, an empty cell clearing the value. Email and tier are
// always written.
type ImportColumns struct {
	ExternalID, Name, Locale, Timezone, PreferredTier, TopicsOptedOut, PausedUntil bool
	// AttributeKeys are the file's attr.<key> columns: each key is replaced
	// (an empty cell removes it); other stored attributes are kept.
	AttributeKeys []string
}

// ImportRowError is one problem with one row of an import file.
type ImportRowError struct {
	Line    int // where the row's record starts; the header is line 1
	Field   string
	Message string
}

// ImportResult counts what an import did. Every data row is exactly one of
// created, updated, unchanged or invalid.
type ImportResult struct {
	Rows            int
	Created         int
	Updated         int
	Unchanged       int
	Invalid         int
	Errors          []ImportRowError // the first MaxImportErrors
	ErrorsTruncated bool             // more rows had errors than are listed
}

// Importer upserts a stream of contacts by email, validating each row
// against the tiers and topics that existed when it started and writing the
// valid ones in batches of ImportBatchSize, one set-based statement per
// batch. A bad row is reported and skipped; it never fails the others. Rows
// apply in the order given: when an email comes again, the later row wins
// (the batch is flushed first, so the counts say what happened to each row).
//
// Each batch commits on its own: if the import stops half-way (the client
// goes away, the body is too large), the batches before stay written, and
// Finish still records them in the audit log.
type Importer struct {
	s      *Store
	actor  string
	cols   ImportColumns
	tiers  map[string]bool
	topics map[string]bool
	now    time.Time

	res   ImportResult
	batch importBatch
	// emails and extIDs hold the batch's keys, so a repeat flushes first.
	emails map[string]bool
	extIDs map[string]bool
}

type importBatch struct {
	lines                                                 []int64
	emails, extIDs, names, locales, zones, tiers, prefers []string
	topics, paused, attrs                                 []string
}

func (b *importBatch) reset() {
	b.lines = b.lines[:0]
	for _, s := range []*[]string{&b.emails, &b.extIDs, &b.names, &b.locales, &b.zones, &b.tiers, &b.prefers, &b.topics, &b.paused, &b.attrs} {
		*s = (*s)[:0]
	}
}

// NewImporter starts an import by actor of a file with cols, loading the
// tiers and topics once.
func (s *Store) NewImporter(ctx context.Context, actor string, cols ImportColumns) (*Importer, error) {
	tiers, err := s.Tiers(ctx)
	if err != nil {
		return nil, err
	}
	topics, err := s.Topics(ctx)
	if err != nil {
		return nil, err
	}
	im := &Importer{s: s, actor: actor, cols: cols, tiers: map[string]bool{}, topics: map[string]bool{},
		now: s.clock.Now(), emails: map[string]bool{}, extIDs: map[string]bool{}, res: ImportResult{Errors: []ImportRowError{}}}
	for _, t := range tiers {
		im.tiers[t.Key] = true
	}
	for _, t := range topics {
		im.topics[t.Key] = true
	}
	return im, nil
}

// TierExists reports whether key named a tier when the import started.
func (im *Importer) TierExists(key string) bool { return im.tiers[key] }

// Reject counts a row that could not be read (wrong field count, broken
// quoting) as invalid, with its problem.
func (im *Importer) Reject(line int, field, message string) {
	im.res.Rows++
	im.res.Invalid++
	im.addError(line, field, message)
}

// Note lists a problem that is not a row's (the file stopped early) without
// counting a row.
func (im *Importer) Note(line int, field, message string) { im.addError(line, field, message) }

func (im *Importer) addError(line int, field, message string) {
	if len(im.res.Errors) >= MaxImportErrors {
		im.res.ErrorsTruncated = true
		return
	}
	im.res.Errors = append(im.res.Errors, ImportRowError{Line: line, Field: field, Message: message})
}

// Add validates the contact read from line (errs are the problems the
// caller already found while reading it) and queues it, upserting a batch
// when one is full. An invalid row is counted and listed, not returned: the
// error is for the database failing.
func (im *Importer) Add(ctx context.Context, line int, c outreach.Contact, errs []outreach.FieldError) error {
	im.res.Rows++
	emptyEmail := strings.TrimSpace(c.Email) == ""
	for _, fe := range c.Normalize() {
		if fe.Field == "email" && emptyEmail {
			fe.Message = "is required"
		}
		errs = append(errs, fe)
	}
	if c.Tier != "" && !im.tiers[c.Tier] {
		errs = append(errs, outreach.FieldError{Field: "tier", Message: "no such tier: " + c.Tier})
	}
	if c.PreferredTier != "" && !im.tiers[c.PreferredTier] {
		errs = append(errs, outreach.FieldError{Field: "preferred_tier", Message: "no such tier: " + c.PreferredTier})
	}
	for _, t := range c.TopicsOptedOut {
		if !im.topics[t] {
			errs = append(errs, outreach.FieldError{Field: "topics_opted_out", Message: "no such topic: " + t})
		}
	}
	attrs, err := json.Marshal(c.Attributes)
	if err != nil {
		errs = append(errs, outreach.FieldError{Field: "attributes", Message: "must be JSON"})
	}
	if len(errs) > 0 {
		im.res.Invalid++
		for _, fe := range errs {
			im.addError(line, fe.Field, fe.Message)
		}
		return nil
	}
	// Within one statement a contact can change only once, and an
	// external id must not be claimed twice: a repeat starts a new batch,
	// so rows apply in file order and the later one wins.
	if im.emails[c.Email] || (c.ExternalID != "" && im.extIDs[c.ExternalID]) {
		if err := im.flush(ctx); err != nil {
			return err
		}
	}
	im.emails[c.Email] = true
	if c.ExternalID != "" {
		im.extIDs[c.ExternalID] = true
	}
	var paused string
	if c.PausedUntil != nil {
		paused = c.PausedUntil.UTC().Format(time.RFC3339Nano)
	}
	b := &im.batch
	b.lines = append(b.lines, int64(line))
	b.emails = append(b.emails, c.Email)
	b.extIDs = append(b.extIDs, c.ExternalID)
	b.names = append(b.names, c.Name)
	b.locales = append(b.locales, c.Locale)
	b.zones = append(b.zones, c.Timezone)
	b.tiers = append(b.tiers, c.Tier)
	b.prefers = append(b.prefers, c.PreferredTier)
	b.topics = append(b.topics, strings.Join(c.TopicsOptedOut, ";")) // keys never hold ';'
	b.paused = append(b.paused, paused)
	b.attrs = append(b.attrs, string(attrs))
	if len(b.lines) >= ImportBatchSize {
		return im.flush(ctx)
	}
	return nil
}

// flush upserts the queued rows in one statement.
func (im *Importer) flush(ctx context.Context) error {
	b := &im.batch
	if len(b.lines) == 0 {
		return nil
	}
	p := dbsqlc.ImportContactsBatchParams{
		Lines: b.lines, Emails: b.emails, ExternalIds: b.extIDs, Names: b.names, Locales: b.locales,
		Timezones: b.zones, Tiers: b.tiers, PreferredTiers: b.prefers, Topics: b.topics, PausedUntil: b.paused,
		Attributes: b.attrs, Now: im.now, AttrKeys: im.cols.AttributeKeys,
		SetExternalID: im.cols.ExternalID, SetName: im.cols.Name, SetLocale: im.cols.Locale, SetTimezone: im.cols.Timezone,
		SetPreferredTier: im.cols.PreferredTier, SetTopics: im.cols.TopicsOptedOut, SetPausedUntil: im.cols.PausedUntil,
	}
	if p.AttrKeys == nil {
		p.AttrKeys = []string{}
	}
	row, err := im.upsert(ctx, p)
	if err != nil && rowFault(err) && len(b.lines) > 1 {
		// The database refused a row that validation let through: the
		// statement wrote nothing, so the batch is written again row by
		// row and only the rows at fault are lost.
		err = im.flushEach(ctx, p)
	} else if err == nil {
		im.count(row, len(b.lines))
	} else if rowFault(err) {
		im.refuse(int(b.lines[0]), err)
		err = nil
	}
	if err != nil {
		err = fmt.Errorf("import contacts (lines %d-%d): %w", b.lines[0], b.lines[len(b.lines)-1], err)
	}
	b.reset() // written or not, Finish must not try again
	clear(im.emails)
	clear(im.extIDs)
	return err
}

// upsert runs one batch statement. Another writer may take an email or
// external id between the check and the insert; the statement then wrote
// nothing, so it runs once more against the newer snapshot.
func (im *Importer) upsert(ctx context.Context, p dbsqlc.ImportContactsBatchParams) (dbsqlc.ImportContactsBatchRow, error) {
	row, err := im.s.q.ImportContactsBatch(ctx, p)
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "23505" {
		row, err = im.s.q.ImportContactsBatch(ctx, p)
	}
	return row, err
}

// flushEach writes a batch's rows one statement each, refusing the rows
// the database refuses.
func (im *Importer) flushEach(ctx context.Context, p dbsqlc.ImportContactsBatchParams) error {
	for i := range p.Lines {
		one := p
		one.Lines, one.Emails, one.ExternalIds, one.Names = p.Lines[i:i+1], p.Emails[i:i+1], p.ExternalIds[i:i+1], p.Names[i:i+1]
		one.Locales, one.Timezones, one.Tiers, one.PreferredTiers = p.Locales[i:i+1], p.Timezones[i:i+1], p.Tiers[i:i+1], p.PreferredTiers[i:i+1]
		one.Topics, one.PausedUntil, one.Attributes = p.Topics[i:i+1], p.PausedUntil[i:i+1], p.Attributes[i:i+1]
		row, err := im.upsert(ctx, one)
		switch {
		case err == nil:
			im.count(row, 1)
		case rowFault(err):
			im.refuse(int(p.Lines[i]), err)
		default:
			return err
		}
	}
	return nil
}

// count adds what a statement over n rows did to the result.
func (im *Importer) count(row dbsqlc.ImportContactsBatchRow, n int) {
	for _, l := range row.TakenLines {
		im.res.Invalid++
		im.addError(int(l), "external_id", "already used by another contact")
	}
	im.res.Created += int(row.Created)
	im.res.Updated += int(row.Updated)
	im.res.Unchanged += n - len(row.TakenLines) - int(row.Created) - int(row.Updated)
}

// refuse counts a row the database refused as invalid, with its reason.
func (im *Importer) refuse(line int, err error) {
	im.res.Invalid++
	msg := "could not be stored"
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		msg += ": " + strings.ToValidUTF8(pgErr.Message, "\uFFFD")
	}
	im.addError(line, "row", msg)
}

// rowFault reports whether the database refused a statement for what a
// row holds (a data exception such as NUL or bad UTF-8, or a constraint),
// not for being unavailable.
func rowFault(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && (strings.HasPrefix(pgErr.Code, "22") || strings.HasPrefix(pgErr.Code, "23"))
}

// Finish upserts the last batch and records the import in the audit log,
// also when flushing fails (what was written before is then recorded).
//
// There is one audit entry per import and no contact_event per row: a
// million timeline events would double the import's writes and flood every
// timeline with bulk noise; the audit entry says who imported what, and
// contacts' created_at/updated_at say when each was touched.
func (im *Importer) Finish(ctx context.Context) (ImportResult, error) {
	ferr := im.flush(ctx)
	res := im.res
	summary := map[string]any{"rows": res.Rows, "created": res.Created, "updated": res.Updated,
		"unchanged": res.Unchanged, "invalid": res.Invalid}
	if ferr != nil {
		summary["failed"] = true
	}
	// The entry is written even when the client has gone: what was
	// imported must be on record.
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	aerr := im.s.InTx(actx, func(tx *Tx) error {
		return tx.Audit(actx, im.actor, "import", "contact", "", nil, summary)
	})
	if ferr != nil {
		return res, ferr
	}
	if aerr != nil {
		return res, mapError("audit import", aerr)
	}
	return res, nil
}
