package returns

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/merchd/merchd/checkout"
	"github.com/merchd/merchd/checkout/inventory"
	"github.com/merchd/merchd/checkout/orders"
	"github.com/merchd/merchd/checkout/txn"
	"github.com/merchd/merchd/ent"
	"github.com/merchd/merchd/ent/fulfillment"
	"github.com/merchd/merchd/ent/fulfillmentevent"
	"github.com/merchd/merchd/ent/fulfillmentline"
	"github.com/merchd/merchd/ent/location"
	"github.com/merchd/merchd/ent/order"
	"github.com/merchd/merchd/ent/orderline"
	"github.com/merchd/merchd/ent/orderreturn"
	"github.com/merchd/merchd/ent/refund"
	"github.com/merchd/merchd/ent/returnline"
	"github.com/merchd/merchd/ent/setting"
	"github.com/merchd/merchd/ent/viewer"
)

// Status, Reason, RefundMode and Grade are the return's vocabulary.
type (
	Status     = orderreturn.Status
	Reason     = orderreturn.Reason
	RefundMode = orderreturn.RefundMode
	Grade      = returnline.Grade
)

// Refund modes: the shop chooses one.
const (
	// WalletOnDropoff credits the buyer's wallet the moment the return is
	// scanned in, in the same transaction.
	WalletOnDropoff = orderreturn.RefundModeWALLET_ON_DROPOFF
	// CardAfterInspection refunds the card the order was paid with once
	// every unit is graded (what the card cannot take goes to the wallet).
	CardAfterInspection = orderreturn.RefundModeCARD_AFTER_INSPECTION
)

// ErrAlreadyReceived refuses a second drop-off scan of one return.
var ErrAlreadyReceived = &checkout.Refusal{Code: checkout.CodeAlreadyReceived, Msg: "this return was already received"}

// KindReturn is the signed-code kind of a return QR.
const KindReturn = "return"

// Pass is the return QR: central's signature over the return and its
// fallback code, so a clerk (or a hub without a link) can check it.
type Pass struct {
	Kind     string `json:"k"` // "return"
	ReturnID int    `json:"r"`
	OrderID  int    `json:"o"`
	Code     string `json:"c"`
}

// Signer signs and checks return QRs (central's key, as pickup passes).
type Signer interface {
	Sign(payload any) string
	Verify(code, kind string, out any) error
}

// Config is the shop's default return policy; staff may override it
// (SetPolicy), and the override is kept in the database.
type Config struct {
	// Window is how long after collection or delivery a return may be
	// asked for (zero: 30 days).
	Window time.Duration
	// Refund is how returns are refunded (zero: WALLET_ON_DROPOFF).
	Refund RefundMode
	// MaxUnits bounds the units of one return (zero: 50).
	MaxUnits int
}

// DefaultConfig: 30 days, wallet credit on drop-off, at most 50 units.
func DefaultConfig() Config {
	return Config{Window: 30 * 24 * time.Hour, Refund: WalletOnDropoff, MaxUnits: 50}
}

func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if c.Window == 0 {
		c.Window = d.Window
	}
	if c.Refund == "" {
		c.Refund = d.Refund
	}
	if c.MaxUnits == 0 {
		c.MaxUnits = d.MaxUnits
	}
	return c
}

// Validate reports unusable settings.
func (c Config) Validate() error {
	c = c.withDefaults()
	if c.Window < 24*time.Hour || c.Window > maxWindowDays*24*time.Hour || c.Window%(24*time.Hour) != 0 {
		return fmt.Errorf("returns: window %s is not a whole number of days from 1 to %d", c.Window, maxWindowDays)
	}
	if err := orderreturn.RefundModeValidator(c.Refund); err != nil {
		return fmt.Errorf("returns: %w", err)
	}
	if c.MaxUnits < 1 || c.MaxUnits > 1000 {
		return fmt.Errorf("returns: at most %d units per return is not within 1..1000", c.MaxUnits)
	}
	return nil
}

const maxWindowDays = 365

// Policy is the return policy in force.
type Policy struct {
	WindowDays int        `json:"window_days"`
	Refund     RefundMode `json:"refund"`
}

// Service runs returns.
type Service struct {
	db      *ent.Client
	dialect string
	cfg     Config
	signer  Signer
	orders  *orders.Service
	outbox  checkout.Outbox
	now     func() time.Time
	log     *slog.Logger
	txn.Announcer
}

