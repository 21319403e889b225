// Package analyticstest seeds a shop whose analytics are worked out by
// hand (see Seed), for the tests of checkout/analytics, the API and the
// console page.
package analyticstest

import (
	"context"
	"fmt"
	"time"

	"github.com/merchd/merchd/ent"
	"github.com/merchd/merchd/ent/cartline"
	"github.com/merchd/merchd/ent/fulfillment"
	"github.com/merchd/merchd/ent/hubsale"
	"github.com/merchd/merchd/ent/location"
	"github.com/merchd/merchd/ent/order"
	"github.com/merchd/merchd/ent/orderreturn"
	"github.com/merchd/merchd/ent/schema/types"
	"github.com/merchd/merchd/ent/viewer"
)

// From is the start of the seeded period; the period is 60 days.
var From = time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC)

// To is the end of the seeded period (exclusive).
var To = From.Add(60 * 24 * time.Hour)

// Day is From plus d days, h hours and m minutes.
func Day(d, h, m int) time.Time {
	return From.Add(time.Duration(d)*24*time.Hour + time.Duration(h)*time.Hour + time.Duration(m)*time.Minute)
}

// Fixture names what Seed made.
type Fixture struct {
	Central, Popup       int // locations; the popup is hub "popup-1"
	Drop, Drop2, OldDrop int
	Stream               int
	TeeM, Poster, Pin    int // variants (SKUs TEE-M, POSTER, PIN)
	Customers            [3]int
}

// Seed writes, with the client's system context, the shop the analytics
// tests compute by hand. In the period [From, To):
//
//	o6  c3  Day(0,0,0) = From   EUR  500  PIN×1@500 (stock from popup-1)
//	o1  c1  Day(1,10,30)        EUR 2000  TEE-M×1@1000 (drop) + POSTER×1@1000
//	o2  c2  Day(1,11,0)         EUR 1000  TEE-M×1@1000 (drop)
//	o3  c1  Day(3,9,0)          EUR 3000  TEE-M×2@1000 (drop, stream) + PIN×1@1000 (stream)
//	o8  c3  Day(35,12,0)        USD 2500  POSTER×1@2500
//	hub sale popup-1 Day(4,12,0) EUR 1200 APPLIED; one CONFLICT of 999 (not counted)
//
// Not counted: o4 paid at To, o4b paid a second before From, o5 pending
// payment, o7 canceled. Cart lines created in the period: the 7 lines of
// paid orders, o5's line, 2 expired (one of the drop) and 1 released: 11.
// The drop (cap 4, opens Day(1,10,0)) sells out with o3: 47 hours.
func Seed(ctx context.Context, c *ent.Client) (Fixture, error) {
	var f Fixture
	err := seed(viewer.SystemContext(ctx), c, &f)
	return f, err
}

