package edge_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/merchd/merchd/graph/graphtest"
	"github.com/merchd/merchd/hardware"
)

// linkProxy is the venue's internet: a TCP proxy between hub and central
// that can be cut (open connections reset, new ones refused) and slowed.
type linkProxy struct {
	ln     net.Listener
	target string
	up     atomic.Bool
	delay  atomic.Int64 // added before each chunk sent back to the hub
	mu     sync.Mutex
	conns  map[net.Conn]struct{}
}

func newLinkProxy(t *testing.T, target string) *linkProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &linkProxy{ln: ln, target: target, conns: map[net.Conn]struct{}{}}
	p.up.Store(true)
	t.Cleanup(func() { ln.Close(); p.SetUp(false) })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			if !p.up.Load() {
				c.Close()
				continue
			}
			go p.pipe(c)
		}
	}()
	return p
}

func (p *linkProxy) URL() string { return "http://" + p.ln.Addr().String() }

func (p *linkProxy) pipe(c net.Conn) {
	u, err := net.Dial("tcp", p.target)
	if err != nil {
		c.Close()
		return
	}
	p.mu.Lock()
	p.conns[c], p.conns[u] = struct{}{}, struct{}{}
	p.mu.Unlock()
	go func() { _, _ = io.Copy(u, c); u.Close() }()
	buf := make([]byte, 32<<10)
	for {
		n, err := u.Read(buf)
		if n > 0 {
			time.Sleep(time.Duration(p.delay.Load()))
			if _, werr := c.Write(buf[:n]); werr != nil {
				break
			}
		}
		if err != nil {
			break
		}
	}
	c.Close()
}

// SetUp restores or cuts the link.
func (p *linkProxy) SetUp(up bool) {
	p.up.Store(up)
	if up {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for c := range p.conns {
		c.Close()
		delete(p.conns, c)
	}
}

func staffToken(t *testing.T, bin, database string, extra ...string) string {
	t.Helper()
	out, err := exec.Command(bin, append([]string{"staff", "create-token", "--email", "ops@example.com", "--database", database}, extra...)...).Output()
	if err != nil {
		t.Fatalf("staff create-token: %v", err)
	}
	return strings.TrimSpace(string(out))
}

// popup is a central and an edge process linked through a proxy.
type popup struct {
	t                  *testing.T
	bin, edgeDB        string
	central            string
	centralTok, hubTok string
	edgeTok            string
	link               *linkProxy
	edge               *graphtest.Process
	variantOnEdge      string
	printer, labels    *hardware.PrinterSimulator
	// Wallet customers on central: token and pass by name.
	custTok, pass, custID map[string]string
}

// walletCustomer signs a customer up on central, credits their wallet and
// fetches their wallet pass.
func (p *popup) walletCustomer(name string, credit int) {
	var su struct {
		SignUp struct {
			Token    string
			Customer struct{ ID string }
		}
	}
	p.do(p.central, "", `mutation($e: String!) { signUp(input: {email: $e, password: "correct horse battery"}) { token customer { id } } }`,
		map[string]any{"e": name + "@example.com"}).Decode(p.t, &su)
	p.do(p.central, p.centralTok, `mutation($c: ID!, $n: Int!, $k: String!) { grantCredit(input: {customerIds: [$c], amount: {amount: $n, currency: "EUR"}, note: "welcome", idempotencyKey: $k}) { granted } }`,
		map[string]any{"c": su.SignUp.Customer.ID, "n": credit, "k": "grant-" + name}).Decode(p.t, &struct{}{})
	var wp struct{ WalletPass struct{ Code string } }
	p.do(p.central, su.SignUp.Token, `{ walletPass { code } }`, nil).Decode(p.t, &wp)
	p.custTok[name], p.pass[name], p.custID[name] = su.SignUp.Token, wp.WalletPass.Code, su.SignUp.Customer.ID
}

// centralBalance is a customer's wallet balance on central.
func (p *popup) centralBalance(name string) int {
	var out struct {
		Wallet *struct{ Balance struct{ Amount int } }
	}
	p.do(p.central, p.custTok[name], `{ wallet { balance { amount } } }`, nil).Decode(p.t, &out)
	if out.Wallet == nil {
		return 0
	}
	return out.Wallet.Balance.Amount
}

type hubWalletView struct {
	Balance, Unconfirmed, Spendable struct{ Amount int }
}

// hubWallet is what the hub knows of a customer's wallet.
func (p *popup) hubWallet(name string) hubWalletView {
	var out struct{ HubWallet hubWalletView }
	p.do(p.edge.URL, p.edgeTok, `query($p: String!) { hubWallet(walletPass: $p) { balance { amount } unconfirmed { amount } spendable { amount } } }`,
		map[string]any{"p": p.pass[name]}).Decode(p.t, &out)
	return out.HubWallet
}

// sellWallet sells one unit paid from name's wallet.
func (p *popup) sellWallet(name, key string) graphtest.Response {
	return p.do(p.edge.URL, p.edgeTok, `mutation($v: ID!, $k: String!, $p: String!) { hubSell(input: {lines: [{variantId: $v, quantity: 1}], paidWith: WALLET, walletPass: $p, idempotencyKey: $k}) { saleId receiptPrinted receiptError } }`,
		map[string]any{"v": p.variantOnEdge, "k": key, "p": p.pass[name]})
}

const popupSKU = "tour-tee-2026-1"

func startPopup(t *testing.T, leased int) *popup { return startPopupWith(t, leased, nil) }

// startPopupWith starts central with env and extra flags.
func startPopupWith(t *testing.T, leased int, env []string, centralFlags ...string) *popup {
	dir := t.TempDir()
	printer, err := hardware.NewPrinterSimulator()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { printer.Close() })
	labels, err := hardware.NewPrinterSimulator()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { labels.Close() })
	p := &popup{t: t, bin: graphtest.BuildMerchd(t), edgeDB: filepath.Join(dir, "edge.db"), printer: printer, labels: labels,
		custTok: map[string]string{}, pass: map[string]string{}, custID: map[string]string{}}
	centralDB := filepath.Join(dir, "central.db")
	p.central = graphtest.StartCommand(t, p.bin, env, append([]string{"serve", "--addr", "127.0.0.1:0", "--database", centralDB, "--demo", "--hub-wallet-limit", "5000"}, centralFlags...)...).URL
	p.centralTok = staffToken(t, p.bin, centralDB)
	p.hubTok = staffToken(t, p.bin, centralDB, "--hub", "popup-hub") // a hub box gets a hub's token, not a staff login
	p.link = newLinkProxy(t, strings.TrimPrefix(p.central, "http://"))

	centralVariant := p.variant(p.central, p.centralTok)
	var set struct{ SetStock struct{ Available int } }
	p.do(p.central, p.centralTok, `mutation($v: ID!) { setStock(input: {variantId: $v, available: 1000, idempotencyKey: "stock-1"}) { available } }`,
		map[string]any{"v": centralVariant}).Decode(t, &set)
	var lease struct{ LeaseAllocation struct{ Available int } }
	p.do(p.central, p.centralTok, `mutation($v: ID!, $n: Int!) { leaseAllocation(input: {hub: "popup-hub", variantId: $v, units: $n, idempotencyKey: "lease-1"}) { available } }`,
		map[string]any{"v": centralVariant, "n": leased - 10}).Decode(t, &lease) // the demo hub starts with 10
	if lease.LeaseAllocation.Available != leased {
		t.Fatalf("hub allocation %d, want %d", lease.LeaseAllocation.Available, leased)
	}

	p.walletCustomer("alice", 10000)
	p.walletCustomer("bob", 3000)

	// The hub starts on an empty database: its catalog (and the wallets it
	// may spend from) comes from central with the allocation.
	p.startEdge()
	p.edgeTok = staffToken(t, p.bin, p.edgeDB)
	p.waitEdge(func(s hubStatus) bool { return s.State == "ONLINE" }, "online")
	p.variantOnEdge = p.variant(p.edge.URL, p.edgeTok)
	if got := p.edgeStock(); got != leased {
		t.Fatalf("edge adopted %d units, want %d", got, leased)
	}
	return p
}

