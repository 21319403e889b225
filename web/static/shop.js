import { gql, subscribe, money, moneyInput, h, countdown, newKey, notice, errorText, token, setToken, variantFields, cartFields, orderFields, stripeForm, safeNext } from "/assets/lib.js";

const app = document.getElementById("app");
const path = location.pathname;
const stops = [];
const show = (...nodes) => { app.replaceChildren(...nodes); app.focus(); };

const authLink = document.getElementById("auth");
if (token()) {
  authLink.textContent = "Sign out";
  authLink.onclick = async (e) => {
    e.preventDefault();
    try { await gql("mutation { signOut { ok } }"); } catch {}
    setToken("");
    location.href = "/";
  };
}

const needSignIn = () => { location.href = "/signin?next=" + encodeURIComponent(location.pathname); };

async function addToCart(variantId, quantity = 1, extra = {}) {
  if (!token()) return needSignIn();
  try {
    await gql("mutation($i: AddToCartInput!) { addToCart(input: $i) { cart { id } } }", { i: { variantId, quantity, idempotencyKey: newKey(), ...extra } });
    location.href = "/cart";
  } catch (e) { notice(errorText(e)); }
}

function priceLine(v) {
  return h("p", {}, h("span", { class: "price" }, money(v.memberPrice || v.price)),
    v.compareAtPrice ? h("span", { class: "was" }, money(v.compareAtPrice)) : null,
    v.memberPrice ? h("span", { class: "stock" }, " member price") : null);
}

async function home() {
  const d = await gql(`{ products(first: 48) { edges { node { id title slug images { url alt } variants { price { amount currency currencyDigits } available } } } }
    drops(first: 10) { edges { node { id title state remaining nextTransitionAt } } } }`);
  const drops = d.drops.edges.map((e) => e.node).filter((x) => x.state !== "CLOSED");
  show(
    drops.length ? h("section", { "aria-labelledby": "drops-h" }, h("h2", { id: "drops-h" }, "Drops"),
      h("ul", {}, drops.map((x) => h("li", {}, h("a", { href: "/drops/" + x.id }, x.title), " — ", x.state.replace("_", " ").toLowerCase())))) : null,
    h("h1", {}, "Shop"),
    h("div", { class: "grid" }, d.products.edges.map(({ node: p }) => {
      const v = p.variants[0];
      return h("a", { class: "card", href: "/products/" + p.slug },
        p.images[0] ? h("img", { src: p.images[0].url, alt: p.images[0].alt || p.title }) : null,
        h("h2", {}, p.title), v ? h("p", { class: "price" }, money(v.price)) : null,
        p.variants.every((x) => x.available === 0) ? h("p", { class: "soldout" }, "Sold out") : null);
    })));
}

async function product(slug) {
  const d = await gql(`query($s: String!) { products(first: 1, where: { slug: $s }) { edges { node { id title description images { url alt } variants { ${variantFields} } } } } }`, { s: slug });
  const p = d.products.edges[0] && d.products.edges[0].node;
  if (!p) return show(h("h1", {}, "Not found"));
  document.title = p.title;
  const stock = new Map();
  const rows = p.variants.map((v) => {
    const left = h("span", { class: "stock", "aria-live": "polite" });
    const btn = h("button", { onclick: () => addToCart(v.id) }, "Add to cart");
    const update = (n) => { left.textContent = n > 0 ? n + " left" : "Sold out"; left.className = n > 0 ? "stock" : "soldout"; btn.disabled = n === 0; };
    stock.set(v.id, update);
    update(v.available);
    return h("li", { class: "card" }, h("h2", {}, v.title), priceLine(v), left, " ", btn);
  });
  show(h("h1", {}, p.title), p.images[0] ? h("img", { src: p.images[0].url, alt: p.images[0].alt || p.title, width: 320 }) : null,
    h("p", {}, p.description), h("ul", { class: "grid", "aria-label": "Variants" }, rows));
  stops.push(subscribe("subscription($ids: [ID!]!) { stockChanged(variantIds: $ids) { variant { id } available } }",
    { ids: p.variants.map((v) => v.id) }, (x) => stock.get(x.stockChanged.variant.id)?.(x.stockChanged.available)));
}

