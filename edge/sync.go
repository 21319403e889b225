// Package edge runs merchd on pop-up hardware: the hub sells from its own
// SQLite and its outbox is delivered to central by the sync loop here.
package edge

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/merchd/merchd/checkout"
	"github.com/merchd/merchd/checkout/catalog"
	"github.com/merchd/merchd/checkout/fulfillment"
	"github.com/merchd/merchd/checkout/hubs"
	"github.com/merchd/merchd/checkout/returns"
	"github.com/merchd/merchd/ent"
	"github.com/merchd/merchd/ent/gid"
	"github.com/merchd/merchd/ent/hubsale"
	"github.com/merchd/merchd/ent/outbox"
	"github.com/merchd/merchd/ent/setting"
	"github.com/merchd/merchd/ent/viewer"
)

// Config is how a hub reaches central.
type Config struct {
	// Upstream is central's base URL; its GraphQL API is Upstream + "/query".
	Upstream string
	// Token is a staff API token issued by central (`merchd staff create-token`).
	Token string
	// Hub is this hub's location code, as central leases to it.
	Hub string
	// Batch is how many queued sales one delivery carries (at most 100).
	Batch int
	// Poll is how often an idle, online hub checks the link.
	Poll time.Duration
	// MinBackoff and MaxBackoff bound the wait after a failed delivery;
	// each failure doubles it, with full jitter.
	MinBackoff, MaxBackoff time.Duration
	// Refused is how long a sale central refused waits before it is offered
	// again (staff see it in hubStatus meanwhile).
	Refused time.Duration
	// Refresh is how often an online hub pulls its allocation and wallet
	// balances again (stock leased and wallets topped up meanwhile).
	Refresh time.Duration
	// Currency is the wallets' currency the hub spends from.
	Currency string
	// CentralKey, if set, is central's public key (pinned); otherwise the
	// hub takes it from central on first contact and keeps it.
	CentralKey string
	// OfflineWalletLimit is the most a customer may spend from their wallet
	// here before central confirms (minor units).
	OfflineWalletLimit int64
}

// DefaultConfig is the sync loop's tuning for venue Wi-Fi.
func DefaultConfig() Config {
	return Config{Batch: 100, Poll: 2 * time.Second, MinBackoff: 250 * time.Millisecond,
		MaxBackoff: 30 * time.Second, Refused: 5 * time.Minute, Refresh: time.Minute, OfflineWalletLimit: 2000}
}

// Syncer delivers the hub's outbox to central. A record is marked done only
// after central confirms it; central applies each sale once by its id, so a
// crash between the two just redelivers.
type Syncer struct {
	cfg  Config
	db   *ent.Client
	hubs *Sales
	http *http.Client
	log  *slog.Logger
	now  func() time.Time

	mu       sync.Mutex
	state    hubs.LinkState
	lastSync *time.Time
	lastErr  string

	synced prometheus.Counter
}

// New returns a sync loop; Run starts it.
func New(cfg Config, db *ent.Client, hs *Sales, log *slog.Logger, reg prometheus.Registerer) *Syncer {
	if cfg.Batch <= 0 || cfg.Batch > 100 {
		cfg.Batch = 100
	}
	s := &Syncer{
		cfg: cfg, db: db, hubs: hs, log: log, now: func() time.Time { return time.Now().UTC() },
		http:  &http.Client{Timeout: 15 * time.Second},
		state: hubs.LinkOffline,
		synced: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "merchd_hub_sales_synced_total", Help: "Hub sales central confirmed.",
		}),
	}
	if reg != nil {
		reg.MustRegister(s.synced, &queueCollector{hubs: hs},
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "merchd_hub_online", Help: "1 while the last call to central succeeded."},
				func() float64 {
					if st, _, _ := s.LinkStatus(); st == hubs.LinkOffline {
						return 0
					}
					return 1
				}))
	}
	return s
}

// queueCollector reports the outbox's depth and age from one read of it
// per scrape.
type queueCollector struct{ hubs *Sales }

var (
	queueDepthDesc = prometheus.NewDesc("merchd_hub_queue_depth", "Hub sales not yet confirmed by central.", nil, nil)
	queueAgeDesc   = prometheus.NewDesc("merchd_hub_oldest_unsynced_seconds", "Age of the oldest unconfirmed hub sale.", nil, nil)
)

func (c *queueCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- queueDepthDesc
	ch <- queueAgeDesc
}

