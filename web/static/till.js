// The pop-up till: a clerk's counter on a tablet. It talks only to the
// server it came from (the hub), so it sells with the venue's internet
// down. The till's cart lives on the hub (scanToTill); a payment is one
// hubSell whose idempotency key is written to localStorage before it is
// sent, so a reload mid-sale resends the same key and the hub answers with
// the first sale: nothing is lost and nothing is sold twice.
import { gql, h, setToken, useTokenKey, notice, clearNotice, money, newKey } from "/assets/lib.js";
import { staffErrorText, whoAmI, signInForm } from "/assets/admin-lib.js";

useTokenKey("merchd.till");

// What survives a reload, under keys of its own.
const SALE = "merchd.till.sale"; // a hubSell sent and not yet answered
const QR = "merchd.till.qr"; // the phone-payment QR being shown
const CARD = "merchd.till.card"; // a card payment running on a reader
const CLOSE = "merchd.till.close"; // a closeHub sent and not yet answered
const READER = "merchd.till.reader"; // the reader at this counter

const load = (k) => { try { return JSON.parse(localStorage.getItem(k) || "null"); } catch { return null; } };
const save = (k, v) => (v == null ? localStorage.removeItem(k) : localStorage.setItem(k, JSON.stringify(v)));
const transient = (e) => ["OFFLINE", "BAD_RESPONSE", "RATE_LIMITED"].includes(e && e.code);

const main = document.getElementById("app");
const linkEl = document.getElementById("link");
const who = document.getElementById("who");
const signOut = document.getElementById("sign-out");
const confirmClose = document.getElementById("confirm-close");

const moneyFields = "amount currency currencyDigits";
const cartFields = `id total { ${moneyFields} } lines { id quantity status variant { id sku title product { title } } unitPrice { ${moneyFields} } }`;
const cartQuery = `tillCart { ${cartFields} }`;
const statusQuery = "hubStatus { hub state queueDepth lastSyncAt oldestUnsyncedAt }";

let staff = null, hub = null, link = null, cart = null, products = [], view = "sell", method = "", busy = false, timer = null, closed = false;

// tillText words a refusal for the clerk.
function tillText(e) {
  const code = (e && e.code) || "";
  return ({
    OUT_OF_STOCK: "None of that is left at this hub.",
    NOT_FOUND: "Nothing at this hub has that code. Check it, or tap the product instead.",
    INSUFFICIENT_FUNDS: "The customer's wallet cannot pay this here (its balance, or what a hub may take offline). Take another payment.",
    HOLD_EXPIRED: "An item's hold ran out. Scan it again.",
    OFFLINE: "The till cannot reach the hub box. Check the tablet's Wi-Fi to the hub.",
    FORBIDDEN: "Your account cannot work this till. Ask the shop's owner.",
    BAD_USER_INPUT: (e && e.message ? e.message.charAt(0).toUpperCase() + e.message.slice(1).replace(/\.?$/, ".") : "Check what you entered."),
  })[code] || staffErrorText(e);
}

function signIn() {
  stopPolling();
  linkEl.hidden = true; signOut.hidden = true; who.textContent = "";
  signInForm(main, { id: "till-signin", title: "Till sign-in", intro: "Sign in with your clerk account at this hub.", text: tillText, then: start });
}

// start signs in (or not), finds out where it runs, resumes what a reload
// interrupted and draws the till.
async function start() {
  try {
    staff = await whoAmI();
  } catch (e) {
    main.replaceChildren(h("p", { class: "notice error" }, tillText(e)));
    return;
  }
  if (!staff) { setToken(""); return signIn(); }
  who.textContent = (staff.name || staff.email) + " · " + staff.role.toLowerCase() + (staff.location ? " @ " + staff.location : "");
  signOut.hidden = false;
  let st;
  try {
    st = (await gql("{ " + statusQuery + " }")).hubStatus;
  } catch (e) {
    if (e.code === "UNAUTHENTICATED") { setToken(""); return signIn(); }
    main.replaceChildren(h("h1", {}, "Till"), h("p", { class: "notice error", id: "not-allowed" },
      e.code === "FORBIDDEN" ? "Your account (" + staff.role.toLowerCase() + (staff.location ? " at " + staff.location : "") +
        ") cannot work this till. A clerk works the till of their own location; ask the shop's owner." : tillText(e)));
    return;
  }
  if (!st) return centralView();
  hub = st.hub;
  drawLink(st);
  document.title = "Till · " + hub;
  drawTill();
  await Promise.all([refreshCart(), loadProducts()]);
  startPolling();
  const pending = load(SALE);
  if (pending) finishSale(pending);
  else if (load(CARD)) resumeCard();
  else if (load(QR)) { choose("qr"); }
  if (load(CLOSE)) closeHub(load(CLOSE));
}

