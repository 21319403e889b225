import { gql, subscribe, money, moneyInput, h, countdown, human, newKey, notice, clearNotice, errorText, intent, token, setToken,
  variantFields, cartFields, orderFields, stripeForm, passView, safeNext, clearExpired } from "/assets/lib.js";

const app = document.getElementById("app");
const path = location.pathname;
const stops = [];
const show = (...nodes) => { app.replaceChildren(...nodes); app.focus({ preventScroll: true }); };
const pk = document.body.dataset.stripePk;
const shopName = document.getElementById("shop-name").textContent;
const title = (t) => { document.title = t ? t + " · " + shopName : shopName; };
for (const a of document.querySelectorAll(".bar nav a")) if (a.getAttribute("href") === path) a.setAttribute("aria-current", "page");

const needSignIn = () => { location.href = "/account?next=" + encodeURIComponent(location.pathname); };
const img = (im, alt, cls, eager) => im ? h("img", { src: im.url, alt: im.alt || alt, class: cls, loading: eager ? "eager" : "lazy", decoding: "async",
  width: 400, height: 400 }) : h("div", { class: cls + " placeholder", role: "img", "aria-label": alt });

// add holds one unit: one key per tap-intent (lib's intent), so a double
// tap or a retry after a lost answer holds one unit, not two.
const addButton = (label, variant, extra = {}, onError) => {
  const btn = h("button", { class: "wide add" }, label);
  btn.onclick = intent(btn, async (key) => {
    if (!token()) return needSignIn();
    const v = typeof variant === "function" ? variant() : variant;
    await gql("mutation($i: AddToCartInput!) { addToCart(input: $i) { cart { id } } }", { i: { variantId: v, quantity: 1, idempotencyKey: key, ...extra } });
    openCart(btn);
  }, onError);
  return btn;
};

const priceLine = (v) => h("p", { class: "price" }, money(v.memberPrice || v.price),
  v.compareAtPrice ? h("span", { class: "was" }, money(v.compareAtPrice)) : null,
  v.memberPrice ? h("span", { class: "pill ok" }, " member price") : null);

const stateWords = { SCHEDULED: "Opens soon", EARLY_ACCESS: "Members' early access", OPEN: "Open now", SOLD_OUT: "Sold out", CLOSED: "Ended" };
// dropWhen: "opens in 26 h", "closes in 12 min", or nothing.
const dropWhen = (s) => {
  if (!s.nextTransitionAt) return "";
  const verb = s.state === "OPEN" || s.state === "SOLD_OUT" ? "closes" : "opens";
  return (s.state === "EARLY_ACCESS" ? "opens to everyone" : verb) + " in ";
};

async function home() {
  title("");
  const d = await gql(`{ products(first: 48) { edges { node { id title slug images { url alt } variants { price { amount currency currencyDigits } available } } } }
    drops(first: 10) { edges { node { id title state remaining nextTransitionAt } } } }`);
  const drops = d.drops.edges.map((e) => e.node).filter((x) => x.state !== "CLOSED");
  show(
    drops.length ? h("section", { "aria-labelledby": "drops-h", id: "drops" }, h("h2", { id: "drops-h" }, "Drops"),
      h("ul", { class: "list" }, drops.map((x) => {
        const t = h("span", { class: "countdown" });
        if (x.nextTransitionAt) stops.push(countdown(t, x.nextTransitionAt, null, human));
        return h("li", {}, h("a", { class: "grow", href: "/drops/" + x.id }, h("strong", {}, x.title)),
          h("span", { class: "pill " + x.state }, stateWords[x.state]), x.nextTransitionAt ? h("span", { class: "muted" }, dropWhen(x), t) : null);
      }))) : null,
    h("h1", {}, shopName),
    d.products.edges.length ? h("ul", { class: "grid", "aria-label": "Products" }, d.products.edges.map(({ node: p }, i) => {
      const v = p.variants[0];
      return h("li", {}, h("a", { class: "card", href: "/products/" + p.slug }, img(p.images[0], p.title, "", i < 4),
        h("h2", {}, p.title), v ? h("p", { class: "price" }, money(v.price)) : null,
        p.variants.every((x) => x.available === 0) ? h("p", { class: "soldout" }, "Sold out") : null));
    })) : h("p", {}, "Nothing for sale yet — come back soon."));
}