func (c *queueCollector) Collect(ch chan<- prometheus.Metric) {
	q, _ := c.hubs.Queue(context.Background()) // an unreadable outbox reports as empty
	age := 0.0
	if q.Oldest != nil {
		age = time.Since(*q.Oldest).Seconds()
	}
	ch <- prometheus.MustNewConstMetric(queueDepthDesc, prometheus.GaugeValue, float64(q.Depth))
	ch <- prometheus.MustNewConstMetric(queueAgeDesc, prometheus.GaugeValue, age)
}

// LinkStatus reports the link as the API shows it.
func (s *Syncer) LinkStatus() (hubs.LinkState, *time.Time, string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.state, s.lastSync, s.lastErr
}

func (s *Syncer) setState(st hubs.LinkState, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.state != st {
		s.log.Info("hub link", "state", st, "error", err)
	}
	s.state = st
	if err != nil {
		s.lastErr = err.Error()
	} else {
		now := s.now()
		s.lastSync, s.lastErr = &now, ""
	}
}

// Run delivers until ctx ends. After each (re)connect, once the queue is
// drained, the hub adopts central's view of its allocation, so stock leased
// meanwhile becomes sellable.
func (s *Syncer) Run(ctx context.Context) {
	ctx = viewer.SystemContext(ctx)
	failures, adopted := 0, false
	var adoptedAt time.Time
	for ctx.Err() == nil {
		err := func() error {
			for {
				n, err := s.deliver(ctx)
				if err != nil {
					return err
				}
				if n == 0 {
					break
				}
				s.setState(hubs.LinkSyncing, nil)
			}
			// Adopt only with the queue drained: then central's count
			// already includes every delivered sale, and the hub subtracts
			// just what is still queued (made since, or refused).
			if !adopted || time.Since(adoptedAt) >= s.cfg.Refresh {
				if err := s.adopt(ctx); err != nil {
					return err
				}
				adopted, adoptedAt = true, time.Now()
			}
			return nil
		}()
		wait := s.cfg.Poll
		if err != nil && ctx.Err() == nil {
			failures, adopted = failures+1, false
			s.setState(hubs.LinkOffline, err)
			wait = backoff(s.cfg.MinBackoff, s.cfg.MaxBackoff, failures)
		} else if err == nil {
			failures = 0
			s.setState(hubs.LinkOnline, nil)
			if err := s.ping(ctx); err != nil {
				failures, adopted = 1, false
				s.setState(hubs.LinkOffline, err)
				wait = s.cfg.MinBackoff
			}
		}
		// Online, a record just queued (a pickup handed over) goes now;
		// after a failure, the backoff stands.
		kick := s.hubs.kick
		if st, _, _ := s.LinkStatus(); st == hubs.LinkOffline {
			kick = nil
		}
		select {
		case <-ctx.Done():
		case <-time.After(wait):
		case <-kick:
		}
	}
}

// backoff is the wait before retry n (from 1): exponential, capped, with
// full jitter so a venue of hubs does not reconnect in lockstep.
func backoff(lo, hi time.Duration, n int) time.Duration {
	d := lo << min(n-1, 20)
	if d > hi || d <= 0 {
		d = hi
	}
	return lo/2 + rand.N(d)
}

func (s *Syncer) ping(ctx context.Context) error {
	var out struct{ HubStatus any }
	return s.call(ctx, `query { hubStatus { state } }`, nil, &out)
}

const allocationQuery = `query($hub: String!) {
  hubAllocation(hub: $hub) {
    sku available
    variant {
      title position
      selectedOptions { name value }
      price { amount currency }
      compareAtPrice { amount }
      product { slug title description vendor status images { url alt } }
    }
  }
}`

