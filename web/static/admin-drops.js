// Drops: the list, scheduling a drop (variants, cap, per-customer limit,
// channel pools, opening, closing and the members' early window), and
// editing one.
import { gql, h } from "/assets/lib.js";
import { done, field, status, table, value, when } from "/assets/admin-lib.js";
import { bad, fromLocal, localInput, show, submitter } from "/assets/admin-forms.js";

const DROP = "id title state opensAt closesAt earlyAccessAt cap remaining perCustomerLimit holdSeconds pools { channel allocated remaining } variants { id sku title }";
const CHANNELS = [["ONLINE", "Online shop"], ["LIVE", "Livestream"], ["HUB", "Pop-up hub"]];

export default async function drops(ctx) {
  const d = await gql(`{ drops(first: 100, orderBy: { field: OPENS_AT, direction: DESC }) { edges { node { ${DROP} } } }
    products(first: 100) { edges { node { title variants { id sku title available } } } } }`);
  const list = d.drops.edges.map((e) => e.node);
  const variants = d.products.edges.flatMap((e) => e.node.variants.map((v) => ({ ...v, product: e.node.title })));
  const editing = list.find((x) => x.id === (ctx.path[0] || ctx.query.get("edit")));

  const hour = 3600e3, soon = new Date(Math.ceil((Date.now() + hour) / hour) * hour);
  const form = h("form", { class: "form-grid", id: "drop-form" },
    field("Title", "input", { name: "title", required: true, maxlength: 200, id: "d-title" }),
    field("Cap (units in all)", "input", { name: "cap", type: "number", min: 1, step: 1, required: true, id: "d-cap" }),
    field("Units per customer (0: no limit)", "input", { name: "limit", type: "number", min: 0, step: 1, value: 0, id: "d-limit" }),
    field("Hold time in seconds (30–3600)", "input", { name: "hold", type: "number", min: 30, max: 3600, step: 1, value: 600, id: "d-hold" }),
    field("Opens", "input", { name: "opens", type: "datetime-local", required: true, value: localInput(soon), id: "d-opens" }),
    field("Closes", "input", { name: "closes", type: "datetime-local", required: true, value: localInput(new Date(+soon + 24 * hour)), id: "d-closes" }),
    field("Members' early access from (optional)", "input", { name: "early", type: "datetime-local", id: "d-early" }),
    h("fieldset", { class: "wide-field" }, h("legend", {}, "Channel pools (must add up to the cap; all empty: everything online)"),
      h("div", { class: "form-grid" }, CHANNELS.map(([c, label]) => field(label, "input", { name: "pool-" + c, type: "number", min: 0, step: 1, id: "d-pool-" + c.toLowerCase() })))),
    h("fieldset", { class: "wide-field", id: "d-variants" }, h("legend", {}, "Variants in the drop"),
      variants.length ? variants.map((v) => h("label", { class: "check" }, h("input", { type: "checkbox", name: "variant", value: v.id }),
        " " + v.product + " · " + v.title + " (" + v.sku + ", " + v.available + " in stock)")) : h("p", { class: "muted" }, "No variants yet: add products in the catalog first.")),
    h("div", { class: "actions" }, h("button", { type: "submit", id: "create-drop" }, "Schedule drop")));
  submitter(form, () => {
    const cap = Number(value(form, "cap"));
    const ids = [...form.querySelectorAll("input[name=variant]:checked")].map((c) => c.value);
    if (!ids.length) throw bad("Variants", "pick at least one");
    const pools = CHANNELS.map(([c]) => ({ channel: c, units: value(form, "pool-" + c) === "" ? null : Number(value(form, "pool-" + c)) })).filter((p) => p.units != null && p.units > 0);
    if (pools.length && pools.reduce((n, p) => n + p.units, 0) !== cap) throw bad("Channel pools", "they add up to " + pools.reduce((n, p) => n + p.units, 0) + ", not the cap of " + cap);
    const i = { title: value(form, "title"), variantIds: ids, cap, perCustomerLimit: Number(value(form, "limit") || 0), holdSeconds: Number(value(form, "hold") || 600),
      opensAt: fromLocal(value(form, "opens")), closesAt: fromLocal(value(form, "closes")), earlyAccessAt: fromLocal(value(form, "early")) };
    if (pools.length) i.pools = pools;
    return gql(`mutation($i: CreateDropInput!) { createDrop(input: $i) { drop { id title } } }`, { i });
  }, (r) => { done("Drop “" + r.createDrop.drop.title + "” scheduled."); ctx.go("/admin/board/" + r.createDrop.drop.id); });

  show(ctx.main, 
    h("div", { class: "page-head" }, h("h1", {}, "Drops"), h("a", { class: "button secondary small", href: "/admin/board" }, "Live board")),
    table([
      { label: "Drop", cell: (x) => h("a", { href: "/admin/board/" + x.id }, x.title) },
      { label: "State", cell: (x) => status(x.state) },
      { label: "Opens", cell: (x) => when(x.opensAt) },
      { label: "Closes", cell: (x) => when(x.closesAt) },
      { label: "Early access", cell: (x) => when(x.earlyAccessAt) },
      { label: "Remaining", num: true, cell: (x) => x.remaining + " / " + x.cap },
      { label: "Per customer", num: true, cell: (x) => x.perCustomerLimit || "no limit" },
      { label: "Pools", cell: (x) => x.pools.map((p) => p.channel.toLowerCase() + " " + p.remaining + "/" + p.allocated).join(", ") },
      { label: "", cell: (x) => h("a", { class: "button secondary small", href: "/admin/drops/" + x.id, "aria-label": "Edit " + x.title }, "Edit") },
    ], list, "No drops yet: schedule the first below."),
    editing ? editPanel(ctx, editing) : null,
    h("section", { class: "panel", "aria-labelledby": "new-drop-h" }, h("h2", { id: "new-drop-h" }, "Schedule a drop"), form));
  if (editing) ctx.main.querySelector("#edit-drop-form input").focus();
}

