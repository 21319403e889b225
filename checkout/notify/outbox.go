package notify

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"entgo.io/ent/dialect/sql"
	"golang.org/x/time/rate"

	"github.com/merchd/merchd/checkout"
	"github.com/merchd/merchd/checkout/txn"
	"github.com/merchd/merchd/ent"
	"github.com/merchd/merchd/ent/notificationdelivery"
	"github.com/merchd/merchd/ent/outboxevent"
	"github.com/merchd/merchd/ent/predicate"
	"github.com/merchd/merchd/ent/viewer"
)

// Service is the outbox (checkout.Outbox), its delivery worker, and the
// webhook endpoints staff register.
type Service struct {
	db     *ent.Client
	cfg    Config
	now    func() time.Time
	log    *slog.Logger
	mailer Mailer // nil: email off
	client *http.Client
	tmpl   *templates
	wake   chan struct{}

	testOnce  sync.Once
	testLimit *rate.Limiter // test emails (SendTest)
	// shopName, when set, names the shop in emails (SetShopName).
	shopName func(ctx context.Context) string
}

var _ checkout.Outbox = (*Service)(nil)

// New returns the notification service; with cfg.SMTP set it sends email
// over SMTP.
func New(db *ent.Client, cfg Config, now func() time.Time, log *slog.Logger) (*Service, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	tm, err := loadTemplates()
	if err != nil {
		return nil, err
	}
	s := &Service{db: db, cfg: cfg, now: now, log: log, tmpl: tm, wake: make(chan struct{}, 1)}
	s.client = webhookClient(cfg)
	if cfg.SMTP.Enabled() {
		s.mailer = NewSMTP(cfg.SMTP)
	}
	return s, nil
}

// SetMailer replaces the mail transport (nil turns email off).
func (s *Service) SetMailer(m Mailer) { s.mailer = m }

// Record records e in tx with its deliveries: an email to e.CustomerID
// when a template exists for e.Type, and a webhook delivery for every
// endpoint subscribed to it. Nothing is sent until tx commits.
func (s *Service) Record(ctx context.Context, tx *ent.Tx, e checkout.Event) error {
	if e.Type == "" {
		return errors.New("notify: record: event without a type")
	}
	sys := viewer.SystemContext(ctx)
	data := e.Data
	if data == nil {
		data = map[string]any{}
	}
	raw, err := json.Marshal(data)
	if err != nil {
		return fmt.Errorf("notify: record %s: encode data: %w", e.Type, err)
	}
	now := s.now().UTC()
	ev, err := tx.OutboxEvent.Create().SetType(e.Type).SetOrderID(e.OrderID).SetCustomerID(e.CustomerID).
		SetData(raw).SetCreatedAt(now).Save(sys)
	if err != nil {
		return fmt.Errorf("notify: record %s: %w", e.Type, err)
	}
	delivery := func() *ent.NotificationDeliveryCreate {
		return tx.NotificationDelivery.Create().SetEventID(ev.ID).SetOrderID(e.OrderID).
			SetNextAttemptAt(now).SetCreatedAt(now).SetUpdatedAt(now)
	}
	var ds []*ent.NotificationDeliveryCreate
	if e.CustomerID != 0 && s.tmpl.has(e.Type) {
		ds = append(ds, delivery().SetKind(notificationdelivery.KindMAIL))
	}
	if slices.Contains(checkout.WebhookEvents, e.Type) {
		eps, err := tx.WebhookEndpoint.Query().All(sys)
		if err != nil {
			return fmt.Errorf("notify: record %s: endpoints: %w", e.Type, err)
		}
		for _, ep := range eps {
			if subscribed(ep.Events, e.Type) {
				ds = append(ds, delivery().SetKind(notificationdelivery.KindWEBHOOK).SetEndpointID(ep.ID))
			}
		}
	}
	if len(ds) > 0 {
		if err := tx.NotificationDelivery.CreateBulk(ds...).Exec(sys); err != nil {
			return fmt.Errorf("notify: record %s: deliveries: %w", e.Type, err)
		}
		tx.OnCommit(func(next ent.Committer) ent.Committer {
			return ent.CommitFunc(func(ctx context.Context, tx *ent.Tx) error {
				err := next.Commit(ctx, tx)
				if err == nil {
					s.poke()
				}
				return err
			})
		})
	}
	return nil
}