// adopt pulls the hub's allocation from central, with the catalog entries
// to sell it, and makes the hub's stock and catalog match.
func (s *Syncer) adopt(ctx context.Context) error {
	var out struct {
		HubAllocation []struct {
			SKU       string
			Available int
			Variant   *struct {
				Title           string
				Position        int
				SelectedOptions []struct{ Name, Value string }
				Price           moneyJSON
				CompareAtPrice  *moneyJSON
				Product         struct {
					Slug, Title, Description, Vendor, Status string
					Images                                   []struct{ URL, Alt string }
				}
			}
		}
	}
	if err := s.trust(ctx); err != nil {
		return err
	}
	if err := s.call(ctx, allocationQuery, map[string]any{"hub": s.cfg.Hub}, &out); err != nil {
		return err
	}
	lines := make([]hubs.AllocationLine, len(out.HubAllocation))
	for i, l := range out.HubAllocation {
		lines[i] = hubs.AllocationLine{SKU: l.SKU, Available: l.Available}
		v := l.Variant
		if v == nil {
			continue
		}
		it := &hubs.CatalogItem{
			ProductSlug: v.Product.Slug, ProductTitle: v.Product.Title, Description: v.Product.Description,
			Vendor: v.Product.Vendor, ProductStatus: v.Product.Status, VariantTitle: v.Title, Position: v.Position,
			PriceAmount: v.Price.Amount, Currency: v.Price.Currency, Options: map[string]string{},
		}
		for _, o := range v.SelectedOptions {
			it.Options[o.Name] = o.Value
		}
		if v.CompareAtPrice != nil {
			it.CompareAtAmount = &v.CompareAtPrice.Amount
		}
		for _, im := range v.Product.Images {
			it.Images = append(it.Images, catalog.Image{URL: im.URL, Alt: im.Alt})
		}
		lines[i].Item = it
	}
	if err := s.hubs.Adopt(ctx, s.cfg.Hub, lines); err != nil {
		return err
	}
	if err := s.adoptWallets(ctx); err != nil {
		return err
	}
	return s.adoptPickups(ctx)
}

// walletsPage bounds one hubWallets call.
const walletsPage = 1000

// adoptWallets pulls every wallet in the hub's currency that holds money,
// page by page, and makes them what the hub spends against.
func (s *Syncer) adoptWallets(ctx context.Context) error {
	var all []hubs.WalletBalance
	var after *string
	for {
		var out struct {
			HubWallets []struct {
				Customer string
				Balance  int64
			}
		}
		if err := s.call(ctx, `query($cur: String!, $after: ID, $first: Int) { hubWallets(currency: $cur, after: $after, first: $first) { customer balance } }`,
			map[string]any{"cur": s.cfg.Currency, "after": after, "first": walletsPage}, &out); err != nil {
			return err
		}
		for _, w := range out.HubWallets {
			id, err := gid.Decode(w.Customer)
			if err != nil {
				return fmt.Errorf("central listed wallet of customer %q: %w", w.Customer, err)
			}
			all = append(all, hubs.WalletBalance{CustomerID: id, Balance: w.Balance})
		}
		if len(out.HubWallets) < walletsPage {
			break
		}
		after = &out.HubWallets[len(out.HubWallets)-1].Customer
	}
	return s.hubs.AdoptWallets(ctx, s.cfg.Currency, all)
}

// centralKeySetting is where a hub keeps central's public key.
const centralKeySetting = "central_key"

// trust makes sure the hub holds central's public key: pinned in Config,
// kept from an earlier contact, or, on first contact, central's answer.
func (s *Syncer) trust(ctx context.Context) error {
	if s.hubs.Trusted() {
		return nil
	}
	var out struct{ SigningKey string }
	if err := s.call(ctx, `query { signingKey }`, nil, &out); err != nil {
		return err
	}
	v, err := hubs.ParsePublicKey(out.SigningKey)
	if err != nil {
		return err
	}
	if err := s.db.Setting.Create().SetKey(centralKeySetting).SetValue([]byte(out.SigningKey)).
		OnConflictColumns(setting.FieldKey).UpdateValue().Exec(ctx); err != nil {
		return err
	}
	s.hubs.TrustCentral(v, s.cfg.OfflineWalletLimit)
	return nil
}

// LoadTrust gives the hub central's key before the first sync, from the
// pinned Config.CentralKey or from what an earlier run kept.
func LoadTrust(ctx context.Context, cfg Config, db *ent.Client, hs *Sales) error {
	key := cfg.CentralKey
	if key == "" {
		st, err := db.Setting.Query().Where(setting.Key(centralKeySetting)).Only(viewer.SystemContext(ctx))
		if ent.IsNotFound(err) {
			return nil
		} else if err != nil {
			return err
		}
		key = string(st.Value)
	}
	v, err := hubs.ParsePublicKey(key)
	if err != nil {
		return err
	}
	hs.TrustCentral(v, cfg.OfflineWalletLimit)
	return nil
}

const recordMutation = `mutation($in: RecordHubSalesInput!) {
  recordHubSales(input: $in) { results { saleId applied conflict error code walletBalance } }
}`

