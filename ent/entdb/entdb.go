// Package entdb opens merchd's database: a SQLite file by default, PostgreSQL
// to scale out. It applies the connection settings the invariants rely on
// (foreign keys, WAL, immediate write transactions) and runs migrations so
// that replicas starting together do not trip over each other.
package entdb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"
	_ "github.com/jackc/pgx/v5/stdlib" // registers "pgx"
	_ "modernc.org/sqlite"             // registers "sqlite"

	"github.com/merchd/merchd/ent"
	"github.com/merchd/merchd/ent/migrate"
	_ "github.com/merchd/merchd/ent/runtime" // privacy policies and hooks
)

// ErrBadURL is returned for a database location merchd cannot use.
var ErrBadURL = errors.New("entdb: bad database location")

// Config says where the database is and how to pool connections.
type Config struct {
	// URL is a SQLite file path (or file: URL), or a postgres:// URL.
	URL string
	// MaxOpenConns caps the pool; 0 picks a default for the dialect.
	MaxOpenConns int
	// BusyTimeout is how long SQLite waits for the write lock.
	BusyTimeout time.Duration
	// Driver, when set, wraps the ent driver (tests count queries with it).
	Driver func(dialect.Driver) dialect.Driver
}

// Validate reports a clear error for a location that cannot work.
func (c Config) Validate() error {
	if strings.TrimSpace(c.URL) == "" {
		return fmt.Errorf("%w: empty; give a SQLite file path or a postgres:// URL", ErrBadURL)
	}
	if IsPostgres(c.URL) {
		u, err := url.Parse(c.URL)
		if err != nil || u.Host == "" {
			return fmt.Errorf("%w: %q is not a postgres://user@host:port/db URL", ErrBadURL, redact(c.URL))
		}
	}
	if c.MaxOpenConns < 0 {
		return fmt.Errorf("%w: max open connections %d is negative", ErrBadURL, c.MaxOpenConns)
	}
	return nil
}

// IsPostgres reports whether url names a PostgreSQL database.
func IsPostgres(u string) bool {
	return strings.HasPrefix(u, "postgres://") || strings.HasPrefix(u, "postgresql://")
}

// DB is an open database: the ent client and the pool under it.
type DB struct {
	Client  *ent.Client
	SQL     *sql.DB
	Dialect string
	lock    migrationLock
}

// Close closes the client and its pool.
func (d *DB) Close() error { return d.Client.Close() }

// Open connects and migrates the schema.
func Open(ctx context.Context, cfg Config) (*DB, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	d := &DB{}
	var err error
	if IsPostgres(cfg.URL) {
		d.Dialect = dialect.Postgres
		d.SQL, err = sql.Open("pgx", cfg.URL)
		if err != nil {
			return nil, fmt.Errorf("entdb: open postgres %s: %w", redact(cfg.URL), err)
		}
		n := cfg.MaxOpenConns
		if n == 0 {
			n = 20
		}
		d.SQL.SetMaxOpenConns(n)
		d.SQL.SetMaxIdleConns(n)
		d.SQL.SetConnMaxIdleTime(5 * time.Minute)
		d.lock = pgLock{db: d.SQL}
	} else {
		d.Dialect = dialect.SQLite
		dsn, path, err := sqliteDSN(cfg)
		if err != nil {
			return nil, err
		}
		d.SQL, err = sql.Open("sqlite", dsn)
		if err != nil {
			return nil, fmt.Errorf("entdb: open sqlite %s: %w", path, err)
		}
		n := cfg.MaxOpenConns
		if n == 0 {
			n = 8
		}
		d.SQL.SetMaxOpenConns(n)
		d.SQL.SetMaxIdleConns(n)
		d.lock = fileLock{path: path + ".migrate-lock"}
	}
	pingCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := d.SQL.PingContext(pingCtx); err != nil {
		d.SQL.Close()
		return nil, fmt.Errorf("entdb: connect to %s: %w", redact(cfg.URL), err)
	}
	var drv dialect.Driver = entsql.OpenDB(d.Dialect, d.SQL)
	if d.Dialect == dialect.SQLite {
		drv = newSerialWriter(drv)
	}
	if cfg.Driver != nil {
		drv = cfg.Driver(drv)
	}
	d.Client = ent.NewClient(ent.Driver(drv))
	if err := d.migrate(ctx); err != nil {
		d.Client.Close()
		return nil, err
	}
	return d, nil
}

