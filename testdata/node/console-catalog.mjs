// The console's catalog, drops, live board, memberships and streams:
// a staff member builds a product with an uploaded image, schedules a
// drop and watches it sell while scripted buyers pay from their wallets;
// CSV export and import round-trip. See web/console_catalog_test.go.
import fs from "node:fs";
import path from "node:path";
import { cfg, ok, run, context, signIn, axe, shot, gql, noRawText, DESKTOP, TABLET } from "./console-lib.mjs";

const text = (page, sel) => page.locator(sel).innerText();
async function until(what, fn, ms = 20000) {
  const end = Date.now() + ms;
  let last;
  while (Date.now() < end) {
    try { last = await fn(); if (last === true) return; } catch (e) { last = e; }
    await new Promise((r) => setTimeout(r, 150));
  }
  throw new Error("timed out waiting for " + what + " (last: " + last + ")");
}
// clean scrolls to the top and clears the toast before a screenshot.
const clean = (page) => page.evaluate(() => { scrollTo(0, 0); document.getElementById("notice").replaceChildren(); });
const tile = (page, id) => page.locator("#" + id + " .value").innerText();

// buyer signs up, is given credit by the owner, holds n units and pays from the wallet.
async function buyer(i, variantId, n) {
  const s = await gql("", `mutation($i: SignUpInput!) { signUp(input: $i) { token customer { id } } }`,
    { i: { email: `buyer${i}-${Date.now()}@example.com`, password: "correct horse battery" } });
  const tok = s.signUp.token;
  await gql(cfg.ownerToken, `mutation($i: GrantCreditInput!) { grantCredit(input: $i) { granted } }`,
    { i: { customerIds: [s.signUp.customer.id], amount: { amount: 10000, currency: "EUR" }, note: "load test", idempotencyKey: "g-" + s.signUp.customer.id } });
  const a = await gql(tok, `mutation($i: AddToCartInput!) { addToCart(input: $i) { cart { id total { amount currency } } } }`,
    { i: { variantId, quantity: n, idempotencyKey: "a-" + i } });
  await gql(tok, `mutation($i: CheckoutInput!) { checkout(input: $i) { order { status } } }`,
    { i: { cartId: a.addToCart.cart.id, payWith: { wallet: a.addToCart.cart.total }, idempotencyKey: "c-" + i } });
  return tok;
}