// On central there is no hub: the till sells at a pop-up's hub box.
function centralView() {
  linkEl.hidden = false;
  linkEl.replaceChildren(h("span", { class: "pill" }, "Central"));
  main.replaceChildren(h("h1", {}, "Till"),
    h("p", { class: "notice warn", id: "central-note" }, "This is central. The till sells from a pop-up's hub: open /till on the hub box (merchd edge) at the venue."));
}

// ---- link state -------------------------------------------------------

const clock = (t) => new Date(t).toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit", second: "2-digit" });

function drawLink(st) {
  link = st;
  const label = { ONLINE: "Online", OFFLINE: "Offline", SYNCING: "Syncing" }[st.state] || st.state;
  linkEl.hidden = false;
  linkEl.replaceChildren(
    h("span", { class: "pill link-" + st.state, id: "link-state" }, label),
    h("span", { id: "queue" }, st.queueDepth === 1 ? "1 waiting to sync" : st.queueDepth + " waiting to sync"),
    h("span", { id: "last-sync", class: "muted" }, st.lastSyncAt ? "synced " + clock(st.lastSyncAt) : "not synced yet"));
  linkEl.setAttribute("aria-label", "Link to central: " + label + ", " + st.queueDepth + " waiting to sync");
  const card = document.getElementById("pay-card");
  if (card) card.disabled = !payable() || st.state === "OFFLINE";
  const note = document.getElementById("card-note");
  if (note) note.hidden = st.state !== "OFFLINE";
}

// poll keeps the link state and the till's cart (a serial scanner adds to
// it too) fresh. The hub is local: this works with the venue's link down.
function startPolling() {
  stopPolling();
  timer = setInterval(async () => {
    try {
      const d = await gql("{ " + statusQuery + " " + (busy ? "" : cartQuery) + " }");
      drawLink(d.hubStatus);
      if (!busy && d.tillCart !== undefined && JSON.stringify(d.tillCart) !== JSON.stringify(cart)) { cart = d.tillCart; drawCart(); }
    } catch (e) {
      if (e.code === "UNAUTHENTICATED") { stopPolling(); notice("Your session ended. Sign in again."); signIn(); }
      else if (e.code === "OFFLINE") drawLink({ state: "UNREACHABLE", queueDepth: link ? link.queueDepth : 0, lastSyncAt: link && link.lastSyncAt });
    }
  }, 2500);
}
function stopPolling() { clearInterval(timer); timer = null; }

// ---- the page ---------------------------------------------------------

const VIEWS = [["sell", "Sell"], ["pickups", "Pickups"], ["day", "End of day"]];

function drawTill() {
  main.replaceChildren(
    h("div", { class: "till-head" },
      h("h1", {}, "Till · ", h("span", { id: "hub-code" }, hub)),
      h("nav", { class: "views", "aria-label": "Till" }, VIEWS.map(([id, label]) =>
        h("button", { type: "button", class: "secondary", "data-view": id, "aria-pressed": String(view === id), onclick: () => show(id) }, label)))),
    h("div", { id: "view" }));
  show(view);
}

function show(id) {
  view = id;
  for (const b of main.querySelectorAll("[data-view]")) b.setAttribute("aria-pressed", String(b.dataset.view === id));
  const el = document.getElementById("view");
  if (id === "sell") el.replaceChildren(sellView());
  if (id === "pickups") el.replaceChildren(pickupsView());
  if (id === "day") el.replaceChildren(dayView());
  if (id === "sell") { drawProducts(); drawCart(); focusScan(); }
}

const focusScan = () => {
  const a = document.activeElement;
  const input = document.getElementById("scan-code");
  if (input && (!a || a === document.body || a === main || a.tagName === "BUTTON")) input.focus();
};

