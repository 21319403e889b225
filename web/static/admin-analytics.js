// Console area: analytics. A period (today, 7 days, 30 days or custom
// dates) and a scope (the whole shop, a drop, a stream or a location);
// headline tiles, revenue over time, sell-through per drop and return rate
// per packaging as SVG charts, the tables behind them, and the same report
// as a CSV download (analyticsCSV: the server writes it from the figures
// shown here).
import { gql, h, money, notice, clearNotice } from "/assets/lib.js";
import { staffErrorText, table, tiles, lineChart, barChart, download, done } from "/assets/admin-lib.js";

const REPORT = `query($i: AnalyticsInput!) { analytics(input: $i) {
  from to bucket
  sales { revenue { amount currency currencyDigits formatted } orders averageOrder { amount currency currencyDigits formatted } }
  conversion { part whole rate } attach { part whole rate } repeatPurchase { part whole rate } pickupsWithinSLA { part whole rate }
  fulfilled averageMinutesToFulfilled
  drops { dropId title cap sold sellThrough startsAt soldOutAt minutesToSellOut }
  stockOuts { sku location intervals minutes }
  returns { cohortStart packagingVariant unitsSold unitsReturned rate }
  series { at revenue { amount currency currencyDigits } orders } } }`;
const CSV = `query($i: AnalyticsInput!) { analyticsCSV(input: $i) }`;
const SCOPES = `{ drops(first: 100) { edges { node { id title } } } streams(first: 100) { edges { node { id title } } }
  analyticsLocations { id code name kind } }`;

