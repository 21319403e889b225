// Catalog: products (search, create, edit), variants with prices, stock
// per location, images uploaded from the browser, collections, and CSV
// export and import of products and stock.
import { gql, h, money, notice, token } from "/assets/lib.js";
import { done, download, field, staffErrorText, status, table, value } from "/assets/admin-lib.js";
import { bad, fromMinor, show, submitter, toMinor } from "/assets/admin-forms.js";

const M = "amount currency currencyDigits";
const PRODUCT = `id title slug description status vendor
  images { id url alt } collections { id title }
  variants { id sku title position price { ${M} } compareAtPrice { ${M} } available stockLevels { location { id code name } available held onHand } }`;
const slugify = (s) => s.toLowerCase().normalize("NFKD").replace(/[^a-z0-9]+/g, "-").replace(/^-+|-+$/g, "").slice(0, 120);

export default async function catalog(ctx) {
  if (ctx.path[0] === "new") return create(ctx);
  if (ctx.path[0]) return edit(ctx, ctx.path[0]);
  return list(ctx);
}

async function list(ctx) {
  const q = ctx.query.get("q") || "";
  const d = await gql(`query($w: ProductWhereInput) {
    products(first: 100, where: $w) { edges { node { id title slug status images { url } variants { id available } } } }
    collections(first: 100) { edges { node { id title slug products(first: 1) { totalCount } } } } }`,
  { w: q ? { titleContainsFold: q } : null });
  const products = d.products.edges.map((e) => e.node);
  const search = h("form", { class: "toolbar", role: "search", id: "product-search" },
    h("div", { class: "grow" }, field("Search products", "input", { name: "q", type: "search", value: q, placeholder: "Title contains…" })),
    h("button", { type: "submit", class: "secondary" }, "Search"));
  search.addEventListener("submit", (ev) => { ev.preventDefault(); ctx.go("/admin/catalog" + (value(search, "q") ? "?q=" + encodeURIComponent(value(search, "q")) : "")); });

  const exportBtn = h("button", { type: "button", class: "secondary", id: "export-csv" }, "Export CSV");
  exportBtn.addEventListener("click", async () => {
    try {
      download("catalog.csv", (await gql("{ catalogCSV }")).catalogCSV);
      done("The catalog CSV is downloading.");
    } catch (e) { notice(staffErrorText(e)); }
  });
  const report = h("div", { id: "import-report", "aria-live": "polite" });
  const file = h("input", { type: "file", id: "import-file", accept: ".csv,text/csv", class: "visually-hidden-file" });
  const importForm = h("form", { class: "toolbar", id: "import-form" },
    h("div", { class: "field" }, h("label", { for: "import-file" }, "Import CSV (products, variants, prices, stock)"), file),
    h("button", { type: "submit" }, "Import"));
  submitter(importForm, async () => {
    const f = file.files[0];
    if (!f) throw bad("file", "choose a CSV file");
    if (f.size > 512 * 1024) throw bad("file", "the file is larger than 512 KB; split it");
    return (await gql(`mutation($c: String!) { importCatalogCSV(input: {csv: $c}) { created updated unchanged failed rows { row sku outcome code message } } }`,
      { c: await f.text() })).importCatalogCSV;
  }, (r) => {
    done(`Import finished: ${r.created} created, ${r.updated} updated, ${r.unchanged} unchanged, ${r.failed} failed.`);
    const failed = r.rows.filter((x) => x.outcome === "FAILED");
    show(report, 
      h("p", { id: "import-summary" }, `${r.created} created · ${r.updated} updated · ${r.unchanged} unchanged · ${r.failed} failed`),
      failed.length ? h("ul", { class: "import-errors" }, failed.map((x) => h("li", {}, "Row " + x.row + (x.sku ? " (" + x.sku + ")" : "") + ": " + x.message))) : null);
  });

  const colForm = h("form", { class: "form-grid", id: "collection-form" },
    field("Title", "input", { name: "title", required: true, maxlength: 200, id: "col-title" }),
    field("Slug", "input", { name: "slug", required: true, pattern: "[a-z0-9]+(-[a-z0-9]+)*", maxlength: 120, id: "col-slug" }),
    h("div", { class: "actions" }, h("button", { type: "submit" }, "Create collection")));
  const colTitle = colForm.elements.namedItem("title");
  colTitle.addEventListener("input", () => { colForm.elements.namedItem("slug").value = slugify(colTitle.value); });
  submitter(colForm, () => gql(`mutation($i: CreateCollectionInput!) { createCollection(input: $i) { collection { id } } }`,
    { i: { title: value(colForm, "title"), slug: value(colForm, "slug") } }), () => { done("Collection created."); ctx.go(location.pathname + location.search); });

  show(ctx.main, 
    h("div", { class: "page-head" }, h("h1", {}, "Catalog"),
      h("div", { class: "actions" }, exportBtn, h("a", { class: "button", href: "/admin/catalog/new", id: "new-product" }, "New product"))),
    search,
    table([
      { label: "Image", cell: (p) => (p.images[0] ? h("img", { src: p.images[0].url, alt: "", width: 40, height: 40, class: "thumb" }) : "—") },
      { label: "Product", cell: (p) => h("a", { href: "/admin/catalog/" + p.id }, p.title) },
      { label: "Slug", cell: (p) => p.slug },
      { label: "Status", cell: (p) => status(p.status) },
      { label: "Variants", num: true, cell: (p) => p.variants.length },
      { label: "Available", num: true, cell: (p) => p.variants.reduce((n, v) => n + v.available, 0) },
    ], products, q ? "No product matches “" + q + "”." : "No products yet. Create one, or import a CSV."),
    h("section", { class: "panel", "aria-labelledby": "csv-h" }, h("h2", { id: "csv-h" }, "CSV import"),
      h("p", { class: "muted" }, "Columns: product_slug, product_title, product_status, sku, variant_title, price, compare_at_price, currency, location, stock. Start from an export. Each row is checked on its own; importing the same file again changes nothing."),
      importForm, report),
    h("section", { class: "panel", "aria-labelledby": "col-h" }, h("h2", { id: "col-h" }, "Collections"),
      table([
        { label: "Collection", cell: (c) => c.title },
        { label: "Slug", cell: (c) => c.slug },
        { label: "Products", num: true, cell: (c) => c.products.totalCount },
      ], d.collections.edges.map((e) => e.node), "No collections yet."),
      h("h3", {}, "New collection"), colForm));
}

