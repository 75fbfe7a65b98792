// Package postgres is rapport's store: the connection pool, migrations (the
// app's own, via goose, and River's, via rivermigrate) and every query, typed
// by sqlc from queries/*.sql into dbsqlc.
package postgres

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivermigrate"

	"github.com/rapport-dev/rapport/migrations"
)

// Open connects a pool and checks the database answers.
func Open(ctx context.Context, url string, maxConns int32) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("parse DATABASE_URL: %w", err)
	}
	if maxConns > 0 {
		cfg.MaxConns = maxConns
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connect to database: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("connect to database: %w", err)
	}
	return pool, nil
}

// riverMigrationLock keeps two processes from running River's migrations at
// once (goose has its own session lock for ours).
const riverMigrationLock = 0x72617070_6f7274

func provider(pool *pgxpool.Pool) (*goose.Provider, *sql.DB, error) {
	db := stdlib.OpenDBFromPool(pool)
	locker, err := lock.NewPostgresSessionLocker()
	if err != nil {
		return nil, nil, err
	}
	fsys, err := fs.Sub(migrations.FS, ".")
	if err != nil {
		return nil, nil, err
	}
	p, err := goose.NewProvider(goose.DialectPostgres, db, fsys,
		goose.WithSessionLocker(locker), goose.WithDisableGlobalRegistry(true))
	if err != nil {
		db.Close()
		return nil, nil, fmt.Errorf("load migrations: %w", err)
	}
	return p, db, nil
}

// Migrate applies River's migrations and then the app's. Re-running is a no-op.
func Migrate(ctx context.Context, pool *pgxpool.Pool, log *slog.Logger) error {
	if err := migrateRiver(ctx, pool, rivermigrate.DirectionUp, log); err != nil {
		return err
	}
	p, db, err := provider(pool)
	if err != nil {
		return err
	}
	defer db.Close()
	res, err := p.Up(ctx)
	if err != nil {
		return fmt.Errorf("apply migrations: %w", err)
	}
	for _, r := range res {
		log.Info("migration applied", "version", r.Source.Version, "file", r.Source.Path, "duration", r.Duration)
	}
	return nil
}

// MigrateDown rolls back the app's newest migration, or everything
// (the app's tables and then River's) when all is true.
func MigrateDown(ctx context.Context, pool *pgxpool.Pool, all bool, log *slog.Logger) error {
	p, db, err := provider(pool)
	if err != nil {
		return err
	}
	defer db.Close()
	if !all {
		r, err := p.Down(ctx)
		if err != nil {
			return fmt.Errorf("roll back migration: %w", err)
		}
		if r != nil {
			log.Info("migration rolled back", "version", r.Source.Version)
		}
		return nil
	}
	if _, err := p.DownTo(ctx, 0); err != nil {
		return fmt.Errorf("roll back migrations: %w", err)
	}
	return migrateRiver(ctx, pool, rivermigrate.DirectionDown, log)
}

func migrateRiver(ctx context.Context, pool *pgxpool.Pool, dir rivermigrate.Direction, log *slog.Logger) error {
	// River logs every check at info on every start; those lines are
	// debug for rapport (its own migrations log what they apply).
	m, err := rivermigrate.New(riverpgxv5.New(pool), &rivermigrate.Config{Logger: slog.New(demoted{log.Handler()})})
	if err != nil {
		return fmt.Errorf("river migrator: %w", err)
	}
	// River's migrations must each commit on their own (one adds an enum
	// value), so the lock is a session lock held on a connection of its own.
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1)", riverMigrationLock); err != nil {
		return err
	}
	defer conn.Exec(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock($1)", riverMigrationLock) //nolint:errcheck // released with the session anyway
	opts := &rivermigrate.MigrateOpts{}
	if dir == rivermigrate.DirectionDown {
		opts.TargetVersion = -1
	}
	if _, err := m.Migrate(ctx, dir, opts); err != nil {
		return fmt.Errorf("river migrations: %w", err)
	}
	return nil
}

// MigrationsCurrent reports whether every app and River migration is applied;
// /readyz answers 503 until it is.
func MigrationsCurrent(ctx context.Context, pool *pgxpool.Pool) error {
	m, err := rivermigrate.New(riverpgxv5.New(pool), nil)
	if err != nil {
		return err
	}
	exists, err := m.ExistingVersions(ctx)
	if err != nil {
		return fmt.Errorf("river migrations: %w", err)
	}
	all := m.AllVersions()
	if len(exists) < len(all) {
		return errors.New("river migrations pending")
	}
	p, db, err := provider(pool)
	if err != nil {
		return err
	}
	defer db.Close()
	pending, err := p.HasPending(ctx)
	if err != nil {
		return fmt.Errorf("app migrations: %w", err)
	}
	if pending {
		return errors.New("app migrations pending")
	}
	return nil
}

// demoted logs info records at debug; warnings and errors stay.
type demoted struct{ slog.Handler }

func (d demoted) Enabled(ctx context.Context, l slog.Level) bool {
	return d.Handler.Enabled(ctx, demote(l))
}

func (d demoted) Handle(ctx context.Context, r slog.Record) error {
	r.Level = demote(r.Level)
	return d.Handler.Handle(ctx, r)
}

func (d demoted) WithAttrs(as []slog.Attr) slog.Handler { return demoted{d.Handler.WithAttrs(as)} }
func (d demoted) WithGroup(name string) slog.Handler    { return demoted{d.Handler.WithGroup(name)} }

func demote(l slog.Level) slog.Level {
	if l == slog.LevelInfo {
		return slog.LevelDebug
	}
	return l
}