// deliver sends one batch of due outbox records and settles them by
// central's answer. It returns how many records it settled.
func (s *Syncer) deliver(ctx context.Context) (int, error) {
	due, err := s.db.Outbox.Query().
		Where(outbox.StatusEQ(outbox.StatusPENDING), outbox.NextAttemptAtLTE(s.now())).
		Order(outbox.ByID()).Limit(s.cfg.Batch).All(ctx)
	if err != nil || len(due) == 0 {
		return 0, err
	}
	// Records go in the order they were written: a run of sales in one
	// call, a run of pickup handovers in one call, anything else on its
	// own.
	if due[0].Kind == fulfillment.OutboxHubCollection {
		return s.deliverHandovers(ctx, due)
	}
	if due[0].Kind != hubs.OutboxHubSale {
		return 1, s.deliverOne(ctx, due[0])
	}
	for i, o := range due {
		if o.Kind != hubs.OutboxHubSale {
			due = due[:i]
			break
		}
	}
	sales := make([]hubs.RemoteSale, len(due))
	for i, o := range due {
		if err := json.Unmarshal(o.Payload, &sales[i]); err != nil {
			return 0, fmt.Errorf("outbox %s is unreadable: %w", o.Key, err)
		}
	}
	var out struct {
		RecordHubSales struct{ Results []saleResult }
	}
	if err := s.call(ctx, recordMutation, map[string]any{"in": map[string]any{"sales": sales}}, &out); err != nil {
		return 0, err
	}
	res := out.RecordHubSales.Results
	if len(res) != len(due) {
		return 0, fmt.Errorf("central answered %d results for %d sales", len(res), len(due))
	}
	for i, r := range res {
		if r.SaleID != sales[i].SaleID {
			return 0, fmt.Errorf("central answered for sale %s, expected %s", r.SaleID, sales[i].SaleID)
		}
	}
	tx, err := s.db.Tx(ctx)
	if err != nil {
		return 0, err
	}
	done, err := s.settle(ctx, tx, due, res)
	if err != nil {
		_ = tx.Rollback()
		return 0, err
	}
	if err := tx.Commit(); err != nil {
		return 0, err
	}
	s.synced.Add(float64(done))
	return len(due), nil
}

// saleResult is central's answer for one delivered sale.
type saleResult struct {
	SaleID        string
	Applied       bool
	Conflict      *string
	Error         *string
	Code          *string
	WalletBalance *int64
}

// saleOutcome is what the hub makes of central's answer for one sale.
type saleOutcome int

const (
	// saleDone: central holds the sale (applied now, before, or kept as a
	// conflict for staff).
	saleDone saleOutcome = iota
	// saleRefused: central turned the sale down on its merits (an unknown
	// hub, the saleId recorded with other content): sending it again soon
	// would be refused again, so it waits cfg.Refused for staff.
	saleRefused
	// saleRetry: central failed on its side (INTERNAL, RATE_LIMITED): the
	// sale goes again after the normal backoff.
	saleRetry
)

// outcome reads central's answer by checkout's error table. An error
// without a code (a central older than codes) is a refusal, as it was.
func (r saleResult) outcome() saleOutcome {
	switch {
	case r.Error == nil:
		return saleDone
	case r.Code != nil && checkout.Retryable(*r.Code):
		return saleRetry
	}
	return saleRefused
}

// reason is the error as the outbox keeps it, with its code.
func (r saleResult) reason() string {
	if r.Code == nil {
		return *r.Error
	}
	return *r.Code + ": " + *r.Error
}

// settle records central's answers in tx: confirmed sales (applied now,
// before, or kept as a conflict) are done; refused ones wait cfg.Refused,
// ones central failed on its side go again after a backoff. It returns how
// many are done.
func (s *Syncer) settle(ctx context.Context, tx *ent.Tx, due []*ent.Outbox, res []saleResult) (int, error) {
	var done []int
	var doneSales []string
	balances := map[string]*int64{}
	for i, r := range res {
		switch r.outcome() {
		case saleRefused:
			if err := s.refused(ctx, tx.Client(), due[i], r.reason()); err != nil {
				return 0, err
			}
			continue
		case saleRetry:
			if err := s.retry(ctx, tx.Client(), due[i], r.reason()); err != nil {
				return 0, err
			}
			continue
		}
		if r.Conflict != nil {
			// Central holds it for staff to reconcile; the hub is done.
			s.log.Warn("central recorded a hub sale as a conflict", "sale", r.SaleID, "conflict", *r.Conflict)
		}
		if r.WalletBalance != nil {
			balances[r.SaleID] = r.WalletBalance
		}
		done, doneSales = append(done, due[i].ID), append(doneSales, r.SaleID)
	}
	if len(done) == 0 {
		return 0, nil
	}
	if err := s.hubs.Confirmed(ctx, tx, doneSales, balances); err != nil {
		return 0, err
	}
	now := s.now()
	if err := tx.Outbox.Update().Where(outbox.IDIn(done...)).SetStatus(outbox.StatusDONE).SetDoneAt(now).Exec(ctx); err != nil {
		return 0, err
	}
	if err := tx.HubSale.Update().Where(hubsale.SaleIDIn(doneSales...)).SetSyncedAt(now).Exec(ctx); err != nil {
		return 0, err
	}
	return len(done), nil
}