// The drops a product's variants sell through (not yet closed).
async function dropsOf(variantIds) {
  const d = await gql(`query($ids: [ID!]) { drops(first: 5, where: { hasVariantsWith: { idIn: $ids } }) { edges { node { id title state remaining nextTransitionAt perCustomerLimit } } } }`, { ids: variantIds });
  return d.drops.edges.map((e) => e.node).filter((x) => x.state !== "CLOSED");
}

async function product(slug) {
  const d = await gql(`query($s: String!) { products(first: 1, where: { slug: $s }) { edges { node { id title description images { url alt } variants { ${variantFields} } } } } }`, { s: slug });
  const p = d.products.edges[0] && d.products.edges[0].node;
  if (!p) { title("Not found"); return show(h("h1", {}, "This product is not here"), h("p", {}, h("a", { href: "/" }, "See everything in the shop"))); }
  title(p.title);
  const [dr] = await dropsOf(p.variants.map((v) => v.id));
  const avail = new Map(p.variants.map((v) => [v.id, v.available]));
  let chosen = (p.variants.find((v) => v.available > 0) || p.variants[0] || {}).id;
  const stock = h("p", { class: "stock", id: "stock", "aria-live": "polite" });
  const price = h("div");
  const dropNote = h("p", { id: "drop-note", "aria-live": "polite" });
  const buy = addButton("Add to cart", () => chosen, dr ? { dropId: dr.id } : {});
  buy.id = "add";
  let dropState = dr;
  const swatchEls = new Map();
  const update = () => {
    const v = p.variants.find((x) => x.id === chosen);
    if (!v) return;
    price.replaceChildren(priceLine(v));
    const n = avail.get(chosen);
    for (const [id, el] of swatchEls) el.classList.toggle("out", avail.get(id) === 0);
    // A drop's product page says what the drop says: its state and its
    // remaining units, never the variant's stock.
    if (dropState) {
      const s = dropState, open = s.state === "OPEN" || s.state === "EARLY_ACCESS";
      stock.textContent = s.state === "SOLD_OUT" || s.remaining === 0 ? "Sold out" : open ? s.remaining + " left in the drop" : "";
      stock.className = s.state === "SOLD_OUT" || s.remaining === 0 ? "soldout" : "stock";
      dropNote.replaceChildren(h("span", { class: "pill " + s.state }, stateWords[s.state]), " ",
        h("a", { href: "/drops/" + s.id }, "Part of the drop “" + s.title + "”"));
      buy.disabled = !open || s.remaining === 0 || n === 0;
    } else {
      stock.textContent = n > 0 ? (n <= 10 ? "Only " + n + " left" : "In stock") : "Sold out";
      stock.className = n > 0 ? "stock" : "soldout";
      buy.disabled = n === 0;
    }
    buy.textContent = buy.disabled ? (stock.textContent === "Sold out" ? "Sold out" : "Not on sale yet") : "Add to cart · " + money(v.memberPrice || v.price);
  };
  const picker = p.variants.length > 1 ? h("fieldset", { class: "swatches" }, h("legend", {}, "Choose"), p.variants.map((v) => {
    const input = h("input", { type: "radio", name: "variant", value: v.id, checked: v.id === chosen, "aria-describedby": "stock",
      onchange: () => { chosen = v.id; update(); } });
    const label = h("label", { class: "swatch" }, input, h("span", {}, v.title, v.available === 0 ? h("span", { class: "visually-hidden" }, " (sold out)") : null));
    swatchEls.set(v.id, label);
    return label;
  })) : null;
  show(h("div", { class: "split" }, img(p.images[0], p.title, "hero", true),
    h("div", {}, h("h1", {}, p.title), price, dropNote, picker, stock, h("p", {}, p.description), h("div", { class: "sticky-buy" }, buy))));
  update();
  stops.push(subscribe("subscription($ids: [ID!]!) { stockChanged(variantIds: $ids) { variant { id } available } }",
    { ids: p.variants.map((v) => v.id) }, (x) => { avail.set(x.stockChanged.variant.id, x.stockChanged.available); update(); }));
  if (dr) stops.push(subscribe("subscription($id: ID!) { dropUpdated(dropId: $id) { id title state remaining nextTransitionAt } }", { id: dr.id },
    (u) => { dropState = u.dropUpdated; update(); }));
}

