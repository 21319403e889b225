package fulfillment

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/merchd/merchd/checkout"
	"github.com/merchd/merchd/checkout/txn"
	"github.com/merchd/merchd/ent"
	"github.com/merchd/merchd/ent/deliverychoice"
	"github.com/merchd/merchd/ent/fulfillment"
	"github.com/merchd/merchd/ent/fulfillmentevent"
	"github.com/merchd/merchd/ent/gid"
	"github.com/merchd/merchd/ent/viewer"
)

// Status is a fulfilment's state.
type Status = fulfillment.Status

// ErrAlreadyCollected refuses a second handover of one pickup.
var ErrAlreadyCollected = &checkout.Refusal{Code: checkout.CodeAlreadyCollected, Msg: "this order was already collected"}

// Pass is the buyer's pickup pass: central's signature over the
// fulfilment, so a clerk (or a hub without a link) can check it offline.
type Pass struct {
	Kind          string `json:"k"` // "pickup"
	FulfillmentID int    `json:"f"`
	OrderID       int    `json:"o"`
	Code          string `json:"c"`
}

// KindPickup is the signed-code kind of a pickup pass.
const KindPickup = "pickup"

// Signer signs and checks pickup passes (central's signing key).
type Signer interface {
	Sign(payload any) string
	Verify(code, kind string, out any) error
}

// Service runs fulfilments: one for each paid order, opened in the
// transaction that makes the order PAID, moved through its states by
// staff, hubs and couriers, each transition one conditional write.
type Service struct {
	db      *ent.Client
	dialect string
	now     func() time.Time
	signer  Signer
	// pickupAt is the pickup point of new fulfilments (this server's own
	// location until delivery methods are chosen at checkout).
	pickupAt int
	cfg      Config
	outbox   checkout.Outbox
	windows  Windows
	credit   Crediter
	txn.Announcer
}

// Deps are what the fulfilment service tells and asks others: the outbox
// its events go to (emails, webhooks), where a missed pickup goes next,
// and the wallet a late delivery is credited to. Each may be nil.
type Deps struct {
	Config  Config
	Outbox  checkout.Outbox
	Windows Windows
	Credit  Crediter
}

// Wire sets the service's deps (before it serves).
func (s *Service) Wire(d Deps) {
	s.cfg = d.Config.withDefaults()
	s.outbox, s.windows, s.credit = d.Outbox, d.Windows, d.Credit
}

// New returns the fulfilment service; signer signs pickup passes, and
// orders are picked up at location pickupAt.
func New(db *ent.Client, dialectName string, signer Signer, pickupAt int, now func() time.Time) *Service {
	return &Service{db: db, dialect: dialectName, signer: signer, pickupAt: pickupAt, now: now, cfg: Config{}.withDefaults()}
}

// codeAlphabet has no look-alikes (0/O, 1/I/L), so a code read aloud or
// typed from a phone screen is typed right.
const codeAlphabet = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"

// codeLen characters give 31^6 ≈ 887 million codes: with 100,000 open
// pickups a random guess hits one in ~8,900 tries, and collectPickup is
// staff-only and rate limited like every staff write.
const codeLen = 6

func newCode() string {
	b := make([]byte, codeLen)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = codeAlphabet[int(b[i])%len(codeAlphabet)]
	}
	return string(b)
}

