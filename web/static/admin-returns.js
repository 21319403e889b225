// Returns: intake (scan the return QR, or the parcel label's return QR, or
// type the return's code) at a location; the inspection lane where each
// returned unit is graded (back to stock, needs repacking, or damaged and
// disposed); and returns by status. A clerk takes returns in at their own
// location; grading and the lists are for owners and staff.
import { gql, h, notice } from "/assets/lib.js";
import { act, field, table, when, status, done, staffErrorText } from "/assets/admin-lib.js";

const M = "amount currency currencyDigits formatted";
const R = `id code status reason reasonText units gradedUnits refundMode createdAt receivedAt inspectedAt refundedAt
  amount { ${M} } refunded { ${M} } order { id number } receivedLocation { code name }`;
const RECEIVE = `mutation($i: ReceiveReturnInput!) { receiveReturn(input: $i) { return { ${R} } } }`;
const LIST = `query($st: ReturnStatus) { returns(status: $st, first: 100) { totalCount edges { node { ${R}
  lines { id grade gradedAt location { code } orderLine { sku title } } } } } }`;
const GRADE = `mutation($i: GradeReturnLineInput!) { gradeReturnLine(input: $i) { line { id grade gradedAt } } }`;
const STATUSES = ["REQUESTED", "RECEIVED", "INSPECTED", "REFUNDED", "CANCELED"];
const GRADES = [
  { value: "RESELLABLE", label: "Back to stock" },
  { value: "NEEDS_REPACK", label: "Needs repacking" },
  { value: "DISPOSE", label: "Damaged: dispose" },
];
const words = (s) => String(s).replaceAll("_", " ").toLowerCase();
const grades = (staff) => staff.role === "OWNER" || staff.role === "STAFF";

// refusal words a failed intake.
function refusal(e) {
  switch (e && e.code) {
    case "ALREADY_RECEIVED": return "Already received: this return was dropped off before. Do not take it twice.";
    case "RETURN_WINDOW_CLOSED": return "The return window has closed for this order. Refer the buyer to the shop.";
    case "FORBIDDEN": return "Not at this counter: you take returns in at your own location only.";
    case "NOT_FOUND": return "No open return matches this code. Check it with the buyer.";
    case "BAD_USER_INPUT": return "Refused: " + (e.message || "this is not a return code") + ". Scan again, or type the code under the return QR.";
    default: return staffErrorText(e);
  }
}