async function drop(id) {
  const d = await gql(`query($id: ID!) { node(id: $id) { ... on Drop { id title state remaining nextTransitionAt perCustomerLimit earlyAccessAt
    variants { ${variantFields} product { title images { url alt } } } } } viewer { membership { id } } }`, { id });
  const x = d.node;
  if (!x) { title("Not found"); return show(h("h1", {}, "This drop is not here"), h("p", {}, h("a", { href: "/" }, "See the shop"))); }
  title(x.title);
  const member = !!(d.viewer && d.viewer.membership);
  const state = h("p", { class: "status", id: "drop-state", "aria-live": "polite" });
  const when = h("p", { id: "drop-when", class: "muted" });
  const left = h("p", { id: "drop-remaining", class: "big", "aria-live": "polite" });
  const limitEl = h("p", { id: "drop-limit", class: "muted" }, x.perCustomerLimit > 0 ? "Up to " + x.perCustomerLimit + " per person, so more fans get one." : null);
  let limitReached = false, cur = x;
  const buttons = x.variants.map((v) => addButton(v.title + " · " + money(v.memberPrice || v.price), v.id, { dropId: x.id },
    (e) => { if (e.code === "LIMIT_EXCEEDED") { limitReached = true; render(cur); } }));
  let stopTimer = () => {};
  const render = (s) => {
    cur = s;
    const soldOut = s.state === "SOLD_OUT" || s.remaining === 0;
    const early = s.state === "EARLY_ACCESS";
    state.replaceChildren(h("span", { class: "pill " + (soldOut ? "SOLD_OUT" : s.state) }, soldOut ? "Sold out" : stateWords[s.state]));
    if (early) state.append(" ", member ? "You are a member: you can buy now." : "Members buy first.");
    left.textContent = soldOut ? "All gone — thank you!" : s.state === "CLOSED" ? "This drop has ended." : s.remaining + " left";
    const canBuy = !soldOut && !limitReached && (s.state === "OPEN" || (early && member));
    buttons.forEach((b) => (b.disabled = !canBuy));
    if (limitReached) limitEl.replaceChildren(h("strong", {}, "You have reached the limit for this drop."), " ", h("a", { href: "/cart" }, "See your cart"));
    stopTimer();
    when.replaceChildren();
    if (s.nextTransitionAt && !soldOut) {
      const t = h("span", { class: "countdown", id: "drop-countdown" });
      when.append(dropWhen(s), t);
      stopTimer = countdown(t, s.nextTransitionAt, () => setTimeout(() => location.reload(), 1500), human);
    } else if (early && !member) when.append(h("a", { href: "/account" }, "Become a member"), " to buy early.");
  };
  const im = x.variants[0] && x.variants[0].product.images[0];
  show(h("div", { class: "split" }, img(im, x.title, "hero", true),
    h("div", {}, h("h1", {}, x.title), state, when, left, limitEl, h("div", { class: "actions sticky-buy" }, buttons))));
  render(x);
  stops.push(subscribe("subscription($id: ID!) { dropUpdated(dropId: $id) { state remaining nextTransitionAt } }", { id }, (u) => render(u.dropUpdated)));
}

