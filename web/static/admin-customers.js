// Customers: find a buyer by email or name; a customer's orders, wallet
// statement (every ledger entry with the balance after it) and membership;
// grant credit to one customer, or to everyone who bought in a drop (the
// server decides who that is, and credits each of them once).
import { gql, h } from "/assets/lib.js";
import { act, field, table, when, status, done } from "/assets/admin-lib.js";

const M = "amount currency currencyDigits formatted";
const LIST = `query($s: String, $after: Cursor) { customers(search: $s, first: 25, after: $after) {
  totalCount pageInfo { hasNextPage endCursor } edges { node { id email name createdAt } } } }`;
const CUSTOMER = `query($id: ID!) { node(id: $id) { ... on Customer {
  id email name createdAt emailVerified
  membership { status currentPeriodEnd paysWith tier { name } }
  orders(first: 50, orderBy: { field: CREATED_AT, direction: DESC }) { totalCount edges { node { id number status createdAt total { ${M} } } } }
  wallets { id currency balance { ${M} }
    entries(first: 100, orderBy: { field: CREATED_AT, direction: DESC }) { totalCount edges { node { id kind note createdAt expiresAt amount { ${M} } balanceAfter { ${M} } } } } }
} } }`;
const DROPS = `{ drops(first: 50, orderBy: { field: OPENS_AT, direction: DESC }) { edges { node { id title opensAt } } } }`;
const GRANT = `mutation($i: GrantCreditInput!) { grantCredit(input: $i) { granted } }`;
const words = (s) => String(s).replaceAll("_", " ").toLowerCase();

// minor turns what staff typed in major units ("5", "4.50") into minor
// units of currency (JPY has none, KWD three); NaN when it is not a number.
export function minor(text, currency) {
  const digits = new Intl.NumberFormat("en", { style: "currency", currency }).resolvedOptions().maximumFractionDigits;
  const t = String(text).trim().replace(",", ".");
  if (!/^\d+(\.\d+)?$/.test(t)) return NaN;
  return Math.round(parseFloat(t) * 10 ** digits);
}

// grantForm is the credit form: amount, currency, note, optional expiry;
// target(key, input) sends it; after(result) says what happened.
function grantForm(id, title, target, after) {
  const form = h("form", { id, class: "panel grant" }, h("h2", {}, title),
    h("div", { class: "form-grid" },
      field("Amount", "input", { name: "amount", inputmode: "decimal", required: true, placeholder: "5.00", autocomplete: "off" }),
      field("Currency", "input", { name: "currency", value: "EUR", maxlength: 3, required: true, autocomplete: "off" }),
      field("Note the customer sees", "input", { name: "note", required: true, maxlength: 500, placeholder: "Thanks for coming to the drop" }),
      field("Expires (optional)", "input", { name: "expires", type: "date" })));
  const btn = h("button", { type: "submit" }, "Grant credit");
  form.append(btn);
  act(btn, (key) => {
    const currency = form.currency.value.trim().toUpperCase();
    const amount = minor(form.amount.value, currency);
    if (!(amount > 0)) return Promise.reject({ code: "BAD_USER_INPUT", field: "amount", message: "give an amount above zero, like 5 or 4.50" });
    if (!form.note.value.trim()) return Promise.reject({ code: "BAD_USER_INPUT", field: "note", message: "say why the customer gets it" });
    const input = { amount: { amount, currency }, note: form.note.value.trim(), idempotencyKey: key,
      expiresAt: form.expires.value ? new Date(form.expires.value + "T23:59:59").toISOString() : null };
    return target(input).then((r) => ({ r, amount: { amount, currency } }));
  }, async ({ r, amount }) => { form.reset(); form.currency.value = amount.currency; await after(r.grantCredit.granted, amount); });
  return form;
}

const fmt = (m) => new Intl.NumberFormat(undefined, { style: "currency", currency: m.currency }).format(m.amount / 10 ** new Intl.NumberFormat("en", { style: "currency", currency: m.currency }).resolvedOptions().maximumFractionDigits);

