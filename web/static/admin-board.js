// The live drop board: per drop, the units left in each channel pool,
// units held now, paid units per minute, conversion from holds to paid,
// and how long it took to sell out; live through dropUpdated and
// stockChanged, with a light refresh. Staff move unsold units between
// pools with one action.
import { gql, h, human, subscribe } from "/assets/lib.js";
import { act, done, field, lineChart, status, table, tiles, value, when } from "/assets/admin-lib.js";
import { show } from "/assets/admin-forms.js";

const BOARD = `query($id: ID!, $m: Int) { dropBoard(dropId: $id, minutes: $m) {
  heldUnits addedUnits paidUnits conversion firstSaleAt lastSaleAt soldOutAt salesPerMinute { at units }
  drop { id title state remaining cap opensAt closesAt perCustomerLimit pools { channel allocated remaining } variants { id sku title } } } }`;
const CHANNELS = ["ONLINE", "LIVE", "HUB"];
const pct = (x) => (x == null ? "—" : Math.round(x * 100) + " %");

export default async function board(ctx) {
  if (ctx.path[0]) return one(ctx, ctx.path[0]);
  return list(ctx);
}

// list shows every drop that is not over yet with its headline figures.
async function list(ctx) {
  const d = await gql(`{ drops(first: 50, orderBy: { field: OPENS_AT, direction: DESC }) { edges { node { id title state remaining cap opensAt closesAt } } } }`);
  const all = d.drops.edges.map((e) => e.node);
  const live = all.filter((x) => x.state !== "CLOSED");
  const figures = await Promise.all(live.slice(0, 12).map((x) =>
    gql(BOARD, { id: x.id, m: 1 }).then((b) => b.dropBoard).catch(() => null)));
  const fig = new Map(figures.filter(Boolean).map((b) => [b.drop.id, b]));
  show(ctx.main, 
    h("div", { class: "page-head" }, h("h1", {}, "Live drop board"),
      h("a", { class: "button secondary small", href: "/admin/drops" }, "Schedule a drop")),
    h("p", { class: "muted" }, "Drops that are scheduled, open or sold out. Open one to watch it sell."),
    table([
      { label: "Drop", cell: (x) => h("a", { href: "/admin/board/" + x.id }, x.title) },
      { label: "State", cell: (x) => status(x.state) },
      { label: "Opens", cell: (x) => when(x.opensAt) },
      { label: "Remaining", num: true, cell: (x) => x.remaining + " / " + x.cap },
      { label: "Held", num: true, cell: (x) => (fig.get(x.id) ? fig.get(x.id).heldUnits : "—") },
      { label: "Paid", num: true, cell: (x) => (fig.get(x.id) ? fig.get(x.id).paidUnits : "—") },
      { label: "Conversion", num: true, cell: (x) => (fig.get(x.id) ? pct(fig.get(x.id).conversion) : "—") },
    ], live, "No drop is scheduled or running. Schedule one under Drops."),
    all.length > live.length ? h("details", { class: "panel" }, h("summary", {}, "Closed drops (" + (all.length - live.length) + ")"),
      table([
        { label: "Drop", cell: (x) => h("a", { href: "/admin/board/" + x.id }, x.title) },
        { label: "Closed", cell: (x) => when(x.closesAt) },
        { label: "Sold", num: true, cell: (x) => x.cap - x.remaining + " / " + x.cap },
      ], all.filter((x) => x.state === "CLOSED"))) : null);
}

// sellTime says how long the drop took to sell out, or how long it has
// been selling, or when it opens.
function sellTime(b) {
  const d = b.drop, now = Date.now(), opens = new Date(d.opensAt).getTime();
  if (b.soldOutAt) return { label: "Sold out in", value: human(new Date(b.soldOutAt).getTime() - opens) };
  if (d.state === "SCHEDULED" || d.state === "EARLY_ACCESS") return { label: "Opens in", value: human(opens - now) };
  if (d.state === "CLOSED") return { label: "Closed", value: "not sold out" };
  return { label: "Selling for", value: human(Math.max(0, now - opens)) };
}