// refused keeps a record central turned down, with its reason, and offers
// it again after cfg.Refused; staff see it in hubStatus and the log.
func (s *Syncer) refused(ctx context.Context, db *ent.Client, o *ent.Outbox, reason string) error {
	s.log.Warn("central refused a hub record; kept for reconciliation", "key", o.Key, "error", reason)
	return db.Outbox.UpdateOneID(o.ID).AddAttempts(1).SetLastError(reason).
		SetNextAttemptAt(s.now().Add(s.cfg.Refused)).Exec(ctx)
}

// retry keeps a record central failed on its side and offers it again
// after the backoff of its attempts so far, as a failed call would be.
func (s *Syncer) retry(ctx context.Context, db *ent.Client, o *ent.Outbox, reason string) error {
	wait := backoff(s.cfg.MinBackoff, s.cfg.MaxBackoff, o.Attempts+1)
	s.log.Warn("central failed on a hub record; retrying", "key", o.Key, "error", reason, "retry_in", wait)
	return db.Outbox.UpdateOneID(o.ID).AddAttempts(1).SetLastError(reason).
		SetNextAttemptAt(s.now().Add(wait)).Exec(ctx)
}

const returnMutation = `mutation($in: ReturnAllocationInput!) { returnAllocation(input: $in) { units } }`

// deliverOne sends a record that is not a sale: a return of allocation,
// or a return dropped off by a buyer.
func (s *Syncer) deliverOne(ctx context.Context, o *ent.Outbox) error {
	if o.Kind == returns.OutboxHubDropoff {
		return s.deliverDropoff(ctx, o)
	}
	if o.Kind != hubs.OutboxHubReturn {
		return s.refused(ctx, s.db, o, "this merchd does not know outbox kind "+o.Kind)
	}
	var ret hubs.RemoteReturn
	if err := json.Unmarshal(o.Payload, &ret); err != nil {
		return s.refused(ctx, s.db, o, "unreadable payload: "+err.Error())
	}
	var out struct{ ReturnAllocation struct{ Units int } }
	err := s.call(ctx, returnMutation, map[string]any{"in": ret}, &out)
	var ce *centralError
	if errors.As(err, &ce) && ce.refusal() {
		return s.refused(ctx, s.db, o, ce.Error())
	} else if err != nil {
		return err
	}
	return s.db.Outbox.UpdateOneID(o.ID).SetStatus(outbox.StatusDONE).SetDoneAt(s.now()).Exec(ctx)
}

// centralError is central's answer to a call: a GraphQL error, with its
// extensions.code.
type centralError struct{ code, msg string }

func (e *centralError) Error() string { return "central (" + e.code + "): " + e.msg }

// refusal reports whether central turned the request down on its merits
// (a refusal in checkout's error table: bad input, an unknown hub or SKU):
// retrying at once would not help. INTERNAL, RATE_LIMITED and codes the
// table does not know are worth retrying.
func (e *centralError) refusal() bool { return checkout.IsRefusalCode(e.code) }

// call posts one GraphQL operation to central.
func (s *Syncer) call(ctx context.Context, query string, vars map[string]any, out any) error {
	body, err := json.Marshal(map[string]any{"query": query, "variables": vars})
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(s.cfg.Upstream, "/")+"/query", bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/graphql-response+json")
	req.Header.Set("Authorization", "Bearer "+s.cfg.Token)
	resp, err := s.http.Do(req)
	if err != nil {
		return fmt.Errorf("central unreachable: %w", err)
	}
	defer resp.Body.Close()
	var env struct {
		Data   json.RawMessage
		Errors []struct {
			Message    string
			Extensions struct{ Code string }
		}
	}
	if err := json.NewDecoder(resp.Body).Decode(&env); err != nil {
		return fmt.Errorf("central answered %s: %w", resp.Status, err)
	}
	if len(env.Errors) > 0 {
		e := env.Errors[0]
		return &centralError{code: e.Extensions.Code, msg: e.Message}
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("central answered %s", resp.Status)
	}
	if len(env.Data) == 0 || string(env.Data) == "null" {
		return errors.New("central answered no data")
	}
	return json.Unmarshal(env.Data, out)
}
