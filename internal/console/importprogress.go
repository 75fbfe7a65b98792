package console

import (
	"crypto/rand"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// A CSV import runs inside its POST, which answers with the result once
// the whole file is in. Meanwhile the import page polls (htmx) a second
// address for its progress, which it reads from importTracker, in memory,
// under an id the import form carries in its action's query string: the
// upload is counted in bytes as it arrives, then the import in rows read
// (and bytes of the file, for the bar). Without JavaScript the browser
// shows its own upload progress and then waits for the answer. Progress
// is per process: behind a load balancer the poll must reach the same one
// (sticky sessions), or it shows the wait without numbers.

// Import phases.
const (
	phaseUploading int32 = iota + 1
	phaseImporting
	phaseFinished
)

// importKeep is how long a finished import's progress stays readable.
const importKeep = 15 * time.Minute

// importTracker holds the imports running (and just finished) in this
// process. Its zero value is ready to use.
type importTracker struct {
	mu   sync.Mutex
	runs map[string]*importRun
}

// importRun is one import's progress, written by its request and read by
// the polls.
type importRun struct {
	owner int64 // the user who started it: nobody else reads it
	phase atomic.Int32
	done  atomic.Int64 // bytes received (uploading) or read (importing)
	total atomic.Int64 // of how many; 0 when unknown
	rows  atomic.Int64
	ended atomic.Int64 // unix seconds when finished
}

var importIDPattern = regexp.MustCompile(`^[A-Z2-7]{26}$`)

// newImportID names an import: unguessable, so one user cannot read
// another's progress even by trying ids (they are checked anyway).
func newImportID() string { return rand.Text() }

// start returns the run under id for owner, making it; nil when id is not
// an import id or belongs to someone else. Finished runs older than
// importKeep are dropped on the way.
func (t *importTracker) start(id string, owner int64, now time.Time) *importRun {
	if !importIDPattern.MatchString(id) {
		return nil
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.runs == nil {
		t.runs = map[string]*importRun{}
	}
	for k, r := range t.runs {
		if e := r.ended.Load(); e != 0 && now.Unix()-e > int64(importKeep/time.Second) {
			delete(t.runs, k)
		}
	}
	if r, ok := t.runs[id]; ok {
		if r.owner != owner {
			return nil
		}
		return r
	}
	r := &importRun{owner: owner}
	r.phase.Store(phaseUploading)
	t.runs[id] = r
	return r
}

// get is owner's run under id, or nil.
func (t *importTracker) get(id string, owner int64) *importRun {
	t.mu.Lock()
	defer t.mu.Unlock()
	if r, ok := t.runs[id]; ok && r.owner == owner {
		return r
	}
	return nil
}

// importing moves the run to reading a file of size bytes.
func (r *importRun) importing(size int64) {
	if r == nil {
		return
	}
	r.done.Store(0)
	r.total.Store(size)
	r.phase.Store(phaseImporting)
}

func (r *importRun) setRows(n int) {
	if r != nil {
		r.rows.Store(int64(n))
	}
}

func (r *importRun) finish(now time.Time) {
	if r != nil {
		r.ended.Store(now.Unix())
		r.phase.Store(phaseFinished)
	}
}

// importProgress is a run as the page shows it.
type importProgress struct {
	ID          string
	Known       bool // the run has started (the upload reached the server)
	Phase       string
	Done, Total int64
	Rows        int64
	Percent     int
	Finished    bool
	// The numbers as the page says them.
	DoneText, TotalText, RowsText string
}

func (r *importRun) view(id string) *importProgress {
	p := &importProgress{ID: id}
	if r == nil {
		return p
	}
	p.Known = true
	p.Done, p.Total, p.Rows = r.done.Load(), r.total.Load(), r.rows.Load()
	switch r.phase.Load() {
	case phaseUploading:
		p.Phase = "uploading"
	case phaseImporting:
		p.Phase = "importing"
	default:
		p.Phase, p.Finished = "finished", true
	}
	if p.Total > 0 {
		p.Percent = int(min(100, p.Done*100/p.Total))
	}
	if p.Finished {
		p.Percent = 100
	}
	p.DoneText, p.TotalText, p.RowsText = megabytes(p.Done), megabytes(p.Total), thousands(p.Rows)
	return p
}

// counting counts the bytes read through it into a run, and keeps the
// connection's deadlines ahead of a long upload or import that is still
// moving (the server's timeouts are meant for ordinary requests).
type counting struct {
	r     io.Reader
	run   *importRun
	rc    *http.ResponseController
	moved time.Time
}

func (c *counting) Read(p []byte) (int, error) {
	if now := time.Now(); now.Sub(c.moved) > time.Second {
		c.moved = now
		_ = c.rc.SetReadDeadline(now.Add(time.Minute))
		_ = c.rc.SetWriteDeadline(now.Add(2 * time.Minute))
	}
	n, err := c.r.Read(p)
	if c.run != nil {
		c.run.done.Add(int64(n))
	}
	return n, err
}

// megabytes is a size in MB with one decimal: "12.5 MB".
func megabytes(n int64) string {
	return strconv.FormatFloat(float64(n)/1e6, 'f', 1, 64) + " MB"
}
