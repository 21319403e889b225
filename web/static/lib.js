// merchd's page library: GraphQL over HTTP and graphql-transport-ws,
// money, countdowns, and a tiny element builder. No dependencies.

// The storefront keeps the buyer's session under "merchd.token"; the staff
// console and the till keep a staff session under their own key
// (useTokenKey), so a buyer and a clerk on one tablet never mix.
let tokenKey = "merchd.token";
export const useTokenKey = (k) => { tokenKey = k; };
export const token = () => localStorage.getItem(tokenKey) || "";
export const setToken = (t) => (t ? localStorage.setItem(tokenKey, t) : localStorage.removeItem(tokenKey));

export class GraphQLError extends Error {
  constructor(e) {
    super(e.message);
    this.code = (e.extensions && e.extensions.code) || "ERROR";
    this.field = e.extensions && e.extensions.field;
  }
}

// gql posts one operation. Whatever goes wrong arrives as a GraphQLError
// with a code errorText knows: the API's extensions.code, OFFLINE when
// the request never got an answer, BAD_RESPONSE when the answer was not
// the API's JSON (a proxy's error page, a cut connection).
export async function gql(query, variables = {}) {
  const headers = { "Content-Type": "application/json", Accept: "application/json" };
  if (token()) headers.Authorization = "Bearer " + token();
  let res, body;
  try {
    res = await fetch("/query", { method: "POST", headers, body: JSON.stringify({ query, variables }) });
  } catch {
    throw new GraphQLError({ message: "offline", extensions: { code: "OFFLINE" } });
  }
  try { body = await res.json(); } catch {
    throw new GraphQLError({ message: "bad response " + res.status, extensions: { code: res.status === 429 ? "RATE_LIMITED" : "BAD_RESPONSE" } });
  }
  if (res.status === 401) setToken("");
  if (body.errors && body.errors.length) throw new GraphQLError(body.errors[0]);
  if (!body.data) throw new GraphQLError({ message: "no data", extensions: { code: "BAD_RESPONSE" } });
  return body.data;
}

// subscribe runs one subscription over graphql-transport-ws and calls
// onData with each result; it reconnects after a lost link. Returns stop().
export function subscribe(query, variables, onData, onError = console.error) {
  let ws, stopped = false, retry = 500;
  const open = () => {
    ws = new WebSocket(location.origin.replace(/^http/, "ws") + "/query", "graphql-transport-ws");
    ws.onopen = () => {
      retry = 500;
      ws.send(JSON.stringify({ type: "connection_init", payload: token() ? { Authorization: "Bearer " + token() } : {} }));
    };
    ws.onmessage = (m) => {
      const msg = JSON.parse(m.data);
      if (msg.type === "connection_ack") ws.send(JSON.stringify({ id: "1", type: "subscribe", payload: { query, variables } }));
      else if (msg.type === "ping") ws.send(JSON.stringify({ type: "pong" }));
      else if (msg.type === "next") {
        if (msg.payload.errors) onError(new GraphQLError(msg.payload.errors[0]));
        else onData(msg.payload.data);
      } else if (msg.type === "error") onError(new GraphQLError(msg.payload[0] || { message: "subscription failed" }));
    };
    ws.onclose = () => { if (!stopped) setTimeout(open, (retry = Math.min(retry * 2, 10000))); };
  };
  open();
  return () => { stopped = true; ws && ws.close(); };
}

// money formats a Money for people. amount is in minor units; the API says
// how many digits the currency's minor unit has (JPY 0, EUR 2, KWD 3), so
// ¥3,500 is amount 3500 and €35.00 is amount 3500. Without currencyDigits
// (a hand-made Money) the browser's own digits for the currency are used.
export const money = (m) => {
  if (!m) return "";
  const digits = m.currencyDigits ??
    new Intl.NumberFormat("en", { style: "currency", currency: m.currency }).resolvedOptions().maximumFractionDigits;
  return new Intl.NumberFormat(undefined, { style: "currency", currency: m.currency, minimumFractionDigits: digits, maximumFractionDigits: digits })
    .format(m.amount / 10 ** digits);
};

// moneyInput turns a Money from the API back into a MoneyInput.
export const moneyInput = (m) => ({ amount: m.amount, currency: m.currency });