// New returns the returns service. signer signs return QRs (nil: none);
// refunds go through orders.
func New(db *ent.Client, dialectName string, cfg Config, signer Signer, ords *orders.Service, now func() time.Time, log *slog.Logger) (*Service, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Service{db: db, dialect: dialectName, cfg: cfg.withDefaults(), signer: signer, orders: ords, now: now, log: log}, nil
}

// SetOutbox records the returns' events (emails, webhooks) in the
// transactions of their transitions; nil records none.
func (s *Service) SetOutbox(o checkout.Outbox) { s.outbox = o }

const policyKey = "returns_policy"

// Policy returns the return policy in force: staff's, else the config's.
func (s *Service) Policy(ctx context.Context) (Policy, error) {
	return s.policy(viewer.SystemContext(ctx), s.db.Setting)
}

// policy reads the policy with c (the client or a transaction's).
func (s *Service) policy(ctx context.Context, c *ent.SettingClient) (Policy, error) {
	p := Policy{WindowDays: int(s.cfg.Window / (24 * time.Hour)), Refund: s.cfg.Refund}
	st, err := c.Query().Where(setting.Key(policyKey)).Only(viewer.SystemContext(ctx))
	if ent.IsNotFound(err) {
		return p, nil
	}
	if err != nil {
		return p, err
	}
	if err := json.Unmarshal(st.Value, &p); err != nil {
		return p, fmt.Errorf("returns: stored policy: %w", err)
	}
	return p, nil
}

// SetPolicy lets staff change the return window and the refund mode.
// Returns already asked for keep the refund mode they were asked under.
func (s *Service) SetPolicy(ctx context.Context, p Policy) (Policy, error) {
	if err := checkout.RequireOwner(ctx); err != nil {
		return Policy{}, err
	}
	if p.WindowDays < 1 || p.WindowDays > maxWindowDays {
		return Policy{}, checkout.BadInput("windowDays", "must be between 1 and %d", maxWindowDays)
	}
	if orderreturn.RefundModeValidator(p.Refund) != nil {
		return Policy{}, checkout.BadInput("refund", "unknown refund mode %q", p.Refund)
	}
	b, _ := json.Marshal(p)
	err := s.db.Setting.Create().SetKey(policyKey).SetValue(b).
		OnConflictColumns(setting.FieldKey).UpdateValue().Exec(viewer.SystemContext(ctx))
	return p, err
}

// codeAlphabet has no look-alikes, as the pickup codes.
const codeAlphabet = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"

// codeLen characters: 31^6 ≈ 887 million codes, checked only by staff and
// hubs (receiveReturn).
const codeLen = 6

func newCode() string {
	b := make([]byte, codeLen)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = codeAlphabet[int(b[i])%len(codeAlphabet)]
	}
	return string(b)
}

// LineInput asks Quantity units of order line OrderLineID back.
type LineInput struct {
	OrderLineID int
	Quantity    int
}

// RequestInput is a buyer's return request.
type RequestInput struct {
	OrderID int
	Lines   []LineInput
	Reason  Reason
	Note    string
}

// Request asks for a return of some of the viewer's order's units. The
// order must be collected or delivered, within the return window; each
// line's units are reserved with one conditional update (units neither
// refunded nor returned), so concurrent requests never take more back
// than was bought. The return gets a signed QR and a fallback code.
func (s *Service) Request(ctx context.Context, in RequestInput, key string) (*ent.OrderReturn, error) {
	customerID, err := checkout.RequireCustomer(ctx)
	if err != nil {
		return nil, err
	}
	switch {
	case len(in.Lines) == 0:
		return nil, checkout.BadInput("lines", "name at least one order line")
	case len(in.Lines) > 100:
		return nil, checkout.BadInput("lines", "at most 100 lines")
	case orderreturn.ReasonValidator(in.Reason) != nil:
		return nil, checkout.BadInput("reason", "unknown reason %q", in.Reason)
	case len(in.Note) > 500:
		return nil, checkout.BadInput("reasonText", "at most 500 characters")
	}
	units, seen := 0, map[int]bool{}
	for _, l := range in.Lines {
		if l.Quantity <= 0 {
			return nil, checkout.BadInput("lines", "quantities must be positive")
		}
		if seen[l.OrderLineID] {
			return nil, checkout.BadInput("lines", "each order line once")
		}
		seen[l.OrderLineID] = true
		units += l.Quantity
	}
	if units > s.cfg.MaxUnits {
		return nil, checkout.BadInput("lines", "at most %d units in one return", s.cfg.MaxUnits)
	}
	id, err := txn.Idempotent(ctx, s.db, "requestReturn", key, in, func(ctx context.Context, tx *ent.Tx) (int, error) {
		return s.request(ctx, tx, customerID, in, units)
	})
	if err != nil {
		return nil, err
	}
	return s.db.OrderReturn.Get(viewer.SystemContext(ctx), id)
}

