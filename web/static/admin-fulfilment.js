// Fulfilment: hand over pickups by scanning the buyer's pass (a keyboard-
// wedge scanner types it and presses Enter; the device camera through
// BarcodeDetector where the browser has it; or the short code typed), the
// pick list grouped by pickup window and method, packing, labels (ZPL for
// a label printer or a PDF), and the late list by SLA. Live: every listed
// fulfilment is watched (fulfillmentUpdated). A clerk sees the pickups at
// their location and the handover; packing, labels and the late list are
// for owners and staff.
import { gql, h, subscribe, notice } from "/assets/lib.js";
import { act, field, table, when, status, done, staffErrorText } from "/assets/admin-lib.js";

const F = `id status method pickupCode late dueAt packagingVariant
  location { code name } window { id startsAt endsAt pickupPoint { name } }
  lines { quantity orderLine { sku title } } order { id number }`;
const OPEN = ["UNFULFILLED", "PICKING", "PACKED", "READY_FOR_PICKUP"];
const LIST = `query { fulfillments(first: 100, where: { statusIn: [${OPEN.join(",")}] }, orderBy: { field: DUE_AT, direction: ASC }) {
  totalCount edges { node { ${F} } } } }`;
const LATE = `{ lateFulfillments(first: 50) { ${F} escalatedAt } }`;
const COLLECT = `mutation($i: CollectPickupInput!) { collectPickup(input: $i) { fulfillment { id status collectedAt
  order { id number } lines { quantity orderLine { title } } } } }`;
const ADVANCE = `mutation($i: AdvanceFulfillmentInput!) { advanceFulfillment(input: $i) { fulfillment { ${F} } } }`;
const LABEL = `mutation($i: PrintFulfillmentLabelInput!) { printFulfillmentLabel(input: $i) { format contentType data fulfillment { ${F} } } }`;
const WATCH = `subscription($ids: [ID!]!) { fulfillmentUpdated(fulfillmentIds: $ids) { ${F} } }`;

const words = (s) => String(s).replaceAll("_", " ").toLowerCase();
const hhmm = (t) => new Date(t).toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit" });
const packs = (staff) => staff.role === "OWNER" || staff.role === "STAFF";

// next is the one move the pick list offers from a status.
function next(f) {
  switch (f.status) {
    case "UNFULFILLED": return { to: "PICKING", label: "Start picking" };
    case "PICKING": return { to: "PACKED", label: "Mark packed" };
    case "PACKED": return f.method === "PICKUP" ? { to: "READY_FOR_PICKUP", label: "Ready for pickup" } : { to: "HANDED_TO_COURIER", label: "Handed to courier" };
    default: return null;
  }
}

// refusal words a failed handover for the person at the counter.
export function refusal(e) {
  switch (e && e.code) {
    case "ALREADY_COLLECTED": return "Already collected: this pickup was handed over before. Do not hand it over again.";
    case "FORBIDDEN": return "Not at this counter: the pickup belongs to another location (or your role cannot hand it over). Send the buyer to the right place.";
    case "NOT_FOUND": return "No open pickup matches this pass. Check the order number with the buyer.";
    case "BAD_USER_INPUT": return "Refused: " + ((e.message || "this is not a pickup pass").replace(/^[a-z]/, (c) => c.toUpperCase())) + ". Scan again, or type the 6-character code under the buyer's QR.";
    default: return staffErrorText(e);
  }
}