export default async function customers(ctx) {
  if (ctx.path[0]) return customerPage(ctx, ctx.path[0]);
  const q = ctx.query.get("q") || "";
  const form = h("form", { class: "toolbar", role: "search", id: "customer-search" },
    h("div", { class: "grow" }, field("Search customers", "input", { name: "q", type: "search", value: q, placeholder: "Email or name", autocomplete: "off" })),
    h("button", { type: "submit" }, "Search"));
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    ctx.go("/admin/customers" + (form.q.value.trim() ? "?q=" + encodeURIComponent(form.q.value.trim()) : ""));
  });
  const results = h("div", { id: "customer-results", "aria-live": "polite" });
  ctx.main.append(h("div", { class: "page-head" }, h("h1", {}, "Customers")), form, results);
  const d = await gql(LIST, { s: q || null });
  const c = d.customers;
  results.replaceChildren(h("p", { class: "muted" }, c.totalCount === 1 ? "1 customer" : c.totalCount + " customers"),
    table([
      { label: "Email", cell: (x) => h("a", { href: "/admin/customers/" + x.id }, x.email) },
      { label: "Name", cell: (x) => x.name || "—" },
      { label: "Joined", cell: (x) => when(x.createdAt) },
    ], c.edges.map((e) => e.node), q ? "No customer matches “" + q + "”." : "No customers yet."));

  // Credit to everyone who bought in a drop.
  const drops = (await gql(DROPS)).drops.edges.map((e) => e.node);
  const pick = field("Drop", "select", { name: "drop", required: true },
    drops.length ? drops.map((x) => h("option", { value: x.id }, x.title + " · " + when(x.opensAt))) : h("option", { value: "" }, "No drops yet"));
  const form2 = grantForm("grant-drop", "Credit everyone who bought in a drop", (input) =>
    gql(GRANT, { i: { ...input, dropId: pick.querySelector("select").value } }),
  (n, amount) => done(n === 1 ? "Granted " + fmt(amount) + " to the one buyer of that drop." : "Granted " + fmt(amount) + " to each of " + n + " buyers of that drop."));
  form2.querySelector(".form-grid").prepend(pick);
  ctx.main.append(form2);
  if (!q) form.q.focus();
}

async function customerPage(ctx, id) {
  const c = (await gql(CUSTOMER, { id })).node;
  if (!c) {
    ctx.main.append(h("h1", {}, "Customer"), h("p", { class: "notice error" }, "This customer does not exist."));
    return;
  }
  const m = c.membership;
  ctx.main.append(
    h("p", {}, h("a", { href: "/admin/customers" }, "← Customers")),
    h("div", { class: "page-head" }, h("h1", { id: "customer-name" }, c.name || c.email)),
    h("dl", { class: "facts" },
      h("dt", {}, "Email"), h("dd", { id: "customer-email" }, c.email + (c.emailVerified ? " (verified)" : "")),
      h("dt", {}, "Joined"), h("dd", {}, when(c.createdAt)),
      h("dt", {}, "Membership"), h("dd", { id: "customer-membership" }, m ? m.tier.name + " · " + words(m.status) + (m.currentPeriodEnd ? " until " + when(m.currentPeriodEnd) : "") : "Not a member"),
      h("dt", {}, "Wallet"), h("dd", { id: "customer-balance" }, c.wallets.length ? c.wallets.map((w) => w.balance.formatted).join(" · ") : "No wallet yet")),
    h("section", { class: "panel", "aria-label": "Orders" }, h("h2", {}, "Orders (" + c.orders.totalCount + ")"), table([
      { label: "Order", cell: (o) => h("a", { href: "/admin/orders/" + o.id }, o.number) },
      { label: "Status", cell: (o) => status(o.status) },
      { label: "Total", num: true, cell: (o) => o.total.formatted },
      { label: "Placed", cell: (o) => when(o.createdAt) },
    ], c.orders.edges.map((e) => e.node), "No orders yet.")),
    ...c.wallets.map((w) => h("section", { class: "panel", "aria-label": "Wallet statement " + w.currency },
      h("h2", {}, "Wallet statement · " + w.currency + " · balance " + w.balance.formatted),
      table([
        { label: "When", cell: (e) => when(e.createdAt) },
        { label: "Kind", cell: (e) => words(e.kind) },
        { label: "Note", cell: (e) => e.note || "—" },
        { label: "Amount", num: true, cell: (e) => e.amount.formatted },
        { label: "Balance after", num: true, cell: (e) => e.balanceAfter.formatted },
        { label: "Expires", cell: (e) => e.expiresAt ? when(e.expiresAt) : "—" },
      ], w.entries.edges.map((e) => e.node)),
      w.entries.totalCount > 100 ? h("p", { class: "muted" }, "The newest 100 of " + w.entries.totalCount + " entries.") : null)),
    grantForm("grant-customer", "Grant credit", (input) => gql(GRANT, { i: { ...input, customerIds: [c.id] } }),
      (n, amount) => { done("Granted " + fmt(amount) + " to " + c.email + "."); ctx.go(location.pathname); }));
}