// scanField is a labelled input a keyboard-wedge scanner types into (and
// presses Enter), with a camera button where the browser has BarcodeDetector.
function scanField(id, label, onCode, attrs = {}) {
  const input = h("input", { id, name: id, autocomplete: "off", autocapitalize: "off", spellcheck: "false", class: "scan-input", ...attrs });
  const cam = "BarcodeDetector" in window
    ? h("button", { type: "button", class: "secondary", "aria-label": label + ": use the camera", onclick: () => camera(input, onCode) }, "Camera")
    : null;
  const form = h("form", { class: "scan-form" }, h("label", { for: id }, label), h("div", { class: "row" }, input, cam, h("button", { type: "submit" }, attrs["data-submit"] || "Add")));
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const v = input.value.trim();
    if (v) onCode(v, input);
  });
  return form;
}

// camera reads one code with the device camera into input.
async function camera(input, onCode) {
  let stream;
  try {
    stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" } });
  } catch {
    notice("The camera is not available. Use the scanner or type the code.");
    return;
  }
  const formats = await window.BarcodeDetector.getSupportedFormats().catch(() => []);
  const detector = new window.BarcodeDetector(formats.length ? { formats } : undefined);
  const video = h("video", { class: "camera", muted: true, playsinline: true, "aria-label": "Camera view" });
  const stop = h("button", { type: "button", class: "secondary" }, "Stop camera");
  const box = h("div", { class: "camera-box" }, video, stop);
  input.closest("form").after(box);
  video.srcObject = stream;
  let done = false;
  const end = () => { done = true; stream.getTracks().forEach((t) => t.stop()); box.remove(); };
  stop.onclick = end;
  await video.play().catch(() => {});
  const tick = async () => {
    if (done) return;
    try {
      const found = await detector.detect(video);
      if (found.length) { end(); input.value = found[0].rawValue; onCode(found[0].rawValue, input); return; }
    } catch { /* a frame not ready yet */ }
    requestAnimationFrame(tick);
  };
  tick();
}

function sellView() {
  return h("div", { class: "till-grid" },
    h("section", { class: "till-scan", "aria-labelledby": "scan-h" },
      h("h2", { id: "scan-h", class: "visually-hidden" }, "Add items"),
      scanField("scan-code", "Scan or type a SKU", (code, input) => scan(code, input), { inputmode: "text", autofocus: true })),
    h("section", { class: "till-right", "aria-labelledby": "cart-h" },
      h("h2", { id: "cart-h" }, "This sale"),
      h("ul", { class: "cart-lines", id: "cart-lines" }),
      h("p", { class: "total" }, h("span", {}, "Total"), h("span", { id: "total" })),
      h("div", { class: "pay-methods", role: "group", "aria-label": "Take payment" },
        h("button", { type: "button", id: "pay-cash", onclick: () => choose("cash") }, "Cash"),
        h("button", { type: "button", id: "pay-wallet", onclick: () => choose("wallet") }, "Wallet pass"),
        h("button", { type: "button", id: "pay-qr", onclick: () => choose("qr") }, "Phone QR"),
        h("button", { type: "button", id: "pay-card", onclick: () => choose("card") }, "Card")),
      h("p", { id: "card-note", class: "muted", hidden: true }, "Card needs the link to central: take cash, a wallet pass or the phone QR."),
      h("div", { id: "pay-panel", "aria-live": "polite" })),
    h("section", { class: "till-left", "aria-labelledby": "products-h" },
      h("h2", { id: "products-h" }, "Products"),
      h("ul", { class: "products", id: "products", "aria-labelledby": "products-h" })));
}

async function loadProducts() {
  try {
    const d = await gql(`{ products(first: 40) { edges { node { id title variants { id sku title available price { ${moneyFields} } } } } } }`);
    products = d.products.edges.flatMap((e) => (e.node.variants || []).map((v) => ({ ...v, product: e.node.title })));
  } catch (e) {
    notice(tillText(e));
  }
  drawProducts();
}

function drawProducts() {
  const ul = document.getElementById("products");
  if (!ul) return;
  const here = products.filter((v) => v.available > 0);
  if (!here.length) {
    ul.replaceChildren(h("li", { class: "muted" }, closed ? "The hub is closed: nothing left to sell." : "Nothing to sell at this hub yet."));
    return;
  }
  ul.replaceChildren(...here.map((v) => h("li", {},
    h("button", { type: "button", class: "product", "data-sku": v.sku, onclick: () => scan(v.sku) },
      h("span", { class: "name" }, v.product + (v.title && v.title !== v.product ? " · " + v.title : "")),
      h("span", { class: "price" }, money(v.price)),
      h("span", { class: "muted" }, v.available + " left · " + v.sku)))));
}