// Open creates the fulfilment of a paid order in tx (the transaction that
// made it PAID, so there is never a paid order without one). Its fallback
// code is drawn until unique among open fulfilments (the partial unique
// index decides, not a read). Opening an order twice is a no-op.
//
// How it reaches the buyer is the order's delivery choice (checkout/
// delivery), copied here: the method, the pickup point's location and
// window, or the address to deliver to. An order placed without a choice
// is picked up at this server's own location.
func (s *Service) Open(ctx context.Context, tx *ent.Tx, orderID, customerID int) error {
	now := s.now().UTC()
	method, locationID := string(fulfillment.MethodPICKUP), s.pickupAt
	var windowID *int
	var address any // NULL, or the address as JSON
	choice, err := tx.DeliveryChoice.Query().Where(deliverychoice.OrderID(orderID)).Only(viewer.SystemContext(ctx))
	switch {
	case err == nil:
		method = string(choice.Method)
		if choice.LocationID != nil {
			locationID = *choice.LocationID // PICKUP: the point; otherwise where it ships from
		}
		windowID = choice.WindowID
		if choice.Address != nil {
			b, err := json.Marshal(choice.Address)
			if err != nil {
				return fmt.Errorf("open fulfilment of order %d: %w", orderID, err)
			}
			address = string(b)
		}
	case !ent.IsNotFound(err):
		return fmt.Errorf("open fulfilment of order %d: delivery choice: %w", orderID, err)
	}
	// The first SLA deadline: a pickup window's end; for a local delivery,
	// the end of the zone's day it was promised for; else the method's.
	due := s.cfg.due(fulfillment.Method(method), now)
	if choice != nil && choice.Method == deliverychoice.MethodLOCAL_DELIVERY && choice.ZoneID != nil {
		z, err := tx.DeliveryZone.Get(viewer.SystemContext(ctx), *choice.ZoneID)
		if err != nil {
			return fmt.Errorf("open fulfilment of order %d: delivery zone: %w", orderID, err)
		}
		end := deliveryDay(z.Timezone, choice.SameDay, now)
		due = &end
	}
	if windowID != nil {
		w, err := tx.PickupWindow.Get(viewer.SystemContext(ctx), *windowID)
		if err != nil {
			return fmt.Errorf("open fulfilment of order %d: pickup window: %w", orderID, err)
		}
		end := w.EndsAt.UTC()
		due = &end
	}
	for range 8 {
		n, err := txn.Exec(ctx, tx, s.dialect,
			`INSERT INTO fulfillments (created_at, updated_at, order_id, customer_id, method, status, location_id, pickup_code, window_id, address, due_at, reroutes, packaging_variant)
			 VALUES (?, ?, ?, ?, ?, 'UNFULFILLED', ?, ?, ?, ?, ?, 0, '') ON CONFLICT DO NOTHING`,
			now, now, orderID, customerID, method, locationID, newCode(), windowID, address, due)
		if err != nil {
			return fmt.Errorf("open fulfilment of order %d: %w", orderID, err)
		}
		if n == 1 {
			f, err := tx.Fulfillment.Query().Where(fulfillment.OrderID(orderID), fulfillment.SplitFromIsNil()).Only(ctx)
			if err != nil {
				return err
			}
			// The first fulfilment carries every unit of the order.
			if _, err := txn.Exec(ctx, tx, s.dialect,
				`INSERT INTO fulfillment_lines (fulfillment_id, order_line_id, customer_id, quantity)
				 SELECT ?, id, ?, quantity FROM order_lines WHERE order_id = ?`, f.ID, customerID, orderID); err != nil {
				return fmt.Errorf("open fulfilment of order %d: lines: %w", orderID, err)
			}
			s.AfterCommit(tx, checkout.OrderTopic(orderID), checkout.FulfillmentTopic(f.ID))
			return s.event(ctx, tx, f, "", string(fulfillment.StatusUNFULFILLED), "order paid", "")
		}
		if ok, err := tx.Fulfillment.Query().Where(fulfillment.OrderID(orderID)).Exist(ctx); err != nil || ok {
			return err // opened before: once per order
		}
		// The code is taken by an open fulfilment: draw again.
	}
	return fmt.Errorf("open fulfilment of order %d: no free pickup code after 8 draws", orderID)
}

// deliveryDay is when a local delivery ordered at now is due: the end of
// the zone's local day when it was same-day (ordered before the zone's
// cutoff), else the end of the next local day.
func deliveryDay(timezone string, sameDay bool, now time.Time) time.Time {
	loc, err := time.LoadLocation(timezone)
	if err != nil {
		loc = time.UTC // the zone's time zone is checked when staff set it
	}
	t := now.In(loc)
	days := 1
	if !sameDay {
		days = 2
	}
	return time.Date(t.Year(), t.Month(), t.Day()+days, 0, 0, 0, 0, loc).UTC()
}

