// Settings (owners only): the shop's name, logo, colour and currency;
// delivery (pickup points and their windows, local zones, shipping
// rates); email (the SMTP server and a test button); outbound webhooks
// with their delivery log; staff and tokens; the audit log. Each section
// is a page of its own: /admin/settings/<section>.
import { gql, h, money, notice } from "/assets/lib.js";
import { act, field, value, table, when, status, done, staffErrorText } from "/assets/admin-lib.js";

const SECTIONS = [
  { id: "shop", label: "Shop" },
  { id: "delivery", label: "Delivery" },
  { id: "email", label: "Email" },
  { id: "webhooks", label: "Webhooks" },
  { id: "staff", label: "Staff and tokens" },
  { id: "audit", label: "Audit log" },
];

export default async function (ctx) {
  const section = SECTIONS.find((s) => s.id === ctx.path[0]) || SECTIONS[0];
  const body = h("div", { id: "settings-" + section.id });
  ctx.main.replaceChildren(
    h("div", { class: "page-head" }, h("h1", {}, "Settings · " + section.label)),
    h("nav", { class: "toolbar subnav", "aria-label": "Settings sections" }, SECTIONS.map((s) =>
      h("a", { href: "/admin/settings/" + s.id, class: "button small" + (s === section ? "" : " secondary"), "aria-current": s === section ? "page" : null }, s.label))),
    body);
  await ({ shop, delivery, email, webhooks, staff, audit })[section.id](body, ctx);
}

// digits of a currency's minor unit (EUR 2, JPY 0).
const digits = (cur) => new Intl.NumberFormat("en", { style: "currency", currency: cur }).resolvedOptions().maximumFractionDigits;
// minor turns "4.50" in cur into 450; NaN when it is not a number.
const minor = (text, cur) => Math.round(Number(String(text).replace(",", ".")) * 10 ** digits(cur));
const priceInput = (form, cur) => {
  const amount = minor(value(form, "price") || "0", cur);
  if (!Number.isFinite(amount) || amount < 0) throw Object.assign(new Error("price"), { code: "BAD_USER_INPUT", field: "price", message: "give a price like 4.50" });
  return { amount, currency: cur };
};
const list = (s) => s.split(",").map((x) => x.trim()).filter(Boolean);
const yesNo = (b) => status(b ? "active" : "inactive");
const submit = (label, attrs = {}) => h("button", { type: "submit", ...attrs }, label);

// ---- Shop -------------------------------------------------------------