async function drop(id) {
  const d = await gql(`query($id: ID!) { node(id: $id) { ... on Drop { id title state remaining nextTransitionAt perCustomerLimit variants { ${variantFields} product { title } } } } }`, { id });
  const x = d.node;
  if (!x) return show(h("h1", {}, "Not found"));
  const state = h("p", { class: "status", id: "drop-state", "aria-live": "polite" });
  const left = h("p", { id: "drop-remaining", "aria-live": "polite" });
  const timer = h("span", { class: "countdown", id: "drop-countdown" });
  let stopTimer = () => {};
  const buttons = x.variants.map((v) => h("button", { onclick: () => addToCart(v.id, 1, { dropId: x.id }) }, "Add " + v.title + " · " + money(v.memberPrice || v.price)));
  const render = (s) => {
    const soldOut = s.state === "SOLD_OUT" || s.remaining === 0;
    state.textContent = soldOut ? "Sold out" : { SCHEDULED: "Opens soon", EARLY_ACCESS: "Members' early access", OPEN: "Open now", CLOSED: "Closed" }[s.state];
    state.className = "status " + (soldOut ? "soldout" : s.state);
    left.textContent = s.remaining + " left";
    buttons.forEach((b) => (b.disabled = soldOut || s.state === "CLOSED" || s.state === "SCHEDULED"));
    stopTimer();
    if (s.nextTransitionAt) stopTimer = countdown(timer, s.nextTransitionAt, () => drop(id));
    else timer.textContent = "";
  };
  show(h("h1", {}, x.title), state, left, h("p", {}, "Next change in ", timer),
    x.perCustomerLimit ? h("p", {}, "Limit " + x.perCustomerLimit + " per customer") : null, h("div", {}, buttons));
  render(x);
  stops.push(subscribe("subscription($id: ID!) { dropUpdated(dropId: $id) { state remaining nextTransitionAt } }", { id }, (u) => render(u.dropUpdated)));
}

async function cart() {
  if (!token()) return needSignIn();
  const list = h("ul", { "aria-label": "Items held for you" });
  const total = h("p", { class: "price", id: "cart-total" });
  const pay = h("div");
  show(h("h1", {}, "Cart"), list, total, pay);
  const stopsLines = [];
  const render = (c) => {
    stopsLines.splice(0).forEach((s) => s());
    if (!c || !c.lines.some((l) => l.status === "HELD" || l.status === "EXPIRED")) {
      list.replaceChildren(h("li", {}, "Your cart is empty."));
      total.textContent = ""; pay.replaceChildren();
      return;
    }
    list.replaceChildren(...c.lines.filter((l) => l.status === "HELD" || l.status === "EXPIRED").map((l) => {
      const cd = h("span", { class: "countdown hold-countdown" });
      if (l.hold.active) stopsLines.push(countdown(cd, l.hold.expiresAt));
      return h("li", { class: "card" }, h("strong", {}, l.variant.product.title + " — " + l.variant.title), " × " + l.quantity + " · " + money(l.unitPrice), h("br"),
        l.hold.active ? h("span", {}, "Held for you for ", cd) : h("span", { class: "soldout" }, "Hold expired"), " ",
        h("button", { class: "secondary", onclick: () => remove(l.id) }, "Remove"));
    }));
    total.textContent = "Total " + money(c.total);
    pay.replaceChildren(
      h("button", { id: "pay-wallet", onclick: () => checkout(c, { wallet: moneyInput(c.total) }) }, "Pay " + money(c.total) + " from wallet"), " ",
      h("button", { id: "pay-card", class: "secondary", onclick: () => checkout(c, { card: true }) }, "Pay by card"));
  };
  const remove = async (lineId) => {
    try { await gql("mutation($i: RemoveFromCartInput!) { removeFromCart(input: $i) { cart { id } } }", { i: { lineId, idempotencyKey: newKey() } }); } catch (e) { notice(errorText(e)); }
  };
  stops.push(subscribe(`subscription { cartUpdated { ${cartFields} } }`, {}, (d) => render(d.cartUpdated)));
}

async function checkout(c, payWith) {
  try {
    const d = await gql("mutation($i: CheckoutInput!) { checkout(input: $i) { order { id status } clientSecret } }", { i: { cartId: c.id, payWith, idempotencyKey: newKey() } });
    const pk = document.body.dataset.stripePk;
    if (d.checkout.clientSecret && pk) sessionStorage.setItem("merchd.pay." + d.checkout.order.id, d.checkout.clientSecret);
    location.href = "/orders/" + d.checkout.order.id;
  } catch (e) { notice(errorText(e)); }
}

