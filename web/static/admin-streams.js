// Streams: create a stream, copy its WHIP URL and stream key (shown once;
// rotate for a new one), pin products and highlight one during the show,
// and end it.
import { gql, h } from "/assets/lib.js";
import { done, field, status, table, value, when } from "/assets/admin-lib.js";
import { copyButton, show, submitter } from "/assets/admin-forms.js";

const STREAM = "id title state startedAt endedAt viewerCount whipURL whepURL pinned { id title } highlighted { id title }";
const abs = (path) => location.origin + path;

// keyPanel shows a stream key once, with the WHIP URL, both to copy.
function keyPanel(s, key) {
  return h("section", { class: "panel", id: "stream-key-panel", "aria-labelledby": "key-h" },
    h("h2", { id: "key-h" }, "Publish from OBS"),
    h("p", {}, "In OBS: Settings → Stream → Service “WHIP”, then paste the server and the bearer token. The key is shown only now: copy it before leaving this page."),
    h("dl", { class: "keys" },
      h("dt", {}, "WHIP server"), h("dd", {}, h("code", { id: "whip-url" }, abs(s.whipURL)), " ", copyButton(() => abs(s.whipURL), "WHIP URL", "copy-whip")),
      h("dt", {}, "Stream key (bearer token)"), h("dd", {}, h("code", { id: "stream-key" }, key), " ", copyButton(() => key, "Stream key", "copy-key"))));
}

export default async function streams(ctx) {
  if (ctx.path[0]) return one(ctx, ctx.path[0]);
  const d = await gql(`{ streams(first: 50, orderBy: { field: CREATED_AT, direction: DESC }) { edges { node { ${STREAM} } } }
    products(first: 100, where: { status: ACTIVE }) { edges { node { id title } } } }`);
  const list = d.streams.edges.map((e) => e.node);
  const products = d.products.edges.map((e) => e.node);
  const form = h("form", { class: "form-grid", id: "stream-form" },
    field("Title", "input", { name: "title", required: true, maxlength: 200, id: "st-title" }),
    h("fieldset", { class: "wide-field" }, h("legend", {}, "Products to pin"),
      products.length ? products.map((p) => h("label", { class: "check" }, h("input", { type: "checkbox", name: "pin", value: p.id }), " " + p.title)) : h("p", { class: "muted" }, "No active products yet.")),
    h("div", { class: "actions" }, h("button", { type: "submit", id: "create-stream" }, "Create stream")));
  const out = h("div", { id: "created-stream" });
  submitter(form, () => gql(`mutation($i: CreateStreamInput!) { createStream(input: $i) { streamKey stream { ${STREAM} } } }`, { i: {
    title: value(form, "title"), pinnedProductIds: [...form.querySelectorAll("input[name=pin]:checked")].map((c) => c.value) } }),
  (r) => {
    const s = r.createStream.stream;
    done("Stream “" + s.title + "” created. Copy its key now.");
    show(out, keyPanel(s, r.createStream.streamKey), h("p", {}, h("a", { class: "button", href: "/admin/streams/" + s.id, id: "manage-stream" }, "Manage the show")));
    form.reset();
    out.querySelector("#copy-key").focus();
  });
  show(ctx.main, 
    h("div", { class: "page-head" }, h("h1", {}, "Streams")),
    table([
      { label: "Stream", cell: (s) => h("a", { href: "/admin/streams/" + s.id }, s.title) },
      { label: "State", cell: (s) => status(s.state) },
      { label: "Started", cell: (s) => when(s.startedAt) },
      { label: "Viewers", num: true, cell: (s) => s.viewerCount },
      { label: "Pinned", cell: (s) => s.pinned.map((p) => p.title).join(", ") || "—" },
      { label: "Highlighted", cell: (s) => (s.highlighted ? s.highlighted.title : "—") },
    ], list, "No streams yet."),
    out,
    h("section", { class: "panel", "aria-labelledby": "new-stream-h" }, h("h2", { id: "new-stream-h" }, "New stream"), form));
}