// The cart: each hold with its countdown, then pay. cartInto renders it
// into box (the /cart page or the drawer) and returns stop().
function cartInto(box) {
  const list = h("ul", { class: "list", "aria-label": "Items held for you" });
  const total = h("p", { class: "price", id: "cart-total" });
  const pay = h("div", { class: "actions", id: "pay" });
  box.replaceChildren(list, total, pay);
  const stopsLines = [];
  const render = (c) => {
    stopsLines.splice(0).forEach((s) => s());
    const lines = c ? c.lines.filter((l) => l.status === "HELD" || l.status === "EXPIRED") : [];
    if (!lines.length) {
      list.replaceChildren(h("li", {}, "Your cart is empty. ", h("a", { href: "/" }, "Find something you like")));
      total.textContent = ""; pay.replaceChildren();
      return;
    }
    list.replaceChildren(...lines.map((l) => {
      const cd = h("span", { class: "countdown hold-countdown" });
      if (l.hold.active) stopsLines.push(countdown(cd, l.hold.expiresAt));
      const rm = h("button", { class: "secondary", "aria-label": "Remove " + l.variant.product.title }, "Remove");
      rm.onclick = intent(rm, (key) => gql("mutation($i: RemoveFromCartInput!) { removeFromCart(input: $i) { cart { id } } }", { i: { lineId: l.id, idempotencyKey: key } }));
      return h("li", {}, h("div", { class: "grow" }, h("strong", {}, l.variant.product.title + " — " + l.variant.title), h("br"),
        l.quantity + " × " + money(l.unitPrice), " · ",
        l.hold.active ? h("span", {}, "held for you for ", cd) : h("span", { class: "soldout" }, "Hold ran out — it went back on sale")), rm);
    }));
    const held = lines.some((l) => l.hold.active);
    if (!held || c.total.amount === 0) {
      total.textContent = "";
      pay.replaceChildren(h("p", { class: "notice warn" }, "Your holds ran out. Remove them and add the items again if they are still available."));
      return;
    }
    total.textContent = "Total " + money(c.total);
    const wallet = h("button", { id: "pay-wallet" }, "Pay " + money(c.total) + " from wallet");
    wallet.onclick = intent(wallet, (key) => checkout(c, { wallet: moneyInput(c.total) }, key));
    const card = h("button", { id: "pay-card", class: "secondary" }, "Pay by card");
    card.onclick = intent(card, (key) => checkout(c, { card: true }, key));
    pay.replaceChildren(card, wallet);
  };
  const stop = subscribe(`subscription { cartUpdated { ${cartFields} } }`, {}, (d) => render(d.cartUpdated), (e) => notice(errorText(e)));
  return () => { stop(); stopsLines.splice(0).forEach((s) => s()); };
}

async function cart() {
  title("Cart");
  if (!token()) return needSignIn();
  const box = h("div");
  show(h("h1", {}, "Your cart"), box);
  stops.push(cartInto(box));
}

// The cart drawer, from every page: a modal <dialog> (the page behind is
// inert, Escape closes it), Tab kept inside, focus back where it was.
const noticeEl = document.getElementById("notice");
const drawer = h("dialog", { class: "drawer", id: "cart-drawer", "aria-labelledby": "cart-h" });
document.body.append(drawer);
let stopDrawer = () => {}, opener = null;
const openCart = (from) => {
  if (!token()) return needSignIn();
  opener = from || document.activeElement;
  const x = h("button", { class: "secondary", id: "cart-close", "aria-label": "Close the cart" }, "×");
  x.onclick = () => drawer.close();
  const box = h("div");
  // The notice goes in too: outside, it would be inert, unseen and unheard.
  drawer.replaceChildren(h("div", { class: "sheet-top" }, h("h2", { id: "cart-h" }, "Your cart"), x), box, noticeEl);
  if (!drawer.open) drawer.showModal();
  stopDrawer();
  stopDrawer = cartInto(box);
};
drawer.onclose = () => { stopDrawer(); stopDrawer = () => {}; document.body.append(noticeEl); opener && opener.focus && opener.focus(); };
drawer.onclick = (e) => { if (e.target === drawer) drawer.close(); }; // a tap on the backdrop
drawer.onkeydown = (e) => {
  if (e.key !== "Tab") return;
  const f = [...drawer.querySelectorAll("button:not(:disabled),a[href]")], first = f[0], last = f[f.length - 1];
  if (e.shiftKey ? document.activeElement === first : document.activeElement === last) { e.preventDefault(); (e.shiftKey ? last : first).focus(); }
};
const navCart = document.getElementById("nav-cart");
navCart.setAttribute("aria-haspopup", "dialog");
if (path !== "/cart") navCart.onclick = (e) => { e.preventDefault(); openCart(); };