async function shop(body) {
  const { shopSettings: s } = await gql("{ shopSettings { name logoUrl brandColor currency updatedAt } }");
  const swatch = h("span", { class: "swatch", "aria-hidden": "true" });
  const paint = (c) => swatch.classList.toggle("empty", !/^#([0-9a-f]{3}|[0-9a-f]{6})$/i.test(c));
  const form = h("form", { class: "panel", id: "shop-form" },
    h("h2", {}, "Name and look"),
    h("p", { class: "muted" }, "The storefront shows these at its next page load, on every server."),
    h("div", { class: "form-grid" },
      field("Shop name", "input", { name: "name", value: s.name, required: true, maxlength: 80, autocomplete: "organization" }),
      field("Logo (https URL or a path like /assets/logo.svg)", "input", { name: "logoUrl", value: s.logoUrl, placeholder: "empty: no logo" }),
      h("div", { class: "field" }, h("label", { for: "brand-color" }, "Brand colour (#rrggbb)"),
        h("div", { class: "with-swatch" }, h("input", { id: "brand-color", name: "brandColor", value: s.brandColor, placeholder: "empty: the default", maxlength: 7, oninput: (e) => paint(e.target.value) }), swatch)),
      field("Currency shown (ISO 4217)", "input", { name: "currency", value: s.currency, maxlength: 3, required: true, autocapitalize: "characters" })),
    h("p", { class: "muted", id: "shop-updated" }, s.updatedAt ? "Last changed " + when(s.updatedAt) + "." : "The defaults from the server's flags are in force."),
    h("div", { class: "actions" }, submit("Save", { id: "save-shop" }), h("a", { href: "/", target: "_blank", rel: "noopener" }, "Open the storefront")));
  paint(s.brandColor);
  swatch.style.setProperty("--swatch", s.brandColor || "transparent");
  form.brandColor.addEventListener("input", () => swatch.style.setProperty("--swatch", form.brandColor.value));
  act(form.querySelector("#save-shop"), () => gql(`mutation($i: UpdateShopSettingsInput!) { updateShopSettings(input: $i) { settings { name updatedAt } } }`,
    { i: { name: value(form, "name"), logoUrl: value(form, "logoUrl"), brandColor: value(form, "brandColor"), currency: value(form, "currency").toUpperCase() } }),
  (r) => {
    document.getElementById("shop-updated").textContent = "Last changed " + when(r.updateShopSettings.settings.updatedAt) + ".";
    const name = document.getElementById("shop-name");
    if (name) name.textContent = r.updateShopSettings.settings.name;
    done("Saved. The storefront shows it at its next page load.");
  });
  body.replaceChildren(form);
}

// ---- Delivery ---------------------------------------------------------

const pointFields = "id name kind active location { code } price { amount currency currencyDigits } address { line1 city postcode country } windows { id startsAt endsAt capacity placesLeft }";

async function delivery(body, ctx) {
  const cur = (await gql("{ shopSettings { currency } }")).shopSettings.currency;
  const d = await gql(`{ pickupPoints { ${pointFields} }
    deliveryZones { id name country postcodes postcodePrefixes radiusKm sameDayCutoff active price { amount currency currencyDigits } }
    shippingRates { id name country minGrams maxGrams active price { amount currency currencyDigits } } }`);
  const reload = () => delivery(body, ctx);
  const toggle = (mutation, input, item, what) => act(h("button", { class: "small" + (item.active ? " secondary" : ""), type: "button",
    "aria-label": (item.active ? "Turn off " : "Turn on ") + what + " " + item.name }, item.active ? "Turn off" : "Turn on"),
  (key) => gql(`mutation($i: ${input}!) { ${mutation}(input: $i) { __typename } }`, { i: { id: item.id, active: !item.active, idempotencyKey: key } }),
  () => { done(what[0].toUpperCase() + what.slice(1) + " " + item.name + (item.active ? " turned off." : " turned on.")); reload(); });

  const points = h("section", { class: "panel", "aria-labelledby": "points-h" }, h("h2", { id: "points-h" }, "Pickup points"),
    table([
      { label: "Name", cell: (p) => p.name },
      { label: "Kind", cell: (p) => p.kind.replaceAll("_", " ").toLowerCase() },
      { label: "Code", cell: (p) => p.location.code },
      { label: "Address", cell: (p) => [p.address.line1, p.address.postcode, p.address.city, p.address.country].filter(Boolean).join(", ") },
      { label: "Price", cell: (p) => money(p.price), num: true },
      { label: "Windows ahead", cell: (p) => p.windows.map((w) => when(w.startsAt) + " (" + w.placesLeft + "/" + w.capacity + " left)").join("; ") || "none" },
      { label: "State", cell: (p) => yesNo(p.active) },
      { label: "", cell: (p) => toggle("updatePickupPoint", "UpdatePickupPointInput", p, "pickup point") },
    ], d.pickupPoints, "No pickup points yet: buyers can only have orders delivered or shipped."));
  const newPoint = h("form", { class: "panel", id: "new-point" }, h("h2", {}, "Add a pickup point"), h("div", { class: "form-grid" },
    field("Code (letters, digits, -)", "input", { name: "code", required: true, placeholder: "counter-kreuzberg" }),
    field("Kind", "select", { name: "kind" }, ["PARTNER_COUNTER", "LOCKER", "HUB", "CENTRAL"].map((k) => h("option", { value: k }, k.replaceAll("_", " ").toLowerCase()))),
    field("Name", "input", { name: "name", required: true }),
    field("Street and number", "input", { name: "line1", required: true, autocomplete: "address-line1" }),
    field("Postcode", "input", { name: "postcode", autocomplete: "postal-code" }),
    field("City", "input", { name: "city", required: true, autocomplete: "address-level2" }),
    field("Country (DE, GB…)", "input", { name: "country", required: true, maxlength: 2, autocomplete: "country" }),
    field("Price (" + cur + ", 0 = free)", "input", { name: "price", inputmode: "decimal", value: "0" })),
  h("div", { class: "actions" }, submit("Add pickup point")));
  act(newPoint.querySelector("button"), (key) => gql(`mutation($i: CreatePickupPointInput!) { createPickupPoint(input: $i) { pickupPoint { id } } }`, { i: {
    code: value(newPoint, "code"), kind: value(newPoint, "kind"), name: value(newPoint, "name"), price: priceInput(newPoint, cur), idempotencyKey: key,
    address: { name: value(newPoint, "name"), line1: value(newPoint, "line1"), postcode: value(newPoint, "postcode"), city: value(newPoint, "city"), country: value(newPoint, "country").toUpperCase() } } }),
  () => { done("Pickup point added."); reload(); });

  const newWindow = h("form", { class: "panel", id: "new-window" }, h("h2", {}, "Add a pickup window"), h("div", { class: "form-grid" },
    field("Pickup point", "select", { name: "point" }, d.pickupPoints.map((p) => h("option", { value: p.id }, p.name))),
    field("Starts", "input", { name: "startsAt", type: "datetime-local", required: true }),
    field("Ends", "input", { name: "endsAt", type: "datetime-local", required: true }),
    field("Orders it takes", "input", { name: "capacity", type: "number", min: 1, value: 20, required: true })),
  h("div", { class: "actions" }, submit("Add window", { disabled: !d.pickupPoints.length })));
  act(newWindow.querySelector("button"), (key) => gql(`mutation($i: CreatePickupWindowInput!) { createPickupWindow(input: $i) { window { id } } }`, { i: {
    pickupPointId: value(newWindow, "point"), startsAt: new Date(value(newWindow, "startsAt")).toISOString(), endsAt: new Date(value(newWindow, "endsAt")).toISOString(),
    capacity: Number(value(newWindow, "capacity")), idempotencyKey: key } }),
  () => { done("Pickup window added."); reload(); });

  const zones = h("section", { class: "panel", "aria-labelledby": "zones-h" }, h("h2", { id: "zones-h" }, "Local delivery zones"),
    table([
      { label: "Name", cell: (z) => z.name },
      { label: "Covers", cell: (z) => z.country + " " + ((z.postcodePrefixes || []).map((p) => p + "…").concat(z.postcodes || []).join(", ") || (z.radiusKm ? z.radiusKm + " km radius" : "")) },
      { label: "Same day before", cell: (z) => z.sameDayCutoff },
      { label: "Price", cell: (z) => money(z.price), num: true },
      { label: "State", cell: (z) => yesNo(z.active) },
      { label: "", cell: (z) => toggle("updateDeliveryZone", "UpdateDeliveryZoneInput", z, "zone") },
    ], d.deliveryZones, "No local delivery zones."));
  const newZone = h("form", { class: "panel", id: "new-zone" }, h("h2", {}, "Add a delivery zone"), h("div", { class: "form-grid" },
    field("Name", "input", { name: "name", required: true }),
    field("Country", "input", { name: "country", required: true, maxlength: 2 }),
    field("Postcode prefixes (comma-separated)", "input", { name: "prefixes", placeholder: "101, 102" }),
    field("Same-day cutoff (HH:MM)", "input", { name: "cutoff", value: "14:00" }),
    field("Price (" + cur + ")", "input", { name: "price", inputmode: "decimal", value: "0" })),
  h("div", { class: "actions" }, submit("Add zone")));
  act(newZone.querySelector("button"), (key) => gql(`mutation($i: CreateDeliveryZoneInput!) { createDeliveryZone(input: $i) { zone { id } } }`, { i: {
    name: value(newZone, "name"), country: value(newZone, "country").toUpperCase(), postcodePrefixes: list(value(newZone, "prefixes")),
    sameDayCutoff: value(newZone, "cutoff") || null, price: priceInput(newZone, cur), idempotencyKey: key } }),
  () => { done("Delivery zone added."); reload(); });

  const rates = h("section", { class: "panel", "aria-labelledby": "rates-h" }, h("h2", { id: "rates-h" }, "Shipping rates"),
    table([
      { label: "Name", cell: (r) => r.name },
      { label: "Country", cell: (r) => r.country },
      { label: "Weight", cell: (r) => (r.minGrams == null && r.maxGrams == null ? "flat" : (r.minGrams ?? 0) + "–" + (r.maxGrams ?? "∞") + " g") },
      { label: "Price", cell: (r) => money(r.price), num: true },
      { label: "State", cell: (r) => yesNo(r.active) },
      { label: "", cell: (r) => toggle("updateShippingRate", "UpdateShippingRateInput", r, "rate") },
    ], d.shippingRates, "No shipping rates."));
  const newRate = h("form", { class: "panel", id: "new-rate" }, h("h2", {}, "Add a shipping rate"), h("div", { class: "form-grid" },
    field("Name", "input", { name: "name", required: true }),
    field("Country", "input", { name: "country", required: true, maxlength: 2 }),
    field("From grams (empty: flat)", "input", { name: "min", type: "number", min: 0 }),
    field("To grams", "input", { name: "max", type: "number", min: 0 }),
    field("Price (" + cur + ")", "input", { name: "price", inputmode: "decimal", value: "0" })),
  h("div", { class: "actions" }, submit("Add rate")));
  act(newRate.querySelector("button"), (key) => gql(`mutation($i: CreateShippingRateInput!) { createShippingRate(input: $i) { rate { id } } }`, { i: {
    name: value(newRate, "name"), country: value(newRate, "country").toUpperCase(), price: priceInput(newRate, cur), idempotencyKey: key,
    minGrams: value(newRate, "min") === "" ? null : Number(value(newRate, "min")), maxGrams: value(newRate, "max") === "" ? null : Number(value(newRate, "max")) } }),
  () => { done("Shipping rate added."); reload(); });

  body.replaceChildren(points, newPoint, newWindow, zones, newZone, rates, newRate);
}

// ---- Email ------------------------------------------------------------

async function email(body, ctx) {
  const { emailSettings: e } = await gql("{ emailSettings { enabled host port from tls auth } }");
  const result = h("p", { id: "email-result", role: "status", "aria-live": "polite" });
  const form = h("form", { class: "panel", id: "test-email" }, h("h2", {}, "Send a test email"),
    h("p", { class: "muted" }, "Sends one email through the server above now, and says what the server answered."),
    field("To", "input", { name: "to", type: "email", required: true, value: ctx.staff.email, autocomplete: "email" }),
    h("div", { class: "actions" }, submit("Send test email", { id: "send-test", disabled: !e.enabled })), result);
  act(form.querySelector("button"), () => {
    result.textContent = "Sending…";
    result.className = "muted";
    return gql("mutation($to: String!) { sendTestEmail(input: {to: $to}) { to } }", { to: value(form, "to") }).catch((err) => {
      if (["EMAIL_FAILED", "EMAIL_OFF", "RATE_LIMITED"].includes(err.code)) {
        result.className = "notice error";
        result.textContent = (err.code === "RATE_LIMITED" ? "Too many test emails: " : "Not sent: ") + err.message + ".";
        return null;
      }
      result.textContent = "";
      throw err;
    });
  }, (r) => {
    if (!r) return;
    result.className = "notice ok";
    result.textContent = "Sent: the server took the email for " + r.sendTestEmail.to + ".";
  });
  body.replaceChildren(
    h("section", { class: "panel", "aria-labelledby": "smtp-h" }, h("h2", { id: "smtp-h" }, "SMTP server"),
      e.enabled ? h("dl", { class: "facts" },
        h("dt", {}, "Server"), h("dd", { id: "smtp-server" }, e.host + ":" + e.port),
        h("dt", {}, "Sender"), h("dd", {}, e.from || "—"),
        h("dt", {}, "Encryption"), h("dd", {}, e.tls || "starttls"),
        h("dt", {}, "Sign-in"), h("dd", {}, e.auth ? "user name and password" : "none"))
        : h("p", { class: "notice error" }, "Email is off: start the server with --smtp-host, --smtp-from and --public-url (password in MERCHD_SMTP_PASSWORD)."),
      h("p", { class: "muted" }, "These come from the server's flags and environment; change them there.")),
    form);
}

// ---- Webhooks ---------------------------------------------------------

async function webhooks(body, ctx) {
  const d = await gql(`{ webhookEventTypes webhookEndpoints { id url events createdAt
    deliveries(first: 10) { id eventType status attempts lastStatusCode lastError createdAt sentAt } } }`);
  const reload = () => webhooks(body, ctx);
  const secretBox = h("div", { id: "webhook-secret" });
  const endpoints = d.webhookEndpoints.map((ep) => h("section", { class: "panel", "aria-label": "Endpoint " + ep.url },
    h("div", { class: "page-head" }, h("h2", {}, ep.url),
      act(h("button", { class: "small danger", type: "button", "aria-label": "Delete endpoint " + ep.url }, "Delete"),
        (key) => gql("mutation($i: DeleteWebhookEndpointInput!) { deleteWebhookEndpoint(input: $i) { deletedId } }", { i: { id: ep.id, idempotencyKey: key } }),
        () => { done("Endpoint deleted: nothing more is sent to it."); reload(); })),
    h("p", { class: "muted" }, "Events: " + ep.events.join(", ") + " · since " + when(ep.createdAt)),
    h("h3", {}, "Recent deliveries"),
    table([
      { label: "Event", cell: (x) => x.eventType },
      { label: "Status", cell: (x) => status(x.status) },
      { label: "Attempts", cell: (x) => x.attempts, num: true },
      { label: "Answer", cell: (x) => (x.lastStatusCode ? "HTTP " + x.lastStatusCode : "") + (x.lastError ? " " + x.lastError : "") || "—" },
      { label: "Created", cell: (x) => when(x.createdAt) },
      { label: "Sent", cell: (x) => when(x.sentAt) },
    ], ep.deliveries, "Nothing sent yet.")));
  const form = h("form", { class: "panel", id: "new-webhook" }, h("h2", {}, "Add an endpoint"),
    field("URL (https)", "input", { name: "url", type: "url", required: true, placeholder: "https://erp.example/hooks/merchd" }),
    h("fieldset", { class: "checks" }, h("legend", {}, "Events"),
      ["*", ...d.webhookEventTypes].map((t, i) => h("label", { class: "check" }, h("input", { type: "checkbox", name: "events", value: t, checked: i === 0 }), t === "*" ? "all events" : t))),
    h("div", { class: "actions" }, submit("Add endpoint")));
  act(form.querySelector("button"), (key) => gql("mutation($i: CreateWebhookEndpointInput!) { createWebhookEndpoint(input: $i) { secret endpoint { url } } }", { i: {
    url: value(form, "url"), events: [...form.querySelectorAll("input[name=events]:checked")].map((c) => c.value), idempotencyKey: key } }),
  async (r) => {
    await reload();
    showSecret(document.getElementById("webhook-secret"), "Signing secret for " + r.createWebhookEndpoint.endpoint.url, r.createWebhookEndpoint.secret,
      "It signs every delivery (Merchd-Signature). It is shown only now: copy it into the receiving system.");
  });
  body.replaceChildren(secretBox, ...(endpoints.length ? endpoints : [h("p", { class: "muted empty" }, "No endpoints: nothing is sent to other systems.")]), form);
}

// showSecret shows a secret once, with a copy button.
function showSecret(box, title, secret, hint) {
  const code = h("code", { class: "secret", id: "secret-value" }, secret);
  const copy = h("button", { type: "button", class: "small", id: "copy-secret" }, "Copy");
  copy.addEventListener("click", async () => {
    try { await navigator.clipboard.writeText(secret); done("Copied."); } catch { notice("The browser did not allow copying: select the text and copy it."); }
  });
  box.replaceChildren(h("section", { class: "panel secret-box", role: "status" }, h("h2", {}, title), h("p", {}, hint), h("div", { class: "with-swatch" }, code, copy),
    h("button", { type: "button", class: "small secondary", onclick: () => box.replaceChildren() }, "I have copied it")));
  copy.focus();
}

// ---- Staff and tokens -------------------------------------------------

async function staff(body, ctx) {
  const d = await gql(`{ staffMembers { id email name role location disabledAt createdAt }
    staffTokens { id label role hub createdAt expiresAt revokedAt staff { id email } } }`);
  const reload = () => staff(body, ctx);
  const secretBox = h("div", { id: "token-secret" });
  const members = h("section", { class: "panel", "aria-labelledby": "members-h" }, h("h2", { id: "members-h" }, "Staff"),
    table([
      { label: "Name", cell: (m) => m.name || "—" },
      { label: "Email", cell: (m) => m.email },
      { label: "Role", cell: (m) => m.role.toLowerCase() + (m.location ? " @ " + m.location : "") },
      { label: "State", cell: (m) => (m.disabledAt ? status("disabled") : status("active")) },
      { label: "", cell: (m) => (m.disabledAt || m.id === ctx.staff.id ? "" : act(h("button", { type: "button", class: "small danger", "aria-label": "Disable " + m.email }, "Disable"),
        () => gql("mutation($i: DisableStaffInput!) { disableStaff(input: $i) { staff { id } } }", { i: { staffId: m.id } }),
        () => { done(m.email + " is disabled and signed out everywhere."); reload(); })) },
    ], d.staffMembers));
  const newMember = h("form", { class: "panel", id: "new-staff" }, h("h2", {}, "Add a staff member"), h("div", { class: "form-grid" },
    field("Email", "input", { name: "email", type: "email", required: true, autocomplete: "off" }),
    field("Name", "input", { name: "name", autocomplete: "off" }),
    field("Role", "select", { name: "role" }, [["STAFF", "staff: catalog, drops, orders, customers"], ["CLERK", "clerk: till, pickups, returns at one place"], ["OWNER", "owner: everything"]]
      .map(([v, l]) => h("option", { value: v }, l))),
    field("Clerk's location code", "input", { name: "location", placeholder: "popup-1" }),
    field("First password (8+ characters)", "input", { name: "password", type: "password", required: true, minlength: 8, autocomplete: "new-password" })),
  h("div", { class: "actions" }, submit("Add member")));
  act(newMember.querySelector("button"), () => gql("mutation($i: CreateStaffInput!) { createStaff(input: $i) { staff { email } } }", { i: {
    email: value(newMember, "email"), name: value(newMember, "name") || null, role: value(newMember, "role"),
    location: value(newMember, "role") === "CLERK" ? value(newMember, "location") : null, password: newMember.elements.namedItem("password").value } }),
  (r) => { done(r.createStaff.staff.email + " can sign in now."); reload(); });

  const live = d.staffTokens.filter((t) => !t.revokedAt);
  const tokens = h("section", { class: "panel", "aria-labelledby": "tokens-h" }, h("h2", { id: "tokens-h" }, "Tokens and sessions"),
    table([
      { label: "Label", cell: (t) => t.label || "—" },
      { label: "Member", cell: (t) => t.staff.email },
      { label: "Role", cell: (t) => (t.hub ? "hub " + t.hub : t.role ? t.role.toLowerCase() : "member's") },
      { label: "Created", cell: (t) => when(t.createdAt) },
      { label: "Ends", cell: (t) => (t.expiresAt ? when(t.expiresAt) : "when revoked") },
      { label: "", cell: (t) => act(h("button", { type: "button", class: "small danger", "aria-label": "Revoke token " + (t.label || t.id) + " of " + t.staff.email }, "Revoke"),
        () => gql("mutation($i: RevokeStaffTokenInput!) { revokeStaffToken(input: $i) { ok } }", { i: { tokenId: t.id } }),
        () => { done("Token revoked: it stopped working now."); reload(); }) },
    ], live, "No tokens in force."));
  const newToken = h("form", { class: "panel", id: "new-token" }, h("h2", {}, "Issue an API token"), h("div", { class: "form-grid" },
    field("For", "select", { name: "staff" }, d.staffMembers.filter((m) => !m.disabledAt).map((m) => h("option", { value: m.id }, m.email))),
    field("Label", "input", { name: "label", placeholder: "stock sync script" }),
    field("Role", "select", { name: "role" }, [["", "the member's own"], ["STAFF", "staff"], ["CLERK", "clerk"]].map(([v, l]) => h("option", { value: v }, l))),
    field("Ends after days (empty: never)", "input", { name: "days", type: "number", min: 1 })),
  h("div", { class: "actions" }, submit("Issue token")));
  act(newToken.querySelector("button"), () => gql("mutation($i: CreateStaffTokenInput!) { createStaffToken(input: $i) { token staffToken { label } } }", { i: {
    staffId: value(newToken, "staff"), label: value(newToken, "label") || null, role: value(newToken, "role") || null,
    expiresIn: value(newToken, "days") ? Number(value(newToken, "days")) * 86400 : null } }),
  async (r) => {
    await reload();
    showSecret(document.getElementById("token-secret"), "Token " + (r.createStaffToken.staffToken.label || ""), r.createStaffToken.token,
      "Send it as “Authorization: Bearer …”. It is shown only now; revoke it here when it is no longer needed.");
  });
  body.replaceChildren(secretBox, members, newMember, tokens, newToken);
}

// ---- Audit log --------------------------------------------------------

async function audit(body, ctx) {
  const { staffMembers } = await gql("{ staffMembers { id email } }");
  const filter = h("form", { class: "toolbar", id: "audit-filter", role: "search" },
    field("Member", "select", { name: "staff" }, h("option", { value: "" }, "everyone"), staffMembers.map((m) => h("option", { value: m.id }, m.email))),
    field("Operation", "input", { name: "operation", placeholder: "e.g. refundOrder" }),
    submit("Filter", { class: "small" }));
  const rows = h("div", { id: "audit-rows" });
  const more = h("button", { type: "button", class: "small", id: "audit-more", hidden: true }, "Older entries");
  let after = null, seen = [];
  const load = async (reset) => {
    if (reset) { after = null; seen = []; }
    const vars = { after, staffId: value(filter, "staff") || null, operation: value(filter, "operation") || null };
    const { auditLog } = await gql(`query($after: Cursor, $staffId: ID, $operation: String) { auditLog(first: 25, after: $after, staffId: $staffId, operation: $operation) {
      totalCount pageInfo { hasNextPage endCursor } edges { node { id at role hub operation targetID outcome input staff { email } } } } }`, vars);
    seen = seen.concat(auditLog.edges.map((e) => e.node));
    after = auditLog.pageInfo.endCursor;
    more.hidden = !auditLog.pageInfo.hasNextPage;
    rows.replaceChildren(h("p", { class: "muted", id: "audit-count" }, seen.length + " of " + auditLog.totalCount + " entries, newest first"),
      table([
        { label: "When", cell: (a) => when(a.at) },
        { label: "Who", cell: (a) => a.staff.email },
        { label: "As", cell: (a) => (a.hub ? "hub " + a.hub : a.role.toLowerCase()) },
        { label: "Operation", cell: (a) => a.operation },
        { label: "Target", cell: (a) => a.targetID || "—" },
        { label: "Outcome", cell: (a) => outcome(a.outcome) },
        { label: "Input", cell: (a) => h("code", { class: "input", title: a.input }, a.input.length > 80 ? a.input.slice(0, 80) + "…" : a.input) },
      ], seen, "No entries match."));
  };
  const run = (reset) => load(reset).catch((e) => notice(staffErrorText(e)));
  filter.addEventListener("submit", (ev) => { ev.preventDefault(); run(true); });
  more.addEventListener("click", () => run(false));
  await load(true);
  body.replaceChildren(filter, rows, h("div", { class: "actions" }, more));
}

// outcome shows an audit outcome: OK green, a refusal red, PENDING plain
// (a write whose end was never recorded).
const outcome = (o) => h("span", { class: "pill " + (o === "OK" ? "ok" : o === "PENDING" ? "" : "bad") }, o === "PENDING" ? "unfinished" : o.replaceAll("_", " ").toLowerCase());
