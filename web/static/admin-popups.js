// Pop-ups: stock a hub before the show and print the venue's QR codes.
// Lease units of a variant from central's stock to a hub (the hub pulls
// its allocation and sells it with or without the venue's internet; what
// it hands back at closing returns by itself), see what each hub holds,
// and issue a QR code that opens the on-site checkout for chosen products.
import { gql, h } from "/assets/lib.js";
import { done, field, table, value } from "/assets/admin-lib.js";
import { bad, show, submitter } from "/assets/admin-forms.js";

const ALLOC = `query($hub: String!) { hubAllocation(hub: $hub) { sku available variant { title product { title } } } }`;

export default async function popups(ctx) {
  const d = await gql(`{ locations { code name kind }
    variants(first: 100) { edges { node { id sku title available product { title } } } }
    products(first: 100, where: { status: ACTIVE }) { edges { node { id title } } } }`);
  const hubs = d.locations.filter((l) => l.kind === "HUB");
  const variants = d.variants.edges.map((e) => e.node);
  const products = d.products.edges.map((e) => e.node);
  ctx.main.append(h("div", { class: "page-head" }, h("h1", {}, "Pop-ups")));
  if (!hubs.length) {
    ctx.main.append(h("p", { class: "notice warn", id: "no-hubs" }, "No hub yet: add a pickup point of kind “hub” in Settings → Delivery, with the code you start `merchd edge --hub CODE` with."));
    return;
  }
  const hub = ctx.query.get("hub") && hubs.some((x) => x.code === ctx.query.get("hub")) ? ctx.query.get("hub") : hubs[0].code;
  const pick = field("Hub", "select", { id: "hub-pick", name: "hub" }, hubs.map((x) => h("option", { value: x.code, selected: x.code === hub }, x.name + " (" + x.code + ")")));
  pick.querySelector("select").addEventListener("change", (ev) => ctx.go("/admin/popups?hub=" + encodeURIComponent(ev.target.value)));

  const held = h("div", { id: "allocation" });
  const load = async () => {
    const lines = (await gql(ALLOC, { hub })).hubAllocation;
    show(held, table([
      { label: "SKU", cell: (l) => h("span", { class: "code" }, l.sku) },
      { label: "Item", cell: (l) => (l.variant ? l.variant.product.title + " · " + l.variant.title : "not in this catalog") },
      { label: "At the hub", num: true, cell: (l) => String(l.available) },
    ], lines, "Nothing leased to this hub yet."));
  };

  const lease = submitter(h("form", { class: "form-grid", id: "lease-form" },
    field("Variant", "select", { name: "variant", required: true, id: "lease-variant" },
      variants.map((v) => h("option", { value: v.id }, v.product.title + " · " + v.title + " (" + v.sku + ", " + v.available + " at central)"))),
    field("Units", "input", { name: "units", type: "number", min: 1, max: 100000, required: true, id: "lease-units", inputmode: "numeric" }),
    h("div", { class: "actions" }, h("button", { type: "submit" }, "Lease to the hub"))),
  (key, form) => {
    const units = Number(value(form, "units"));
    if (!Number.isInteger(units) || units < 1) throw bad("units", "give a whole number of units above zero");
    return gql(`mutation($i: LeaseAllocationInput!) { leaseAllocation(input: $i) { available } }`,
      { i: { hub, variantId: value(form, "variant"), units, idempotencyKey: key } });
  }, async (r) => { done("The hub now holds " + r.leaseAllocation.available + " of it."); await load(); });

  const qrOut = h("div", { id: "qr-out" });
  const qr = submitter(h("form", { id: "qr-form" },
    field("Label (printed under the code)", "input", { name: "label", maxlength: 100, id: "qr-label", placeholder: "Merch table, left of the stage" }),
    h("fieldset", {}, h("legend", {}, "Products it opens (none: the whole shop)"),
      products.map((p) => h("label", { class: "check" }, h("input", { type: "checkbox", name: "product", value: p.id }), " " + p.title))),
    h("div", { class: "actions" }, h("button", { type: "submit" }, "Make the QR code"))),
  (_key, form) => gql(`mutation($i: IssueQRCodeInput!) { issueQRCode(input: $i) { url png } }`, { i: {
    label: value(form, "label") || null,
    productIds: [...form.querySelectorAll("input[name=product]:checked")].map((c) => c.value),
  } }), (r) => {
    const q = r.issueQRCode;
    show(qrOut, h("figure", { class: "panel" },
      h("img", { src: q.png, alt: "QR code opening " + q.url, width: 240, height: 240, id: "qr-img", class: "pass" }),
      h("figcaption", {}, h("span", { class: "code", id: "qr-url" }, q.url)),
      h("div", { class: "actions" }, h("a", { class: "button secondary", href: q.png, download: "merchd-qr.png" }, "Download the PNG"))));
    done("QR code made: print it for the venue.");
  });

  ctx.main.append(h("div", { class: "toolbar" }, pick),
    h("section", { class: "panel", "aria-labelledby": "alloc-h" }, h("h2", { id: "alloc-h" }, "What " + hub + " holds"), held),
    h("section", { class: "panel", "aria-labelledby": "lease-h" }, h("h2", { id: "lease-h" }, "Lease stock to " + hub),
      h("p", { class: "muted" }, "Units leave central's stock now and sell only at the hub; at closing the hub hands back what it did not sell."), lease),
    h("section", { class: "panel", "aria-labelledby": "qr-h" }, h("h2", { id: "qr-h" }, "Venue QR code"),
      h("p", { class: "muted" }, "Buyers scan it with their phone camera and pay on their phone, by card or from their wallet."), qr, qrOut));
  await load();
}