func (s *Service) request(ctx context.Context, tx *ent.Tx, customerID int, in RequestInput, units int) (int, error) {
	sys := viewer.SystemContext(ctx)
	// Read as the buyer: another buyer's order does not exist for them.
	ord, err := tx.Order.Get(ctx, in.OrderID)
	if err != nil {
		return 0, checkout.NotFoundAs(err, "order")
	}
	if ord.Status != order.StatusPAID && ord.Status != order.StatusPARTIALLY_REFUNDED {
		return 0, checkout.BadInput("orderId", "only paid orders can be returned (this one is %s)", ord.Status)
	}
	p, err := s.policy(sys, tx.Setting)
	if err != nil {
		return 0, err
	}
	now := s.now().UTC()
	var (
		amount int64
		lines  []*ent.OrderLine
		per    []int
		f      *ent.Fulfillment // the last to reach the buyer of those carrying the lines: its packaging is the return's
		fAt    time.Time
	)
	for _, l := range in.Lines {
		ol, err := tx.OrderLine.Query().Where(orderline.ID(l.OrderLineID), orderline.OrderID(ord.ID)).Only(sys)
		if err != nil {
			return 0, checkout.NotFoundAs(err, "order line")
		}
		// The fulfilments that carried this line and reached the buyer (an
		// order split into parts reaches them part by part).
		carried, err := tx.FulfillmentLine.Query().Where(fulfillmentline.OrderLineID(ol.ID),
			fulfillmentline.HasFulfillmentWith(fulfillment.StatusIn(fulfillment.StatusCOLLECTED, fulfillment.StatusDELIVERED))).
			WithFulfillment().All(sys)
		if err != nil {
			return 0, err
		}
		var last time.Time
		for _, c := range carried {
			at, err := handedOver(sys, tx, c.Edges.Fulfillment)
			if err != nil {
				return 0, err
			}
			if at.After(last) {
				last = at
			}
			if at.After(fAt) {
				f, fAt = c.Edges.Fulfillment, at
			}
		}
		if last.IsZero() {
			return 0, checkout.BadInput("lines", "%s of order %s has not reached you yet", ol.Sku, ord.Number)
		}
		if closes := last.Add(time.Duration(p.WindowDays) * 24 * time.Hour); now.After(closes) {
			return 0, checkout.BadInput("orderId", "the return window of %s in order %s closed at %s (%d days after it reached you)",
				ol.Sku, ord.Number, closes.Format(time.RFC3339), p.WindowDays)
		}
		ok, err := s.reserve(ctx, tx, ol.ID, l.Quantity)
		if err != nil {
			return 0, err
		}
		if !ok {
			return 0, checkout.BadInput("lines", "%s has fewer than %d units left to return", ol.Sku, l.Quantity)
		}
		amount += int64(l.Quantity) * ol.UnitAmount
		lines, per = append(lines, ol), append(per, l.Quantity)
	}
	rid, code, err := s.insert(ctx, tx, ord, f, in, units, amount, p.Refund, now)
	if err != nil {
		return 0, err
	}
	bulk := make([]*ent.ReturnLineCreate, 0, units)
	for i, ol := range lines {
		for range per[i] {
			bulk = append(bulk, tx.ReturnLine.Create().SetReturnID(rid).SetCustomerID(customerID).
				SetOrderLineID(ol.ID).SetVariantID(ol.VariantID).SetUnitAmount(ol.UnitAmount))
		}
	}
	if err := tx.ReturnLine.CreateBulk(bulk...).Exec(sys); err != nil {
		return 0, err
	}
	s.AfterCommit(tx, checkout.OrderTopic(ord.ID))
	return rid, checkout.Record(sys, s.outbox, tx, checkout.Event{Type: checkout.EventReturnRequested, OrderID: ord.ID,
		CustomerID: ord.CustomerID, Data: map[string]any{"return_id": rid, "code": code, "units": units,
			"amount": amount, "currency": ord.Currency, "reason": string(in.Reason), "refund_mode": string(p.Refund)}})
}