await run(async () => {
  const ctx = await context(DESKTOP);
  const page = await ctx.newPage();
  await signIn(page, cfg.staff.email, cfg.staff.password);

  // A product, its image, a variant and stock.
  await page.goto(cfg.base + "/admin/catalog");
  await page.locator("#new-product").click();
  await page.getByLabel("Title", { exact: true }).fill("Night Owl Tee");
  if ((await page.locator("#p-slug").inputValue()) !== "night-owl-tee") throw new Error("slug not derived from the title");
  await page.getByLabel("Description").fill("Glow-in-the-dark owl on heavy cotton.");
  await page.getByLabel("Description").press("Tab");
  await page.locator("#create-product").click();
  await page.locator("#product-title", { hasText: "Night Owl Tee" }).waitFor({ timeout: 10000 });
  const productId = page.url().split("/").pop();
  ok("a product is created", productId);

  await page.locator("#image-file").setInputFiles(cfg.notImage);
  await page.locator("#upload-image").click();
  await page.locator("#notice", { hasText: "PNG, JPEG, WebP and GIF" }).waitFor({ timeout: 10000 });
  ok("a file that is not an image is refused in words");
  await page.locator("#image-file").setInputFiles(cfg.image);
  await page.getByLabel("Description for screen readers").fill("A purple owl tee");
  await page.locator("#upload-image").click();
  await page.locator("#product-images img").first().waitFor({ timeout: 10000 });
  const src = await page.locator("#product-images img").first().getAttribute("src");
  const img = await fetch(cfg.base + src);
  if (!/^\/uploads\/[0-9a-f]{64}\.png$/.test(src) || img.headers.get("content-type") !== "image/png" || !(await page.locator("#product-images img").first().evaluate((i) => i.complete && i.naturalWidth === 96))) throw new Error("uploaded image " + src);
  ok("an image is uploaded and shown", src);

  await page.locator("#v-sku").fill("NOT-M");
  await page.locator("#v-title").fill("Medium");
  await page.locator("#v-price").fill("25.00");
  await page.locator("#v-compare").fill("30.00");
  await page.locator("#v-compare").press("Enter");
  await page.locator("table.data td", { hasText: "NOT-M" }).waitFor({ timeout: 10000 });
  await page.locator("#s-count").fill("20");
  await page.locator("#set-stock").click();
  await page.locator("table.data td", { hasText: "central: 20" }).waitFor({ timeout: 10000 });
  ok("a variant with a compare-at price, and 20 units on the shelf");
  await noRawText(page, "product page");
  await axe(page, "product page");
  await clean(page); await shot(page, "console-catalog-desktop");

  const v = await gql(cfg.ownerToken, `query($id: ID!) { node(id: $id) { ... on Product { variants { id } } } }`, { id: productId });
  const variantId = v.node.variants[0].id;

  // A drop that opened a few minutes ago: 12 units, 10 online and 2 for the livestream.
  await page.goto(cfg.base + "/admin/drops");
  await page.locator("#d-title").fill("Owl night drop");
  await page.locator("#d-cap").fill("12");
  await page.locator("#d-limit").fill("2");
  const past = await page.evaluate(() => { const d = new Date(Date.now() - 5 * 60e3); const p = (n) => String(n).padStart(2, "0"); return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}`; });
  await page.locator("#d-opens").fill(past);
  await page.locator("#d-pool-online").fill("10");
  await page.locator("#d-pool-live").fill("1");
  await page.locator("#d-variants input").first().check();
  await page.locator("#create-drop").click();
  await page.locator("#notice", { hasText: "add up to 11" }).waitFor({ timeout: 10000 });
  ok("pools that do not add up to the cap are refused before sending");
  await page.locator("#d-pool-live").fill("2");
  await page.locator("#create-drop").click();
  await page.waitForURL(/\/admin\/board\/.+/, { timeout: 10000 });
  const dropId = page.url().split("/").pop();
  await until("the board's remaining 12 / 12", async () => (await tile(page, "b-remaining")) === "12 / 12");
  ok("a drop is scheduled and its board opens", dropId);

  // Five buyers take two units each at once; the board follows live.
  await Promise.all([0, 1, 2, 3, 4].map((i) => buyer(i, variantId, 2)));
  await until("10 paid units on the board", async () => (await tile(page, "b-paid")) === "10");
  if ((await tile(page, "b-remaining")) !== "2 / 12" || (await tile(page, "b-held")) !== "0" || (await tile(page, "b-conversion")) !== "100 %") throw new Error("board after load: " + (await text(page, "#board-tiles")));
  if ((await text(page, "[data-pool=ONLINE]")) !== "0" || (await text(page, "[data-pool=LIVE]")) !== "2") throw new Error("pools after load");
  if (!/Selling for/.test(await text(page, "#b-time"))) throw new Error("time tile " + (await text(page, "#b-time")));
  ok("the board shows the load: 10 paid, 2 left in the live pool, conversion 100 %");

  // A buyer holding without paying shows as held.
  const holder = await gql("", `mutation($i: SignUpInput!) { signUp(input: $i) { token } }`, { i: { email: `holder-${Date.now()}@example.com`, password: "correct horse battery" } });
  let refused = "";
  try { await gql(holder.signUp.token, `mutation($i: AddToCartInput!) { addToCart(input: $i) { cart { id } } }`, { i: { variantId, quantity: 1, idempotencyKey: "h1" } }); } catch (e) { refused = String(e); }
  if (!/OUT_OF_STOCK/.test(refused)) throw new Error("the online pool should be empty: " + refused);
  ok("online buyers are refused once the online pool is empty");

  // Rebalance the live pool online with one action; the last buyer sells it out.
  await page.locator("#rb-from").selectOption("LIVE");
  await page.locator("#rb-to").selectOption("ONLINE");
  await page.locator("#rb-units").fill("2");
  await page.locator("#rebalance").click();
  await until("2 units in the online pool", async () => (await text(page, "[data-pool=ONLINE]")) === "2");
  ok("pools are rebalanced from the board");
  await buyer(5, variantId, 2);
  await until("sold out on the board", async () => (await tile(page, "b-paid")) === "12" && (await tile(page, "b-remaining")) === "0 / 12" && /Sold out in/.test(await text(page, "#b-time")));
  ok("the board says sold out", await text(page, "#b-time"));
  if (!(await page.locator("#board-chart svg path.series").count())) throw new Error("no sales chart");
  await noRawText(page, "board");
  await axe(page, "board");
  await clean(page); await shot(page, "console-board-desktop");

  // A clerk is refused the board's figures by the API.
  const clerk = await gql("", `mutation($e: String!, $p: String!) { staffSignIn(input: {email: $e, password: $p}) { token } }`, { e: cfg.clerk.email, p: cfg.clerk.password });
  let denied = "";
  try { await gql(clerk.staffSignIn.token, `query($id: ID!) { dropBoard(dropId: $id) { paidUnits } }`, { id: dropId }); } catch (e) { denied = String(e); }
  if (!/FORBIDDEN/.test(denied)) throw new Error("a clerk read the board: " + denied);
  ok("a clerk is refused the board (FORBIDDEN)");

  // CSV: export, import back unchanged, then a changed price and a bad row.
  await page.goto(cfg.base + "/admin/catalog");
  const [dl] = await Promise.all([page.waitForEvent("download"), page.locator("#export-csv").click()]);
  const csvPath = path.join(cfg.artifacts, "catalog.csv");
  await dl.saveAs(csvPath);
  const exported = fs.readFileSync(csvPath, "utf8");
  if (!exported.includes("night-owl-tee,Night Owl Tee,ACTIVE,NOT-M,Medium,25.00,30.00,EUR,central,")) throw new Error("export: " + exported);
  await page.locator("#import-file").setInputFiles(csvPath);
  await page.locator("#import-form button[type=submit]").click();
  await until("an unchanged import", async () => /^0 created · 0 updated · \d+ unchanged · 0 failed$/.test(await text(page, "#import-summary")));
  ok("the export imports back with nothing changed", await text(page, "#import-summary"));
  const changed = path.join(cfg.artifacts, "catalog-changed.csv");
  fs.writeFileSync(changed, exported.replace(",Medium,25.00,", ",Medium,27.50,") + "night-owl-tee,,,NOT-L,Large,lots,,EUR,,3\r\n");
  await page.locator("#import-file").setInputFiles(changed);
  await page.locator("#import-form button[type=submit]").click();
  await until("a changed import", async () => /1 updated/.test(await text(page, "#import-summary")) && /1 failed/.test(await text(page, "#import-summary")));
  const errs = await text(page, "#import-report .import-errors");
  if (!/Row \d+ \(NOT-L\): price: "lots" is not an amount/.test(errs)) throw new Error("row report: " + errs);
  const price = await gql(cfg.ownerToken, `query($id: ID!) { node(id: $id) { ... on Variant { price { amount } } } }`, { id: variantId });
  if (price.node.price.amount !== 2750) throw new Error("price after import " + price.node.price.amount);
  ok("a changed CSV updates the price and reports the bad row", errs);
  await noRawText(page, "catalog");
  await axe(page, "catalog list");

  // Memberships: a tier and a member price.
  await page.goto(cfg.base + "/admin/memberships");
  await page.locator("main h1").waitFor({ timeout: 10000 });
  if (!(await page.locator("#t-name").count())) throw new Error("memberships page: " + (await text(page, "main")));
  await page.locator("#t-name").fill("Night Owls");
  await page.locator("#t-price").fill("5.00");
  await page.locator("#t-early").fill("30");
  await page.locator("#create-tier").click();
  await page.locator("table.data td", { hasText: "Night Owls" }).waitFor({ timeout: 10000 });
  await page.locator("#mp-amount").fill("20.00");
  await page.locator("#set-member-price").click();
  await page.locator("table.data li", { hasText: "NOT-M" }).waitFor({ timeout: 10000 });
  ok("a membership tier and a member price");
  await noRawText(page, "memberships");
  await axe(page, "memberships");

  // Streams: create, key and WHIP URL to copy, pin, highlight, end.
  await ctx.grantPermissions(["clipboard-read", "clipboard-write"], { origin: cfg.base });
  await page.goto(cfg.base + "/admin/streams");
  await page.locator("#st-title").fill("Owl night live");
  await page.locator("#stream-form input[name=pin]").first().check();
  await page.locator("#create-stream").click();
  await page.locator("#stream-key").waitFor({ timeout: 10000 });
  const key = await text(page, "#stream-key");
  await page.locator("#copy-key").click();
  if ((await page.evaluate(() => navigator.clipboard.readText())) !== key || !/\/live\/.+\/whip$/.test(await text(page, "#whip-url"))) throw new Error("stream key / WHIP URL");
  ok("a stream's key and WHIP URL are shown and copied");
  await clean(page); await shot(page, "console-streams-desktop");
  await page.locator("#manage-stream").click();
  await page.locator("#hl-product").selectOption({ label: "Night Owl Tee" });
  await page.locator("#highlight").click();
  await page.locator("#notice", { hasText: "Now showing “Night Owl Tee”" }).waitFor({ timeout: 10000 });
  ok("a pinned product is highlighted");
  await noRawText(page, "stream");
  await axe(page, "stream");
  await page.locator("#end-sure").check();
  await page.locator("#end-stream").click();
  await page.locator(".pill.ENDED").waitFor({ timeout: 10000 });
  ok("the stream is ended");
  await page.goto(cfg.base + "/admin/drops");
  await page.locator("table.data td", { hasText: "Owl night drop" }).waitFor({ timeout: 10000 });
  await axe(page, "drops");
  await clean(page); await shot(page, "console-drops-desktop");
  await page.goto(cfg.base + "/admin/board");
  await page.locator("table.data td", { hasText: "0 / 12" }).waitFor({ timeout: 10000 });
  await noRawText(page, "board list");
  await axe(page, "board list");
  ok("the board's list of drops");
  await ctx.close();

  // Tablet: the board and the catalog.
  const tctx = await context(TABLET);
  const tp = await tctx.newPage();
  await signIn(tp, cfg.staff.email, cfg.staff.password);
  await tp.goto(cfg.base + "/admin/board/" + dropId);
  await until("the tablet board", async () => (await tile(tp, "b-paid")) === "12");
  await noRawText(tp, "tablet board");
  await axe(tp, "tablet board");
  await clean(tp); await shot(tp, "console-board-tablet");
  ok("the board on a tablet");
  await tp.goto(cfg.base + "/admin/catalog/" + productId);
  await tp.locator("#product-images img").first().waitFor({ timeout: 10000 });
  await noRawText(tp, "tablet product");
  await axe(tp, "tablet product");
  await clean(tp); await shot(tp, "console-catalog-tablet");
  ok("the catalog on a tablet");
  await tctx.close();
});