// safeNext is where to go after signing in: only a path on this site
// (one leading "/", not "//" or "/\\", no control characters, which
// browsers strip), else the home page. A next of "javascript:…" or another
// site must never be followed.
export function safeNext(raw) {
  if (typeof raw !== "string" || !raw.startsWith("/") || raw.startsWith("//") || /[\\\u0000-\u001f\u007f]/.test(raw)) return "/";
  try {
    const u = new URL(raw, location.origin);
    // The parser normalises "/..//host" and "/.//host" to the path
    // "//host", which as a link is another site: check what comes out too.
    const out = u.pathname + u.search + u.hash;
    return u.origin === location.origin && out.startsWith("/") && !out.startsWith("//") ? out : "/";
  } catch {
    return "/";
  }
}

// h builds elements without innerHTML, so no data is ever parsed as markup.
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v == null || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "class") el.className = v;
    else el.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) if (c != null && c !== false) el.append(c instanceof Node ? c : String(c));
  return el;
}

// human says how long until a moment in words people use: "26 h",
// "12 min", "45 s".
export function human(ms) {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s >= 48 * 3600) return Math.round(s / 86400) + " days";
  if (s >= 3600) return Math.floor(s / 3600) + " h" + (s < 10 * 3600 && s % 3600 >= 60 ? " " + Math.floor((s % 3600) / 60) + " min" : "");
  if (s >= 60) return Math.floor(s / 60) + " min";
  return s + " s";
}

// countdown keeps el showing the time left until `until`, as m:ss for a
// hold (or with fmt, e.g. human), and calls done at zero.
export function countdown(el, until, done, fmt) {
  const end = new Date(until).getTime();
  const tick = () => {
    const ms = Math.max(0, end - Date.now());
    const left = Math.round(ms / 1000);
    el.textContent = fmt ? fmt(ms) : Math.floor(left / 60) + ":" + String(left % 60).padStart(2, "0");
    if (left === 0) { clearInterval(t); done && done(); }
  };
  const t = setInterval(tick, 1000);
  tick();
  return () => clearInterval(t);
}

export const newKey = () => (crypto.randomUUID ? crypto.randomUUID() : String(Math.random()).slice(2) + Date.now());

// notice shows msg in the page's notice region: fixed in the viewport and
// announced (role=alert). An action ({ href, label }) is the next step.
let noticeTimer;
export function notice(msg, kind = "error", action) {
  const el = document.getElementById("notice");
  if (!el) return;
  clearTimeout(noticeTimer);
  el.replaceChildren(msg, action ? h("a", { href: action.href }, action.label) : "");
  el.className = "toast " + kind;
  noticeTimer = setTimeout(() => el.replaceChildren(), kind === "ok" ? 6000 : 12000);
}
export const clearNotice = () => { const el = document.getElementById("notice"); if (el) el.replaceChildren(); };

// errorText turns an error into a sentence a buyer understands, with what
// to do next. Raw messages never reach the page.
export function errorText(e) {
  const code = (e && e.code) || (e instanceof TypeError ? "OFFLINE" : "");
  return ({
    OFFLINE: "You seem to be offline. Check your connection and try again.",
    BAD_RESPONSE: "The shop did not answer properly. Please try again in a moment.",
    OUT_OF_STOCK: "Sorry — that just sold out. Pick another size or check back later.",
    DROP_NOT_OPEN: "This drop is not open yet. Keep this page open: the button turns on when it opens.",
    LIMIT_EXCEEDED: "You have reached the limit for this drop. Your items are in your cart.",
    HOLD_EXPIRED: "Your hold ran out and the item went back on sale. Add it again to hold it once more.",
    INSUFFICIENT_FUNDS: "Your wallet balance is too low for this. Pay by card, or top up your wallet.",
    UNAUTHENTICATED: "Please sign in to continue.",
    WRONG_PASSWORD: "That email and password do not match. Try again, or use “Forgot password?”.",
    EMAIL_TAKEN: "This email already has an account. Sign in with its password, or use “Forgot password?”.",
    FORBIDDEN: "This is not available to your account.",
    NOT_FOUND: "We could not find that. It may have been removed.",
    RATE_LIMITED: "Too many tries in a short time. Wait a minute and try again.",
    UNAVAILABLE: "The shop is very busy right now. Try again in a moment.",
    PAYMENT_DECLINED: "Your card was declined. Try another card or pay from your wallet.",
    CART_CHECKED_OUT: "This cart was already paid for. See your orders.",
    IDEMPOTENCY_KEY_REUSED: "That is still being processed. Wait a moment and reload the page.",
    STREAM_NOT_LIVE: "The stream has ended. You can still buy in the shop.",
    ALREADY_MEMBER: "You are already a member.",
    INVALID_TOKEN: "This link is used or expired. Ask for a new one on your account page.",
    WINDOW_FULL: "That pickup time is full. Choose another.",
    BAD_USER_INPUT: "Please check what you entered" + (e && e.field ? " (" + e.field + ")" : "") + " and try again.",
  })[code] || "Something went wrong on our side. Please try again; if it keeps happening, ask the staff.";
}