func subscribed(events []string, typ string) bool {
	return slices.Contains(events, typ) || slices.Contains(events, "*")
}

// poke wakes the worker (a commit on this replica has something to send).
func (s *Service) poke() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// Run sends due deliveries until ctx ends: every Interval, and at once
// after a commit on this replica recorded some.
func (s *Service) Run(ctx context.Context) {
	t := time.NewTicker(s.cfg.Interval)
	defer t.Stop()
	var pruned time.Time
	for {
		if n, err := s.DeliverDue(ctx); err != nil && ctx.Err() == nil {
			s.log.Error("notifications", "error", err)
		} else if n > 0 {
			s.log.Debug("notifications sent", "n", n)
		}
		if now := s.now(); now.Sub(pruned) > time.Hour {
			pruned = now
			if n, err := s.Prune(ctx); err != nil && ctx.Err() == nil {
				s.log.Error("prune notifications", "error", err)
			} else if n > 0 {
				s.log.Info("pruned notifications", "events", n)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-s.wake:
		}
	}
}

// Prune deletes events older than the retention with nothing pending,
// their deliveries with them, and returns how many.
func (s *Service) Prune(ctx context.Context) (int, error) {
	sys := viewer.SystemContext(ctx)
	cutoff := s.now().UTC().Add(-s.cfg.Retention)
	return txn.Do(sys, s.db, "prune notifications", func(tx *ent.Tx) (int, error) {
		old := []predicate.OutboxEvent{outboxevent.CreatedAtLT(cutoff),
			outboxevent.Not(outboxevent.HasDeliveriesWith(notificationdelivery.StatusEQ(notificationdelivery.StatusPENDING)))}
		if _, err := tx.NotificationDelivery.Delete().Where(notificationdelivery.HasEventWith(old...)).Exec(sys); err != nil {
			return 0, err
		}
		return tx.OutboxEvent.Delete().Where(old...).Exec(sys)
	})
}

// batch bounds the deliveries one scan claims.
const batch = 64

// DeliverDue sends every delivery due now, until none is left that this
// worker can claim, and returns how many it tried.
func (s *Service) DeliverDue(ctx context.Context) (int, error) {
	sys := viewer.SystemContext(ctx)
	tried := 0
	for ctx.Err() == nil {
		now := s.now().UTC()
		ids, err := s.db.NotificationDelivery.Query().
			Where(notificationdelivery.StatusEQ(notificationdelivery.StatusPENDING), notificationdelivery.NextAttemptAtLTE(now),
				unclaimed(now), inOrder()).
			Order(notificationdelivery.ByNextAttemptAt(), notificationdelivery.ByID()).Limit(batch).IDs(sys)
		if err != nil {
			return tried, fmt.Errorf("notify: due deliveries: %w", err)
		}
		if len(ids) == 0 {
			return tried, nil
		}
		var (
			claimed atomic.Int32
			wg      sync.WaitGroup
			sem     = make(chan struct{}, s.cfg.Workers)
			errMu   sync.Mutex
			errs    []error
		)
		for _, id := range ids {
			sem <- struct{}{}
			wg.Go(func() {
				defer func() { <-sem }()
				ok, err := s.deliver(ctx, id)
				if ok {
					claimed.Add(1)
				}
				if err != nil {
					errMu.Lock()
					errs = append(errs, err)
					errMu.Unlock()
				}
			})
		}
		wg.Wait()
		tried += int(claimed.Load())
		if err := errors.Join(errs...); err != nil {
			return tried, err
		}
		if claimed.Load() == 0 {
			return tried, nil // other workers hold them
		}
	}
	return tried, ctx.Err()
}

// unclaimed: no worker's lease on it, or the lease ran out.
func unclaimed(now time.Time) predicate.NotificationDelivery {
	return notificationdelivery.Or(notificationdelivery.ClaimedUntilIsNil(), notificationdelivery.ClaimedUntilLT(now))
}

// inOrder keeps a webhook delivery of an order waiting while the same
// endpoint has an earlier one of that order pending.
func inOrder() predicate.NotificationDelivery {
	return func(s *sql.Selector) {
		t := sql.Table(notificationdelivery.Table).As("earlier")
		earlier := sql.Select(t.C(notificationdelivery.FieldID)).From(t).Where(sql.And(
			sql.ColumnsEQ(t.C(notificationdelivery.FieldEndpointID), s.C(notificationdelivery.FieldEndpointID)),
			sql.ColumnsEQ(t.C(notificationdelivery.FieldOrderID), s.C(notificationdelivery.FieldOrderID)),
			sql.EQ(t.C(notificationdelivery.FieldStatus), notificationdelivery.StatusPENDING),
			sql.ColumnsLT(t.C(notificationdelivery.FieldID), s.C(notificationdelivery.FieldID)),
		))
		s.Where(sql.Or(
			sql.NEQ(s.C(notificationdelivery.FieldKind), notificationdelivery.KindWEBHOOK),
			sql.EQ(s.C(notificationdelivery.FieldOrderID), 0),
			sql.NotExists(earlier),
		))
	}
}

// outcome is what one attempt came to.
type outcome struct {
	err  error  // failed: retried, or DEAD after the last attempt
	skip string // nothing to send, and never will be: SKIPPED with this reason
	code int    // the webhook's HTTP status
	body string // an excerpt of its response
}

// deliver claims delivery id (one guarded update: pending, due, and no
// live lease) and sends it. false: another worker has it, or it is done.
func (s *Service) deliver(ctx context.Context, id int) (bool, error) {
	sys := viewer.SystemContext(ctx)
	now := s.now().UTC()
	claim := newClaim()
	n, err := s.db.NotificationDelivery.Update().
		Where(notificationdelivery.ID(id), notificationdelivery.StatusEQ(notificationdelivery.StatusPENDING),
			notificationdelivery.NextAttemptAtLTE(now), unclaimed(now)).
		SetClaimedUntil(now.Add(s.cfg.Lease)).SetClaim(claim).AddAttempts(1).SetUpdatedAt(now).Save(sys)
	if err != nil || n == 0 {
		return false, err
	}
	d, err := s.db.NotificationDelivery.Query().Where(notificationdelivery.ID(id)).WithEvent().WithEndpoint().Only(sys)
	if err != nil {
		return true, fmt.Errorf("notify: delivery %d: %w", id, err)
	}
	var out outcome
	switch d.Kind {
	case notificationdelivery.KindMAIL:
		out = s.sendMail(ctx, d)
	case notificationdelivery.KindWEBHOOK:
		out = s.sendWebhook(ctx, d)
	}
	if out.err != nil && ctx.Err() != nil {
		// Shutting down mid-send: give the delivery back as it was, for
		// the next start (or another replica) to send.
		rel, cancel := context.WithTimeout(context.WithoutCancel(sys), 5*time.Second)
		defer cancel()
		return true, s.db.NotificationDelivery.Update().
			Where(notificationdelivery.ID(id), notificationdelivery.Claim(claim)).
			ClearClaimedUntil().SetClaim("").AddAttempts(-1).Exec(rel)
	}
	return true, s.finish(context.WithoutCancel(sys), d, claim, out)
}

// finish records an attempt's outcome, if the delivery is still ours.
func (s *Service) finish(ctx context.Context, d *ent.NotificationDelivery, claim string, out outcome) error {
	now := s.now().UTC()
	_, err := txn.Do(ctx, s.db, "record delivery", func(tx *ent.Tx) (struct{}, error) {
		u := tx.NotificationDelivery.Update().
			Where(notificationdelivery.ID(d.ID), notificationdelivery.Claim(claim), notificationdelivery.StatusEQ(notificationdelivery.StatusPENDING)).
			ClearClaimedUntil().SetClaim("").SetUpdatedAt(now).SetLastStatusCode(out.code).SetLastResponse(out.body)
		terminal := true
		switch {
		case out.skip != "":
			u.SetStatus(notificationdelivery.StatusSKIPPED).SetLastError(out.skip)
		case out.err == nil:
			u.SetStatus(notificationdelivery.StatusSENT).SetSentAt(now).SetLastError("")
		case d.Attempts >= s.cfg.MaxAttempts:
			u.SetStatus(notificationdelivery.StatusDEAD).SetLastError(excerpt(out.err.Error()))
		default:
			terminal = false
			u.SetNextAttemptAt(now.Add(s.backoff(d.Attempts))).SetLastError(excerpt(out.err.Error()))
		}
		n, err := u.Save(ctx)
		if err != nil || n == 0 {
			return struct{}{}, err // the lease ran out and another worker took it over
		}
		if terminal && d.Kind == notificationdelivery.KindMAIL {
			// The email-only data (a pass, a link's token) has done its job.
			return struct{}{}, scrub(ctx, tx, d.EventID)
		}
		return struct{}{}, nil
	})
	typ := ""
	if d.Edges.Event != nil {
		typ = d.Edges.Event.Type
	}
	switch {
	case err != nil:
		return fmt.Errorf("notify: delivery %d: %w", d.ID, err)
	case out.err != nil && d.Attempts >= s.cfg.MaxAttempts:
		s.log.Error("notification dead", "delivery_id", d.ID, "kind", d.Kind, "event_type", typ, "attempts", d.Attempts, "error", out.err)
	case out.err != nil:
		s.log.Warn("notification failed; will retry", "delivery_id", d.ID, "kind", d.Kind, "event_type", typ, "attempts", d.Attempts, "error", out.err)
	case out.skip != "":
		s.log.Info("notification skipped", "delivery_id", d.ID, "kind", d.Kind, "event_type", typ, "reason", out.skip)
	}
	return nil
}

// scrub removes the email-only ("_") keys of an event's data.
func scrub(ctx context.Context, tx *ent.Tx, eventID int) error {
	ev, err := tx.OutboxEvent.Get(ctx, eventID)
	if err != nil {
		return err
	}
	data, clean, err := publicData(ev.Data)
	if err != nil || clean {
		return err
	}
	raw, err := json.Marshal(data)
	if err != nil {
		return err
	}
	return tx.OutboxEvent.Update().Where(outboxevent.ID(eventID)).SetData(raw).Exec(ctx)
}

// publicData is data without its email-only keys; clean reports there
// were none.
func publicData(raw []byte) (data map[string]any, clean bool, err error) {
	if err := json.Unmarshal(raw, &data); err != nil {
		return nil, false, err
	}
	clean = true
	for k := range data {
		if strings.HasPrefix(k, "_") {
			delete(data, k)
			clean = false
		}
	}
	if data == nil {
		data = map[string]any{}
	}
	return data, clean, nil
}

// backoff is the wait after the nth failed attempt: Backoff, doubling,
// at most MaxBackoff.
func (s *Service) backoff(n int) time.Duration {
	d := s.cfg.Backoff
	for i := 1; i < n && d < s.cfg.MaxBackoff; i++ {
		d *= 2
	}
	return min(d, s.cfg.MaxBackoff)
}

func newClaim() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// excerpt keeps the first 500 bytes of s, cut at a rune boundary.
func excerpt(s string) string {
	const max = 500
	if len(s) <= max {
		return s
	}
	s = s[:max]
	for !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s + "…"
}
