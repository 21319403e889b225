// Memberships: tiers (price, period, early access, discount) and member
// prices for a variant or a percentage off a collection.
import { gql, h, money } from "/assets/lib.js";
import { done, field, table, value } from "/assets/admin-lib.js";
import { bad, show, submitter, toMinor } from "/assets/admin-forms.js";

const M = "amount currency currencyDigits";

export default async function memberships(ctx) {
  const d = await gql(`{ membershipTiers { id name period earlyAccessMinutes discountPercent price { ${M} }
      prices { id percentOff amount { ${M} } variant { sku title } collection { title } } }
    variants(first: 100) { edges { node { id sku title price { ${M} } product { title } } } }
    collections(first: 50) { edges { node { id title } } } }`);
  const tiers = d.membershipTiers;
  const variants = d.variants.edges.map((e) => ({ ...e.node, product: e.node.product.title }));
  const reload = () => ctx.go("/admin/memberships");

  const tierForm = h("form", { class: "form-grid", id: "tier-form" },
    field("Name", "input", { name: "name", required: true, maxlength: 100, id: "t-name" }),
    field("Price", "input", { name: "price", required: true, inputmode: "decimal", placeholder: "5.00", id: "t-price" }),
    field("Currency", "input", { name: "currency", required: true, pattern: "[A-Z]{3}", maxlength: 3, value: "EUR", id: "t-currency" }),
    field("Billed every", "select", { name: "period", id: "t-period" }, h("option", { value: "MONTH" }, "month"), h("option", { value: "YEAR" }, "year")),
    field("Early access (minutes before a drop opens)", "input", { name: "early", type: "number", min: 0, step: 1, value: 0, id: "t-early" }),
    field("Discount on everything (%)", "input", { name: "discount", type: "number", min: 0, max: 100, step: 1, value: 0, id: "t-discount" }),
    h("div", { class: "actions" }, h("button", { type: "submit", id: "create-tier" }, "Create tier")));
  submitter(tierForm, () => {
    const c = value(tierForm, "currency"), amount = toMinor(value(tierForm, "price"), c);
    if (amount == null) throw bad("Price", "write it like 5.00");
    return gql(`mutation($i: CreateMembershipTierInput!) { createMembershipTier(input: $i) { tier { id name } } }`, { i: {
      name: value(tierForm, "name"), price: { amount, currency: c }, period: value(tierForm, "period"),
      earlyAccessMinutes: Number(value(tierForm, "early") || 0), discountPercent: Number(value(tierForm, "discount") || 0) } });
  }, (r) => { done("Tier “" + r.createMembershipTier.tier.name + "” created."); reload(); });

  const priceForm = h("form", { class: "form-grid", id: "member-price-form" },
    field("Tier", "select", { name: "tier", required: true, id: "mp-tier" }, tiers.map((t) => h("option", { value: t.id }, t.name))),
    field("For", "select", { name: "target", required: true, id: "mp-target" },
      h("optgroup", { label: "A variant: a fixed member price" }, variants.map((v) => h("option", { value: "v:" + v.id, "data-currency": v.price.currency }, v.product + " · " + v.title + " (" + v.sku + ")"))),
      h("optgroup", { label: "A collection: a percentage off" }, d.collections.edges.map(({ node: c }) => h("option", { value: "c:" + c.id }, c.title)))),
    field("Member price (for a variant)", "input", { name: "amount", inputmode: "decimal", placeholder: "20.00", id: "mp-amount" }),
    field("Percent off (for a collection)", "input", { name: "percent", type: "number", min: 1, max: 100, step: 1, id: "mp-percent" }),
    h("div", { class: "actions" }, h("button", { type: "submit", id: "set-member-price" }, "Set member price")));
  submitter(priceForm, () => {
    const [kind, id] = value(priceForm, "target").split(":");
    const i = { tierId: value(priceForm, "tier") };
    if (kind === "v") {
      const opt = priceForm.elements.namedItem("target").selectedOptions[0];
      const amount = toMinor(value(priceForm, "amount"), opt.dataset.currency);
      if (amount == null) throw bad("Member price", "write it like 20.00");
      Object.assign(i, { variantId: id, amount });
    } else {
      if (!value(priceForm, "percent")) throw bad("Percent off", "give a percentage for a collection");
      Object.assign(i, { collectionId: id, percentOff: Number(value(priceForm, "percent")) });
    }
    return gql(`mutation($i: SetMemberPriceInput!) { setMemberPrice(input: $i) { memberPrice { id } } }`, { i });
  }, () => { done("Member price set."); reload(); });

  show(ctx.main, 
    h("div", { class: "page-head" }, h("h1", {}, "Memberships")),
    table([
      { label: "Tier", cell: (t) => t.name },
      { label: "Price", num: true, cell: (t) => money(t.price) + " / " + t.period.toLowerCase() },
      { label: "Early access", num: true, cell: (t) => (t.earlyAccessMinutes ? t.earlyAccessMinutes + " min" : "—") },
      { label: "Discount", num: true, cell: (t) => (t.discountPercent ? t.discountPercent + " %" : "—") },
      { label: "Member prices", cell: (t) => ((t.prices || []).length ? h("ul", { class: "plain" }, t.prices.map((p) => h("li", {},
        p.variant ? p.variant.sku + ": " + (p.amount ? money(p.amount) : (p.percentOff || 0) + " % off") : (p.collection ? p.collection.title : "—") + ": " + (p.percentOff || 0) + " % off"))) : "—") },
    ], tiers, "No membership tiers yet."),
    h("section", { class: "panel", "aria-labelledby": "tier-h" }, h("h2", { id: "tier-h" }, "New tier"), tierForm),
    tiers.length ? h("section", { class: "panel", "aria-labelledby": "mp-h" }, h("h2", { id: "mp-h" }, "Member prices"), priceForm) : null);
}
