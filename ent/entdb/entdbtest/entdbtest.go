// Package entdbtest gives tests a real database: a SQLite file per test, or
// a fresh PostgreSQL database when MERCHD_TEST_POSTGRES is set. It imports
// nothing of merchd's but the driver registrations of entdb, so any
// package's tests may use it.
package entdbtest

import (
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib" // "pgx" for the admin connection
)

// PostgresEnv names the variable holding a PostgreSQL URL for tests, e.g.
// postgres://postgres@127.0.0.1:5432/test?sslmode=disable. Each test gets
// its own database created from it and dropped afterwards.
const PostgresEnv = "MERCHD_TEST_POSTGRES"

// Dialects returns the databases to run a suite on: always "sqlite", and
// "postgres" when MERCHD_TEST_POSTGRES is set.
func Dialects(t testing.TB) []string {
	if os.Getenv(PostgresEnv) == "" {
		t.Logf("PostgreSQL variant skipped: set %s=postgres://… to run it", PostgresEnv)
		return []string{"sqlite"}
	}
	return []string{"sqlite", "postgres"}
}

// DatabaseURL returns a fresh database of the dialect for this test.
func DatabaseURL(t testing.TB, dialectName string) string {
	t.Helper()
	switch dialectName {
	case "sqlite":
		return filepath.Join(t.TempDir(), "merchd.db")
	case "postgres":
		return NewPostgresDB(t)
	}
	t.Fatalf("unknown dialect %q", dialectName)
	return ""
}

// NewPostgresDB creates an empty database and returns its URL; it is
// dropped when the test ends. The test is skipped without MERCHD_TEST_POSTGRES.
func NewPostgresDB(t testing.TB) string {
	t.Helper()
	base := os.Getenv(PostgresEnv)
	if base == "" {
		t.Skipf("needs PostgreSQL: set %s=postgres://user@127.0.0.1:5432/db?sslmode=disable", PostgresEnv)
	}
	admin, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatalf("open %s: %v", PostgresEnv, err)
	}
	defer admin.Close()
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	name := "merchd_test_" + hex.EncodeToString(b)
	if _, err := admin.Exec("CREATE DATABASE " + name); err != nil {
		t.Fatalf("create test database: %v", err)
	}
	t.Cleanup(func() {
		a, err := sql.Open("pgx", base)
		if err != nil {
			return
		}
		defer a.Close()
		_, _ = a.Exec("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)")
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("parse %s: %v", PostgresEnv, err)
	}
	u.Path = "/" + name
	return u.String()
}