async function order(id) {
  if (!token()) return needSignIn();
  const status = h("p", { class: "status", id: "order-status", "aria-live": "polite" });
  const body = h("div");
  show(h("h1", {}, "Your order"), status, body);
  const secret = sessionStorage.getItem("merchd.pay." + id);
  const pk = document.body.dataset.stripePk;
  if (secret && pk) stripeForm(pk, secret, body);
  stops.push(subscribe(`subscription($id: ID!) { orderUpdated(orderId: $id) { ${orderFields} } }`, { id }, (d) => {
    const o = d.orderUpdated;
    status.textContent = o.status.replace("_", " ");
    status.className = "status " + o.status;
    body.replaceChildren(h("p", {}, "Order " + o.number + " · " + money(o.total)),
      o.status === "PAID" ? h("p", {}, "Pickup code ", h("span", { class: "pickup" }, o.pickupCode)) : null,
      h("ul", {}, o.lines.map((l) => h("li", {}, l.title + " × " + l.quantity))));
  }));
}

async function wallet() {
  if (!token()) return needSignIn();
  const d = await gql(`{ topUpOptions { presets { amount currency currencyDigits } } wallet { balance { amount currency currencyDigits } entries(first: 50, orderBy: { field: CREATED_AT, direction: DESC }) { edges { node { kind note createdAt amount { amount currency currencyDigits } balanceAfter { amount currency currencyDigits } } } } } }`);
  const bal = h("p", { class: "status", id: "wallet-balance", "aria-live": "polite" }, d.wallet ? money(d.wallet.balance) : money({ amount: 0, currency: (d.topUpOptions.presets[0] || { currency: "EUR" }).currency }));
  const rows = (w) => (w ? w.entries.edges.map(({ node: e }) => h("tr", {}, h("td", {}, new Date(e.createdAt).toLocaleString()), h("td", {}, e.kind.replace("_", " ").toLowerCase()), h("td", {}, e.note), h("td", {}, money(e.amount)), h("td", {}, money(e.balanceAfter)))) : []);
  const table = h("tbody", {}, rows(d.wallet));
  show(h("h1", {}, "Wallet"), bal,
    h("div", {}, d.topUpOptions.presets.map((p) => h("button", { class: "secondary", onclick: () => topUp(p) }, "Top up " + money(p)))),
    h("h2", {}, "Statement"), h("table", {}, h("thead", {}, h("tr", {}, ["When", "What", "Note", "Amount", "Balance"].map((x) => h("th", { scope: "col" }, x)))), table));
  stops.push(subscribe("subscription { walletUpdated { balance { amount currency currencyDigits } } }", {}, (x) => { if (x.walletUpdated) bal.textContent = money(x.walletUpdated.balance); }));
}

async function topUp(amount) {
  try {
    const d = await gql("mutation($i: TopUpWalletInput!) { topUpWallet(input: $i) { clientSecret } }", { i: { amount: moneyInput(amount), idempotencyKey: newKey() } });
    const pk = document.body.dataset.stripePk;
    if (pk) stripeForm(pk, d.topUpWallet.clientSecret, document.getElementById("wallet-balance"));
    else notice("Card payments are not set up on this shop.", "error");
  } catch (e) { notice(errorText(e)); }
}

function signin() {
  const next = safeNext(new URLSearchParams(location.search).get("next"));
  const email = h("input", { id: "email", type: "email", autocomplete: "email", required: true });
  const password = h("input", { id: "password", type: "password", autocomplete: "current-password", required: true, minlength: 8 });
  const go = (mutation) => async (e) => {
    e.preventDefault();
    try {
      const d = await gql(`mutation($i: ${mutation === "signUp" ? "SignUpInput" : "SignInInput"}!) { ${mutation}(input: $i) { token } }`, { i: { email: email.value, password: password.value } });
      setToken(d[mutation].token);
      location.href = next;
    } catch (err) { notice(errorText(err)); }
  };
  show(h("h1", {}, "Sign in"), h("form", { onsubmit: go("signIn") },
    h("label", { for: "email" }, "Email"), email, h("label", { for: "password" }, "Password"), password,
    h("p", {}, h("button", { type: "submit" }, "Sign in"), " ", h("button", { type: "button", class: "secondary", onclick: go("signUp") }, "Create account"))));
}

const routes = [
  [/^\/$/, home], [/^\/products\/([^/]+)$/, product], [/^\/drops\/([^/]+)$/, drop], [/^\/cart$/, cart],
  [/^\/orders\/([^/]+)$/, order], [/^\/wallet$/, wallet], [/^\/signin$/, signin],
];
for (const [re, fn] of routes) {
  const m = path.match(re);
  if (m) {
    Promise.resolve(fn(...m.slice(1).map(decodeURIComponent))).catch((e) => notice(errorText(e)));
    break;
  }
}
addEventListener("pagehide", () => stops.forEach((s) => s()));