// one is a single drop's board.
async function one(ctx, id) {
  let b = (await gql(BOARD, { id, m: 30 })).dropBoard;
  const d0 = b.drop;
  const head = h("div", { class: "page-head" },
    h("div", {}, h("h1", { id: "board-title" }, d0.title), h("span", { id: "board-state" })),
    h("div", { class: "actions" }, h("a", { class: "button secondary small", href: "/admin/board" }, "All drops"),
      h("a", { class: "button secondary small", href: "/admin/drops?edit=" + encodeURIComponent(id) }, "Edit drop")));
  const tileBox = h("div", { id: "board-tiles", "aria-live": "polite" });
  const poolBox = h("div", { id: "board-pools" });
  const chartBox = h("div", { id: "board-chart" });
  const live = h("p", { class: "muted", id: "board-live" }, "Connecting…");

  const from = field("Take unsold units from", "select", { name: "from", id: "rb-from" }, CHANNELS.map((c) => h("option", { value: c }, c.toLowerCase())));
  const to = field("Give them to", "select", { name: "to", id: "rb-to" }, CHANNELS.map((c) => h("option", { value: c, selected: c === "LIVE" }, c.toLowerCase())));
  const units = field("Units", "input", { name: "units", id: "rb-units", type: "number", min: 1, step: 1, required: true, value: 1 });
  const move = h("button", { type: "submit", id: "rebalance" }, "Move units");
  const form = h("form", { class: "toolbar", id: "rebalance-form", "aria-label": "Rebalance pools" }, from, to, units, move);
  act(move, (key) => {
    if (!form.reportValidity()) throw Object.assign(new Error("invalid"), { code: "BAD_USER_INPUT", field: "units", message: "give a whole number of units" });
    return gql(`mutation($i: RebalanceDropPoolsInput!) { rebalanceDropPools(input: $i) { drop { id remaining pools { channel allocated remaining } } } }`,
      { i: { dropId: id, from: value(form, "from"), to: value(form, "to"), units: Number(value(form, "units")), idempotencyKey: key } });
  }, async (r) => {
    done("Moved " + value(form, "units") + " units from " + value(form, "from").toLowerCase() + " to " + value(form, "to").toLowerCase() + ".");
    b.drop = { ...b.drop, ...r.rebalanceDropPools.drop };
    draw();
  });

  function draw() {
    const d = b.drop, t = sellTime(b);
    head.querySelector("#board-state").replaceChildren(status(d.state));
    show(tileBox, tiles([
      { label: "Remaining", value: d.remaining + " / " + d.cap, id: "b-remaining" },
      { label: "Held in carts", value: String(b.heldUnits), id: "b-held" },
      { label: "Paid units", value: String(b.paidUnits), id: "b-paid" },
      { label: "Conversion (holds → paid)", value: pct(b.conversion), id: "b-conversion" },
      { label: t.label, value: t.value, id: "b-time" },
    ]));
    show(poolBox, table([
      { label: "Channel pool", cell: (p) => p.channel.toLowerCase() },
      { label: "Allocated", num: true, cell: (p) => p.allocated },
      { label: "Remaining", num: true, cell: (p) => h("span", { "data-pool": p.channel }, String(p.remaining)) },
      { label: "Sold or held", num: true, cell: (p) => p.allocated - p.remaining },
    ], d.pools, "This drop has no pools."));
    const pts = b.salesPerMinute.map((m) => ({ x: m.at, y: m.units }));
    const peak = Math.max(0, ...pts.map((p) => p.y));
    show(chartBox, lineChart(pts, { label: "Paid units per minute, last " + pts.length + " minutes (peak " + peak + ")" }),
      h("p", { class: "muted" }, b.firstSaleAt ? "First sale " + when(b.firstSaleAt) + " · last sale " + when(b.lastSaleAt) : "No sale yet."));
  }

  let busy = false, again = false;
  async function refresh() {
    if (busy) { again = true; return; }
    busy = true;
    try {
      b = (await gql(BOARD, { id, m: 30 })).dropBoard;
      draw();
      live.textContent = "Live · updated " + new Date().toLocaleTimeString();
    } catch (e) {
      live.textContent = "Not updating: " + (e.code === "OFFLINE" ? "offline" : "the server refused") + ". Retrying.";
    } finally {
      busy = false;
      if (again) { again = false; refresh(); }
    }
  }
  let soon = null;
  const refreshSoon = () => { clearTimeout(soon); soon = setTimeout(refresh, 250); };

  show(ctx.main, head, live, tileBox,
    h("section", { class: "panel", "aria-labelledby": "sales-h" }, h("h2", { id: "sales-h" }, "Sales per minute"), chartBox),
    h("section", { class: "panel", "aria-labelledby": "pools-h" }, h("h2", { id: "pools-h" }, "Channel pools"), poolBox,
      h("h3", {}, "Rebalance"), h("p", { class: "muted" }, "Move unsold units from one channel to another while the drop runs. Held and sold units stay where they are."), form));
  draw();

  const stops = [];
  stops.push(subscribe(`subscription($id: ID!) { dropUpdated(dropId: $id) { id state remaining pools { channel allocated remaining } } }`, { id },
    (data) => {
      b.drop = { ...b.drop, ...data.dropUpdated };
      draw();
      live.textContent = "Live · updated " + new Date().toLocaleTimeString();
      refreshSoon();
    }, () => { live.textContent = "Live updates paused; refreshing every few seconds."; }));
  const vids = (d0.variants || []).map((v) => v.id);
  if (vids.length) stops.push(subscribe(`subscription($v: [ID!]!) { stockChanged(variantIds: $v) { available } }`, { v: vids.slice(0, 100) }, refreshSoon, () => {}));
  const timer = setInterval(refresh, 5000);
  ctx.onLeave(() => { stops.forEach((s) => s()); clearInterval(timer); clearTimeout(soon); });
}