// migrate runs ent's auto-migration under a lock shared by every process
// using this database, so two replicas starting at once apply it once.
func (d *DB) migrate(ctx context.Context) error {
	// ent's migrator writes package-level table descriptions, so two
	// databases opened in one process (tests, tools) must not migrate at
	// once either; the database lock below covers other processes.
	migrateMu.Lock()
	defer migrateMu.Unlock()
	unlock, err := d.lock.Lock(ctx)
	if err != nil {
		return fmt.Errorf("entdb: take migration lock: %w", err)
	}
	defer unlock()
	// Indexes the schema no longer has are dropped (a uniqueness the
	// schema relaxed must not keep refusing rows).
	if err := d.Client.Schema.Create(ctx, migrate.WithForeignKeys(true), migrate.WithDropIndex(true)); err != nil {
		return fmt.Errorf("entdb: migrate: %w", err)
	}
	for _, q := range dataMigrations {
		if _, err := d.SQL.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("entdb: migrate rows: %w", err)
		}
	}
	return nil
}

// dataMigrations bring rows an earlier version wrote up to the schema.
// Each is idempotent and cheap when there is nothing to do (it runs at
// every start, under the migration lock).
var dataMigrations = []string{
	// Fulfilments opened before partial fulfilment existed carry every
	// unit of their order.
	`INSERT INTO fulfillment_lines (fulfillment_id, order_line_id, customer_id, quantity)
	 SELECT f.id, ol.id, f.customer_id, ol.quantity FROM fulfillments f JOIN order_lines ol ON ol.order_id = f.order_id
	 WHERE f.split_from IS NULL AND NOT EXISTS (SELECT 1 FROM fulfillment_lines fl WHERE fl.fulfillment_id = f.id)`,
}

var migrateMu sync.Mutex

// Ping checks the database answers (for /readyz).
func (d *DB) Ping(ctx context.Context) error { return d.SQL.PingContext(ctx) }

func sqliteDSN(cfg Config) (dsn, path string, err error) {
	raw := strings.TrimPrefix(cfg.URL, "sqlite://")
	raw = strings.TrimPrefix(raw, "file:")
	path, query, _ := strings.Cut(raw, "?")
	if path == "" || strings.Contains(path, ":memory:") {
		return "", "", fmt.Errorf("%w: SQLite needs a file path (in-memory databases lose every sale on restart)", ErrBadURL)
	}
	if dir := filepath.Dir(path); dir != "" {
		if st, err := os.Stat(dir); err != nil || !st.IsDir() {
			return "", "", fmt.Errorf("%w: directory %q for the SQLite file does not exist", ErrBadURL, dir)
		}
	}
	q, err := url.ParseQuery(query)
	if err != nil {
		return "", "", fmt.Errorf("%w: %v", ErrBadURL, err)
	}
	busy := cfg.BusyTimeout
	if busy == 0 {
		busy = 10 * time.Second
	}
	q.Add("_pragma", "foreign_keys(1)")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(NORMAL)")
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", busy.Milliseconds()))
	// Write transactions take the lock at BEGIN, so two writers queue on the
	// busy timeout instead of failing to upgrade a read lock.
	q.Set("_txlock", "immediate")
	return "file:" + path + "?" + q.Encode(), path, nil
}

// redact hides a password in a database URL.
func redact(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.User == nil {
		return s
	}
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	return u.String()
}

type migrationLock interface {
	Lock(ctx context.Context) (unlock func(), err error)
}

// pgLock is a session advisory lock held on one dedicated connection.
type pgLock struct{ db *sql.DB }

const pgMigrationLockID = 0x6d65726368640001 // "merchd" + 1

func (l pgLock) Lock(ctx context.Context) (func(), error) {
	conn, err := l.db.Conn(ctx)
	if err != nil {
		return nil, err
	}
	if _, err := conn.ExecContext(ctx, "SELECT pg_advisory_lock($1)", int64(pgMigrationLockID)); err != nil {
		conn.Close()
		return nil, err
	}
	return func() {
		_, _ = conn.ExecContext(context.Background(), "SELECT pg_advisory_unlock($1)", int64(pgMigrationLockID))
		conn.Close()
	}, nil
}
