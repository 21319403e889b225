// Orders: find an order by its number, the buyer's email or name; an
// order's lines, payments, refunds (to the card or the wallet), fulfilment
// and history, with a link to its buyer. Refunds are for owners and staff:
// a clerk never sees the form (and the API refuses them anyway).
import { gql, h, notice } from "/assets/lib.js";
import { act, field, table, when, status, done, staffErrorText } from "/assets/admin-lib.js";

const M = "amount currency currencyDigits formatted";
const LIST = `query($s: String, $st: OrderStatus, $after: Cursor) {
  searchOrders(search: $s, status: $st, first: 25, after: $after) {
    totalCount pageInfo { hasNextPage endCursor }
    edges { node { id number status createdAt total { ${M} } customer { id email name } } } } }`;
const ORDER = `query($id: ID!) { node(id: $id) { ... on Order {
  id number status createdAt paidAt total { ${M} } refunded { ${M} } deliveryPrice { ${M} }
  customer { id email name }
  lines { id sku title quantity refundedQuantity returnedQuantity unitPrice { ${M} } }
  payments { id method status createdAt amount { ${M} } }
  refunds { id to status reason createdAt amount { ${M} } }
  history { status note createdAt }
  fulfillments { id status method pickupCode late dueAt collectedAt packagingVariant
    location { code name } window { startsAt endsAt pickupPoint { name } }
    lines { quantity orderLine { sku title } }
    events { from to actor note scan at } }
  returns { id status code units createdAt }
} } }`;
const REFUND = `mutation($i: RefundOrderInput!) { refundOrder(input: $i) {
  refund { id to status amount { ${M} } } order { id status refunded { ${M} } } } }`;
const STATUSES = ["PAID", "PENDING_PAYMENT", "PARTIALLY_REFUNDED", "REFUNDED", "CANCELED", "PAYMENT_FAILED"];

export const canRefund = (staff) => staff.role === "OWNER" || staff.role === "STAFF";
const words = (s) => String(s).replaceAll("_", " ").toLowerCase();

export default async function orders(ctx) {
  if (ctx.path[0]) return orderPage(ctx, ctx.path[0]);
  return listPage(ctx);
}

async function listPage(ctx) {
  const q = ctx.query.get("q") || "", st = ctx.query.get("status") || "";
  const form = h("form", { class: "toolbar", role: "search", id: "order-search" },
    h("div", { class: "grow" }, field("Search orders", "input", { name: "q", type: "search", value: q, placeholder: "Order number, email or name", autocomplete: "off" })),
    field("Status", "select", { name: "status" }, h("option", { value: "" }, "Any status"),
      STATUSES.map((s) => h("option", { value: s, selected: s === st }, words(s)))),
    h("button", { type: "submit" }, "Search"));
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const p = new URLSearchParams();
    if (form.q.value.trim()) p.set("q", form.q.value.trim());
    if (form.status.value) p.set("status", form.status.value);
    ctx.go("/admin/orders" + (p.toString() ? "?" + p : ""));
  });
  const results = h("div", { id: "order-results", "aria-live": "polite" });
  const count = h("p", { class: "muted", id: "order-count" });
  ctx.main.append(h("div", { class: "page-head" }, h("h1", {}, "Orders")), form, count, results);

  const rows = [];
  const more = h("button", { type: "button", class: "small", hidden: true }, "Show more");
  let cursor = null;
  const load = async () => {
    const d = await gql(LIST, { s: q || null, st: st || null, after: cursor });
    const c = d.searchOrders;
    rows.push(...c.edges.map((e) => e.node));
    cursor = c.pageInfo.endCursor;
    more.hidden = !c.pageInfo.hasNextPage;
    count.textContent = c.totalCount === 1 ? "1 order" : c.totalCount + " orders" + (q ? " for “" + q + "”" : "");
    results.replaceChildren(table([
      { label: "Order", cell: (o) => h("a", { href: "/admin/orders/" + o.id, class: "order-link" }, o.number) },
      { label: "Customer", cell: (o) => o.customer ? (o.customer.name ? o.customer.name + " · " : "") + o.customer.email : "—" },
      { label: "Status", cell: (o) => status(o.status) },
      { label: "Total", num: true, cell: (o) => o.total.formatted },
      { label: "Placed", cell: (o) => when(o.createdAt) },
    ], rows, q ? "No order matches “" + q + "”. Try the full order number or the buyer's email." : "No orders yet."), more);
  };
  more.addEventListener("click", () => load().catch((e) => notice(staffErrorText(e))));
  await load();
  if (!q) form.q.focus();
}