// scanBox is the handover: a field a wedge scanner types into (Enter
// submits), a camera button where BarcodeDetector exists, and a result
// announced in words.
function scanBox(onCollected) {
  const input = h("input", { id: "scan-code", name: "code", class: "scan-input", autocomplete: "off", autocapitalize: "characters", spellcheck: "false", enterkeyhint: "go", required: true });
  const result = h("div", { id: "scan-result", role: "status", "aria-live": "assertive", class: "scan-result" });
  const form = h("form", { id: "scan-form", class: "panel handover" }, h("h2", {}, "Hand over a pickup"),
    h("label", { for: "scan-code" }, "Scan the buyer's pickup pass, or type its code"),
    h("div", { class: "toolbar scan-row" }, h("div", { class: "grow" }, input), h("button", { type: "submit", id: "scan-submit" }, "Hand over")),
    result);
  let key = null, busy = false;
  const submit = async () => {
    const code = input.value.trim();
    if (!code || busy) return;
    busy = true;
    key = key || crypto.randomUUID();
    result.className = "scan-result busy";
    result.textContent = "Checking…";
    try {
      const d = await gql(COLLECT, { i: { code, idempotencyKey: key } });
      const f = d.collectPickup.fulfillment;
      const items = (f.lines || []).map((l) => l.quantity + " × " + l.orderLine.title).join(", ");
      result.className = "scan-result ok";
      result.replaceChildren(h("strong", {}, "Hand it over: order " + (f.order ? f.order.number : "") + "."), " ", items);
      key = null;
      onCollected && onCollected(f);
    } catch (e) {
      if (!["OFFLINE", "BAD_RESPONSE", "RATE_LIMITED"].includes(e.code)) key = null;
      result.className = "scan-result error";
      result.textContent = refusal(e);
    } finally {
      busy = false;
      input.value = "";
      input.focus();
    }
  };
  form.addEventListener("submit", (ev) => { ev.preventDefault(); submit(); });
  input.addEventListener("input", () => { key = null; });

  // The camera, only where the browser can read QR codes itself.
  if ("BarcodeDetector" in window) {
    const video = h("video", { id: "scan-video", muted: true, playsinline: true, hidden: true, "aria-label": "Camera preview" });
    const cam = h("button", { type: "button", id: "scan-camera", class: "small" }, "Scan with the camera");
    let stream = null, timer = null;
    const stop = () => { clearInterval(timer); timer = null; stream && stream.getTracks().forEach((t) => t.stop()); stream = null; video.hidden = true; cam.textContent = "Scan with the camera"; };
    cam.addEventListener("click", async () => {
      if (stream || timer) return stop();
      try {
        const detector = new window.BarcodeDetector({ formats: ["qr_code"] });
        if (navigator.mediaDevices && navigator.mediaDevices.getUserMedia) {
          stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" } });
          video.srcObject = stream;
          video.hidden = false;
          video.play().catch(() => { /* frames come when the camera starts */ });
        }
        cam.textContent = "Stop the camera";
        timer = setInterval(async () => {
          try {
            const codes = await detector.detect(video);
            if (codes.length && codes[0].rawValue) {
              input.value = codes[0].rawValue;
              stop();
              submit();
            }
          } catch { /* a frame not ready yet */ }
        }, 250);
      } catch {
        stop();
        notice("The camera could not start. Allow the camera for this page, or use the scanner or the code.");
      }
    });
    form.append(h("div", { class: "camera" }, cam, video));
    form.stopCamera = stop;
  }
  setTimeout(() => input.focus(), 0);
  return form;
}

// group names where a fulfilment goes: its pickup window, or its method.
function group(f) {
  if (f.method === "PICKUP") {
    if (f.window) return "Pickup · " + f.window.pickupPoint.name + " · " + when(f.window.startsAt) + "–" + hhmm(f.window.endsAt);
    return "Pickup · " + (f.location ? f.location.name : "at the shop") + " · any time";
  }
  return words(f.method).replace(/^./, (c) => c.toUpperCase());
}