// transitions lists, for each state, the states a fulfilment may come
// from: the one table every move is checked against, inside its UPDATE.
var transitions = map[Status][]Status{
	fulfillment.StatusPICKING:           {fulfillment.StatusUNFULFILLED, fulfillment.StatusREROUTED},
	fulfillment.StatusPACKED:            {fulfillment.StatusUNFULFILLED, fulfillment.StatusPICKING, fulfillment.StatusREROUTED},
	fulfillment.StatusREADY_FOR_PICKUP:  {fulfillment.StatusPACKED, fulfillment.StatusREROUTED},
	fulfillment.StatusHANDED_TO_COURIER: {fulfillment.StatusPACKED},
	// A pickup is handed over at the counter from any state before it:
	// at a pop-up the clerk picks, packs and hands over in one go.
	// From REROUTED too: the buyer who comes after the SLA moved their
	// pickup on still gets it if it is at the counter.
	fulfillment.StatusCOLLECTED: {fulfillment.StatusUNFULFILLED, fulfillment.StatusPICKING, fulfillment.StatusPACKED,
		fulfillment.StatusREADY_FOR_PICKUP, fulfillment.StatusREROUTED},
	fulfillment.StatusDELIVERED: {fulfillment.StatusHANDED_TO_COURIER},
	fulfillment.StatusFAILED:    {fulfillment.StatusHANDED_TO_COURIER},
	fulfillment.StatusREROUTED:  {fulfillment.StatusREADY_FOR_PICKUP, fulfillment.StatusFAILED},
	fulfillment.StatusCANCELED: {fulfillment.StatusUNFULFILLED, fulfillment.StatusPICKING, fulfillment.StatusPACKED,
		fulfillment.StatusREADY_FOR_PICKUP, fulfillment.StatusREROUTED},
}

// CancelOpen cancels, in tx, every fulfilment of the order that is not
// yet handed over, each by move's one guarded write: an order refunded in
// full before its handover must not be handed over too. A handover that
// wins the race keeps its part COLLECTED (the refund stands, as a refund
// after handover does); one that loses is refused (the part is CANCELED).
func (s *Service) CancelOpen(ctx context.Context, tx *ent.Tx, orderID int, note string) error {
	sys := viewer.SystemContext(ctx)
	ids, err := tx.Fulfillment.Query().Where(fulfillment.OrderID(orderID),
		fulfillment.StatusIn(transitions[fulfillment.StatusCANCELED]...)).IDs(sys)
	if err != nil {
		return err
	}
	for _, id := range ids {
		if _, err := s.move(ctx, tx, id, fulfillment.StatusCANCELED, note, ""); err != nil {
			if _, _, refused := checkout.Public(err); refused {
				continue // handed over (or otherwise moved on) in between
			}
			return err
		}
	}
	return nil
}

// Advance moves fulfilment id to status `to`, once: a replay of key
// returns the first answer; a move the state does not allow is refused.
func (s *Service) Advance(ctx context.Context, id int, to Status, note, key string) (*ent.Fulfillment, error) {
	if err := checkout.RequireStaffOrHub(ctx); err != nil {
		return nil, err
	}
	if _, ok := transitions[to]; !ok {
		return nil, checkout.BadInput("status", "a fulfilment cannot be moved to %s", to)
	}
	if len(note) > 500 {
		return nil, checkout.BadInput("note", "at most 500 characters")
	}
	req := struct {
		ID   int
		To   Status
		Note string
	}{id, to, note}
	fid, err := txn.Idempotent(ctx, s.db, "advanceFulfillment", key, req, func(ctx context.Context, tx *ent.Tx) (int, error) {
		return s.move(ctx, tx, id, to, note, "")
	})
	if err != nil {
		return nil, err
	}
	return s.db.Fulfillment.Get(viewer.SystemContext(ctx), fid)
}

// Collect hands a pickup over to the buyer who shows code: their pickup
// pass (scanned) or its fallback code (typed). Exactly once: of two
// clerks scanning one pass, one gets COLLECTED and the other
// ErrAlreadyCollected.
func (s *Service) Collect(ctx context.Context, code, key string) (*ent.Fulfillment, error) {
	if err := checkout.RequireCounter(ctx); err != nil {
		return nil, err
	}
	code = strings.TrimSpace(code)
	if code == "" || len(code) > 4096 {
		return nil, checkout.BadInput("code", "scan the pickup pass or type its code")
	}
	fid, err := txn.Idempotent(ctx, s.db, "collectPickup", key, code, func(ctx context.Context, tx *ent.Tx) (int, error) {
		sys := viewer.SystemContext(ctx)
		f, err := s.find(sys, tx, code)
		if err != nil {
			return 0, err
		}
		if err := clerkAt(ctx, tx, f); err != nil {
			return 0, err
		}
		if f.Method != fulfillment.MethodPICKUP {
			return 0, checkout.BadInput("code", "order %d is not a pickup", f.OrderID)
		}
		return s.move(ctx, tx, f.ID, fulfillment.StatusCOLLECTED, "", "")
	})
	if err != nil {
		return nil, err
	}
	return s.db.Fulfillment.Get(viewer.SystemContext(ctx), fid)
}