// scan puts one unit in the till's cart; an unanswered scan is retried
// with its key, so it never adds two.
async function scan(code, input) {
  if (busy) { notice("Finish the payment first."); return; }
  const key = newKey();
  for (let attempt = 0; ; attempt++) {
    try {
      const d = await gql(`mutation($i: ScanToTillInput!) { scanToTill(input: $i) { cart { ${cartFields} } } }`, { i: { code, idempotencyKey: key } });
      cart = d.scanToTill.cart;
      if (input) input.value = "";
      clearNotice();
      drawCart();
      refreshProducts();
      break;
    } catch (e) {
      if (transient(e) && attempt < 2) { await new Promise((r) => setTimeout(r, 800)); continue; }
      notice(tillText(e) + (e.code === "NOT_FOUND" ? " (" + code + ")" : ""));
      break;
    }
  }
  focusScan();
}

// removeLine takes one scanned unit out of the sale, back on the shelf.
async function removeLine(lineId, btn) {
  if (busy) return;
  btn.disabled = true;
  const key = newKey();
  for (let attempt = 0; ; attempt++) {
    try {
      cart = (await gql(`mutation($i: RemoveFromTillInput!) { removeFromTill(input: $i) { cart { ${cartFields} } } }`, { i: { lineId, idempotencyKey: key } })).removeFromTill.cart;
      break;
    } catch (e) {
      if (transient(e) && attempt < 2) { await new Promise((r) => setTimeout(r, 800)); continue; }
      notice(tillText(e));
      break;
    }
  }
  drawCart();
  refreshProducts();
  focusScan();
}

let productsTimer;
const refreshProducts = () => { clearTimeout(productsTimer); productsTimer = setTimeout(loadProducts, 300); };

async function refreshCart() {
  try {
    cart = (await gql("{ " + cartQuery + " }")).tillCart;
  } catch (e) {
    notice(tillText(e));
  }
  drawCart();
}

const held = () => ((cart && cart.lines) || []).filter((l) => l.status === "HELD");
const payable = () => held().length > 0 && !busy && !closed;

function drawCart() {
  const ul = document.getElementById("cart-lines");
  if (!ul) return;
  // Each scan holds its own line; the clerk sees one row per item.
  const by = new Map();
  for (const l of held()) {
    const g = by.get(l.variant.id);
    if (g) { g.quantity += l.quantity; g.last = l.id; } else by.set(l.variant.id, { ...l, last: l.id });
  }
  const lines = [...by.values()];
  ul.replaceChildren(...(lines.length ? lines.map((l) => h("li", { "data-sku": l.variant.sku },
    h("span", { class: "qty" }, l.quantity + " ×"),
    h("span", { class: "grow" }, l.variant.product.title + (l.variant.title ? " · " + l.variant.title : "")),
    h("span", { class: "amount" }, money({ ...l.unitPrice, amount: l.unitPrice.amount * l.quantity })),
    h("button", { type: "button", class: "secondary remove", disabled: busy, "aria-label": "Remove one " + l.variant.product.title + (l.variant.title ? " · " + l.variant.title : ""),
      onclick: (ev) => removeLine(l.last, ev.currentTarget) }, "−"))) :
    [h("li", { class: "muted empty" }, "Scan or tap products to start a sale.")]));
  document.getElementById("total").textContent = lines.length ? money(cart.total) : "—";
  for (const id of ["pay-cash", "pay-wallet", "pay-qr"]) document.getElementById(id).disabled = !payable();
  document.getElementById("pay-card").disabled = !payable() || (link && link.state === "OFFLINE");
  if (!lines.length && !busy && !load(QR) && !load(CARD) && method && !document.getElementById("sale-done")) { method = ""; document.getElementById("pay-panel").replaceChildren(); }
  if (method === "cash") updateChange();
}

// ---- payments ---------------------------------------------------------

function choose(m) {
  method = m;
  for (const id of ["cash", "wallet", "qr", "card"]) document.getElementById("pay-" + id)?.setAttribute("aria-pressed", String(id === m));
  const panel = document.getElementById("pay-panel");
  if (!panel) return;
  panel.replaceChildren(({ cash: cashPanel, wallet: walletPanel, qr: qrPanel, card: cardPanel })[m]());
  panel.querySelector("input")?.focus();
}