// reserve takes n units of order line lineID for a return: one
// conditional update, never a read and a write — no more than bought (its
// CHECK holds it below the code too), and no more than reached the buyer
// (the units of its fulfilments COLLECTED or DELIVERED). False: fewer are
// left.
func (s *Service) reserve(ctx context.Context, tx *ent.Tx, lineID, n int) (bool, error) {
	rows, err := txn.Exec(ctx, tx, s.dialect,
		`UPDATE order_lines SET returned_quantity = returned_quantity + ?
		 WHERE id = ? AND refunded_quantity + returned_quantity + ? <= quantity
		   AND returned_quantity + ? <= (SELECT COALESCE(SUM(fl.quantity), 0) FROM fulfillment_lines fl
		     JOIN fulfillments f ON f.id = fl.fulfillment_id
		     WHERE fl.order_line_id = ? AND f.status IN ('COLLECTED', 'DELIVERED'))`,
		n, lineID, n, n, lineID)
	return rows == 1, err
}

// insert writes the return with a fallback code drawn until unique among
// returns not yet dropped off: the partial unique index decides (ON
// CONFLICT DO NOTHING, which keeps a PostgreSQL transaction usable).
func (s *Service) insert(ctx context.Context, tx *ent.Tx, ord *ent.Order, f *ent.Fulfillment, in RequestInput,
	units int, amount int64, mode RefundMode, now time.Time) (int, string, error) {
	var packaging *string // NULL: the fulfilment recorded none
	if f.PackagingVariant != "" {
		packaging = &f.PackagingVariant
	}
	for range 8 {
		code := newCode()
		n, err := txn.Exec(ctx, tx, s.dialect,
			`INSERT INTO order_returns (created_at, updated_at, order_id, customer_id, fulfillment_id, status, reason,
			   reason_text, code, refund_mode, packaging_variant, units, graded_units, amount, currency, refunded_amount, received_by)
			 VALUES (?, ?, ?, ?, ?, 'REQUESTED', ?, ?, ?, ?, ?, ?, 0, ?, ?, 0, '') ON CONFLICT DO NOTHING`,
			now, now, ord.ID, ord.CustomerID, f.ID, string(in.Reason), in.Note, code, string(mode), packaging,
			units, amount, ord.Currency)
		if err != nil {
			return 0, "", fmt.Errorf("returns: insert return of order %d: %w", ord.ID, err)
		}
		if n == 1 {
			id, err := tx.OrderReturn.Query().Where(orderreturn.Code(code), orderreturn.StatusEQ(orderreturn.StatusREQUESTED)).
				OnlyID(viewer.SystemContext(ctx))
			return id, code, err
		}
		// The code is taken by a return not yet dropped off: draw again.
	}
	return 0, "", fmt.Errorf("returns: no free return code after 8 draws")
}

// handedOver is when f reached the buyer (zero: not yet): collected at a
// counter, or delivered.
func handedOver(ctx context.Context, tx *ent.Tx, f *ent.Fulfillment) (time.Time, error) {
	switch f.Status {
	case fulfillment.StatusCOLLECTED:
		if f.CollectedAt != nil {
			return *f.CollectedAt, nil
		}
		return f.UpdatedAt, nil
	case fulfillment.StatusDELIVERED:
		ev, err := tx.FulfillmentEvent.Query().Where(fulfillmentevent.FulfillmentID(f.ID),
			fulfillmentevent.To(string(fulfillment.StatusDELIVERED))).
			Order(ent.Desc(fulfillmentevent.FieldAt)).First(ctx)
		if ent.IsNotFound(err) {
			return f.UpdatedAt, nil
		}
		if err != nil {
			return time.Time{}, err
		}
		return ev.At, nil
	}
	return time.Time{}, nil
}

