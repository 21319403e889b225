// merchd's page library: GraphQL over HTTP and graphql-transport-ws,
// money, countdowns, and a tiny element builder. No dependencies.

export const tokenKey = "merchd.token";
export const token = () => localStorage.getItem(tokenKey) || "";
export const setToken = (t) => (t ? localStorage.setItem(tokenKey, t) : localStorage.removeItem(tokenKey));

export class GraphQLError extends Error {
  constructor(e) {
    super(e.message);
    this.code = (e.extensions && e.extensions.code) || "ERROR";
  }
}

export async function gql(query, variables = {}) {
  const headers = { "Content-Type": "application/json", Accept: "application/json" };
  if (token()) headers.Authorization = "Bearer " + token();
  const res = await fetch("/query", { method: "POST", headers, body: JSON.stringify({ query, variables }) });
  const body = await res.json();
  if (res.status === 401) setToken("");
  if (body.errors && body.errors.length) throw new GraphQLError(body.errors[0]);
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

// countdown shows mm:ss until `until` in el, and calls done at zero.
export function countdown(el, until, done) {
  const end = new Date(until).getTime();
  const tick = () => {
    const left = Math.max(0, Math.round((end - Date.now()) / 1000));
    el.textContent = String(Math.floor(left / 60)).padStart(2, "0") + ":" + String(left % 60).padStart(2, "0");
    if (left === 0) { clearInterval(t); done && done(); }
  };
  const t = setInterval(tick, 1000);
  tick();
  return () => clearInterval(t);
}

export const newKey = () => (crypto.randomUUID ? crypto.randomUUID() : String(Math.random()).slice(2) + Date.now());

export function notice(msg, kind = "error") {
  const el = document.getElementById("notice");
  if (!el) return alert(msg);
  el.textContent = msg;
  el.className = "notice " + kind;
}

export const errorText = (e) =>
  ({
    OUT_OF_STOCK: "Sorry — that just sold out.",
    DROP_NOT_OPEN: e.message,
    LIMIT_EXCEEDED: "You have reached the limit for this drop.",
    HOLD_EXPIRED: "Your hold expired. Remove the item and add it again.",
    INSUFFICIENT_FUNDS: "Your wallet balance is too low.",
    UNAUTHENTICATED: "Please sign in first.",
  })[e.code] || e.message;

// Fragments shared by pages.
export const variantFields = "id sku title available price { amount currency currencyDigits } compareAtPrice { amount currency currencyDigits } memberPrice { amount currency currencyDigits } selectedOptions { name value }";
export const cartFields = "id total { amount currency currencyDigits } lines { id quantity status channel variant { title product { title } } unitPrice { amount currency currencyDigits } hold { expiresAt active } }";
export const orderFields = "id number status pickupCode total { amount currency currencyDigits } lines { title quantity unitPrice { amount currency currencyDigits } } history { status note createdAt }";

// stripeForm mounts Stripe Elements for a PaymentIntent before `where`.
export function stripeForm(pk, secret, where) {
  const s = document.createElement("script");
  s.src = "https://js.stripe.com/v3/";
  s.onload = () => {
    const stripe = window.Stripe(pk);
    const elements = stripe.elements({ clientSecret: secret });
    const mount = h("div", { id: "payment-element" });
    const btn = h("button", {}, "Pay");
    where.before(mount, btn);
    elements.create("payment").mount(mount);
    btn.onclick = async () => {
      const { error } = await stripe.confirmPayment({ elements, redirect: "if_required" });
      if (error) notice(error.message);
    };
  };
  document.head.append(s);
}