async function checkout(c, payWith, key) {
  await clearExpired(c.lines);
  const d = await gql("mutation($i: CheckoutInput!) { checkout(input: $i) { order { id status } clientSecret } }", { i: { cartId: c.id, payWith, idempotencyKey: key } });
  if (d.checkout.clientSecret && pk) sessionStorage.setItem("merchd.pay." + d.checkout.order.id, d.checkout.clientSecret);
  location.href = "/orders/" + d.checkout.order.id;
}

const statusWords = { PENDING_PAYMENT: "Waiting for payment", PAID: "Paid", PAYMENT_FAILED: "Payment failed", CANCELED: "Canceled", REFUNDED: "Refunded", PARTIALLY_REFUNDED: "Partly refunded" };
const fulfilWords = { UNFULFILLED: "We are getting it ready", PICKING: "Being picked", PACKED: "Packed", READY_FOR_PICKUP: "Ready for pickup", HANDED_TO_COURIER: "On its way",
  COLLECTED: "Collected — enjoy!", DELIVERED: "Delivered — enjoy!", FAILED: "Delivery failed; we will contact you", REROUTED: "Rerouted", CANCELED: "Canceled" };

async function orders() {
  title("Your orders");
  if (!token()) return needSignIn();
  const d = await gql(`{ viewer { orders(first: 50, orderBy: { field: CREATED_AT, direction: DESC }) { edges { node { id number status createdAt total { amount currency currencyDigits } } } } } }`);
  const list = d.viewer ? d.viewer.orders.edges.map((e) => e.node) : [];
  show(h("h1", {}, "Your orders"), list.length ? h("ul", { class: "list", id: "orders" }, list.map((o) =>
    h("li", {}, h("a", { class: "grow", href: "/orders/" + o.id }, "Order " + o.number), h("span", { class: "muted" }, new Date(o.createdAt).toLocaleDateString()),
      h("span", {}, money(o.total)), h("span", { class: "pill " + o.status }, statusWords[o.status] || o.status))))
    : h("p", {}, "No orders yet. ", h("a", { href: "/" }, "Visit the shop")));
}

async function order(id) {
  title("Your order");
  if (!token()) return needSignIn();
  const status = h("p", { class: "status", id: "order-status", "aria-live": "polite" });
  const payBox = h("div", { id: "pay-box" });
  const body = h("div");
  show(h("p", {}, h("a", { href: "/orders" }, "← All orders")), h("h1", {}, "Your order"), status, payBox, body);
  const secret = sessionStorage.getItem("merchd.pay." + id);
  stops.push(subscribe(`subscription($id: ID!) { orderUpdated(orderId: $id) { ${orderFields} } }`, { id }, (d) => {
    const o = d.orderUpdated;
    status.replaceChildren(h("span", { class: "pill " + o.status }, statusWords[o.status] || o.status));
    if (o.status === "PENDING_PAYMENT" && secret && pk && !payBox.firstChild) stripeForm(pk, secret, payBox, "Pay " + money(o.total));
    if (o.status !== "PENDING_PAYMENT") { payBox.replaceChildren(); sessionStorage.removeItem("merchd.pay." + id); }
    body.replaceChildren(h("p", {}, "Order " + o.number + " · " + money(o.total)),
      o.fulfillment ? h("p", { id: "fulfilment" }, h("strong", {}, fulfilWords[o.fulfillment.status] || o.fulfillment.status)) : null,
      o.pickupPassQr || o.pickupCode ? passView(o) : null,
      h("ul", {}, o.lines.map((l) => h("li", {}, l.title + " × " + l.quantity + " · " + money(l.unitPrice)))));
  }, (e) => notice(errorText(e))));
}