// variant finds the popup SKU's id on one side.
func (p *popup) variant(base, tok string) string {
	var vs struct {
		Variants struct {
			Edges []struct{ Node struct{ ID, Sku string } }
		}
	}
	p.do(base, tok, `query($s: String!) { variants(first: 1, where: {sku: $s}) { edges { node { id sku } } } }`,
		map[string]any{"s": popupSKU}).Decode(p.t, &vs)
	if len(vs.Variants.Edges) != 1 {
		p.t.Fatalf("no variant %s at %s", popupSKU, base)
	}
	return vs.Variants.Edges[0].Node.ID
}

func (p *popup) startEdge(extra ...string) {
	p.edge = graphtest.StartCommand(p.t, p.bin, []string{"MERCHD_HUB_TOKEN=" + p.hubTok, "MERCHD_METRICS_TOKEN=test-metrics-token"}, append([]string{"edge", "--addr", "127.0.0.1:0",
		"--database", p.edgeDB, "--hub", "popup-hub", "--upstream", p.link.URL(), "--sync-max-backoff", "500ms", "--offline-wallet-limit", "5000",
		"--receipt-printer", "tcp://" + p.printer.Addr(), "--label-printer", "tcp://" + p.labels.Addr()}, extra...)...)
}

func (p *popup) do(base, tok, q string, vars map[string]any) graphtest.Response {
	return graphtest.Post(p.t, base+"/query", tok, map[string]any{"query": q, "variables": vars})
}

type hubStatus struct {
	State      string
	QueueDepth int
	LastError  *string
}

func (p *popup) status() hubStatus {
	var out struct{ HubStatus hubStatus }
	p.do(p.edge.URL, p.edgeTok, `{ hubStatus { state queueDepth lastError } }`, nil).Decode(p.t, &out)
	return out.HubStatus
}