async function orderPage(ctx, id) {
  const d = await gql(ORDER, { id });
  const o = d.node;
  if (!o) {
    ctx.main.append(h("h1", {}, "Order"), h("p", { class: "notice error" }, "This order does not exist, or it is not at your location."));
    return;
  }
  const draw = (o) => {
    ctx.main.replaceChildren(...[
      h("p", {}, h("a", { href: "/admin/orders" }, "← Orders")),
      h("div", { class: "page-head" }, h("h1", { id: "order-number" }, "Order " + o.number), status(o.status)),
      h("dl", { class: "facts" },
        h("dt", {}, "Placed"), h("dd", {}, when(o.createdAt)),
        h("dt", {}, "Paid"), h("dd", {}, when(o.paidAt)),
        h("dt", {}, "Total"), h("dd", { id: "order-total" }, o.total.formatted),
        h("dt", {}, "Refunded"), h("dd", { id: "order-refunded" }, o.refunded.formatted),
        h("dt", {}, "Customer"), h("dd", {}, o.customer
          ? h("a", { href: "/admin/customers/" + o.customer.id, id: "customer-link" }, (o.customer.name ? o.customer.name + " · " : "") + o.customer.email)
          : "—")),
      section("Lines", table([
        { label: "Item", cell: (l) => l.title },
        { label: "SKU", cell: (l) => l.sku },
        { label: "Qty", num: true, cell: (l) => l.quantity },
        { label: "Refunded", num: true, cell: (l) => l.refundedQuantity },
        { label: "Returned", num: true, cell: (l) => l.returnedQuantity },
        { label: "Unit price", num: true, cell: (l) => l.unitPrice.formatted },
      ], o.lines || []), o.deliveryPrice.amount ? h("p", { class: "muted" }, "Delivery: " + o.deliveryPrice.formatted) : null),
      section("Payments", table([
        { label: "Method", cell: (p) => words(p.method) },
        { label: "Status", cell: (p) => status(p.status) },
        { label: "Amount", num: true, cell: (p) => p.amount.formatted },
        { label: "When", cell: (p) => when(p.createdAt) },
      ], o.payments || [], "No payment yet.")),
      section("Refunds", table([
        { label: "To", cell: (r) => r.to === "WALLET" ? "Wallet" : "Card" },
        { label: "Status", cell: (r) => status(r.status) },
        { label: "Amount", num: true, cell: (r) => r.amount.formatted },
        { label: "Reason", cell: (r) => r.reason || "—" },
        { label: "When", cell: (r) => when(r.createdAt) },
      ], o.refunds || [], "Nothing refunded."), canRefund(ctx.staff) ? refundForm(o, draw) : null),
      section("Fulfilment", (o.fulfillments || []).length ? o.fulfillments.map(fulfilmentView) : h("p", { class: "muted" }, "No fulfilment until the order is paid.")),
      (o.returns || []).length ? section("Returns", table([
        { label: "Code", cell: (r) => r.code },
        { label: "Status", cell: (r) => status(r.status) },
        { label: "Units", num: true, cell: (r) => r.units },
        { label: "Asked", cell: (r) => when(r.createdAt) },
      ], o.returns)) : null,
      section("History", h("ol", { class: "timeline", id: "order-history" }, (o.history || []).map((e) =>
        h("li", {}, h("strong", {}, words(e.status)), " · ", when(e.createdAt), e.note ? " — " + e.note : ""))))].filter(Boolean));
  };
  draw(o);
}

