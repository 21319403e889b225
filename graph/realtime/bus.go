package realtime

import (
	"context"
	"database/sql"
	"log/slog"
	"math/rand/v2"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
)

// Bus carries change notifications from the services that commit them to
// the broker that fans them out. Local stays in the process (SQLite: one
// process); Postgres goes through LISTEN/NOTIFY so that every replica's
// subscribers hear about every replica's commits.
type Bus interface {
	// Notify announces committed changes (the services' Notifier).
	Notify(ctx context.Context, topics ...string)
	// Run delivers notifications to br until ctx ends.
	Run(ctx context.Context, br *Broker)
}

// Local is the in-process bus.
type Local struct{ broker atomic.Pointer[Broker] }

// NewLocal returns a bus for one process.
func NewLocal() *Local { return &Local{} }

// Notify implements Bus.
func (b *Local) Notify(ctx context.Context, topics ...string) {
	if br := b.broker.Load(); br != nil {
		br.Notify(ctx, topics...)
	}
}

// Run implements Bus.
func (b *Local) Run(ctx context.Context, br *Broker) {
	b.broker.Store(br)
	<-ctx.Done()
	b.broker.Store(nil)
}

// pgChannel is the LISTEN/NOTIFY channel merchd uses.
const pgChannel = "merchd_events"

// Postgres is the bus shared by every replica on one database.
type Postgres struct {
	db  *sql.DB // for NOTIFY, from the pool
	url string  // for the dedicated LISTEN connection
	log *slog.Logger
}

// NewPostgres returns a bus over the database at url.
func NewPostgres(db *sql.DB, url string, log *slog.Logger) *Postgres {
	return &Postgres{db: db, url: url, log: log}
}

// Notify sends one NOTIFY with the topics, newline-separated (payloads are
// capped near 8,000 bytes, so long lists go in several).
func (b *Postgres) Notify(ctx context.Context, topics ...string) {
	for len(topics) > 0 {
		n, size := 0, 0
		for n < len(topics) && size+len(topics[n])+1 < 7900 {
			size += len(topics[n]) + 1
			n++
		}
		if n == 0 {
			n = 1
		}
		ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		if _, err := b.db.ExecContext(ctx, "SELECT pg_notify($1, $2)", pgChannel, strings.Join(topics[:n], "\n")); err != nil {
			b.log.Error("realtime: notify", "error", err)
		}
		cancel()
		topics = topics[n:]
	}
}

// Run listens on a dedicated connection, reconnecting with backoff. After
// a reconnect every watched topic is refreshed: notifications sent while
// the link was down are lost, values are not.
func (b *Postgres) Run(ctx context.Context, br *Broker) {
	backoff := 100 * time.Millisecond
	for first := true; ctx.Err() == nil; first = false {
		err := b.listen(ctx, br, !first)
		if ctx.Err() != nil {
			return
		}
		b.log.Warn("realtime: listener lost; reconnecting", "error", err, "in", backoff.String())
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff + rand.N(backoff/2)):
		}
		backoff = min(backoff*2, 10*time.Second)
	}
}

func (b *Postgres) listen(ctx context.Context, br *Broker, refreshAll bool) error {
	conn, err := pgx.Connect(ctx, b.url)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, "LISTEN "+pgChannel); err != nil {
		return err
	}
	if refreshAll {
		br.Notify(ctx, "*")
	}
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return err
		}
		br.Notify(ctx, strings.Split(n.Payload, "\n")...)
	}
}