// Cancel withdraws the viewer's return before drop-off, once; its units
// can be asked back again.
func (s *Service) Cancel(ctx context.Context, returnID int, key string) (*ent.OrderReturn, error) {
	if _, err := checkout.RequireCustomer(ctx); err != nil {
		return nil, err
	}
	id, err := txn.Idempotent(ctx, s.db, "cancelReturn", key, returnID, func(ctx context.Context, tx *ent.Tx) (int, error) {
		sys := viewer.SystemContext(ctx)
		r, err := tx.OrderReturn.Get(ctx, returnID) // as the buyer: only their own
		if err != nil {
			return 0, checkout.NotFoundAs(err, "return")
		}
		now := s.now().UTC()
		n, err := tx.OrderReturn.Update().Where(orderreturn.ID(r.ID), orderreturn.StatusEQ(orderreturn.StatusREQUESTED)).
			SetStatus(orderreturn.StatusCANCELED).SetCanceledAt(now).SetUpdatedAt(now).Save(sys)
		if err != nil {
			return 0, err
		}
		if n == 0 {
			r, err := tx.OrderReturn.Get(sys, r.ID)
			if err != nil {
				return 0, err
			}
			return 0, checkout.BadInput("returnId", "this return is %s: only a return not yet dropped off can be canceled", r.Status)
		}
		// Give the units back to the order lines, once (the transition
		// above is the once).
		var per []struct {
			OrderLineID int `json:"order_line_id"`
			Count       int `json:"count"`
		}
		if err := tx.ReturnLine.Query().Where(returnline.ReturnID(r.ID)).GroupBy(returnline.FieldOrderLineID).
			Aggregate(ent.Count()).Scan(sys, &per); err != nil {
			return 0, err
		}
		for _, p := range per {
			n, err := txn.Exec(ctx, tx, s.dialect,
				`UPDATE order_lines SET returned_quantity = returned_quantity - ? WHERE id = ? AND returned_quantity >= ?`,
				p.Count, p.OrderLineID, p.Count)
			if err != nil {
				return 0, err
			}
			if n == 0 {
				return 0, fmt.Errorf("returns: order line %d holds fewer than %d returned units", p.OrderLineID, p.Count)
			}
		}
		s.AfterCommit(tx, checkout.OrderTopic(r.OrderID))
		return r.ID, nil
	})
	if err != nil {
		return nil, err
	}
	return s.db.OrderReturn.Get(viewer.SystemContext(ctx), id)
}

// Receive records the drop-off of the return with code (its QR, scanned,
// or its fallback code, typed; or a parcel label's return QR) at location
// locationID (0: the own hub of a hub's token) at time at (the scan's
// time; a hub replaying its outbox gives the time it scanned).
// Exactly once: one conditional write REQUESTED → RECEIVED; of two clerks
// scanning one return, the second gets ErrAlreadyReceived. With the
// WALLET_ON_DROPOFF policy the buyer's wallet is credited in the same
// transaction. A replay of key (the same viewer) returns the first answer.
func (s *Service) Receive(ctx context.Context, code string, locationID int, at *time.Time, key string) (*ent.OrderReturn, error) {
	if err := checkout.RequireCounter(ctx); err != nil {
		return nil, err
	}
	code = strings.TrimSpace(code)
	if code == "" || len(code) > 4096 {
		return nil, checkout.BadInput("code", "scan the return QR or type its code")
	}
	now := s.now().UTC()
	if at != nil && at.After(now.Add(5*time.Minute)) {
		return nil, checkout.BadInput("scannedAt", "is in the future")
	}
	sys := viewer.SystemContext(ctx)
	v := viewer.FromContext(ctx)
	if locationID == 0 && v.Role != viewer.HubToken {
		return nil, checkout.BadInput("locationId", "name where the return was dropped off")
	}
	q := s.db.Location.Query().Where(location.ID(locationID))
	if locationID == 0 { // a hub's token: its own hub
		q = s.db.Location.Query().Where(location.Code(v.Hub), location.KindEQ(location.KindHUB))
	}
	loc, err := q.Only(sys)
	if err != nil {
		return nil, checkout.NotFoundAs(err, "location")
	}
	if v.Role == viewer.HubToken && (loc.Kind != location.KindHUB || loc.Code != v.Hub) {
		return nil, fmt.Errorf("the token of hub %s receives at %s: %w", v.Hub, loc.Code, checkout.ErrForbidden)
	}
	if err := checkout.AtLocation(ctx, loc.Code); err != nil {
		return nil, err
	}
	req := struct {
		Code     string
		Location int
		At       *time.Time
	}{code, locationID, at}
	id, err := txn.Idempotent(ctx, s.db, "receiveReturn", key, req, func(ctx context.Context, tx *ent.Tx) (int, error) {
		when := now
		if at != nil {
			when = at.UTC()
		}
		return s.receive(ctx, tx, code, loc.ID, when)
	})
	if err != nil {
		return nil, err
	}
	return s.db.OrderReturn.Get(sys, id)
}

func (s *Service) receive(ctx context.Context, tx *ent.Tx, code string, locationID int, at time.Time) (int, error) {
	sys := viewer.SystemContext(ctx)
	r, err := s.resolve(ctx, tx, code, at)
	if err != nil {
		return 0, err
	}
	ok, err := s.dropoff(ctx, tx, r, locationID, at)
	if err != nil || ok {
		return r.ID, err
	}
	r, err = tx.OrderReturn.Get(sys, r.ID)
	if err != nil {
		return 0, err
	}
	if r.Status == orderreturn.StatusCANCELED {
		return 0, checkout.BadInput("code", "this return was canceled by the buyer")
	}
	when := ""
	if r.ReceivedAt != nil {
		when = r.ReceivedAt.UTC().Format(time.RFC3339)
	}
	return 0, ErrAlreadyReceived.Detail("received at %s", when)
}