// The lines of the till's cart as hubPaymentRequest and hubCardPayment take them.
function tillLines() {
  const by = new Map();
  for (const l of held()) by.set(l.variant.id, (by.get(l.variant.id) || 0) + l.quantity);
  return [...by].map(([variantId, quantity]) => ({ variantId, quantity }));
}

const digits = () => (cart && cart.total ? cart.total.currencyDigits ?? 2 : 2);
// parseAmount reads "20", "20.5" or "20,50" as minor units; NaN if it is not an amount.
function parseAmount(s) {
  const d = digits();
  const m = String(s).trim().match(new RegExp("^(\\d{1,7})(?:[.,](\\d{0," + d + "}))?$"));
  if (!m) return NaN;
  return Number(m[1]) * 10 ** d + Number((m[2] || "").padEnd(d, "0") || 0);
}

function cashPanel() {
  const total = cart.total.amount, unit = 10 ** digits();
  const quick = [...new Set([total, ...[5, 10, 20, 50, 100].map((n) => Math.ceil(total / (n * unit)) * n * unit)])].filter((v) => v >= total).slice(0, 4);
  const input = h("input", { id: "tendered", name: "tendered", inputmode: "decimal", autocomplete: "off", oninput: updateChange });
  const form = h("form", { class: "pay-form", id: "cash-form" },
    h("label", { for: "tendered" }, "Cash received"), input,
    h("div", { class: "quick", role: "group", "aria-label": "Quick amounts" }, quick.map((v) =>
      h("button", { type: "button", class: "secondary", onclick: () => { input.value = (v / unit).toFixed(digits()); updateChange(); } },
        v === total ? "Exact" : money({ ...cart.total, amount: v })))),
    h("p", { class: "change", id: "change", "aria-live": "polite" }),
    h("button", { type: "submit", id: "take-cash", class: "wide", disabled: true }, "Take cash"));
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const tendered = parseAmount(input.value);
    if (!(tendered >= cart.total.amount)) return;
    sell({ paidWith: "CASH" }, { tendered, change: tendered - cart.total.amount });
  });
  return form;
}

function updateChange() {
  const out = document.getElementById("change"), btn = document.getElementById("take-cash"), input = document.getElementById("tendered");
  if (!out || !cart || !held().length) return;
  const tendered = parseAmount(input.value), total = cart.total.amount;
  if (input.value.trim() === "") out.textContent = "Enter the cash the customer gave.";
  else if (Number.isNaN(tendered)) out.textContent = "That is not an amount.";
  else if (tendered < total) out.textContent = "Short by " + money({ ...cart.total, amount: total - tendered });
  else out.replaceChildren("Change due ", h("strong", { id: "change-due" }, money({ ...cart.total, amount: tendered - total })));
  btn.disabled = !(tendered >= total) || !payable();
}

function walletPanel() {
  const info = h("p", { id: "wallet-info", class: "muted", "aria-live": "polite" }, "Scan the customer's wallet pass (their wallet page shows it), or type its code.");
  const form = scanField("wallet-pass", "Customer's wallet pass", (code) => sell({ paidWith: "WALLET", walletPass: code }), { "data-submit": "Charge wallet" });
  form.id = "wallet-form";
  const check = h("button", { type: "button", class: "secondary", id: "wallet-check", onclick: async () => {
    const pass = document.getElementById("wallet-pass").value.trim();
    if (!pass) return;
    try {
      const w = (await gql(`query($p: String!) { hubWallet(walletPass: $p) { spendable { ${moneyFields} } balance { ${moneyFields} } } }`, { p: pass })).hubWallet;
      info.textContent = "Can spend here now: " + money(w.spendable) + " (balance " + money(w.balance) + ").";
    } catch (e) { info.textContent = tillText(e); }
  } }, "Check balance");
  return h("div", {}, form, h("div", { class: "actions" }, check), info);
}