function editPanel(ctx, x) {
  const f = h("form", { class: "form-grid", id: "edit-drop-form" },
    field("Title", "input", { name: "title", required: true, maxlength: 200, value: x.title, id: "e-title" }),
    field("Units per customer (0: no limit)", "input", { name: "limit", type: "number", min: 0, step: 1, value: x.perCustomerLimit, id: "e-limit" }),
    field("Hold time in seconds", "input", { name: "hold", type: "number", min: 30, max: 3600, step: 1, value: x.holdSeconds, id: "e-hold" }),
    field("Opens", "input", { name: "opens", type: "datetime-local", required: true, value: localInput(x.opensAt), id: "e-opens" }),
    field("Closes", "input", { name: "closes", type: "datetime-local", required: true, value: localInput(x.closesAt), id: "e-closes" }),
    field("Members' early access from (empty: none)", "input", { name: "early", type: "datetime-local", value: localInput(x.earlyAccessAt), id: "e-early" }),
    h("div", { class: "actions" }, h("button", { type: "submit", id: "save-drop" }, "Save drop"), h("a", { class: "button secondary", href: "/admin/drops" }, "Cancel")));
  submitter(f, () => {
    const early = fromLocal(value(f, "early"));
    return gql(`mutation($i: UpdateDropInput!) { updateDrop(input: $i) { drop { id } } }`, { i: {
      id: x.id, title: value(f, "title"), perCustomerLimit: Number(value(f, "limit") || 0), holdSeconds: Number(value(f, "hold")),
      opensAt: fromLocal(value(f, "opens")), closesAt: fromLocal(value(f, "closes")), ...(early ? { earlyAccessAt: early } : { clearEarlyAccess: true }) } });
  }, () => { done("Drop saved."); ctx.go("/admin/drops"); });
  return h("section", { class: "panel", "aria-labelledby": "edit-drop-h" }, h("h2", { id: "edit-drop-h" }, "Edit “" + x.title + "”"),
    h("p", { class: "muted" }, "The cap, variants and pools stay; move units between pools on the live board."), f);
}