// find resolves a scanned pass or a typed fallback code.
func (s *Service) find(ctx context.Context, tx *ent.Tx, code string) (*ent.Fulfillment, error) {
	code = scanned(code)
	if strings.HasPrefix(code, "M1.") {
		var l LabelCode
		if s.signer != nil && s.signer.Verify(code, KindLabel, &l) == nil {
			return s.byLabel(ctx, tx, l)
		}
		var p Pass
		if s.signer == nil || s.signer.Verify(code, KindPickup, &p) != nil {
			return nil, checkout.BadInput("code", "this pickup pass is not valid (damaged or not from this shop)")
		}
		f, err := tx.Fulfillment.Get(ctx, p.FulfillmentID)
		if err != nil || f.OrderID != p.OrderID || f.PickupCode != p.Code {
			return nil, checkout.BadInput("code", "this pickup pass is not valid (damaged or not from this shop)")
		}
		return f, nil
	}
	c := strings.ToUpper(strings.ReplaceAll(code, "-", ""))
	// The open one with the code; else the last collected one (to answer
	// "already collected" rather than "unknown").
	f, err := tx.Fulfillment.Query().Where(fulfillment.PickupCode(c)).
		Order(ent.Desc(fulfillment.FieldID)).First(ctx)
	if ent.IsNotFound(err) {
		return nil, checkout.BadInput("code", "no pickup has code %s", c)
	}
	return f, err
}

// move is the one conditional write of every transition, and its event:
// `UPDATE … SET status = to WHERE id = ? AND status = <the state read>`,
// where <the state read> must be one `to` may come from. Zero rows means
// another move won in between; the state is read again and judged again
// (so of two clerks collecting one pickup, the second reads COLLECTED).
func (s *Service) move(ctx context.Context, tx *ent.Tx, id int, to Status, note, scan string) (int, error) {
	sys := viewer.SystemContext(ctx)
	for range 4 {
		f, err := tx.Fulfillment.Get(sys, id)
		if err != nil {
			return 0, checkout.NotFoundAs(err, "fulfillment")
		}
		if !slices.Contains(transitions[to], f.Status) {
			if f.Status == to && to == fulfillment.StatusCOLLECTED {
				return 0, ErrAlreadyCollected.Detail("collected at %s", f.CollectedAt.UTC().Format(time.RFC3339))
			}
			return 0, checkout.BadInput("status", "order %d is %s: it cannot become %s", f.OrderID, f.Status, to)
		}
		now := s.now().UTC()
		u := tx.Fulfillment.Update().Where(fulfillment.ID(id), fulfillment.StatusEQ(f.Status)).
			SetStatus(to).SetUpdatedAt(now)
		if to == fulfillment.StatusCOLLECTED {
			u = u.SetCollectedAt(now)
		}
		if due, change := s.cfg.dueAfter(f, to, now); change {
			u = u.SetNillableDueAt(due)
			if due == nil {
				u = u.ClearDueAt()
			}
		}
		n, err := u.Save(sys)
		if err != nil {
			return 0, err
		}
		if n == 1 {
			s.AfterCommit(tx, checkout.OrderTopic(f.OrderID), checkout.FulfillmentTopic(f.ID))
			if err := s.event(ctx, tx, f, string(f.Status), string(to), note, scan); err != nil {
				return 0, err
			}
			return f.ID, s.tell(ctx, tx, f, to)
		}
	}
	return 0, fmt.Errorf("fulfillment %d keeps changing under us", id)
}

// event records who moved f, when, to what.
func (s *Service) event(ctx context.Context, tx *ent.Tx, f *ent.Fulfillment, from, to, note, scan string) error {
	actor, actorID := fulfillmentevent.ActorSYSTEM, ""
	switch v := viewer.FromContext(ctx); v.Role {
	case viewer.Staff:
		actor, actorID = fulfillmentevent.ActorSTAFF, fmt.Sprint(v.StaffID)
	case viewer.HubToken:
		actor, actorID = fulfillmentevent.ActorHUB, v.Hub
	case viewer.Customer:
		actor, actorID = fulfillmentevent.ActorCUSTOMER, fmt.Sprint(v.CustomerID)
	}
	return tx.FulfillmentEvent.Create().SetFulfillmentID(f.ID).SetCustomerID(f.CustomerID).
		SetFrom(from).SetTo(to).SetActor(actor).SetActorID(actorID).SetNote(note).SetScan(scan).
		SetAt(s.now().UTC()).Exec(viewer.SystemContext(ctx))
}

