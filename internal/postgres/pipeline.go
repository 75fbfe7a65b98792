package postgres

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// pipeTx runs one read-then-write transaction in two round trips instead of
// four: it is a dbsqlc.DBTX whose first Query is sent together with BEGIN,
// and whose next Exec is sent together with COMMIT, in pgx batches
// (pipelined, one network round trip each). Reservations are on every
// send batch's path and hold row locks that other processes wait for, so
// the two saved round trips are time every process gains.
//
// It supports exactly that shape: Query (once), then Exec (once, commits)
// or rollback. The SQL is still sqlc's; only the framing changes.
type pipeTx struct {
	conn   *pgxpool.Conn
	begun  bool
	closed bool
}

func (p *pipeTx) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	if p.begun {
		return nil, errors.New("postgres: pipeTx supports one query")
	}
	p.begun = true
	b := &pgx.Batch{}
	b.Queue("begin")
	b.Queue(sql, args...)
	br := p.conn.SendBatch(ctx, b)
	if _, err := br.Exec(); err != nil {
		br.Close()
		return nil, err
	}
	rows, err := br.Query()
	if err != nil {
		br.Close()
		return nil, err
	}
	return &batchRows{Rows: rows, br: br}, nil
}

func (p *pipeTx) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	if !p.begun || p.closed {
		return pgconn.CommandTag{}, errors.New("postgres: pipeTx executes once, after its query")
	}
	p.closed = true
	b := &pgx.Batch{}
	b.Queue(sql, args...)
	b.Queue("commit")
	br := p.conn.SendBatch(ctx, b)
	tag, err := br.Exec()
	if err == nil {
		_, err = br.Exec()
	}
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	if err != nil && p.conn.Conn().PgConn().TxStatus() != 'I' {
		// The pipeline skipped COMMIT after the failed statement.
		_, _ = p.conn.Exec(context.WithoutCancel(ctx), "rollback")
	}
	return tag, err
}

func (p *pipeTx) QueryRow(context.Context, string, ...any) pgx.Row {
	return errRow{errors.New("postgres: pipeTx has no QueryRow")}
}

func (p *pipeTx) CopyFrom(context.Context, pgx.Identifier, []string, pgx.CopyFromSource) (int64, error) {
	return 0, errors.New("postgres: pipeTx has no CopyFrom")
}

// commit ends a transaction that had nothing to write.
func (p *pipeTx) commit(ctx context.Context) error {
	if !p.begun || p.closed {
		return nil
	}
	p.closed = true
	_, err := p.conn.Exec(ctx, "commit")
	return err
}

// rollback ends the transaction after an error or a change of mind. When
// it cannot, the pool drops the connection on release (it is not idle).
func (p *pipeTx) rollback(ctx context.Context) {
	if !p.begun || p.closed {
		return
	}
	p.closed = true
	_, _ = p.conn.Exec(context.WithoutCancel(ctx), "rollback")
}

// batchRows closes the batch with the rows, so the connection is free for
// the next statement.
type batchRows struct {
	pgx.Rows
	br pgx.BatchResults
}

func (r *batchRows) Close() {
	r.Rows.Close()
	_ = r.br.Close()
}

type errRow struct{ err error }

func (r errRow) Scan(...any) error { return r.err }