export default async function fulfilment(ctx) {
  const staffMay = packs(ctx.staff);
  const items = new Map();
  const listBox = h("div", { id: "pick-list" });
  const lateBox = h("div", { id: "late-list" });
  const scan = scanBox((f) => { const had = items.get(f.id); if (had) { had.status = f.status; draw(); } });
  ctx.onLeave(() => scan.stopCamera && scan.stopCamera());
  ctx.main.append(h("div", { class: "page-head" }, h("h1", {}, "Fulfilment"),
    ctx.staff.location ? h("p", { class: "muted" }, "At " + ctx.staff.location) : null), scan,
  h("section", { class: "panel", "aria-labelledby": "pick-h" }, h("h2", { id: "pick-h" }, "Pick list"), listBox));
  if (staffMay) ctx.main.append(h("section", { class: "panel", "aria-labelledby": "late-h" }, h("h2", { id: "late-h" }, "Late by SLA"), lateBox));

  const packaging = (f) => h("select", { "aria-label": "Packaging for order " + (f.order ? f.order.number : f.id), class: "small", "data-packaging": f.id },
    ["mailer-S", "mailer-M", "box-M", "box-L", "bag-reusable"].map((p) => h("option", { value: p, selected: p === f.packagingVariant }, p)));
  const actions = (f) => {
    if (!staffMay) return f.status === "READY_FOR_PICKUP" ? "Scan the pass to hand over" : "—";
    const n = next(f);
    const out = [];
    if (n) out.push(act(h("button", { type: "button", class: "small", "data-advance": f.id }, n.label),
      (key) => gql(ADVANCE, { i: { fulfillmentId: f.id, status: n.to, idempotencyKey: key } }),
      (d) => { items.set(f.id, d.advanceFulfillment.fulfillment); draw(); done("Order " + (f.order ? f.order.number : "") + ": " + words(n.to) + "."); }));
    const sel = packaging(f);
    const label = (format) => act(h("button", { type: "button", class: "small", "data-label": format + "-" + f.id }, format === "PDF" ? "Label PDF" : "Label ZPL"),
      (key) => gql(LABEL, { i: { fulfillmentId: f.id, packagingVariant: sel.value, format, idempotencyKey: key } }),
      (d) => {
        const l = d.printFulfillmentLabel;
        items.set(f.id, l.fulfillment);
        const bytes = Uint8Array.from(atob(l.data), (c) => c.charCodeAt(0));
        const url = URL.createObjectURL(new Blob([bytes], { type: l.contentType }));
        const name = "label-" + (f.order ? f.order.number : f.id) + (format === "PDF" ? ".pdf" : ".zpl");
        const a = h("a", { href: url, download: name, hidden: true });
        document.body.append(a); a.click(); a.remove();
        if (format === "PDF") window.open(url, "_blank", "noopener");
        setTimeout(() => URL.revokeObjectURL(url), 60000);
        done(format === "PDF" ? "Label ready: print the PDF that opened." : "Label ready: " + name + " goes to the label printer.");
      });
    out.push(sel, label("ZPL"), label("PDF"));
    return h("div", { class: "row-actions" }, out);
  };
  const row = (f) => [
    { label: "Order", cell: (x) => x.order ? (staffMay ? h("a", { href: "/admin/orders/" + x.order.id }, x.order.number) : x.order.number) : "—" },
    { label: "Status", cell: (x) => [status(x.status), x.late ? h("span", { class: "pill late" }, "late") : null] },
    { label: "Items", cell: (x) => (x.lines || []).map((l) => l.quantity + " × " + l.orderLine.title + " (" + l.orderLine.sku + ")").join(", ") },
    { label: "Code", cell: (x) => x.method === "PICKUP" ? h("span", { class: "code" }, x.pickupCode) : "—" },
    { label: "Due", cell: (x) => when(x.dueAt) },
    { label: "Actions", cell: actions },
  ];
  function draw() {
    const open = [...items.values()].filter((f) => OPEN.includes(f.status));
    const groups = new Map();
    for (const f of open) {
      const g = group(f);
      if (!groups.has(g)) groups.set(g, []);
      groups.get(g).push(f);
    }
    listBox.replaceChildren(...(open.length ? [...groups].map(([g, fs]) => h("div", { class: "pick-group" },
      h("h3", {}, g + " (" + fs.length + ")"), table(row(), fs))) : [h("p", { class: "muted empty" }, "Nothing to pick: every paid order is on its way.")]));
  }
  const d = await gql(LIST);
  for (const e of d.fulfillments.edges) items.set(e.node.id, e.node);
  draw();
  if (staffMay) {
    const late = (await gql(LATE)).lateFulfillments;
    lateBox.replaceChildren(table([
      { label: "Order", cell: (x) => x.order ? h("a", { href: "/admin/orders/" + x.order.id }, x.order.number) : "—" },
      { label: "Where", cell: group },
      { label: "Status", cell: (x) => status(x.status) },
      { label: "Was due", cell: (x) => when(x.dueAt) },
      { label: "Escalated", cell: (x) => when(x.escalatedAt) },
    ], late, "Nothing is late."));
  }
  const ids = [...items.keys()].slice(0, 100);
  if (ids.length) {
    const stop = subscribe(WATCH, { ids }, (v) => { items.set(v.fulfillmentUpdated.id, v.fulfillmentUpdated); draw(); },
      (e) => notice(staffErrorText(e)));
    ctx.onLeave(stop);
  }
}