// dropoff is the drop-off's one guarded write, REQUESTED → RECEIVED at
// locationID at time at, with its event and, under WALLET_ON_DROPOFF, the
// wallet credit in the same transaction. ok is false when r was not
// REQUESTED any more (received before, or canceled): nothing changed.
func (s *Service) dropoff(ctx context.Context, tx *ent.Tx, r *ent.OrderReturn, locationID int, at time.Time) (ok bool, err error) {
	sys := viewer.SystemContext(ctx)
	n, err := tx.OrderReturn.Update().Where(orderreturn.ID(r.ID), orderreturn.StatusEQ(orderreturn.StatusREQUESTED)).
		SetStatus(orderreturn.StatusRECEIVED).SetReceivedAt(at).SetReceivedLocationID(locationID).
		SetReceivedBy(actor(ctx)).SetUpdatedAt(s.now().UTC()).Save(sys)
	if err != nil || n == 0 {
		return false, err
	}
	s.AfterCommit(tx, checkout.OrderTopic(r.OrderID))
	if err := checkout.Record(sys, s.outbox, tx, checkout.Event{Type: checkout.EventReturnReceived, OrderID: r.OrderID,
		CustomerID: r.CustomerID, Data: map[string]any{"return_id": r.ID, "location_id": locationID,
			"received_at": at.Format(time.RFC3339), "units": r.Units, "refund_mode": string(r.RefundMode)}}); err != nil {
		return false, err
	}
	if r.RefundMode == WalletOnDropoff {
		if _, err := s.refund(ctx, tx, r, false); err != nil {
			return false, err
		}
	}
	return true, nil
}

// refund refunds r's units inside tx (once: the caller's transition is
// the once), records what was refunded on r, and its event. It returns
// the card refund to send after commit (0: none).
func (s *Service) refund(ctx context.Context, tx *ent.Tx, r *ent.OrderReturn, toCard bool) (int, error) {
	sys := viewer.SystemContext(ctx)
	note := "return " + strconv.Itoa(r.ID)
	cardRefund, amount, err := s.orders.RefundReturn(sys, tx, r.OrderID, r.Amount, toCard, note)
	if err != nil {
		return 0, err
	}
	now := s.now().UTC()
	u := tx.OrderReturn.UpdateOneID(r.ID).SetRefundedAmount(amount).SetRefundedAt(now)
	if cardRefund != 0 {
		u = u.SetCardRefundID(cardRefund)
	}
	if err := u.Exec(sys); err != nil {
		return 0, err
	}
	if amount == 0 {
		return 0, nil
	}
	to := "WALLET"
	if cardRefund != 0 {
		to = "CARD"
	}
	return cardRefund, checkout.Record(sys, s.outbox, tx, checkout.Event{Type: checkout.EventRefundIssued, OrderID: r.OrderID,
		CustomerID: r.CustomerID, Data: map[string]any{"return_id": r.ID, "amount": amount, "currency": r.Currency, "to": to}})
}

// resolve is the return a drop-off scan names: the return QR, its typed
// fallback code, or a parcel label's return QR scanned at time at (which
// starts the return of the parcel's units, if none was asked for: see
// fromLabel).
func (s *Service) resolve(ctx context.Context, tx *ent.Tx, code string, at time.Time) (*ent.OrderReturn, error) {
	var lp LabelPass
	if strings.HasPrefix(code, "M1.") && s.signer != nil && s.signer.Verify(code, KindLabel, &lp) == nil {
		return s.fromLabel(ctx, tx, lp, at)
	}
	return s.find(viewer.SystemContext(ctx), tx, code)
}

// find resolves a scanned return QR or a typed fallback code.
func (s *Service) find(ctx context.Context, tx *ent.Tx, code string) (*ent.OrderReturn, error) {
	if strings.HasPrefix(code, "M1.") {
		var p Pass
		bad := checkout.BadInput("code", "this return QR is not valid (damaged or not from this shop)")
		if s.signer == nil || s.signer.Verify(code, KindReturn, &p) != nil {
			return nil, bad
		}
		r, err := tx.OrderReturn.Get(ctx, p.ReturnID)
		if err != nil || r.OrderID != p.OrderID || r.Code != p.Code {
			return nil, bad
		}
		return r, nil
	}
	c := strings.ToUpper(strings.NewReplacer("-", "", " ", "").Replace(code))
	// The open one with the code; else the last one that had it (to
	// answer "already received" rather than "unknown").
	r, err := tx.OrderReturn.Query().Where(orderreturn.Code(c)).Order(ent.Desc(orderreturn.FieldID)).First(ctx)
	if ent.IsNotFound(err) {
		return nil, checkout.BadInput("code", "no return has code %s", c)
	}
	return r, err
}