func (p *popup) waitEdge(ok func(hubStatus) bool, what string) hubStatus {
	p.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		s := p.status()
		if ok(s) {
			return s
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("hub not %s within 30s: %+v", what, s)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

type hubSale struct {
	SaleID         string
	ReceiptPrinted bool
	ReceiptError   *string
	LabelsPrinted  int
	LabelError     *string
}

func (p *popup) sellOne(key string) hubSale {
	p.t.Helper()
	var out struct{ HubSell hubSale }
	p.sellTry(key).Decode(p.t, &out)
	if out.HubSell.SaleID == "" {
		p.t.Fatal("no sale id")
	}
	return out.HubSell
}

func (p *popup) sell(n int, prefix string) {
	p.t.Helper()
	for i := range n {
		if s := p.sellOne(fmt.Sprintf("%s-%d", prefix, i)); !s.ReceiptPrinted || s.LabelsPrinted != 1 {
			p.t.Fatalf("sale %d: receipt printed %v (%v), %d labels (%v)", i, s.ReceiptPrinted, s.ReceiptError, s.LabelsPrinted, s.LabelError)
		}
	}
}

func allocationOf(p *popup, base, tok string) int {
	var out struct {
		HubAllocation []struct {
			Sku       string
			Available int
		}
	}
	p.do(base, tok, `{ hubAllocation(hub: "popup-hub") { sku available } }`, nil).Decode(p.t, &out)
	for _, l := range out.HubAllocation {
		if l.Sku == popupSKU {
			return l.Available
		}
	}
	p.t.Fatalf("%s not allocated at %s", popupSKU, base)
	return 0
}

func (p *popup) metrics() string {
	req, _ := http.NewRequest(http.MethodGet, p.edge.URL+"/metrics", nil)
	req.Header.Set("Authorization", "Bearer test-metrics-token")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		p.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

func (p *popup) edgeStock() int { return allocationOf(p, p.edge.URL, p.edgeTok) }

func (p *popup) centralStock() int { return allocationOf(p, p.central, p.centralTok) }

// centralSaleList is the first five sales central holds from the hub.
func (p *popup) centralSaleList() []struct{ SaleID, Status, PaidWith string } {
	var out struct {
		HubSales struct {
			Edges []struct {
				Node struct{ SaleID, Status, PaidWith string }
			}
		}
	}
	p.do(p.central, p.centralTok, `{ hubSales(first: 5, where: {hub: "popup-hub"}) { edges { node { saleID status paidWith } } } }`, nil).Decode(p.t, &out)
	list := make([]struct{ SaleID, Status, PaidWith string }, len(out.HubSales.Edges))
	for i, e := range out.HubSales.Edges {
		list[i] = e.Node
	}
	return list
}

func (p *popup) centralSales() int {
	var out struct{ HubSales struct{ TotalCount int } }
	p.do(p.central, p.centralTok, `{ hubSales(first: 0, where: {hub: "popup-hub"}) { totalCount } }`, nil).Decode(p.t, &out)
	return out.HubSales.TotalCount
}

// TestEdgeSellsThroughOutage: the link to central dies, the hub sells 200
// orders offline, the link returns: central records all 200 exactly once
// and both sides agree on the hub's stock.
func TestEdgeSellsThroughOutage(t *testing.T) {
	const leased = 260
	sold := 200
	p := startPopup(t, leased)

	p.link.SetUp(false)
	p.waitEdge(func(s hubStatus) bool { return s.State == "OFFLINE" }, "offline")
	p.sell(sold, "outage")
	if s := p.status(); s.State != "OFFLINE" || s.QueueDepth != sold {
		t.Fatalf("offline hub status %+v, want OFFLINE with %d queued", s, sold)
	}
	if n := p.centralSales(); n != 0 {
		t.Fatalf("central saw %d sales through a cut link", n)
	}
	jobs := p.printer.Jobs()
	for deadline := time.Now().Add(5 * time.Second); len(jobs) < sold && time.Now().Before(deadline); jobs = p.printer.Jobs() {
		time.Sleep(10 * time.Millisecond) // the simulator files a job when its connection closes
	}
	if len(jobs) != sold {
		t.Fatalf("printer got %d receipts for %d sales", len(jobs), sold)
	}
	receipt := string(jobs[0])
	for _, want := range []string{popupSKU, "TOTAL", "35.00 EUR", "Paid: cash", "\x1bp\x00"} {
		if !strings.Contains(receipt, want) {
			t.Errorf("receipt lacks %q:\n%q", want, receipt)
		}
	}

	// A smart label per unit: the sale number, a QR code of the sale's
	// receipt page on central, the SKU.
	labelJobs := p.labels.Jobs()
	for deadline := time.Now().Add(5 * time.Second); len(labelJobs) < sold && time.Now().Before(deadline); labelJobs = p.labels.Jobs() {
		time.Sleep(10 * time.Millisecond)
	}
	if len(labelJobs) != sold || !strings.Contains(string(labelJobs[0]), "^FDMA,"+p.link.URL()+"/hub-sales/") ||
		!strings.Contains(string(labelJobs[0]), "^FD"+popupSKU+"^FS") {
		t.Fatalf("%d label jobs for %d sales; first:\n%s", len(labelJobs), sold, labelJobs[0])
	}

	// Out of paper: the sale is still recorded and queued; the clerk is told.
	p.printer.SetPaperOut(true)
	noPaper := p.sellOne("no-paper")
	p.printer.SetPaperOut(false)
	if noPaper.ReceiptPrinted || noPaper.ReceiptError == nil || !strings.Contains(*noPaper.ReceiptError, "paper") {
		t.Fatalf("sale without paper: %+v", noPaper)
	}
	if again := p.sellOne("no-paper"); again.SaleID != noPaper.SaleID {
		t.Fatalf("replayed sale got id %s, first %s", again.SaleID, noPaper.SaleID)
	}
	sold++

	// Wallets offline: alice (100.00 at the last sync) may spend up to the
	// hub's 50.00 limit before central confirms; bob's 30.00 does not cover
	// a 35.00 tee. Meanwhile alice spends 80.00 online, so central will
	// find her hub sale overdrawn.
	if w := p.hubWallet("alice"); w.Balance.Amount != 10000 || w.Spendable.Amount != 5000 {
		t.Fatalf("alice at the hub before spending: %+v", w)
	}
	var paid struct{ HubSell hubSale }
	p.sellWallet("alice", "alice-1").Decode(t, &paid)
	sold++
	if r := p.sellWallet("alice", "alice-2"); r.Code() != "INSUFFICIENT_FUNDS" {
		t.Fatalf("alice beyond the offline limit: %+v", r.Errors)
	}
	if r := p.sellWallet("bob", "bob-1"); r.Code() != "INSUFFICIENT_FUNDS" {
		t.Fatalf("bob beyond his balance: %+v", r.Errors)
	}
	if w := p.hubWallet("alice"); w.Unconfirmed.Amount != 3500 || w.Spendable.Amount != 1500 {
		t.Fatalf("alice at the hub after a 35.00 sale: %+v", w)
	}
	p.do(p.central, p.centralTok, `mutation($c: ID!) { adjustWallet(input: {customerId: $c, amount: {amount: -8000, currency: "EUR"}, reason: "spent online", idempotencyKey: "alice-online"}) { entry { id } } }`,
		map[string]any{"c": p.custID["alice"]}).Decode(t, &struct{}{})

	if got := p.edgeStock(); got != leased-sold {
		t.Fatalf("edge stock %d after selling %d of %d", got, sold, leased)
	}
	if s := p.status(); s.QueueDepth != sold {
		t.Fatalf("queue %d after %d offline sales", s.QueueDepth, sold)
	}
	metrics := p.metrics()
	for _, want := range []string{fmt.Sprintf("merchd_hub_queue_depth %d\n", sold), "merchd_hub_online 0\n"} {
		if !strings.Contains(metrics, want) {
			t.Errorf("offline /metrics lacks %q", want)
		}
	}

	p.link.SetUp(true)
	p.waitEdge(func(s hubStatus) bool { return s.State == "ONLINE" && s.QueueDepth == 0 }, "synced")
	if n := p.centralSales(); n != sold {
		t.Fatalf("central recorded %d hub sales, want %d", n, sold)
	}
	metrics = p.metrics()
	for _, want := range []string{"merchd_hub_queue_depth 0\n", "merchd_hub_online 1\n", fmt.Sprintf("merchd_hub_sales_synced_total %d\n", sold)} {
		if !strings.Contains(metrics, want) {
			t.Errorf("online /metrics lacks %q", want)
		}
	}
	if c, e := p.centralStock(), p.edgeStock(); c != leased-sold || e != leased-sold {
		t.Fatalf("hub stock: central %d, edge %d, want both %d", c, e, leased-sold)
	}

	// Wallets agree: alice's 20.00 paid part of her 35.00 sale, the 15.00
	// shortfall is a record staff see; bob was never charged.
	for name, want := range map[string]int{"alice": 0, "bob": 3000} {
		c, h := p.centralBalance(name), p.hubWallet(name)
		if c != want || h.Balance.Amount != want || h.Unconfirmed.Amount != 0 {
			t.Fatalf("%s's wallet: central %d, hub %+v, want %d", name, c, h, want)
		}
	}
	var od struct {
		HubSales struct {
			Edges []struct {
				Node struct {
					SaleID          string
					ShortfallAmount int
				}
			}
		}
	}
	p.do(p.central, p.centralTok, `{ hubSales(first: 5, where: {status: SHORTFALL}) { edges { node { saleID shortfallAmount } } } }`, nil).Decode(t, &od)
	if len(od.HubSales.Edges) != 1 || od.HubSales.Edges[0].Node.SaleID != paid.HubSell.SaleID || od.HubSales.Edges[0].Node.ShortfallAmount != 1500 {
		t.Fatalf("overdrawn hub sales on central: %+v", od)
	}

	// The receipt page on central, which the receipt's and label's QR
	// codes open, shows the sale once it has arrived.
	var rc struct {
		HubSaleReceipt *struct {
			Hub   string
			Total struct{ Amount int }
		}
	}
	p.do(p.central, "", `query($s: String!) { hubSaleReceipt(saleId: $s) { hub total { amount } } }`, map[string]any{"s": noPaper.SaleID}).Decode(t, &rc)
	if rc.HubSaleReceipt == nil || rc.HubSaleReceipt.Hub != "popup-hub" || rc.HubSaleReceipt.Total.Amount != 3500 {
		t.Fatalf("receipt on central: %+v", rc.HubSaleReceipt)
	}
	if resp, err := http.Get(p.central + "/hub-sales/" + noPaper.SaleID); err != nil || resp.StatusCode != 200 {
		t.Fatalf("receipt page: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}

	// The hub cannot sell beyond its allocation, online or not.
	r := p.do(p.edge.URL, p.edgeTok, `mutation($v: ID!, $n: Int!) { hubSell(input: {lines: [{variantId: $v, quantity: $n}], idempotencyKey: "too-many"}) { saleId } }`,
		map[string]any{"v": p.variantOnEdge, "n": leased - sold + 1})
	if len(r.Errors) == 0 {
		t.Fatalf("sold %d units from an allocation of %d", leased-sold+1, leased-sold)
	}

	// The event closes: the hub hands back what it did not sell, through
	// the outbox; central's own stock gets it back.
	p.link.SetUp(false)
	var closed struct {
		CloseHub struct {
			Returned []struct {
				Sku       string
				Available int
			}
		}
	}
	p.do(p.edge.URL, p.edgeTok, `mutation { closeHub(input: {idempotencyKey: "close-1"}) { returned { sku available } } }`, nil).Decode(t, &closed)
	returned := map[string]int{}
	for _, l := range closed.CloseHub.Returned {
		returned[l.Sku] = l.Available
	}
	if returned[popupSKU] != leased-sold {
		t.Fatalf("hub returned %v, want %d of %s", returned, leased-sold, popupSKU)
	}
	if e := p.edgeStock(); e != 0 {
		t.Fatalf("closed hub still has %d to sell", e)
	}
	if r := p.sellTry("after-close"); len(r.Errors) == 0 {
		t.Fatal("a closed hub sold")
	}
	p.link.SetUp(true)
	p.waitEdge(func(s hubStatus) bool { return s.State == "ONLINE" && s.QueueDepth == 0 }, "returned")
	if c := p.centralStock(); c != 0 {
		t.Fatalf("central still counts %d at the closed hub", c)
	}
	var v struct{ Node struct{ Available int } }
	p.do(p.central, p.centralTok, `query($id: ID!) { node(id: $id) { ... on Variant { available } } }`,
		map[string]any{"id": p.variant(p.central, p.centralTok)}).Decode(t, &v)
	if want := 1000 - (leased - 10) + (leased - sold); v.Node.Available != want {
		t.Fatalf("central stock %d after the return, want %d", v.Node.Available, want)
	}
}

func (p *popup) sellTry(key string) graphtest.Response {
	return p.do(p.edge.URL, p.edgeTok, `mutation($v: ID!, $k: String!) { hubSell(input: {lines: [{variantId: $v, quantity: 1}], idempotencyKey: $k}) { saleId receiptPrinted receiptError labelsPrinted labelError } }`,
		map[string]any{"v": p.variantOnEdge, "k": key})
}

// TestEdgeKilledMidSync: the hub is SIGKILLed while central is applying a
// batch whose confirmation has not reached it; after restart it delivers
// the rest and redelivers the unconfirmed batch, and central counts every
// sale once.
func TestEdgeKilledMidSync(t *testing.T) {
	const leased, sold, held = 400, 300, 4
	p := startPopup(t, leased)

	// A buyer at the venue holds 4 units in a cart on the hub's own
	// checkout: however often the hub re-adopts its allocation, those stay
	// taken.
	var su struct{ SignUp struct{ Token string } }
	p.do(p.edge.URL, "", `mutation { signUp(input: {email: "fan@venue.example", password: "correct horse battery"}) { token } }`, nil).Decode(t, &su)
	p.do(p.edge.URL, su.SignUp.Token, `mutation($v: ID!) { addToCart(input: {variantId: $v, quantity: 4, idempotencyKey: "cart-1"}) { cart { id } } }`,
		map[string]any{"v": p.variantOnEdge}).Decode(t, &struct{}{})

	p.link.SetUp(false)
	p.waitEdge(func(s hubStatus) bool { return s.State == "OFFLINE" }, "offline")
	p.sell(sold, "kill")

	// Slow the way back so a batch is applied on central long before its
	// confirmation arrives; kill the hub inside that window.
	p.link.delay.Store(int64(time.Second))
	p.link.SetUp(true)
	deadline := time.Now().Add(30 * time.Second)
	for p.centralSales() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("central got no hub sales within 30s of reconnecting")
		}
		time.Sleep(10 * time.Millisecond)
	}
	p.edge.Kill(t)
	applied := p.centralSales()
	if applied >= sold {
		t.Fatalf("the kill came too late: central already has all %d sales", applied)
	}

	p.link.delay.Store(0)
	p.startEdge()
	s := p.waitEdge(func(s hubStatus) bool { return s.State == "ONLINE" && s.QueueDepth == 0 }, "synced after restart")
	if s.LastError != nil {
		t.Errorf("hub reports an error after syncing: %s", *s.LastError)
	}
	if n := p.centralSales(); n != sold {
		t.Fatalf("central recorded %d hub sales after a kill at %d applied, want %d", n, applied, sold)
	}
	if c, e := p.centralStock(), p.edgeStock(); c != leased-sold || e != leased-sold-held {
		t.Fatalf("hub stock: central %d, edge %d, want %d and %d (%d held in a cart)", c, e, leased-sold, leased-sold-held, held)
	}
}

// TestEdgePhonePayment: the venue's link is down; a buyer pays the hub's
// order on central from their own phone (Stripe through stripe-mock, the
// webhook signed), shows the receipt code central signed, and the hub,
// still offline, checks it and sells; once only, and for that order only.
func TestEdgePhonePayment(t *testing.T) {
	mock := graphtest.StripeMock(t)
	p := startPopupWith(t, 20, []string{"MERCHD_STRIPE_SECRET_KEY=sk_test_123", "MERCHD_STRIPE_WEBHOOK_SECRET=" + graphtest.WebhookSecret},
		"--stripe-api-url", mock)

	var rq struct {
		HubPaymentRequest struct {
			SaleID, URL, QRPng string
			Amount             struct{ Amount int }
		}
	}
	p.do(p.edge.URL, p.edgeTok, `query($v: ID!) { hubPaymentRequest(lines: [{variantId: $v, quantity: 2}]) { saleId url amount { amount } qrPng } }`,
		map[string]any{"v": p.variantOnEdge}).Decode(t, &rq)
	r := rq.HubPaymentRequest
	pageURL, request, ok := strings.Cut(r.URL, "#")
	if !ok || pageURL != p.link.URL()+"/pay/hub" || r.Amount.Amount != 7000 || !strings.HasPrefix(r.QRPng, "data:image/png") {
		t.Fatalf("payment request: %+v", r)
	}

	p.link.SetUp(false)
	p.waitEdge(func(s hubStatus) bool { return s.State == "OFFLINE" }, "offline")

	// The buyer's phone reaches central over mobile data.
	resp, err := http.Get(p.central + "/pay/hub")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(page), "/assets/pay.js") {
		t.Fatalf("pay page: %d", resp.StatusCode)
	}
	var paid struct {
		PayHubSale struct{ PaymentIntentID string }
	}
	p.do(p.central, "", `mutation($r: String!) { payHubSale(input: {request: $r}) { paymentIntentId clientSecret } }`,
		map[string]any{"r": request}).Decode(t, &paid)
	body, sig := graphtest.SignedEvent(t, "evt_phone", "payment_intent.succeeded", map[string]any{
		"id": paid.PayHubSale.PaymentIntentID, "object": "payment_intent", "amount": 7000, "currency": "eur", "status": "succeeded",
		"metadata": map[string]string{"merchd_hub_sale": r.SaleID, "merchd_purpose": "hub"}})
	if code := graphtest.Deliver(t, p.central+"/webhooks/stripe", body, sig); code != 200 {
		t.Fatalf("webhook: %d", code)
	}
	var st struct{ HubPhonePayment struct{ Receipt *string } }
	p.do(p.central, "", `query($s: String!) { hubPhonePayment(saleId: $s) { receipt } }`, map[string]any{"s": r.SaleID}).Decode(t, &st)
	if st.HubPhonePayment.Receipt == nil {
		t.Fatal("no receipt after Stripe confirmed")
	}
	receipt := *st.HubPhonePayment.Receipt

	sellQR := func(key, code string, qty int) graphtest.Response {
		return p.do(p.edge.URL, p.edgeTok, `mutation($v: ID!, $n: Int!, $k: String!, $r: String!) { hubSell(input: {lines: [{variantId: $v, quantity: $n}], paidWith: QR, receipt: $r, idempotencyKey: $k}) { saleId receiptPrinted } }`,
			map[string]any{"v": p.variantOnEdge, "n": qty, "k": key, "r": code})
	}
	if r := sellQR("forged", receipt[:len(receipt)-3]+"AAA", 2); r.Code() != "BAD_USER_INPUT" {
		t.Fatalf("forged receipt: %+v", r.Errors)
	}
	if r := sellQR("fewer", receipt, 1); r.Code() != "BAD_USER_INPUT" {
		t.Fatalf("receipt for 70.00 on a 35.00 sale: %+v", r.Errors)
	}
	var sold struct{ HubSell hubSale }
	sellQR("phone", receipt, 2).Decode(t, &sold)
	if sold.HubSell.SaleID != r.SaleID || !sold.HubSell.ReceiptPrinted {
		t.Fatalf("phone-paid sale: %+v", sold)
	}
	if r := sellQR("phone-again", receipt, 2); r.Code() != "BAD_USER_INPUT" {
		t.Fatalf("one receipt sold twice: %+v", r.Errors)
	}
	if got := p.edgeStock(); got != 18 {
		t.Fatalf("edge stock %d, want 18", got)
	}

	p.link.SetUp(true)
	p.waitEdge(func(s hubStatus) bool { return s.State == "ONLINE" && s.QueueDepth == 0 }, "synced")
	if sales := p.centralSaleList(); len(sales) != 1 || sales[0].SaleID != r.SaleID || sales[0].Status != "APPLIED" {
		t.Fatalf("central's hub sales: %+v", sales)
	}
	if c := p.centralStock(); c != 18 {
		t.Fatalf("central counts %d at the hub, want 18", c)
	}
}

// TestEdgeScannerToTill: a serial barcode scanner (a socat pty pair) feeds
// the hub's till: each scan holds a unit in the till's cart, an unknown
// code is ignored, and hubSell fromTill sells the cart once, taking the
// units only once.
func TestEdgeScannerToTill(t *testing.T) {
	if _, err := exec.LookPath("socat"); err != nil {
		t.Skip("needs socat: apt-get install socat")
	}
	dir := t.TempDir()
	gun, port := filepath.Join(dir, "gun"), filepath.Join(dir, "port")
	socat := exec.Command("socat", "pty,raw,echo=0,link="+gun, "pty,raw,echo=0,link="+port)
	if err := socat.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = socat.Process.Kill(); _ = socat.Wait() })
	for i := 0; i < 100; i++ {
		if _, err := os.Stat(port); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	p := startPopupWith(t, 20, nil)
	p.edge.Kill(t)
	p.startEdge("--scanner", port)
	p.waitEdge(func(s hubStatus) bool { return s.State == "ONLINE" }, "online")

	w, err := os.OpenFile(gun, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	type till struct {
		TillCart *struct {
			Lines []struct {
				Quantity int
				Status   string
			}
		}
	}
	waitTill := func(n int) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			var out till
			p.do(p.edge.URL, p.edgeTok, `{ tillCart { lines { quantity status } } }`, nil).Decode(t, &out)
			held := 0
			if out.TillCart != nil {
				for _, l := range out.TillCart.Lines {
					if l.Status == "HELD" {
						held += l.Quantity
					}
				}
			}
			if held == n {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("till holds %d units, want %d: %+v", held, n, out.TillCart)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	for _, code := range []string{popupSKU + "\r\n", "NOT-A-SKU\r\n", popupSKU + "\r"} {
		if _, err := io.WriteString(w, code); err != nil {
			t.Fatal(err)
		}
	}
	waitTill(2)
	if got := p.edgeStock(); got != 18 {
		t.Fatalf("hub stock with 2 units in the till: %d, want 18", got)
	}
	var sold struct{ HubSell hubSale }
	p.do(p.edge.URL, p.edgeTok, `mutation { hubSell(input: {fromTill: true, idempotencyKey: "till-1"}) { saleId receiptPrinted } }`, nil).Decode(t, &sold)
	waitTill(0)
	if r := p.do(p.edge.URL, p.edgeTok, `mutation { hubSell(input: {fromTill: true, idempotencyKey: "till-2"}) { saleId } }`, nil); r.Code() != "BAD_USER_INPUT" {
		t.Fatalf("selling an empty till: %+v", r.Errors)
	}
	if got := p.edgeStock(); got != 18 {
		t.Fatalf("hub stock after selling the till: %d, want 18", got)
	}
	p.waitEdge(func(s hubStatus) bool { return s.State == "ONLINE" && s.QueueDepth == 0 }, "synced")
	if c, n := p.centralStock(), p.centralSales(); c != 18 || n != 1 {
		t.Fatalf("central: hub stock %d (want 18), %d sales (want 1)", c, n)
	}

	// At the pop-up, every sale goes through the till: a cart does not
	// check out at the hub, and central's money operations are refused.
	var su struct{ SignUp struct{ Token string } }
	p.do(p.edge.URL, "", `mutation { signUp(input: {email: "walkin@example.com", password: "correct horse battery"}) { token } }`, nil).Decode(t, &su)
	var add struct {
		AddToCart struct{ Cart struct{ ID string } }
	}
	p.do(p.edge.URL, su.SignUp.Token, `mutation($v: ID!) { addToCart(input: {variantId: $v, quantity: 1, channel: HUB, idempotencyKey: "walkin-1"}) { cart { id } } }`,
		map[string]any{"v": p.variantOnEdge}).Decode(t, &add)
	r := p.do(p.edge.URL, su.SignUp.Token, `mutation($c: ID!) { checkout(input: {cartId: $c, payWith: {wallet: {amount: 3500, currency: "EUR"}}, idempotencyKey: "walkin-co"}) { order { id } } }`,
		map[string]any{"c": add.AddToCart.Cart.ID})
	if r.Code() != "BAD_USER_INPUT" || !strings.Contains(r.Errors[0].Message, "pay at the till") {
		t.Fatalf("cart checkout at the hub: %+v", r.Errors)
	}
	r = p.do(p.edge.URL, su.SignUp.Token, `mutation { topUpWallet(input: {amount: {amount: 1000, currency: "EUR"}, idempotencyKey: "walkin-top"}) { clientSecret } }`, nil)
	if r.Code() != "BAD_USER_INPUT" || !strings.Contains(r.Errors[0].Message, "happens on central") {
		t.Fatalf("top-up at the hub: %+v", r.Errors)
	}
}

// TestEdgeCardOnTerminal: with the link up, the hub takes a card on its
// Stripe Terminal reader through central (the simulator stands in for
// Stripe and sends signed webhooks); a declined card, a cancel and an
// approved card; the approved payment's receipt sells. With the link down,
// card payments are refused with the reason.
func TestEdgeCardOnTerminal(t *testing.T) {
	sim, err := hardware.NewTerminalSimulator("tmr_counter")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sim.Close() })
	p := startPopupWith(t, 20, []string{"MERCHD_STRIPE_SECRET_KEY=sk_test_123", "MERCHD_STRIPE_WEBHOOK_SECRET=" + graphtest.WebhookSecret},
		"--stripe-api-url", sim.URL())
	sim.SetWebhook(p.central+"/webhooks/stripe", graphtest.WebhookSecret)
	p.do(p.central, p.centralTok, `mutation { bindTerminalReader(input: {readerId: "tmr_counter", hub: "popup-hub"}) { hub } }`, nil).Decode(t, &struct{}{})
	buyer := hardware.NewStripeTerminal("sk_test_123", sim.URL()) // the buyer's card, through Stripe's test helper
	ctx := context.Background()

	type payment struct {
		SaleID string
		Amount struct{ Amount int }
		Reader struct{ ActionStatus *string }
	}
	start := func() payment {
		t.Helper()
		var out struct{ HubCardPayment payment }
		p.do(p.edge.URL, p.edgeTok, `mutation($v: ID!) { hubCardPayment(input: {lines: [{variantId: $v, quantity: 1}], readerId: "tmr_counter"}) { saleId amount { amount } reader { actionStatus } } }`,
			map[string]any{"v": p.variantOnEdge}).Decode(t, &out)
		if out.HubCardPayment.Reader.ActionStatus == nil || *out.HubCardPayment.Reader.ActionStatus != "in_progress" || out.HubCardPayment.Amount.Amount != 3500 {
			t.Fatalf("card payment started: %+v", out.HubCardPayment)
		}
		return out.HubCardPayment
	}
	status := func(saleID, want string) *string {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			var out struct {
				HubCardPaymentStatus *struct {
					Status  string
					Receipt *string
				}
			}
			p.do(p.edge.URL, p.edgeTok, `query($s: String!) { hubCardPaymentStatus(saleId: $s) { status receipt } }`, map[string]any{"s": saleID}).Decode(t, &out)
			if s := out.HubCardPaymentStatus; s != nil && s.Status == want {
				return s.Receipt
			}
			if time.Now().After(deadline) {
				t.Fatalf("card payment %s not %s: %+v", saleID, want, out.HubCardPaymentStatus)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}

	declined := start()
	if _, err := buyer.PresentCard(ctx, "tmr_counter", hardware.DeclinedCard); err != nil {
		t.Fatal(err)
	}
	status(declined.SaleID, "FAILED")

	canceled := start()
	if r := p.do(p.edge.URL, p.edgeTok, `mutation($v: ID!) { hubCardPayment(input: {lines: [{variantId: $v, quantity: 1}], readerId: "tmr_counter"}) { saleId } }`,
		map[string]any{"v": p.variantOnEdge}); r.Code() != "BAD_USER_INPUT" || !strings.Contains(r.Errors[0].Message, "busy") {
		t.Fatalf("a second payment on a busy reader: %+v", r.Errors)
	}
	var cancel struct{ CancelHubCardPayment struct{ Action *string } }
	p.do(p.edge.URL, p.edgeTok, `mutation { cancelHubCardPayment(input: {readerId: "tmr_counter"}) { action } }`, nil).Decode(t, &cancel)
	if cancel.CancelHubCardPayment.Action != nil {
		t.Fatalf("reader after cancel: %+v", cancel)
	}
	status(canceled.SaleID, "PENDING")

	approved := start()
	if _, err := buyer.PresentCard(ctx, "tmr_counter", "4242424242424242"); err != nil {
		t.Fatal(err)
	}
	receipt := status(approved.SaleID, "SUCCEEDED")
	if receipt == nil {
		t.Fatal("no receipt for an approved card")
	}
	var sold struct{ HubSell hubSale }
	p.do(p.edge.URL, p.edgeTok, `mutation($v: ID!, $r: String!) { hubSell(input: {lines: [{variantId: $v, quantity: 1}], paidWith: CARD, receipt: $r, idempotencyKey: "card-1"}) { saleId receiptPrinted } }`,
		map[string]any{"v": p.variantOnEdge, "r": *receipt}).Decode(t, &sold)
	if sold.HubSell.SaleID != approved.SaleID {
		t.Fatalf("card sale %s, payment %s", sold.HubSell.SaleID, approved.SaleID)
	}

	p.link.SetUp(false)
	p.waitEdge(func(s hubStatus) bool { return s.State == "OFFLINE" }, "offline")
	if r := p.do(p.edge.URL, p.edgeTok, `mutation($v: ID!) { hubCardPayment(input: {lines: [{variantId: $v, quantity: 1}], readerId: "tmr_counter"}) { saleId } }`,
		map[string]any{"v": p.variantOnEdge}); r.Code() != "BAD_USER_INPUT" || !strings.Contains(r.Errors[0].Message, "need the link") {
		t.Fatalf("card payment offline: %+v", r.Errors)
	}
	p.link.SetUp(true)
	p.waitEdge(func(s hubStatus) bool { return s.State == "ONLINE" && s.QueueDepth == 0 }, "synced")
	if sales := p.centralSaleList(); len(sales) != 1 || sales[0].Status != "APPLIED" || sales[0].PaidWith != "CARD" {
		t.Fatalf("central's hub sales: %+v", sales)
	}
	if s, amt := sim.Intent(mustPI(t, p, approved.SaleID)); s != "succeeded" || amt != 3500 {
		t.Fatalf("Stripe's PaymentIntent: %s %d", s, amt)
	}
}

// mustPI finds the PaymentIntent of a hub sale's card payment through
// central's reader query.
func mustPI(t *testing.T, p *popup, saleID string) string {
	var out struct {
		TerminalReader struct{ PaymentIntentID *string }
	}
	p.do(p.central, p.centralTok, `{ terminalReader(id: "tmr_counter") { paymentIntentId } }`, nil).Decode(t, &out)
	if out.TerminalReader.PaymentIntentID == nil {
		t.Fatalf("reader has no payment for sale %s", saleID)
	}
	return *out.TerminalReader.PaymentIntentID
}