const DAY = 24 * 3600 * 1000;
const pct = (r) => (r.rate * 100).toFixed(1) + " %";
const ofWhole = (r) => `${r.part} of ${r.whole}`;
const midnight = (d) => new Date(d.getFullYear(), d.getMonth(), d.getDate());
const isoDate = (d) => `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, "0")}-${String(d.getDate()).padStart(2, "0")}`;
const parseDate = (s) => { const [y, m, d] = s.split("-").map(Number); return new Date(y, m - 1, d); };
const minutes = (m) => (m == null ? "—" : m < 120 ? Math.round(m) + " min" : (m / 60).toFixed(1) + " h");
const dateTime = (t) => (t ? new Date(t).toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" }) : "—");

// period turns the picker's choice into [from, to) in the browser's time
// zone: whole days, the last one included.
function period(kind, fromDate, toDate) {
  const today = midnight(new Date());
  const tomorrow = new Date(today.getTime() + DAY);
  switch (kind) {
    case "today": return [today, tomorrow];
    case "7d": return [new Date(today.getTime() - 6 * DAY), tomorrow];
    case "30d": return [new Date(today.getTime() - 29 * DAY), tomorrow];
  }
  const from = parseDate(fromDate), last = parseDate(toDate);
  return [from, new Date(last.getFullYear(), last.getMonth(), last.getDate() + 1)];
}

export default async function (ctx) {
  const { main, query } = ctx;
  const today = midnight(new Date());
  const kind = ["today", "7d", "30d", "custom"].includes(query.get("period")) ? query.get("period") : (query.get("from") ? "custom" : "7d");
  const periodSel = h("select", { name: "period", id: "an-period" },
    [["today", "Today"], ["7d", "Last 7 days"], ["30d", "Last 30 days"], ["custom", "Custom dates"]].map(([v, l]) =>
      h("option", { value: v, selected: v === kind ? "" : null }, l)));
  const fromIn = h("input", { type: "date", name: "from", id: "an-from", value: query.get("from") || isoDate(new Date(today.getTime() - 6 * DAY)) });
  const toIn = h("input", { type: "date", name: "to", id: "an-to", value: query.get("to") || isoDate(today) });
  const scopeSel = h("select", { name: "scope", id: "an-scope" }, h("option", { value: "" }, "The whole shop"));
  const custom = h("div", { class: "toolbar", id: "an-custom" },
    h("div", { class: "field" }, h("label", { for: "an-from" }, "From (first day)"), fromIn),
    h("div", { class: "field" }, h("label", { for: "an-to" }, "To (last day)"), toIn));
  const show = h("button", { type: "submit" }, "Show");
  const exportBtn = h("button", { type: "button", id: "an-export", class: "secondary" }, "Export CSV");
  const form = h("form", { class: "toolbar", id: "an-form", "aria-label": "Choose the figures" },
    h("div", { class: "field" }, h("label", { for: "an-period" }, "Period"), periodSel),
    custom,
    h("div", { class: "field" }, h("label", { for: "an-scope" }, "Scope"), scopeSel),
    show, exportBtn);
  const out = h("div", { id: "an-out", "aria-live": "polite" }, h("p", { class: "muted" }, "Loading…"));
  main.replaceChildren(h("div", { class: "page-head" }, h("h1", {}, "Analytics")), form, out);
  const syncCustom = () => { custom.hidden = periodSel.value !== "custom"; };
  periodSel.addEventListener("change", syncCustom);
  syncCustom();

  try {
    const s = await gql(SCOPES);
    const group = (label, items, prefix, text) => items.length ? h("optgroup", { label }, items.map((x) =>
      h("option", { value: prefix + ":" + x.id }, text(x)))) : null;
    scopeSel.append(...[
      group("Drops", s.drops.edges.map((e) => e.node), "drop", (x) => x.title),
      group("Streams", s.streams.edges.map((e) => e.node), "stream", (x) => x.title),
      group("Locations", s.analyticsLocations, "location", (x) => `${x.name} (${x.code})`),
    ].filter(Boolean));
    if (query.get("scope")) scopeSel.value = query.get("scope");
  } catch (e) {
    notice(staffErrorText(e));
  }

  const input = () => {
    const [from, to] = period(periodSel.value, fromIn.value, toIn.value);
    const i = { from: from.toISOString(), to: to.toISOString() };
    const [k, id] = scopeSel.value.split(":");
    if (k) i[k + "Id"] = id;
    return i;
  };
  const load = async () => {
    clearNotice();
    let i;
    try { i = input(); } catch { notice("Choose a first and a last day."); return; }
    show.disabled = true; show.setAttribute("aria-busy", "true");
    try {
      const { analytics } = await gql(REPORT, { i });
      out.replaceChildren(...draw(analytics));
    } catch (e) {
      out.replaceChildren(h("p", { class: "muted" }, "No figures for this choice."));
      notice(staffErrorText(e));
    } finally {
      show.disabled = false; show.removeAttribute("aria-busy");
    }
  };
  form.addEventListener("submit", (ev) => { ev.preventDefault(); load(); });
  exportBtn.addEventListener("click", async () => {
    exportBtn.disabled = true;
    try {
      const i = input();
      const { analyticsCSV } = await gql(CSV, { i });
      download(`analytics-${i.from.slice(0, 10)}-${i.to.slice(0, 10)}.csv`, analyticsCSV);
      done("The CSV is downloading.");
    } catch (e) {
      notice(staffErrorText(e));
    } finally {
      exportBtn.disabled = false;
    }
  });
  await load();
}

// draw lays out one report.
function draw(a) {
  const head = [];
  for (const s of a.sales) {
    const c = s.revenue.currency;
    head.push({ label: "Revenue " + c, value: s.revenue.formatted, id: "tile-revenue-" + c },
      { label: "Orders " + c, value: String(s.orders), id: "tile-orders-" + c },
      { label: "Average order " + c, value: s.averageOrder.formatted, id: "tile-aov-" + c });
  }
  if (!a.sales.length) head.push({ label: "Revenue", value: "No sales", id: "tile-revenue" });
  head.push({ label: "Hold → paid", value: pct(a.conversion), id: "tile-conversion" },
    { label: "Attach rate", value: pct(a.attach), id: "tile-attach" },
    { label: "Repeat customers", value: pct(a.repeatPurchase), id: "tile-repeat" },
    { label: "Pickups within SLA", value: pct(a.pickupsWithinSLA), id: "tile-sla" },
    { label: "Time to fulfilled", value: minutes(a.averageMinutesToFulfilled), id: "tile-fulfilled" });

  const hourly = a.bucket === "HOUR";
  const xfmt = (v) => new Date(v).toLocaleString(undefined, hourly ? { hour: "2-digit", minute: "2-digit" } : { month: "short", day: "numeric" });
  const charts = a.sales.map((s) => {
    const c = s.revenue.currency, digits = s.revenue.currencyDigits;
    const pts = a.series.filter((p) => p.revenue.currency === c).map((p) => ({ x: p.at, y: p.revenue.amount }));
    return h("section", { class: "panel", id: "chart-revenue-" + c, "aria-labelledby": "h-rev-" + c },
      h("h2", { id: "h-rev-" + c }, `Revenue per ${hourly ? "hour" : "day"}, ${c}`),
      lineChart(pts, { label: `Revenue per ${hourly ? "hour" : "day"} in ${c}`, x: xfmt, y: (v) => money({ amount: Math.round(v), currency: c, currencyDigits: digits }) }));
  });
  const salesTable = table([
    { label: "Currency", cell: (s) => s.revenue.currency },
    { label: "Revenue", cell: (s) => s.revenue.formatted, num: true },
    { label: "Orders", cell: (s) => String(s.orders), num: true },
    { label: "Average order", cell: (s) => s.averageOrder.formatted, num: true },
  ], a.sales, "No paid orders in this period.");
  const ratios = table([
    { label: "Figure", cell: (r) => r[0] }, { label: "Count", cell: (r) => ofWhole(r[1]), num: true }, { label: "Rate", cell: (r) => pct(r[1]), num: true },
  ], [["Cart lines held → paid", a.conversion], ["Orders with another product", a.attach],
    ["Customers who bought twice or more", a.repeatPurchase], ["Pickups collected within SLA", a.pickupsWithinSLA]]);

  const drops = h("section", { class: "panel", id: "an-drops", "aria-labelledby": "h-drops" }, h("h2", { id: "h-drops" }, "Sell-through per drop"),
    a.drops.length ? barChart(a.drops.map((d) => ({ label: d.title, value: Math.round(d.sellThrough * 1000) / 10 })),
      { label: "Sell-through per drop, percent of the cap", y: (v) => v + " %" }) : null,
    table([
      { label: "Drop", cell: (d) => d.title },
      { label: "Sold of cap", cell: (d) => `${d.sold} of ${d.cap}`, num: true },
      { label: "Sell-through", cell: (d) => (d.sellThrough * 100).toFixed(1) + " %", num: true },
      { label: "Started", cell: (d) => dateTime(d.startsAt) },
      { label: "Sold out", cell: (d) => (d.soldOutAt ? dateTime(d.soldOutAt) : "Not sold out") },
      { label: "Time to sell out", cell: (d) => minutes(d.minutesToSellOut), num: true },
    ], a.drops, "No drop sold in this period."));
  const returns = h("section", { class: "panel", id: "an-returns", "aria-labelledby": "h-returns" }, h("h2", { id: "h-returns" }, "Return rate per packaging (30-day cohorts of the sale)"),
    a.returns.length ? barChart(a.returns.map((r, i) => ({ label: (r.packagingVariant || "unrecorded") + " " + new Date(r.cohortStart).toLocaleDateString(undefined, { month: "short", day: "numeric" }),
      value: Math.round(r.rate * 1000) / 10, alt: i % 2 === 1 })), { label: "Return rate per packaging and cohort, percent of units sold", y: (v) => v + " %" }) : null,
    table([
      { label: "Cohort from", cell: (r) => new Date(r.cohortStart).toLocaleDateString() },
      { label: "Packaging", cell: (r) => r.packagingVariant || "Not recorded" },
      { label: "Units sold", cell: (r) => String(r.unitsSold), num: true },
      { label: "Units returned", cell: (r) => String(r.unitsReturned), num: true },
      { label: "Return rate", cell: (r) => (r.rate * 100).toFixed(1) + " %", num: true },
    ], a.returns, "Nothing sold and shipped in this period."));
  const stock = h("section", { class: "panel", id: "an-stockouts", "aria-labelledby": "h-stock" }, h("h2", { id: "h-stock" }, "Stock-outs"),
    table([
      { label: "SKU", cell: (s) => s.sku }, { label: "Location", cell: (s) => s.location },
      { label: "Times out", cell: (s) => String(s.intervals), num: true },
      { label: "Minutes out of stock", cell: (s) => String(Math.round(s.minutes * 10) / 10), num: true },
    ], a.stockOuts, "Nothing ran out in this period."));
  return [tiles(head), ...charts,
    h("section", { class: "panel", "aria-labelledby": "h-sales" }, h("h2", { id: "h-sales" }, "Sales and rates"), salesTable, ratios),
    drops, returns, stock];
}