// The phone-paid QR: the buyer pays on central's page over their own
// data; the receipt arrives here through the link, or the clerk scans the
// receipt code the buyer's phone shows (works offline).
function qrPanel() {
  const box = h("div", { id: "qr-box" });
  const receipt = scanField("qr-receipt", "Receipt code from the buyer's phone", (code) => sell({ paidWith: "QR", receipt: code }), { "data-submit": "Complete sale" });
  const shown = load(QR);
  if (shown) drawQR(box, shown);
  else box.append(h("button", { type: "button", id: "show-qr", class: "wide", onclick: async (ev) => {
    ev.target.disabled = true;
    try {
      const r = (await gql(`query($l: [HubSellLineInput!]!) { hubPaymentRequest(lines: $l) { saleId url qrPng amount { ${moneyFields} } } }`, { l: tillLines() })).hubPaymentRequest;
      save(QR, r);
      drawQR(box, r);
    } catch (e) { ev.target.disabled = false; notice(tillText(e)); }
  } }, "Show the pay QR"));
  return h("div", {}, box, receipt);
}

let qrPoll;
function drawQR(box, r) {
  box.replaceChildren(
    h("img", { id: "pay-qr-img", class: "pass", src: r.qrPng, alt: "QR code for the buyer to pay " + money(r.amount) + " on their phone", width: 288, height: 288 }),
    h("p", { class: "price" }, "Pay " + money(r.amount) + " on your phone"),
    h("p", { id: "qr-wait", class: "muted" }, "Waiting for the buyer's receipt…"),
    h("button", { type: "button", class: "secondary", onclick: () => { save(QR, null); clearTimeout(qrPoll); choose("qr"); } }, "Start over"));
  clearTimeout(qrPoll);
  const poll = async () => {
    if (!document.getElementById("pay-qr-img") || busy) return;
    try {
      const p = (await gql("query($s: String!) { hubCardPaymentStatus(saleId: $s) { status receipt } }", { s: r.saleId })).hubCardPaymentStatus;
      if (p && p.receipt) { sell({ paidWith: "QR", receipt: p.receipt }); return; }
    } catch { /* offline: the clerk scans the buyer's receipt instead */ }
    qrPoll = setTimeout(poll, 2000);
  };
  poll();
}

// Card on the hub's reader, through central: needs the link.
function cardPanel() {
  const reader = h("input", { id: "reader", name: "reader", autocomplete: "off", value: localStorage.getItem(READER) || "", required: true });
  const state = h("p", { id: "card-state", "aria-live": "polite" });
  const form = h("form", { class: "pay-form", id: "card-form" },
    h("label", { for: "reader" }, "Card reader"), reader,
    h("button", { type: "submit", id: "start-card", class: "wide" }, "Charge " + money(cart.total) + " on the reader"), state);
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const id = reader.value.trim();
    if (!id) return;
    localStorage.setItem(READER, id);
    form.querySelector("button").disabled = true;
    try {
      const p = (await gql("mutation($i: HubCardPaymentInput!) { hubCardPayment(input: $i) { saleId } }", { i: { lines: tillLines(), readerId: id } })).hubCardPayment;
      save(CARD, { saleId: p.saleId, readerId: id });
      resumeCard();
    } catch (e) { form.querySelector("button").disabled = false; notice(tillText(e)); }
  });
  return form;
}

function resumeCard() {
  const c = load(CARD);
  if (!c) return;
  method = "card";
  const panel = document.getElementById("pay-panel");
  const state = h("p", { id: "card-state", class: "status", "aria-live": "polite" }, "Present the card on the reader…");
  const cancel = h("button", { type: "button", class: "secondary", id: "cancel-card", onclick: async () => {
    try { await gql("mutation($i: CancelTerminalPaymentInput!) { cancelHubCardPayment(input: $i) { id } }", { i: { readerId: c.readerId } }); } catch (e) { notice(tillText(e)); return; }
    save(CARD, null); choose("card");
  } }, "Cancel on the reader");
  panel.replaceChildren(state, cancel);
  const poll = async () => {
    if (!load(CARD) || busy) return;
    try {
      const p = (await gql("query($s: String!) { hubCardPaymentStatus(saleId: $s) { status receipt } }", { s: c.saleId })).hubCardPaymentStatus;
      if (p && p.receipt) { save(CARD, null); sell({ paidWith: "CARD", receipt: p.receipt }); return; }
      if (p && p.status === "FAILED") { save(CARD, null); state.textContent = "The card was declined. Try again or take another payment."; return; }
    } catch (e) { state.textContent = "Waiting for the link to central… " + tillText(e); }
    setTimeout(poll, 1500);
  };
  poll();
}