async function one(ctx, id) {
  const d = await gql(`query($id: ID!) { node(id: $id) { ... on Stream { ${STREAM} } } products(first: 100, where: { status: ACTIVE }) { edges { node { id title } } } }`, { id });
  const s = d.node;
  if (!s) { show(ctx.main, h("h1", {}, "Streams"), h("p", { class: "notice error" }, "This stream does not exist.")); return; }
  const products = d.products.edges.map((e) => e.node);
  const reload = () => ctx.go("/admin/streams/" + id);
  const ended = s.state === "ENDED";

  const keyOut = h("div", { id: "rotated-key" });
  const rotate = h("form", { class: "toolbar", id: "rotate-form" }, h("button", { type: "submit", class: "secondary", id: "rotate-key" }, "New stream key"));
  submitter(rotate, () => gql(`mutation($i: RotateStreamKeyInput!) { rotateStreamKey(input: $i) { streamKey stream { ${STREAM} } } }`, { i: { streamId: id } }),
    (r) => { done("New key made: the old one no longer publishes."); show(keyOut, keyPanel(r.rotateStreamKey.stream, r.rotateStreamKey.streamKey)); });

  const pin = h("form", { id: "pin-form" },
    h("fieldset", {}, h("legend", {}, "Pinned products (in the overlay)"),
      products.map((p) => h("label", { class: "check" }, h("input", { type: "checkbox", name: "pin", value: p.id, checked: s.pinned.some((x) => x.id === p.id) }), " " + p.title))),
    h("div", { class: "actions" }, h("button", { type: "submit", id: "save-pins" }, "Save pinned products")));
  submitter(pin, () => gql(`mutation($i: PinProductsInput!) { pinProducts(input: $i) { stream { id } } }`,
    { i: { streamId: id, productIds: [...pin.querySelectorAll("input[name=pin]:checked")].map((c) => c.value) } }), () => { done("Pinned products saved."); reload(); });

  const hl = h("form", { class: "toolbar", id: "highlight-form" },
    field("Highlight now", "select", { name: "product", id: "hl-product" }, h("option", { value: "" }, "Nothing"),
      s.pinned.map((p) => h("option", { value: p.id, selected: s.highlighted && s.highlighted.id === p.id }, p.title))),
    h("button", { type: "submit", id: "highlight" }, "Show it"));
  submitter(hl, () => gql(`mutation($i: HighlightProductInput!) { highlightProduct(input: $i) { stream { highlighted { title } } } }`,
    { i: { streamId: id, productId: value(hl, "product") || null } }),
  (r) => { done(r.highlightProduct.stream.highlighted ? "Now showing “" + r.highlightProduct.stream.highlighted.title + "”." : "Highlight cleared."); reload(); });

  const end = h("form", { class: "toolbar", id: "end-form" },
    h("label", { class: "check" }, h("input", { type: "checkbox", name: "sure", id: "end-sure", required: true }), " Yes: end it for good (viewers are cut off; it cannot be restarted)"),
    h("button", { type: "submit", class: "danger", id: "end-stream" }, "End stream"));
  submitter(end, () => {
    return gql(`mutation($i: EndStreamInput!) { endStream(input: $i) { stream { id state } } }`, { i: { streamId: id } });
  }, () => { done("Stream ended."); reload(); });

  show(ctx.main, 
    h("div", { class: "page-head" }, h("div", {}, h("h1", {}, s.title), status(s.state)),
      h("div", { class: "actions" }, h("a", { class: "button secondary small", href: "/watch/" + s.id, target: "_blank", rel: "noopener" }, "Open the viewer page"),
        h("a", { class: "button secondary small", href: "/admin/streams" }, "All streams"))),
    h("p", { class: "muted" }, s.viewerCount + " watching · started " + when(s.startedAt) + (s.endedAt ? " · ended " + when(s.endedAt) : "")),
    h("section", { class: "panel", "aria-labelledby": "pub-h" }, h("h2", { id: "pub-h" }, "Publishing"),
      h("p", {}, "WHIP server: ", h("code", { id: "whip-url" }, abs(s.whipURL)), " ", copyButton(() => abs(s.whipURL), "WHIP URL", "copy-whip")),
      h("p", { class: "muted" }, "The stream key was shown when the stream was made. Lost it? Make a new one."), ended ? null : rotate, keyOut),
    ended ? null : h("section", { class: "panel", "aria-labelledby": "show-h" }, h("h2", { id: "show-h" }, "During the show"), hl, pin),
    ended ? null : h("section", { class: "panel", "aria-labelledby": "end-h" }, h("h2", { id: "end-h" }, "End"), end));
}