// Pass is f's pickup pass: central's signature over the fulfilment and
// its fallback code ("" without a signer).
func (s *Service) Pass(f *ent.Fulfillment) string {
	if s.signer == nil {
		return ""
	}
	return s.signer.Sign(Pass{Kind: KindPickup, FulfillmentID: f.ID, OrderID: f.OrderID, Code: f.PickupCode})
}

// tell records, in the transition's transaction, the events the buyer and
// the merchant's systems hear about f's move to `to`. Ids are the API's
// global ids, so a webhook receiver can ask the API about them.
func (s *Service) tell(ctx context.Context, tx *ent.Tx, f *ent.Fulfillment, to Status) error {
	data := s.eventData(ctx, tx, f, to)
	if err := checkout.Record(ctx, s.outbox, tx, checkout.Event{Type: checkout.EventFulfillmentUpdated,
		OrderID: f.OrderID, CustomerID: f.CustomerID, Data: data}); err != nil {
		return err
	}
	var typ string
	switch to {
	case fulfillment.StatusREADY_FOR_PICKUP:
		typ = checkout.EventPickupReady
	case fulfillment.StatusHANDED_TO_COURIER:
		typ = checkout.EventOrderShipped
	case fulfillment.StatusDELIVERED:
		typ = checkout.EventOrderDelivered
	default:
		return nil
	}
	d := maps.Clone(data) // the same facts, read once
	if typ == checkout.EventPickupReady {
		d["pickup_code"] = f.PickupCode
		d["_pass"] = s.Pass(f) // "_": for the buyer's email only, never a webhook
	}
	return checkout.Record(ctx, s.outbox, tx, checkout.Event{Type: typ, OrderID: f.OrderID, CustomerID: f.CustomerID, Data: d})
}

// eventData is what every fulfilment event says: which, of which order,
// how, now where, and (for a pickup) at which point and window.
func (s *Service) eventData(ctx context.Context, tx *ent.Tx, f *ent.Fulfillment, to Status) map[string]any {
	sys := viewer.SystemContext(ctx)
	d := map[string]any{"fulfillment_id": gid.Encode(f.ID), "order_id": gid.Encode(f.OrderID),
		"status": string(to), "method": string(f.Method)}
	if o, err := tx.Order.Get(sys, f.OrderID); err == nil {
		d["number"] = o.Number
	}
	if f.LocationID != nil {
		if loc, err := tx.Location.Get(sys, *f.LocationID); err == nil {
			d["location"] = loc.Name
		}
	}
	if f.WindowID != nil {
		if w, err := tx.PickupWindow.Get(sys, *f.WindowID); err == nil {
			d["window"] = w.StartsAt.UTC().Format("Mon 02 Jan 15:04") + "–" + w.EndsAt.UTC().Format("15:04 MST")
		}
	}
	return d
}

// scanned is the code in what a scanner read: a label's QR holds a URL
// ending in the signed code; a pass or a typed code is itself.
func scanned(code string) string {
	if i := strings.LastIndex(code, "/"); i >= 0 && strings.Contains(code[i:], "M1.") {
		return code[i+1:]
	}
	return code
}

// clerkAt refuses a clerk handling a fulfilment that is not at their
// location (a delivery, or a pickup elsewhere); others pass.
func clerkAt(ctx context.Context, tx *ent.Tx, f *ent.Fulfillment) error {
	if v := viewer.FromContext(ctx); v.Role != viewer.Staff || v.Rank != viewer.RankClerk {
		return nil
	}
	code := ""
	if f.LocationID != nil {
		loc, err := tx.Location.Get(viewer.SystemContext(ctx), *f.LocationID)
		if err != nil {
			return fmt.Errorf("fulfillment %d: location: %w", f.ID, err)
		}
		code = loc.Code
	}
	return checkout.AtLocation(ctx, code)
}