// sell records the sale of the till's cart: the key and what is sent are
// kept in localStorage first, so a reload resends the very same request.
function sell(pay, extra = {}) {
  if (busy) return;
  const lines = held().map((l) => ({ title: l.variant.product.title + (l.variant.title ? " · " + l.variant.title : ""), quantity: l.quantity }));
  const pending = { key: newKey(), input: { fromTill: true, ...pay }, total: cart.total, lines, ...extra };
  save(SALE, pending);
  finishSale(pending);
}

async function finishSale(pending) {
  busy = true;
  clearTimeout(qrPoll);
  const panel = document.getElementById("pay-panel");
  const status = h("p", { class: "status", id: "sale-status", "aria-live": "polite" }, "Recording the sale…");
  panel && panel.replaceChildren(status);
  drawCart();
  let d;
  try {
    d = await gql("mutation($i: HubSellInput!) { hubSell(input: $i) { saleId receiptPrinted receiptError labelsPrinted labelError } }",
      { i: { ...pending.input, idempotencyKey: pending.key } });
  } catch (e) {
    if (transient(e) || e.code === "IDEMPOTENCY_KEY_REUSED") {
      // No answer: the hub may have the sale. The same key is sent again.
      status.replaceChildren("No answer from the hub yet; the sale is kept and sent again. ",
        h("button", { type: "button", class: "secondary", id: "sale-retry", onclick: () => finishSale(pending) }, "Try now"));
      setTimeout(() => { if (load(SALE) && load(SALE).key === pending.key && busy) finishSale(pending); }, 3000);
      return;
    }
    save(SALE, null);
    busy = false;
    notice(tillText(e));
    status.textContent = tillText(e);
    await refreshCart();
    return;
  }
  save(SALE, null);
  if (pending.input.paidWith === "QR") save(QR, null);
  busy = false;
  method = "";
  await Promise.all([refreshCart(), loadProducts()]);
  receiptView(d.hubSell, pending);
}

async function receiptView(sale, pending) {
  const panel = document.getElementById("pay-panel");
  if (!panel) return;
  let rc = null;
  try {
    rc = (await gql(`query($s: String!) { hubSaleReceipt(saleId: $s) { saleId soldAt paidWith total { ${moneyFields} } lines { sku quantity unitAmount } } }`, { s: sale.saleId })).hubSaleReceipt;
  } catch { /* the receipt below is drawn from what the till sent */ }
  const total = rc ? rc.total : pending.total;
  const paid = { CASH: "cash", WALLET: "wallet", QR: "phone", CARD: "card" }[(rc && rc.paidWith) || pending.input.paidWith];
  const printed = sale.receiptPrinted ? "Receipt printed." : sale.receiptError ? "The receipt did not print: " + sale.receiptError : "No receipt printer: show this screen.";
  panel.replaceChildren(h("section", { id: "sale-done", class: "receipt", "aria-labelledby": "done-h" },
    h("h3", { id: "done-h" }, "Sale complete"),
    h("ul", { class: "cart-lines" }, rc
      ? rc.lines.map((l) => h("li", {}, h("span", { class: "qty" }, l.quantity + " ×"), h("span", { class: "grow" }, l.sku), h("span", { class: "amount" }, money({ ...total, amount: l.unitAmount * l.quantity }))))
      : pending.lines.map((l) => h("li", {}, h("span", { class: "qty" }, l.quantity + " ×"), h("span", { class: "grow" }, l.title)))),
    h("p", { class: "total" }, h("span", {}, "Total, paid by " + paid), h("span", { id: "done-total" }, money(total))),
    pending.tendered != null ? h("p", { class: "change" }, "Cash " + money({ ...total, amount: pending.tendered }) + " · change due ", h("strong", { id: "done-change" }, money({ ...total, amount: pending.change }))) : null,
    h("p", { class: "muted" }, "Sale ", h("span", { id: "sale-id", class: "code" }, sale.saleId)),
    h("p", { id: "printed", class: sale.receiptError ? "notice error" : "muted" }, printed),
    h("button", { type: "button", class: "wide", id: "new-sale", onclick: () => { panel.replaceChildren(); drawCart(); focusScan(); } }, "New sale")));
  document.getElementById("new-sale").focus();
}

// ---- pickups ----------------------------------------------------------