// intent runs one intended purchase however often it is tapped: one
// idempotency key for the intent (reused on every retry and double tap,
// so the server makes one hold), and the button disabled while in flight.
export function intent(btn, run, onError) {
  let key = null, busy = false;
  return async (ev) => {
    ev && ev.preventDefault && ev.preventDefault();
    if (busy) return;
    busy = true; key = key || newKey();
    const was = btn.disabled;
    btn.disabled = true; btn.setAttribute("aria-busy", "true");
    let err = null;
    try {
      await run(key);
      key = null; // done: a later tap is a new purchase
    } catch (e) {
      err = e;
      if (!["OFFLINE", "BAD_RESPONSE", "RATE_LIMITED", "UNAVAILABLE", "IDEMPOTENCY_KEY_REUSED"].includes(e && e.code)) key = null; // refused on its merits
    }
    busy = false; btn.disabled = was; btn.removeAttribute("aria-busy");
    if (err && err.code !== "CANCELED") { notice(errorText(err)); onError && onError(err); }
  };
}

// clearExpired takes the cart's run-out holds out of it (they went back
// on sale): checkout refuses a cart that still has one.
export const clearExpired = (lines) => Promise.all(lines.filter((l) => l.status === "EXPIRED").map((l) =>
  gql("mutation($i: RemoveFromCartInput!) { removeFromCart(input: $i) { cart { id } } }", { i: { lineId: l.id, idempotencyKey: "rm-" + l.id } })));

// Fragments shared by pages.
export const variantFields = "id sku title available price { amount currency currencyDigits } compareAtPrice { amount currency currencyDigits } memberPrice { amount currency currencyDigits } selectedOptions { name value }";
export const cartFields = "id total { amount currency currencyDigits } lines { id quantity status channel variant { title product { title } } unitPrice { amount currency currencyDigits } hold { expiresAt active } }";
export const orderFields = "id number status createdAt pickupCode pickupPassQr fulfillment { status method } total { amount currency currencyDigits } lines { title quantity unitPrice { amount currency currencyDigits } } history { status note createdAt }";

// stripeForm mounts Stripe Elements for a PaymentIntent in `where` and
// resolves once the buyer confirmed (the order turns PAID by webhook).
// Stripe.js comes from the address the server names (Stripe's).
export function stripeForm(pk, secret, where, label = "Pay") {
  return new Promise((resolve) => {
    const go = () => {
      const stripe = window.Stripe(pk);
      const elements = stripe.elements({ clientSecret: secret });
      const mount = h("div", { id: "payment-element" });
      const btn = h("button", { id: "pay-confirm", class: "wide" }, label);
      where.replaceChildren(mount, btn);
      elements.create("payment").mount(mount);
      btn.onclick = intent(btn, async () => {
        const { error } = await stripe.confirmPayment({ elements, redirect: "if_required" });
        if (error) throw Object.assign(new Error(error.message), { code: error.code === "card_declined" ? "PAYMENT_DECLINED" : "BAD_USER_INPUT" });
        resolve();
      });
    };
    if (window.Stripe) return go();
    const s = document.createElement("script");
    s.src = document.body.dataset.stripeJs || "https://js.stripe.com/v3/";
    s.onload = go;
    s.onerror = () => notice(errorText({ code: "OFFLINE" }));
    document.head.append(s);
  });
}

// qrImage: a pickup pass as an image, with its short code for the clerk.
export const passView = (o) => h("section", { class: "passbox", "aria-labelledby": "pass-h" },
  h("h2", { id: "pass-h" }, "Your pickup pass"),
  o.pickupPassQr ? h("img", { class: "pass", id: "pickup-pass", src: o.pickupPassQr, alt: "Pickup pass QR code for order " + o.number, width: 288, height: 288 }) : null,
  o.pickupCode ? h("p", {}, "Or tell the staff: ", h("span", { class: "pickup", id: "pickup-code" }, o.pickupCode)) : null);