async function wallet() {
  title("Wallet");
  if (!token()) return needSignIn();
  const d = await gql(`{ topUpOptions { presets { amount currency currencyDigits } } wallet { balance { amount currency currencyDigits } entries(first: 50, orderBy: { field: CREATED_AT, direction: DESC }) { edges { node { kind note createdAt amount { amount currency currencyDigits } balanceAfter { amount currency currencyDigits } } } } } }`);
  const bal = h("p", { class: "big", id: "wallet-balance", "aria-live": "polite" }, d.wallet ? money(d.wallet.balance) : money({ amount: 0, currency: (d.topUpOptions.presets[0] || { currency: "EUR" }).currency }));
  const rows = (w) => (w ? w.entries.edges.map(({ node: e }) => h("tr", {}, h("td", {}, new Date(e.createdAt).toLocaleDateString()), h("td", {}, e.note || e.kind.replace(/_/g, " ").toLowerCase()), h("td", {}, money(e.amount)), h("td", {}, money(e.balanceAfter)))) : []);
  const where = h("div");
  show(h("h1", {}, "Wallet"), bal, h("div", { class: "actions" }, d.topUpOptions.presets.map((p) => {
    const b = h("button", { class: "secondary" }, "Top up " + money(p));
    b.onclick = intent(b, async (key) => {
      const t = await gql("mutation($i: TopUpWalletInput!) { topUpWallet(input: $i) { clientSecret } }", { i: { amount: moneyInput(p), idempotencyKey: key } });
      if (pk) stripeForm(pk, t.topUpWallet.clientSecret, where, "Top up " + money(p));
      else notice("Card payments are not set up on this shop. Top up at the counter.");
    });
    return b;
  })), where, h("h2", {}, "Statement"), h("div", { class: "scroll-x" }, h("table", {}, h("thead", {}, h("tr", {}, ["When", "What", "Amount", "Balance"].map((x) => h("th", { scope: "col" }, x)))), h("tbody", {}, rows(d.wallet)))));
  stops.push(subscribe("subscription { walletUpdated { balance { amount currency currencyDigits } } }", {}, (x) => { if (x.walletUpdated) bal.textContent = money(x.walletUpdated.balance); }));
}

const field = (id, label, attrs) => [h("label", { for: id }, label), h("input", { id, name: id, required: true, ...attrs })];

async function account() {
  title("Account");
  const next = safeNext(new URLSearchParams(location.search).get("next"));
  if (token()) {
    const d = await gql("{ viewer { email emailVerified } }").catch(() => ({ viewer: null }));
    if (d.viewer) {
      const out = h("button", { class: "secondary", id: "sign-out" }, "Sign out");
      out.onclick = intent(out, async () => { try { await gql("mutation { signOut { ok } }"); } catch {} setToken(""); location.href = "/"; });
      const reset = h("button", { class: "secondary", id: "set-password" }, "Email me a link to set a password");
      reset.onclick = intent(reset, async (key) => {
        await gql("mutation($i: RequestPasswordResetInput!) { requestPasswordReset(input: $i) { accepted } }", { i: { email: d.viewer.email, idempotencyKey: key } });
        notice("Check your inbox: we sent a link to " + d.viewer.email + ".", "ok");
      });
      return show(h("h1", {}, "Your account"), h("p", {}, "Signed in as ", h("strong", { id: "account-email" }, d.viewer.email)),
        h("ul", { class: "list" }, h("li", {}, h("a", { href: "/orders" }, "Your orders and pickup passes")), h("li", {}, h("a", { href: "/wallet" }, "Your wallet"))),
        h("div", { class: "actions" }, reset, out));
    }
  }
  const [el, email] = field("email", "Email", { type: "email", autocomplete: "email" });
  const [pl, password] = field("password", "Password", { type: "password", autocomplete: "current-password", minlength: 8 });
  const submit = h("button", { type: "submit", id: "sign-in" }, "Sign in");
  const create = h("button", { type: "button", class: "secondary", id: "sign-up" }, "Create account");
  const forgot = h("button", { type: "button", class: "secondary", id: "forgot" }, "Forgot password?");
  const auth = (m) => async (key) => {
    if (!email.reportValidity() || !password.reportValidity()) return;
    try {
      const d = await gql(`mutation($i: ${m === "signUp" ? "SignUpInput" : "SignInInput"}!) { ${m}(input: $i) { token } }`, { i: { email: email.value, password: password.value } });
      setToken(d[m].token);
      location.href = next;
    } catch (e) {
      if (m === "signIn" && e.code === "UNAUTHENTICATED") throw Object.assign(new Error(), { code: "WRONG_PASSWORD" });
      if (m === "signUp" && e.code === "BAD_USER_INPUT" && /already/.test(e.message)) throw Object.assign(new Error(), { code: "EMAIL_TAKEN" });
      throw e;
    }
  };
  const form = h("form", { id: "sign-in-form", novalidate: true }, el, email, pl, password, h("div", { class: "actions" }, submit, create, forgot));
  form.onsubmit = intent(submit, auth("signIn"));
  create.onclick = intent(create, auth("signUp"));
  forgot.onclick = intent(forgot, async (key) => {
    if (!email.reportValidity()) return;
    await gql("mutation($i: RequestPasswordResetInput!) { requestPasswordReset(input: $i) { accepted } }", { i: { email: email.value, idempotencyKey: key } });
    notice("If " + email.value + " has an account, a link to set a new password is on its way.", "ok");
  });
  show(h("h1", {}, "Sign in"), form);
}