// graded is Grade's recorded answer: the line, and the card refund its
// transaction left to send (0: none).
type graded struct {
	Line       int
	CardRefund int
}

// Grade records staff's verdict on one returned unit, at location
// locationID: RESELLABLE puts it back into that location's stock in the
// same transaction; NEEDS_REPACK and DISPOSE do not. A unit is graded
// once (a conditional write on an ungraded line of a received return).
// The last grade inspects the return; under CARD_AFTER_INSPECTION it
// issues the refund (the card part is sent after commit).
func (s *Service) Grade(ctx context.Context, lineID int, g Grade, locationID int, key string) (*ent.ReturnLine, error) {
	if err := checkout.RequireStaff(ctx); err != nil {
		return nil, err
	}
	if returnline.GradeValidator(g) != nil {
		return nil, checkout.BadInput("grade", "unknown grade %q", g)
	}
	sys := viewer.SystemContext(ctx)
	if _, err := s.db.Location.Get(sys, locationID); err != nil {
		return nil, checkout.NotFoundAs(err, "location")
	}
	req := struct {
		Line     int
		Grade    Grade
		Location int
	}{lineID, g, locationID}
	res, err := txn.Idempotent(ctx, s.db, "gradeReturnLine", key, req, func(ctx context.Context, tx *ent.Tx) (graded, error) {
		return s.grade(ctx, tx, lineID, g, locationID)
	})
	if err != nil {
		return nil, err
	}
	if res.CardRefund != 0 {
		if err := s.orders.SendRefund(sys, res.CardRefund); err != nil {
			s.log.Warn("return refund to card not sent yet; the sweeper retries it", "refund_id", res.CardRefund, "error", err)
		} else if _, err := s.settle(sys, res.CardRefund); err != nil {
			return nil, err
		}
	}
	return s.db.ReturnLine.Get(sys, res.Line)
}

func (s *Service) grade(ctx context.Context, tx *ent.Tx, lineID int, g Grade, locationID int) (graded, error) {
	sys := viewer.SystemContext(ctx)
	l, err := tx.ReturnLine.Get(sys, lineID)
	if err != nil {
		return graded{}, checkout.NotFoundAs(err, "return line")
	}
	now := s.now().UTC()
	n, err := tx.ReturnLine.Update().Where(returnline.ID(l.ID), returnline.GradeIsNil(),
		returnline.HasOrderReturnWith(orderreturn.StatusEQ(orderreturn.StatusRECEIVED))).
		SetGrade(g).SetGradedAt(now).SetLocationID(locationID).SetGradedBy(actor(ctx)).Save(sys)
	if err != nil {
		return graded{}, err
	}
	if n == 0 {
		l, err := tx.ReturnLine.Get(sys, l.ID)
		if err != nil {
			return graded{}, err
		}
		if l.Grade != nil {
			return graded{}, checkout.BadInput("lineId", "this unit was graded %s at %s", *l.Grade, l.GradedAt.UTC().Format(time.RFC3339))
		}
		r, err := tx.OrderReturn.Get(sys, l.ReturnID)
		if err != nil {
			return graded{}, err
		}
		return graded{}, checkout.BadInput("lineId", "this return is %s: units are graded once it is received", r.Status)
	}
	if g == returnline.GradeRESELLABLE {
		if err := inventory.Put(sys, tx, l.VariantID, locationID, 1); err != nil {
			return graded{}, err
		}
		s.AfterCommit(tx, checkout.StockTopic(l.VariantID))
	}
	// Count the grade on the return with one conditional update; its row
	// is ours until commit, so what we read back is the last word.
	k, err := txn.Exec(ctx, tx, s.dialect,
		`UPDATE order_returns SET graded_units = graded_units + 1, updated_at = ? WHERE id = ? AND status = 'RECEIVED' AND graded_units < units`,
		now, l.ReturnID)
	if err != nil {
		return graded{}, err
	}
	if k == 0 {
		return graded{}, fmt.Errorf("returns: return %d counts more grades than units", l.ReturnID)
	}
	r, err := tx.OrderReturn.Get(sys, l.ReturnID)
	if err != nil {
		return graded{}, err
	}
	s.AfterCommit(tx, checkout.OrderTopic(r.OrderID))
	if r.GradedUnits < r.Units {
		return graded{Line: l.ID}, nil
	}
	card, err := s.inspected(ctx, tx, r)
	return graded{Line: l.ID, CardRefund: card}, err
}

