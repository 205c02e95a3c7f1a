// Package migrate applies gusu's schema migrations: numbered SQL files
// embedded in the binary, each applied in its own transaction and recorded
// in gusu_schema_migrations, so running them twice is a no-op.
//
// Several gusu instances may start at once against one database; a session
// advisory lock makes them apply migrations one at a time.
package migrate

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

//go:embed sql/*.sql
var files embed.FS

// lockKey is an arbitrary constant that identifies gusu's migration lock.
const lockKey = 0x67757375 // "gusu"

// Migration is one schema change.
type Migration struct {
	Version int
	Name    string
	SQL     string
}

// All returns the embedded migrations in version order.
func All() ([]Migration, error) {
	entries, err := fs.ReadDir(files, "sql")
	if err != nil {
		return nil, err
	}
	var out []Migration
	for _, e := range entries {
		num, name, ok := strings.Cut(strings.TrimSuffix(e.Name(), ".sql"), "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil {
			return nil, fmt.Errorf("migration file %q is not named NNNN_name.sql", e.Name())
		}
		b, err := files.ReadFile(path.Join("sql", e.Name()))
		if err != nil {
			return nil, err
		}
		out = append(out, Migration{Version: v, Name: name, SQL: string(b)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Version < out[j].Version })
	for i := 1; i < len(out); i++ {
		if out[i].Version == out[i-1].Version {
			return nil, fmt.Errorf("two migrations numbered %d", out[i].Version)
		}
	}
	return out, nil
}

// EnsurePostGIS creates the postgis extension if needed and explains what to
// do when that is impossible, instead of surfacing a raw SQL error.
func EnsurePostGIS(ctx context.Context, conn *pgxpool.Conn) error {
	var installed bool
	if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'postgis')").Scan(&installed); err != nil {
		return fmt.Errorf("check for PostGIS: %w", err)
	}
	if installed {
		return nil
	}
	_, err := conn.Exec(ctx, "CREATE EXTENSION IF NOT EXISTS postgis")
	if err == nil {
		return nil
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch pgErr.Code {
		case "42501": // insufficient_privilege
			return fmt.Errorf("PostGIS is not enabled in this database and this role may not enable it: run 'CREATE EXTENSION postgis;' as a superuser or the database owner (%s)", pgErr.Message)
		case "0A000", "58P01": // feature_not_supported, undefined_file: extension not available
			return fmt.Errorf("PostGIS is not installed on the database server (%s): install it there, e.g. apt-get install postgresql-15-postgis-3", pgErr.Message)
		}
	}
	return fmt.Errorf("enable PostGIS: %w", err)
}

// Up applies every migration not yet recorded and returns the versions it applied.
func Up(ctx context.Context, pool *pgxpool.Pool) ([]int, error) {
	migrations, err := All()
	if err != nil {
		return nil, err
	}
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return nil, fmt.Errorf("acquire connection for migrations: %w", err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1)", lockKey); err != nil {
		return nil, fmt.Errorf("take migration lock: %w", err)
	}
	defer conn.Exec(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock($1)", lockKey)
	if err := EnsurePostGIS(ctx, conn); err != nil {
		return nil, err
	}

	if _, err := conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS gusu_schema_migrations (
		version integer PRIMARY KEY,
		name text NOT NULL,
		applied_at timestamptz NOT NULL DEFAULT now())`); err != nil {
		return nil, fmt.Errorf("create migrations table: %w", err)
	}
	applied := map[int]bool{}
	rows, err := conn.Query(ctx, "SELECT version FROM gusu_schema_migrations")
	if err != nil {
		return nil, fmt.Errorf("read applied migrations: %w", err)
	}
	versions, err := pgx.CollectRows(rows, pgx.RowTo[int])
	if err != nil {
		return nil, fmt.Errorf("read applied migrations: %w", err)
	}
	for _, v := range versions {
		applied[v] = true
	}
	var done []int
	for _, m := range migrations {
		if applied[m.Version] {
			continue
		}
		err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, m.SQL); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, "INSERT INTO gusu_schema_migrations (version, name) VALUES ($1, $2)", m.Version, m.Name)
			return err
		})
		if err != nil {
			return done, fmt.Errorf("apply migration %04d_%s: %w", m.Version, m.Name, err)
		}
		done = append(done, m.Version)
	}
	return done, nil
}
