// Package pgtest gives each test a database of its own, cloned from a
// migrated template, so tests run in parallel against a real PostgreSQL
// without seeing each other's rows.
//
// The server comes from TEST_DATABASE_URL, else DATABASE_URL (make test sets
// it, starting a private cluster when needed).
package pgtest

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"sort"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/rapport-dev/rapport/internal/postgres"
	"github.com/rapport-dev/rapport/migrations"
)

var (
	once     sync.Once
	tmplName string
	onceErr  error
)

// ServerURL is the URL of the test server's maintenance database.
func ServerURL(tb testing.TB) string {
	u := os.Getenv("TEST_DATABASE_URL")
	if u == "" {
		u = os.Getenv("DATABASE_URL")
	}
	if u == "" {
		tb.Fatal("TEST_DATABASE_URL or DATABASE_URL must point at a PostgreSQL server; `make test` sets it up")
	}
	return u
}

func withDB(raw, db string) string {
	u, err := url.Parse(raw)
	if err != nil {
		panic(err)
	}
	u.Path = "/" + db
	return u.String()
}

// migrationsHash names the template after the migrations, so a changed
// migration makes a fresh template instead of reusing a stale one.
func migrationsHash() string {
	h := sha256.New()
	var names []string
	_ = fs.WalkDir(migrations.FS, ".", func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			names = append(names, p)
		}
		return nil
	})
	sort.Strings(names)
	for _, n := range names {
		b, _ := fs.ReadFile(migrations.FS, n)
		h.Write([]byte(n))
		h.Write(b)
	}
	return hex.EncodeToString(h.Sum(nil))[:12]
}

func template(ctx context.Context, server string) (string, error) {
	name := "rapport_tmpl_" + migrationsHash()
	conn, err := pgx.Connect(ctx, withDB(server, "postgres"))
	if err != nil {
		return "", fmt.Errorf("connect to test server: %w", err)
	}
	defer conn.Close(ctx)
	// Several test binaries start at once: one builds the template.
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock(7240311)"); err != nil {
		return "", err
	}
	defer conn.Exec(ctx, "SELECT pg_advisory_unlock(7240311)") //nolint:errcheck
	var exists bool
	if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1 AND datistemplate)", name).Scan(&exists); err != nil {
		return "", err
	}
	if exists {
		return name, nil
	}
	_, _ = conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize())
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		return "", err
	}
	pool, err := postgres.Open(ctx, withDB(server, name), 4)
	if err != nil {
		return "", err
	}
	err = postgres.Migrate(ctx, pool, slog.New(slog.DiscardHandler))
	pool.Close()
	if err != nil {
		return "", err
	}
	if _, err := conn.Exec(ctx, "ALTER DATABASE "+pgx.Identifier{name}.Sanitize()+" WITH is_template = true"); err != nil {
		return "", err
	}
	return name, nil
}

// URL creates a fresh, migrated database for the test, dropped when it ends,
// and returns its URL.
func URL(tb testing.TB) string {
	tb.Helper()
	ctx := context.Background()
	server := ServerURL(tb)
	once.Do(func() { tmplName, onceErr = template(ctx, server) })
	if onceErr != nil {
		tb.Fatalf("test database template: %v", onceErr)
	}
	var b [6]byte
	_, _ = rand.Read(b[:])
	name := "rapport_t_" + hex.EncodeToString(b[:])
	conn, err := pgx.Connect(ctx, withDB(server, "postgres"))
	if err != nil {
		tb.Fatalf("connect to test server: %v", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()+" TEMPLATE "+pgx.Identifier{tmplName}.Sanitize()); err != nil {
		tb.Fatalf("create test database: %v", err)
	}
	tb.Cleanup(func() {
		c, err := pgx.Connect(context.Background(), withDB(server, "postgres"))
		if err != nil {
			return
		}
		defer c.Close(context.Background())
		_, _ = c.Exec(context.Background(), "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)")
	})
	return withDB(server, name)
}

// Pool returns a pool on a fresh database for the test.
func Pool(tb testing.TB) *pgxpool.Pool {
	tb.Helper()
	pool, err := postgres.Open(context.Background(), URL(tb), 20)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(pool.Close)
	return pool
}