func seed(ctx context.Context, c *ent.Client, f *Fixture) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("analyticstest: seed: %v", r)
		}
	}()
	loc := func(code, name string, kind location.Kind) *ent.Location {
		if l, err := c.Location.Query().Where(location.Code(code)).Only(ctx); err == nil {
			return l // a test shop has its central already
		}
		return c.Location.Create().SetCode(code).SetName(name).SetKind(kind).SaveX(ctx)
	}
	central := loc("central", "Central", location.KindCENTRAL)
	popup := loc("popup-1", "Pop-up", location.KindHUB)
	f.Central, f.Popup = central.ID, popup.ID
	tee := c.Product.Create().SetTitle("Tour tee").SetSlug("tour-tee").SaveX(ctx)
	poster := c.Product.Create().SetTitle("Poster").SetSlug("poster").SaveX(ctx)
	pin := c.Product.Create().SetTitle("Pin").SetSlug("pin").SaveX(ctx)
	teeM := c.Variant.Create().SetProductID(tee.ID).SetSku("TEE-M").SetTitle("M").SetPriceAmount(1000).SetCurrency("EUR").SaveX(ctx)
	posterV := c.Variant.Create().SetProductID(poster.ID).SetSku("POSTER").SetTitle("A2").SetPriceAmount(1000).SetCurrency("EUR").SaveX(ctx)
	pinV := c.Variant.Create().SetProductID(pin.ID).SetSku("PIN").SetTitle("Pin").SetPriceAmount(500).SetCurrency("EUR").SaveX(ctx)
	f.TeeM, f.Poster, f.Pin = teeM.ID, posterV.ID, pinV.ID
	drop := c.Drop.Create().SetTitle("Tour drop").SetOpensAt(Day(1, 10, 0)).SetClosesAt(Day(5, 0, 0)).SetCap(4).AddVariantIDs(teeM.ID).SaveX(ctx)
	drop2 := c.Drop.Create().SetTitle("Poster drop").SetOpensAt(Day(10, 0, 0)).SetClosesAt(Day(12, 0, 0)).SetCap(10).AddVariantIDs(posterV.ID).SaveX(ctx)
	old := c.Drop.Create().SetTitle("Old drop").SetOpensAt(Day(-20, 0, 0)).SetClosesAt(Day(-10, 0, 0)).SetCap(5).AddVariantIDs(pinV.ID).SaveX(ctx)
	f.Drop, f.Drop2, f.OldDrop = drop.ID, drop2.ID, old.ID
	stream := c.Stream.Create().SetTitle("Launch show").SetKeyHash([]byte("k")).SaveX(ctx)
	f.Stream = stream.ID
	for i := range f.Customers {
		f.Customers[i] = c.Customer.Create().SetEmail(fmt.Sprintf("c%d@example.com", i+1)).SetPasswordHash("x").SaveX(ctx).ID
	}
	c1, c2, c3 := f.Customers[0], f.Customers[1], f.Customers[2]

	n := 0
	type line struct {
		variant, qty int
		unit         int64
		drop, stream *int
		loc          int
		created      time.Time
	}
	// placeOrder writes a cart, its lines (SOLD into the order) and the order.
	placeOrder := func(cust int, cur string, status order.Status, paid *time.Time, lines ...line) *ent.Order {
		n++
		cart := c.Cart.Create().SetCustomerID(cust).SetCurrency(cur).SetStatus("CHECKED_OUT").SaveX(ctx)
		var total int64
		for _, l := range lines {
			total += int64(l.qty) * l.unit
		}
		created := lines[0].created
		o := c.Order.Create().SetNumber(fmt.Sprintf("A%03d", n)).SetCustomerID(cust).SetCartID(cart.ID).SetStatus(status).
			SetTotalAmount(total).SetCurrency(cur).SetPaymentDueAt(created.Add(time.Hour)).SetNillablePaidAt(paid).
			SetCreatedAt(created).SaveX(ctx)
		for _, l := range lines {
			cl := c.CartLine.Create().SetCartID(cart.ID).SetVariantID(l.variant).SetLocationID(l.loc).SetCustomerID(cust).
				SetChannel(types.ChannelOnline).SetQuantity(l.qty).SetUnitAmount(l.unit).SetCurrency(cur).
				SetStatus(cartline.StatusSOLD).SetExpiresAt(l.created.Add(10 * time.Minute)).SetCreatedAt(l.created).
				SetOrderID(o.ID).SetNillableDropID(l.drop).SetNillableStreamID(l.stream).SaveX(ctx)
			c.OrderLine.Create().SetOrderID(o.ID).SetVariantID(l.variant).SetCartLineID(cl.ID).SetNillableDropID(l.drop).
				SetSku(fmt.Sprint(l.variant)).SetTitle("line").SetQuantity(l.qty).SetUnitAmount(l.unit).SetCurrency(cur).ExecX(ctx)
		}
		return o
	}
	ptr := func(t time.Time) *time.Time { return &t }
	d, s := &drop.ID, &stream.ID
	paid := order.StatusPAID

	o6 := placeOrder(c3, "EUR", paid, ptr(From), line{variant: pinV.ID, qty: 1, unit: 500, loc: popup.ID, created: From})
	o1 := placeOrder(c1, "EUR", paid, ptr(Day(1, 10, 30)),
		line{variant: teeM.ID, qty: 1, unit: 1000, drop: d, loc: central.ID, created: Day(1, 10, 20)},
		line{variant: posterV.ID, qty: 1, unit: 1000, loc: central.ID, created: Day(1, 10, 21)})
	o2 := placeOrder(c2, "EUR", paid, ptr(Day(1, 11, 0)), line{variant: teeM.ID, qty: 1, unit: 1000, drop: d, loc: central.ID, created: Day(1, 10, 50)})
	o3 := placeOrder(c1, "EUR", paid, ptr(Day(3, 9, 0)),
		line{variant: teeM.ID, qty: 2, unit: 1000, drop: d, stream: s, loc: central.ID, created: Day(3, 8, 50)},
		line{variant: pinV.ID, qty: 1, unit: 1000, stream: s, loc: central.ID, created: Day(3, 8, 51)})
	o8 := placeOrder(c3, "USD", paid, ptr(Day(35, 12, 0)), line{variant: posterV.ID, qty: 1, unit: 2500, loc: central.ID, created: Day(35, 11, 0)})
	// Outside the period, unpaid or canceled: never counted.
	placeOrder(c3, "EUR", paid, ptr(To), line{variant: posterV.ID, qty: 5, unit: 1000, loc: central.ID, created: To})
	placeOrder(c3, "EUR", paid, ptr(From.Add(-time.Second)), line{variant: posterV.ID, qty: 4, unit: 1000, loc: central.ID, created: From.Add(-time.Hour)})
	placeOrder(c2, "EUR", order.StatusPENDING_PAYMENT, nil, line{variant: posterV.ID, qty: 7, unit: 1000, loc: central.ID, created: Day(2, 0, 0)})
	placeOrder(c2, "EUR", order.StatusCANCELED, nil, line{variant: posterV.ID, qty: 9, unit: 1000, loc: central.ID, created: To.Add(time.Hour)})
	// Holds that ended without a sale.
	hold := c.Cart.Create().SetCustomerID(c2).SetCurrency("EUR").SaveX(ctx)
	for i, st := range []cartline.Status{cartline.StatusEXPIRED, cartline.StatusEXPIRED, cartline.StatusRELEASED} {
		q := c.CartLine.Create().SetCartID(hold.ID).SetVariantID(teeM.ID).SetLocationID(central.ID).SetCustomerID(c2).
			SetChannel(types.ChannelOnline).SetQuantity(1).SetUnitAmount(1000).SetCurrency("EUR").SetStatus(st).
			SetExpiresAt(Day(2, 0, 10)).SetCreatedAt(Day(2, 0, i))
		if i == 0 {
			q.SetDropID(drop.ID)
		}
		q.ExecX(ctx)
	}

	// Hub sales.
	c.HubSale.Create().SetSaleID("s1").SetHub("popup-1").SetLines([]types.SaleLine{}).SetTotalAmount(1200).SetCurrency("EUR").
		SetPaidWith(hubsale.PaidWithCASH).SetSoldAt(Day(4, 12, 0)).ExecX(ctx)
	c.HubSale.Create().SetSaleID("s2").SetHub("popup-1").SetLines([]types.SaleLine{}).SetTotalAmount(999).SetCurrency("EUR").
		SetPaidWith(hubsale.PaidWithCASH).SetSoldAt(Day(4, 13, 0)).SetStatus(hubsale.StatusCONFLICT).ExecX(ctx)

	// Fulfilments: o1 box pickup collected in time, o2 mailer pickup
	// collected late, o3 box shipped, o8 mailer pickup missed.
	fulfil := func(o *ent.Order, m fulfillment.Method, st fulfillment.Status, pack string, collected, escalated *time.Time) *ent.Fulfillment {
		fu := c.Fulfillment.Create().SetOrderID(o.ID).SetCustomerID(o.CustomerID).SetMethod(m).SetStatus(st).
			SetPickupCode(fmt.Sprintf("P%d", o.ID%100000)).SetPackagingVariant(pack).SetNillableCollectedAt(collected).
			SetNillableEscalatedAt(escalated).SaveX(ctx)
		for _, l := range o.QueryLines().AllX(ctx) {
			c.FulfillmentLine.Create().SetFulfillmentID(fu.ID).SetOrderLineID(l.ID).SetCustomerID(o.CustomerID).SetQuantity(l.Quantity).ExecX(ctx)
		}
		return fu
	}
	event := func(fu *ent.Fulfillment, from, to string, at time.Time) {
		c.FulfillmentEvent.Create().SetFulfillmentID(fu.ID).SetCustomerID(fu.CustomerID).SetFrom(from).SetTo(to).
			SetActor("STAFF").SetAt(at).ExecX(ctx)
	}
	f1 := fulfil(o1, fulfillment.MethodPICKUP, fulfillment.StatusCOLLECTED, "box", ptr(Day(2, 10, 30)), nil)
	event(f1, "READY_FOR_PICKUP", "COLLECTED", Day(2, 10, 30))
	event(f1, "COLLECTED", "COLLECTED", Day(2, 11, 0)) // a second scan: no handover
	f2 := fulfil(o2, fulfillment.MethodPICKUP, fulfillment.StatusCOLLECTED, "mailer", ptr(Day(5, 11, 0)), ptr(Day(4, 0, 0)))
	event(f2, "READY_FOR_PICKUP", "COLLECTED", Day(5, 11, 0))
	f3 := fulfil(o3, fulfillment.MethodSHIPPING, fulfillment.StatusDELIVERED, "box", nil, nil)
	event(f3, "HANDED_TO_COURIER", "DELIVERED", Day(4, 9, 0))
	fulfil(o8, fulfillment.MethodPICKUP, fulfillment.StatusREADY_FOR_PICKUP, "mailer", nil, ptr(Day(40, 0, 0)))
	_ = o6

	// Returns: o1's poster (counted), o3's tees (canceled), o8's poster.
	ret := func(o *ent.Order, sku int, st orderreturn.Status, pack string) {
		l := o.QueryLines().AllX(ctx)
		var ol *ent.OrderLine
		for _, x := range l {
			if x.VariantID == sku {
				ol = x
			}
		}
		rc := c.OrderReturn.Create().SetOrderID(o.ID).SetCustomerID(o.CustomerID).SetStatus(st).SetReason("CHANGED_MIND").
			SetCode(fmt.Sprintf("R%d", ol.ID%100000)).SetRefundMode("WALLET_ON_DROPOFF").SetPackagingVariant(pack).
			SetUnits(1).SetAmount(ol.UnitAmount).SetCurrency(o.Currency)
		if st == orderreturn.StatusRECEIVED {
			rc.SetReceivedLocationID(f.Central).SetReceivedAt(Day(40, 0, 0))
		}
		r := rc.SaveX(ctx)
		c.ReturnLine.Create().SetReturnID(r.ID).SetCustomerID(o.CustomerID).SetOrderLineID(ol.ID).SetVariantID(ol.VariantID).
			SetUnitAmount(ol.UnitAmount).ExecX(ctx)
	}
	ret(o1, posterV.ID, orderreturn.StatusREQUESTED, "box")
	ret(o3, teeM.ID, orderreturn.StatusCANCELED, "box")
	ret(o8, posterV.ID, orderreturn.StatusRECEIVED, "mailer")

	// Stock-outs: TEE-M at central 30 + 90 minutes inside the period,
	// POSTER at popup-1 the period's last 15 minutes (still out), and an
	// interval over before the period.
	so := func(v, loc int, start time.Time, end *time.Time) {
		c.StockOut.Create().SetVariantID(v).SetLocationID(loc).SetStartedAt(start).SetNillableEndedAt(end).ExecX(ctx)
	}
	so(teeM.ID, central.ID, From.Add(-time.Hour), ptr(From.Add(30*time.Minute)))
	so(teeM.ID, central.ID, Day(3, 9, 0), ptr(Day(3, 10, 30)))
	so(posterV.ID, popup.ID, To.Add(-15*time.Minute), nil)
	so(pinV.ID, central.ID, From.Add(-3*time.Hour), ptr(From.Add(-2*time.Hour)))
	return nil
}