function productFields(p = {}) {
  return [
    field("Title", "input", { name: "title", required: true, maxlength: 200, value: p.title || "", id: "p-title" }),
    field("Slug (the product's address)", "input", { name: "slug", required: true, pattern: "[a-z0-9]+(-[a-z0-9]+)*", maxlength: 120, value: p.slug || "", id: "p-slug" }),
    field("Status", "select", { name: "status", id: "p-status" }, ["ACTIVE", "DRAFT", "ARCHIVED"].map((s) => h("option", { value: s, selected: (p.status || "ACTIVE") === s }, s.toLowerCase()))),
    field("Vendor", "input", { name: "vendor", maxlength: 200, value: p.vendor || "", id: "p-vendor" }),
    h("div", { class: "field wide-field" }, h("label", { for: "p-description" }, "Description"),
      h("textarea", { name: "description", id: "p-description", maxlength: 20000 }, p.description || "")),
  ];
}

const productInput = (f) => ({ title: value(f, "title"), slug: value(f, "slug"), status: value(f, "status"), vendor: value(f, "vendor"), description: f.elements.namedItem("description").value });

async function create(ctx) {
  const form = h("form", { class: "form-grid", id: "product-form" }, productFields(),
    h("div", { class: "actions" }, h("button", { type: "submit", id: "create-product" }, "Create product")));
  let touched = false;
  const title = form.elements.namedItem("title"), slug = form.elements.namedItem("slug");
  slug.addEventListener("input", () => { touched = true; });
  title.addEventListener("input", () => { if (!touched) slug.value = slugify(title.value); });
  submitter(form, () => gql(`mutation($i: CreateProductInput!) { createProduct(input: $i) { product { id } } }`, { i: productInput(form) }),
    (r) => { done("Product created. Add its variants, stock and images."); ctx.go("/admin/catalog/" + r.createProduct.product.id); });
  show(ctx.main, h("div", { class: "page-head" }, h("h1", {}, "New product"), h("a", { class: "button secondary small", href: "/admin/catalog" }, "Back to the catalog")), form);
  title.focus();
}

// upload sends an image file to POST /uploads and returns its URL.
async function upload(file) {
  let res;
  try {
    res = await fetch("/uploads", { method: "POST", headers: { Authorization: "Bearer " + token(), "Content-Type": file.type || "application/octet-stream" }, body: file });
  } catch {
    throw Object.assign(new Error("offline"), { code: "OFFLINE" });
  }
  const body = await res.json().catch(() => ({}));
  if (!res.ok) {
    const e = (body.errors && body.errors[0]) || {};
    const code = (e.extensions && e.extensions.code) || "BAD_RESPONSE";
    if (res.status === 413) throw bad("image", "the image is larger than 5 MB");
    if (res.status === 415) throw bad("image", "only PNG, JPEG, WebP and GIF images can be uploaded");
    throw Object.assign(new Error(e.message || "upload failed"), { code });
  }
  return body.url;
}