const section = (title, ...body) => h("section", { class: "panel", "aria-label": title }, h("h2", {}, title), ...body);

function fulfilmentView(f) {
  const where = f.window
    ? f.window.pickupPoint.name + ", " + when(f.window.startsAt) + "–" + new Date(f.window.endsAt).toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit" })
    : f.location ? f.location.name : "—";
  return h("div", { class: "fulfilment", "data-fulfillment": f.id },
    h("p", {}, status(f.status), " ", words(f.method), " · ", where, f.late ? h("span", { class: "pill late" }, "late") : null),
    h("dl", { class: "facts" },
      h("dt", {}, "Pickup code"), h("dd", { class: "pickup" }, f.method === "PICKUP" ? f.pickupCode : "—"),
      h("dt", {}, "Due"), h("dd", {}, when(f.dueAt)),
      h("dt", {}, "Collected"), h("dd", {}, when(f.collectedAt)),
      h("dt", {}, "Packaging"), h("dd", {}, f.packagingVariant || "—")),
    h("p", {}, (f.lines || []).map((l) => l.quantity + " × " + l.orderLine.title + " (" + l.orderLine.sku + ")").join(", ")),
    h("details", {}, h("summary", {}, "Events (" + (f.events || []).length + ")"),
      h("ol", { class: "timeline" }, (f.events || []).map((e) =>
        h("li", {}, words(e.from) + " → " + words(e.to), " · ", words(e.actor), e.scan ? " · scan " + words(e.scan) : "", " · ", when(e.at), e.note ? " — " + e.note : "")))),
    h("p", {}, h("a", { href: "/admin/fulfilment" }, "Open the pick list")));
}

// refundForm refunds what is left of the order, or chosen units of its
// lines, to the card or to the buyer's wallet, and shows what happened.
function refundForm(o, redraw) {
  const open = (o.lines || []).map((l) => ({ l, left: l.quantity - l.refundedQuantity - l.returnedQuantity })).filter((x) => x.left > 0);
  if (!["PAID", "PARTIALLY_REFUNDED"].includes(o.status) || !open.length) return h("p", { class: "muted" }, "Nothing left to refund.");
  const form = h("form", { id: "refund-form", class: "refund" },
    h("h3", {}, "Refund"),
    h("fieldset", {}, h("legend", {}, "Refund to"),
      h("label", { class: "choice" }, h("input", { type: "radio", name: "to", value: "WALLET", checked: true }), " The buyer's wallet (instant store credit)"),
      h("label", { class: "choice" }, h("input", { type: "radio", name: "to", value: "CARD" }), " The card they paid with")),
    h("fieldset", {}, h("legend", {}, "Units (leave all at 0 to refund everything left)"),
      h("div", { class: "form-grid" }, open.map(({ l, left }) =>
        field(l.title + " (" + left + " left)", "input", { type: "number", name: "line-" + l.id, "data-line": l.id, min: 0, max: left, value: 0, inputmode: "numeric" })))));
  const btn = h("button", { type: "submit", class: "danger", id: "refund-submit" }, "Refund");
  form.append(btn);
  act(btn, (key) => {
    const lines = [...form.querySelectorAll("[data-line]")].map((i) => ({ lineId: i.dataset.line, quantity: parseInt(i.value, 10) || 0 })).filter((x) => x.quantity > 0);
    const to = form.querySelector("input[name=to]:checked").value;
    return gql(REFUND, { i: { orderId: o.id, to, lines: lines.length ? lines : null, idempotencyKey: key } });
  }, async (r) => {
    const rf = r.refundOrder.refund;
    const msg = "Refunded " + rf.amount.formatted + (rf.to === "WALLET" ? " to the buyer's wallet" : " to the card") +
      (rf.status === "PENDING" ? " (the card refund is on its way)" : "") + ".";
    const d = await gql(ORDER, { id: o.id });
    redraw(d.node);
    document.querySelector("#order-number").closest(".page-head").after(h("p", { class: "notice ok", id: "refund-done", role: "status" }, msg));
    done(msg);
  });
  return form;
}