export default async function returns(ctx) {
  const locations = (await gql("{ locations { id code name kind } }")).locations;
  const mine = ctx.staff.location ? locations.find((l) => l.code === ctx.staff.location) : null;
  ctx.main.append(h("div", { class: "page-head" }, h("h1", {}, "Returns")));

  // Intake.
  const input = h("input", { id: "return-code", name: "code", class: "scan-input", autocomplete: "off", spellcheck: "false", enterkeyhint: "go", required: true });
  const where = mine
    ? h("p", { class: "muted" }, "Dropped off at " + mine.name)
    : field("Dropped off at", "select", { name: "location", id: "return-location" }, locations.map((l) => h("option", { value: l.id }, l.name + " (" + l.code + ")")));
  const result = h("div", { id: "return-result", role: "status", "aria-live": "assertive", class: "scan-result" });
  const form = h("form", { id: "return-form", class: "panel" }, h("h2", {}, "Take a return in"),
    h("label", { for: "return-code" }, "Scan the return QR, or type the return's code"),
    h("div", { class: "toolbar scan-row" }, h("div", { class: "grow" }, input), h("button", { type: "submit" }, "Receive")), where, result);
  ctx.main.append(form);
  if (ctx.staff.role === "CLERK" && !mine) {
    result.className = "scan-result error";
    result.textContent = "Your location (" + (ctx.staff.location || "none") + ") is not set up in the shop: ask the owner before taking returns in.";
  }
  let key = null, busy = false;
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const code = input.value.trim();
    if (!code || busy) return;
    busy = true; key = key || crypto.randomUUID();
    result.className = "scan-result busy"; result.textContent = "Checking…";
    try {
      const locationId = mine ? mine.id : form.querySelector("#return-location").value;
      const r = (await gql(RECEIVE, { i: { code, locationId, idempotencyKey: key } })).receiveReturn.return;
      key = null;
      result.className = "scan-result ok";
      result.replaceChildren(h("strong", {}, "Received: " + r.units + (r.units === 1 ? " unit" : " units") + " of order " + r.order.number + "."), " ",
        r.refunded.amount ? r.refunded.formatted + " went back to the buyer's wallet." : "It waits in the inspection lane.");
      if (grades(ctx.staff)) await loadLane();
    } catch (e) {
      if (!["OFFLINE", "BAD_RESPONSE", "RATE_LIMITED"].includes(e.code)) key = null;
      result.className = "scan-result error";
      result.textContent = refusal(e);
    } finally {
      busy = false; input.value = ""; input.focus();
    }
  });
  input.focus();
  if (!grades(ctx.staff)) return;

  // The inspection lane: received returns, one control per unit.
  const lane = h("div", { id: "inspection-lane" });
  ctx.main.append(h("section", { class: "panel", "aria-labelledby": "lane-h" }, h("h2", { id: "lane-h" }, "Inspection lane"), lane));
  const gradeAt = field("Graded units go to", "select", { name: "grade-location", id: "grade-location" },
    locations.filter((l) => l.kind !== "LOCKER").map((l) => h("option", { value: l.id }, l.name + " (" + l.code + ")")));
  lane.before(gradeAt);
  async function loadLane() {
    const rs = (await gql(LIST, { st: "RECEIVED" })).returns.edges.map((e) => e.node);
    if (!rs.length) return lane.replaceChildren(h("p", { class: "muted empty" }, "Nothing waits for inspection."));
    lane.replaceChildren(...rs.map((r) => h("div", { class: "inspect", "data-return": r.code },
      h("h3", {}, "Return " + r.code + " · order ", h("a", { href: "/admin/orders/" + r.order.id }, r.order.number), " · " + words(r.reason)),
      r.reasonText ? h("p", { class: "muted" }, "“" + r.reasonText + "”") : null,
      table([
        { label: "Unit", cell: (l) => l.orderLine.title + " (" + l.orderLine.sku + ")" },
        { label: "Grade", cell: (l) => l.grade ? status(l.grade) : gradeControls(l) },
      ], r.lines || []))));
  }
  function gradeControls(l) {
    const sel = h("select", { "aria-label": "Grade for " + l.orderLine.title, "data-grade": l.id }, GRADES.map((g) => h("option", { value: g.value }, g.label)));
    const btn = act(h("button", { type: "button", class: "small", "data-grade-submit": l.id }, "Grade"),
      (key) => gql(GRADE, { i: { lineId: l.id, grade: sel.value, locationId: gradeAt.querySelector("select").value, idempotencyKey: key } }),
      async (d) => {
        const g = GRADES.find((x) => x.value === d.gradeReturnLine.line.grade);
        done(l.orderLine.title + ": " + (g ? g.label.toLowerCase() : "graded") + (g && g.value === "RESELLABLE" ? " (stock +1)." : "."));
        await loadLane();
        await loadList();
      });
    return h("div", { class: "row-actions" }, sel, btn);
  }

  // Returns by status.
  const pick = field("Status", "select", { name: "status", id: "returns-status" }, STATUSES.map((s) => h("option", { value: s, selected: s === (ctx.query.get("status") || "REQUESTED") }, words(s))));
  const list = h("div", { id: "returns-list" });
  ctx.main.append(h("section", { class: "panel", "aria-labelledby": "list-h" }, h("h2", { id: "list-h" }, "Returns by status"), pick, list));
  async function loadList() {
    const st = pick.querySelector("select").value;
    const c = (await gql(LIST, { st })).returns;
    list.replaceChildren(table([
      { label: "Code", cell: (r) => r.code },
      { label: "Order", cell: (r) => h("a", { href: "/admin/orders/" + r.order.id }, r.order.number) },
      { label: "Units", num: true, cell: (r) => r.gradedUnits + "/" + r.units + " graded" },
      { label: "Reason", cell: (r) => words(r.reason) },
      { label: "Amount", num: true, cell: (r) => r.amount.formatted },
      { label: "Refunded", num: true, cell: (r) => r.refunded.formatted },
      { label: "Received", cell: (r) => r.receivedLocation ? r.receivedLocation.name + ", " + when(r.receivedAt) : "—" },
      { label: "Asked", cell: (r) => when(r.createdAt) },
    ], c.edges.map((e) => e.node), "No returns " + words(st) + "."));
  }
  pick.querySelector("select").addEventListener("change", () => loadList().catch((e) => notice(staffErrorText(e))));
  await loadLane();
  await loadList();
}