async function edit(ctx, id) {
  const d = await gql(`query($id: ID!) { node(id: $id) { ... on Product { ${PRODUCT} } } locations { id code name } collections(first: 100) { edges { node { id title } } } }`, { id });
  const p = d.node;
  if (!p) { show(ctx.main, h("h1", {}, "Catalog"), h("p", { class: "notice error" }, "This product does not exist (any more).")); return; }
  const reload = () => ctx.go("/admin/catalog/" + id);
  const cur = (p.variants[0] && p.variants[0].price.currency) || "EUR";

  const form = h("form", { class: "form-grid", id: "product-form" }, productFields(p),
    h("fieldset", { class: "wide-field" }, h("legend", {}, "Collections"),
      d.collections.edges.length ? d.collections.edges.map(({ node: c }) => h("label", { class: "check" },
        h("input", { type: "checkbox", name: "collection", value: c.id, checked: p.collections.some((x) => x.id === c.id) }), " " + c.title))
        : h("p", { class: "muted" }, "No collections yet: create them on the catalog page.")),
    h("div", { class: "actions" }, h("button", { type: "submit", id: "save-product" }, "Save product")));
  submitter(form, () => {
    const chosen = [...form.querySelectorAll("input[name=collection]:checked")].map((c) => c.value);
    const had = p.collections.map((c) => c.id);
    return gql(`mutation($i: UpdateProductMutationInput!) { updateProduct(input: $i) { product { id } } }`, { i: { id, set: {
      ...productInput(form), addCollectionIDs: chosen.filter((c) => !had.includes(c)), removeCollectionIDs: had.filter((c) => !chosen.includes(c)) } } });
  }, () => done("Product saved."));

  // Images: upload, then the product's list is replaced in order.
  const setImages = (images) => gql(`mutation($i: SetProductImagesInput!) { setProductImages(input: $i) { product { id } } }`,
    { i: { productId: id, images: images.map((im) => ({ url: im.url, alt: im.alt })) } });
  const imgFile = h("input", { type: "file", name: "image", id: "image-file", accept: "image/png,image/jpeg,image/webp,image/gif", required: true });
  const imgForm = h("form", { class: "toolbar", id: "image-form" },
    h("div", { class: "field" }, h("label", { for: "image-file" }, "Image (PNG, JPEG, WebP or GIF, up to 5 MB)"), imgFile),
    h("div", { class: "grow" }, field("Description for screen readers", "input", { name: "alt", id: "image-alt", maxlength: 500 })),
    h("button", { type: "submit", id: "upload-image" }, "Upload image"));
  submitter(imgForm, async () => {
    const f = imgFile.files[0];
    if (!f) throw bad("image", "choose an image file");
    if (f.size > 5 * 1024 * 1024) throw bad("image", "the image is larger than 5 MB");
    const url = await upload(f);
    return setImages([...p.images, { url, alt: value(imgForm, "alt") }]);
  }, () => { done("Image added."); reload(); });
  const images = h("ul", { class: "images", id: "product-images" }, p.images.map((im, i) => h("li", {},
    h("img", { src: im.url, alt: im.alt || "", width: 120, height: 120 }),
    h("button", { type: "button", class: "secondary small", "aria-label": "Remove image " + (i + 1), onclick: async (ev) => {
      ev.target.disabled = true;
      try { await setImages(p.images.filter((_, j) => j !== i)); done("Image removed."); reload(); } catch (e) { notice(staffErrorText(e)); ev.target.disabled = false; }
    } }, "Remove"))));

  // Variants: a form that creates one, or edits the one picked.
  const vForm = h("form", { class: "form-grid", id: "variant-form" },
    h("input", { type: "hidden", name: "id" }),
    field("SKU", "input", { name: "sku", required: true, maxlength: 64, id: "v-sku" }),
    field("Title (e.g. size)", "input", { name: "title", required: true, maxlength: 200, id: "v-title" }),
    field("Price", "input", { name: "price", required: true, inputmode: "decimal", id: "v-price", placeholder: "25.00" }),
    field("Compare-at price (optional)", "input", { name: "compareAt", inputmode: "decimal", id: "v-compare" }),
    field("Currency", "input", { name: "currency", required: true, pattern: "[A-Z]{3}", maxlength: 3, value: cur, id: "v-currency" }),
    h("div", { class: "actions" }, h("button", { type: "submit", id: "save-variant" }, "Add variant"),
      h("button", { type: "reset", class: "secondary" }, "Clear")));
  vForm.addEventListener("reset", () => setTimeout(() => { vForm.querySelector("#save-variant").textContent = "Add variant"; vForm.elements.namedItem("currency").value = cur; }));
  submitter(vForm, () => {
    const c = value(vForm, "currency");
    const price = toMinor(value(vForm, "price"), c);
    if (price == null) throw bad("Price", "write it like 25.00");
    const cmp = value(vForm, "compareAt") ? toMinor(value(vForm, "compareAt"), c) : null;
    if (value(vForm, "compareAt") && cmp == null) throw bad("Compare-at price", "write it like 30.00");
    const vid = value(vForm, "id");
    const base = { sku: value(vForm, "sku"), title: value(vForm, "title"), price: { amount: price, currency: c } };
    if (vid) return gql(`mutation($i: UpdateVariantInput!) { updateVariant(input: $i) { variant { id } } }`,
      { i: { id: vid, ...base, ...(cmp != null ? { compareAtPrice: { amount: cmp, currency: c } } : { clearCompareAtPrice: true }) } });
    return gql(`mutation($i: CreateVariantInput!) { createVariant(input: $i) { variant { id } } }`,
      { i: { productId: id, ...base, position: p.variants.length, ...(cmp != null ? { compareAtPrice: { amount: cmp, currency: c } } : {}) } });
  }, () => { done("Variant saved."); reload(); });
  const pick = (v) => {
    vForm.elements.namedItem("id").value = v.id;
    vForm.elements.namedItem("sku").value = v.sku;
    vForm.elements.namedItem("title").value = v.title;
    vForm.elements.namedItem("price").value = fromMinor(v.price.amount, v.price.currency);
    vForm.elements.namedItem("compareAt").value = v.compareAtPrice ? fromMinor(v.compareAtPrice.amount, v.compareAtPrice.currency) : "";
    vForm.elements.namedItem("currency").value = v.price.currency;
    vForm.querySelector("#save-variant").textContent = "Save variant " + v.sku;
    vForm.elements.namedItem("sku").focus();
  };

  // Stock: the shelf count of a variant at a location.
  const sForm = h("form", { class: "toolbar", id: "stock-form" },
    field("Variant", "select", { name: "variant", id: "s-variant", required: true }, p.variants.map((v) => h("option", { value: v.id }, v.sku + " · " + v.title))),
    field("Location", "select", { name: "location", id: "s-location" }, d.locations.map((l) => h("option", { value: l.id }, l.name + " (" + l.code + ")"))),
    field("Units on the shelf", "input", { name: "count", id: "s-count", type: "number", min: 0, step: 1, required: true }),
    h("button", { type: "submit", id: "set-stock" }, "Set stock"));
  submitter(sForm, (key) => gql(`mutation($i: SetStockInput!) { setStock(input: $i) { available } }`,
    { i: { variantId: value(sForm, "variant"), locationId: value(sForm, "location"), available: Number(value(sForm, "count")), idempotencyKey: key } }),
  (r) => { done("Stock set: " + r.setStock.available + " can be sold now."); reload(); });

  const stockCell = (v) => (v.stockLevels.length ? h("ul", { class: "plain" }, v.stockLevels.map((s) =>
    h("li", {}, s.location.code + ": " + s.onHand + (s.held ? " (" + s.held + " held)" : "")))) : "none");

  show(ctx.main, 
    h("div", { class: "page-head" }, h("h1", { id: "product-title" }, p.title), h("div", { class: "actions" }, status(p.status),
      h("a", { class: "button secondary small", href: "/admin/catalog" }, "Back to the catalog"))),
    h("section", { class: "panel", "aria-labelledby": "details-h" }, h("h2", { id: "details-h" }, "Details"), form),
    h("section", { class: "panel", "aria-labelledby": "images-h" }, h("h2", { id: "images-h" }, "Images"),
      p.images.length ? images : h("p", { class: "muted" }, "No images yet."), imgForm),
    h("section", { class: "panel", "aria-labelledby": "variants-h" }, h("h2", { id: "variants-h" }, "Variants and stock"),
      table([
        { label: "SKU", cell: (v) => v.sku },
        { label: "Title", cell: (v) => v.title },
        { label: "Price", num: true, cell: (v) => money(v.price) },
        { label: "Compare-at", num: true, cell: (v) => (v.compareAtPrice ? money(v.compareAtPrice) : "—") },
        { label: "Sellable here", num: true, cell: (v) => v.available },
        { label: "On the shelf by location", cell: stockCell },
        { label: "", cell: (v) => h("button", { type: "button", class: "secondary small", onclick: () => pick(v), "aria-label": "Edit variant " + v.sku }, "Edit") },
      ], p.variants, "No variants yet: add the first below."),
      h("h3", {}, "Add or edit a variant"), vForm,
      p.variants.length ? [h("h3", {}, "Stock"), sForm] : null));
}