async function resetPassword() {
  title("Set a password");
  const tok = new URLSearchParams(location.search).get("token") || "";
  const [pl, password] = field("new-password", "New password (at least 8 characters)", { type: "password", autocomplete: "new-password", minlength: 8 });
  const submit = h("button", { type: "submit" }, "Set password");
  const form = h("form", { id: "reset-form", novalidate: true }, pl, password, h("div", { class: "actions" }, submit));
  form.onsubmit = intent(submit, async (key) => {
    if (!password.reportValidity()) return;
    const d = await gql("mutation($i: ResetPasswordInput!) { resetPassword(input: $i) { email } }", { i: { token: tok, newPassword: password.value, idempotencyKey: key } })
      .catch((e) => { if (e.code === "INVALID_TOKEN") show(h("h1", {}, "This link has expired"), h("p", {}, "Links to set a password work once, for a short time."), h("a", { class: "button", href: "/account" }, "Ask for a new link")); throw e; });
    show(h("h1", {}, "Password set"), h("p", {}, "Sign in as " + d.resetPassword.email + " with your new password."), h("a", { class: "button", href: "/account" }, "Sign in"));
  });
  show(h("h1", {}, "Set a password"), tok ? form : h("p", { class: "notice error" }, "This link is incomplete. ", h("a", { href: "/account" }, "Ask for a new one")));
}

async function verifyEmail() {
  title("Verify your email");
  const tok = new URLSearchParams(location.search).get("token") || "";
  try {
    const d = await gql("mutation($i: VerifyEmailInput!) { verifyEmail(input: $i) { email } }", { i: { token: tok, idempotencyKey: "verify-" + tok.slice(-24) } });
    show(h("h1", {}, "Email verified"), h("p", { class: "notice ok" }, d.verifyEmail.email + " is verified. Thank you!"), h("a", { class: "button", href: "/" }, "Go to the shop"));
  } catch (e) {
    show(h("h1", {}, "Verify your email"), h("p", { class: "notice error" }, errorText(e)), h("a", { href: "/account" }, "Go to your account"));
  }
}

const routes = [
  [/^\/$/, home], [/^\/products\/([^/]+)$/, product], [/^\/drops\/([^/]+)$/, drop], [/^\/cart$/, cart],
  [/^\/orders$/, orders], [/^\/orders\/([^/]+)$/, order], [/^\/wallet$/, wallet], [/^\/(?:signin|account)$/, account],
  [/^\/reset-password$/, resetPassword], [/^\/verify-email$/, verifyEmail],
];
for (const [re, fn] of routes) {
  const m = path.match(re);
  if (m) {
    Promise.resolve(fn(...m.slice(1).map(decodeURIComponent))).catch((e) => {
      if (app.querySelector(".skeleton")) show(h("h1", {}, "This page could not load"), h("p", { class: "notice error" }, errorText(e)), h("button", { onclick: () => location.reload() }, "Try again"));
      else notice(errorText(e));
    });
    break;
  }
}
addEventListener("online", clearNotice);
addEventListener("offline", () => notice(errorText({ code: "OFFLINE" })));
addEventListener("pagehide", () => stops.forEach((s) => s()));