function pickupsView() {
  const list = h("ul", { class: "list", id: "handovers" });
  const form = scanField("pickup-code", "Pickup pass or code", async (code, input) => {
    const key = newKey();
    try {
      const d = await gql("mutation($i: CollectPickupInput!) { collectPickup(input: $i) { fulfillment { id pickupCode } hubHandover { state orderId } } }", { i: { code, idempotencyKey: key } });
      input.value = "";
      notice("Handed over" + (d.collectPickup.fulfillment.pickupCode ? ": pickup " + d.collectPickup.fulfillment.pickupCode : "") + ".", "ok");
      drawHandovers(list);
    } catch (e) { notice(tillText(e)); }
    input.focus();
  }, { "data-submit": "Hand over" });
  drawHandovers(list);
  return h("section", { "aria-labelledby": "pickups-h", class: "panel-narrow" },
    h("h2", { id: "pickups-h" }, "Hand over a pickup"),
    h("p", { class: "muted" }, "Scan the customer's pickup pass, or type the code they tell you. Works with the link down; central hears of it when the link returns."),
    form, h("h3", {}, "Handed over here"), list);
}

async function drawHandovers(list) {
  try {
    const d = await gql("{ hubHandovers(first: 20) { collectionId pickupCode collectedAt state note } }");
    list.replaceChildren(...(d.hubHandovers.length ? d.hubHandovers.map((x) => h("li", {},
      h("span", { class: "grow" }, "Pickup " + x.pickupCode), h("span", { class: "muted" }, clock(x.collectedAt)),
      h("span", { class: "pill" }, x.state.replaceAll("_", " ").toLowerCase()), x.note ? h("span", { class: "muted" }, x.note) : null))
      : [h("li", { class: "muted" }, "None yet today.")]));
  } catch (e) { list.replaceChildren(h("li", {}, tillText(e))); }
}

// ---- end of day -------------------------------------------------------

function dayView() {
  const out = h("div", { id: "close-result", "aria-live": "polite" });
  const btn = h("button", { type: "button", class: "danger", id: "close-hub", onclick: () => confirmClose.showModal() }, "Close the hub");
  return h("section", { "aria-labelledby": "day-h", class: "panel-narrow" },
    h("h2", { id: "day-h" }, "End of day"),
    h("p", {}, link ? (link.queueDepth ? link.queueDepth + " records wait to reach central; they are sent when the link allows, also after closing." : "Everything sold here has reached central.") : ""),
    h("p", { class: "muted" }, "Closing stops the till and hands every unsold unit back to central."),
    btn, out);
}

confirmClose.addEventListener("close", () => {
  if (confirmClose.returnValue === "close") closeHub({ key: newKey() });
});

async function closeHub(pending) {
  save(CLOSE, pending);
  if (view !== "day") show("day");
  const out = document.getElementById("close-result");
  out.replaceChildren(h("p", { class: "status" }, "Closing…"));
  try {
    const d = await gql("mutation($i: CloseHubInput!) { closeHub(input: $i) { returned { sku available } } }", { i: { idempotencyKey: pending.key } });
    save(CLOSE, null);
    closed = true;
    const r = d.closeHub.returned;
    out.replaceChildren(h("p", { class: "notice ok", id: "closed" }, "The hub is closed. " + (r.length ? "Handed back to central:" : "Nothing was left to hand back.")),
      r.length ? h("ul", { class: "list" }, r.map((l) => h("li", {}, l.available + " × " + l.sku))) : null);
    loadProducts();
  } catch (e) {
    if (transient(e)) { out.replaceChildren(h("p", { class: "notice warn" }, "No answer from the hub; trying again…")); setTimeout(() => closeHub(pending), 3000); return; }
    save(CLOSE, null);
    out.replaceChildren(h("p", { class: "notice error" }, tillText(e)));
  }
}

signOut.addEventListener("click", async () => {
  try { await gql("mutation { staffSignOut { ok } }"); } catch { /* ends locally anyway */ }
  setToken("");
  staff = null;
  signIn();
});
document.addEventListener("keydown", (ev) => {
  // A wedge scanner types wherever the focus is: with nothing focused, send it to the scan field.
  if (view === "sell" && (document.activeElement === document.body || document.activeElement === main) && ev.key.length === 1 && !ev.ctrlKey && !ev.metaKey) focusScan();
});
start();