// inspected closes the inspection of r (every unit graded): RECEIVED →
// INSPECTED, and, with its money back (wallet credit at drop-off, or a
// refund issued now that lands without the card), INSPECTED → REFUNDED.
// A card refund keeps it INSPECTED until the card took it (Settle).
func (s *Service) inspected(ctx context.Context, tx *ent.Tx, r *ent.OrderReturn) (int, error) {
	sys := viewer.SystemContext(ctx)
	now := s.now().UTC()
	n, err := tx.OrderReturn.Update().Where(orderreturn.ID(r.ID), orderreturn.StatusEQ(orderreturn.StatusRECEIVED)).
		SetStatus(orderreturn.StatusINSPECTED).SetInspectedAt(now).SetUpdatedAt(now).Save(sys)
	if err != nil {
		return 0, err
	}
	if n == 0 {
		return 0, fmt.Errorf("returns: return %d left RECEIVED under its last grade", r.ID)
	}
	card := 0
	if r.RefundMode == CardAfterInspection {
		if card, err = s.refund(ctx, tx, r, true); err != nil {
			return 0, err
		}
	}
	if card != 0 {
		return card, nil
	}
	return 0, tx.OrderReturn.Update().Where(orderreturn.ID(r.ID), orderreturn.StatusEQ(orderreturn.StatusINSPECTED)).
		SetStatus(orderreturn.StatusREFUNDED).Exec(sys)
}

// Settle moves INSPECTED returns whose card refund succeeded to REFUNDED
// (the sweeper's part: a refund Stripe took on a retry). It returns how
// many it moved.
func (s *Service) Settle(ctx context.Context) (int, error) {
	sys := viewer.SystemContext(ctx)
	ids, err := s.db.OrderReturn.Query().Where(orderreturn.StatusEQ(orderreturn.StatusINSPECTED), orderreturn.CardRefundIDNotNil()).
		Order(ent.Asc(orderreturn.FieldID)).Limit(200).Select(orderreturn.FieldCardRefundID).Ints(sys)
	if err != nil || len(ids) == 0 {
		return 0, err
	}
	done, err := s.db.Refund.Query().Where(refund.IDIn(ids...), refund.StatusEQ(refund.StatusSUCCEEDED)).IDs(sys)
	if err != nil {
		return 0, err
	}
	moved := 0
	for _, id := range done {
		n, err := s.settle(sys, id)
		if err != nil {
			return moved, err
		}
		moved += n
	}
	return moved, nil
}

// settle moves the INSPECTED return whose card refund is refundID to
// REFUNDED if that refund succeeded: one conditional write.
func (s *Service) settle(ctx context.Context, refundID int) (int, error) {
	ok, err := s.db.Refund.Query().Where(refund.ID(refundID), refund.StatusEQ(refund.StatusSUCCEEDED)).Exist(ctx)
	if err != nil || !ok {
		return 0, err
	}
	r, err := s.db.OrderReturn.Query().Where(orderreturn.CardRefundID(refundID)).Only(ctx)
	if err != nil {
		return 0, err
	}
	n, err := s.db.OrderReturn.Update().Where(orderreturn.ID(r.ID), orderreturn.StatusEQ(orderreturn.StatusINSPECTED)).
		SetStatus(orderreturn.StatusREFUNDED).SetUpdatedAt(s.now().UTC()).Save(ctx)
	if n > 0 {
		s.Announce(ctx, checkout.OrderTopic(r.OrderID))
	}
	return n, err
}

// QR is r's return QR: central's signature over the return and its
// fallback code; "" once dropped off or canceled, or without a signer.
func (s *Service) QR(r *ent.OrderReturn) string {
	if s.signer == nil || r.Status != orderreturn.StatusREQUESTED {
		return ""
	}
	return s.signer.Sign(Pass{Kind: KindReturn, ReturnID: r.ID, OrderID: r.OrderID, Code: r.Code})
}

// actor names who acts: "staff:<id>", "hub:<code>", "customer:<id>" or
// "system".
func actor(ctx context.Context) string {
	switch v := viewer.FromContext(ctx); v.Role {
	case viewer.Staff:
		return "staff:" + strconv.Itoa(v.StaffID)
	case viewer.HubToken:
		return "hub:" + v.Hub
	case viewer.Customer:
		return "customer:" + strconv.Itoa(v.CustomerID)
	}
	return "system"
}
