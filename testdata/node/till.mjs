// The pop-up till on a real hub (edge/till_browser_test.go starts central,
// the hub and the proxy between them; cfg.control cuts and restores the
// link). A clerk signs in on a tablet, sells for cash, sells offline with a
// wallet pass through two reloads (between scan and pay, and after the
// payment was sent but before its answer was seen), watches the queue
// drain when the link returns, and closes the hub.
import { cfg, ok, run, context, axe, shot, gql, noRawText, TABLET } from "./console-lib.mjs";

const LANDSCAPE = { viewport: { width: 1180, height: 820 }, isMobile: true, hasTouch: true };
const link = (state) => fetch(cfg.control + "/link/" + state).then((r) => { if (!r.ok) throw new Error("control " + state + ": " + r.status); });
const hubSales = async () => (await gql(cfg.hubToken, '{ hubSales(first: 0, where: {hub: "popup-hub"}) { totalCount } }')).hubSales.totalCount;
const text = (page, sel) => page.locator(sel).innerText();

// Every control a thumb uses is at least 48 px each way.
async function touchTargets(page, what) {
  const small = await page.evaluate(() => [...document.querySelectorAll("main button, main input, header button")]
    .filter((el) => el.offsetParent !== null)
    .map((el) => { const r = el.getBoundingClientRect(); return { id: el.id || el.textContent.trim().slice(0, 20), w: r.width, h: r.height }; })
    .filter((r) => r.w < 48 || r.h < 47.5));
  if (small.length) throw new Error(what + ": controls under 48px: " + JSON.stringify(small));
  ok(what + ": every control is at least 48px");
}

await run(async () => {
  const ctx = await context(TABLET);
  const page = await ctx.newPage();
  await page.goto(cfg.base + "/till");
  await page.locator("#till-signin").waitFor({ timeout: 10000 });
  await axe(page, "till sign-in");
  await page.getByLabel("Email").fill(cfg.clerk.email);
  await page.getByLabel("Password").fill(cfg.clerk.password);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.locator("#hub-code", { hasText: "popup-hub" }).waitFor({ timeout: 10000 });
  await page.locator("#link-state", { hasText: "Online" }).waitFor({ timeout: 10000 });
  if (!(await page.evaluate(() => localStorage.getItem("merchd.till"))) || (await page.evaluate(() => localStorage.getItem("merchd.staff")))) {
    throw new Error("the till's session is not under its own key");
  }
  ok("a clerk of the hub signs in; the link shows online");

  // Cash: two tees tapped from the grid, 100.00 given, 30.00 back.
  const tee = page.locator(`button.product[data-sku="${cfg.sku}"]`);
  await tee.waitFor({ timeout: 10000 });
  await tee.click();
  await page.locator("#cart-lines li", { hasText: "1 ×" }).waitFor({ timeout: 10000 });
  await tee.click();
  await page.locator("#cart-lines li", { hasText: "2 ×" }).waitFor({ timeout: 10000 });
  // A third tap by mistake, taken back out.
  await tee.click();
  await page.locator("#cart-lines li", { hasText: "3 ×" }).waitFor({ timeout: 10000 });
  await page.getByRole("button", { name: "Remove one Tour Tee 2026 · S" }).click();
  await page.locator("#cart-lines li", { hasText: "2 ×" }).waitFor({ timeout: 10000 });
  await page.locator(`button.product[data-sku="${cfg.sku}"]`, { hasText: "18 left" }).waitFor({ timeout: 10000 });
  ok("a mis-tap is taken out of the sale and back on the shelf");
  if ((await text(page, "#total")) !== "€70.00") throw new Error("total " + (await text(page, "#total")));
  ok("tapping a product twice puts two in the sale", await text(page, "#total"));
  await touchTargets(page, "tablet portrait");
  await noRawText(page, "till with a sale");
  await axe(page, "till with a sale");
  await shot(page, "till-tablet");
  await page.locator("#pay-cash").click();
  await page.getByLabel("Cash received", { exact: true }).fill("50");
  await page.locator("#change", { hasText: "Short by €20.00" }).waitFor();
  if (!(await page.locator("#take-cash").isDisabled())) throw new Error("cash short of the total can be taken");
  await page.getByLabel("Cash received", { exact: true }).fill("100");
  if ((await text(page, "#change-due")) !== "€30.00") throw new Error("change due " + (await text(page, "#change-due")));
  ok("cash: change due from 100.00 on 70.00", await text(page, "#change-due"));
  await axe(page, "till cash");
  await page.locator("#take-cash").click();
  await page.locator("#sale-done").waitFor({ timeout: 10000 });
  if ((await text(page, "#done-change")) !== "€30.00" || !(await text(page, "#sale-done")).includes("paid by cash")) throw new Error("receipt: " + (await text(page, "#sale-done")));
  await page.locator("#printed", { hasText: "Receipt printed" }).waitFor();
  if ((await hubSales()) !== 1) throw new Error("hub sales after cash: " + (await hubSales()));
  ok("the cash sale is recorded once and its receipt printed");
  await page.locator("#new-sale").click();

  // The venue's internet goes: the till keeps selling from the hub.
  await link("down");
  await page.locator("#link-state", { hasText: "Offline" }).waitFor({ timeout: 60000 });
  ok("the link state turns offline");

  // A keyboard-wedge scanner types the SKU and Enter into the focused field.
  await page.locator("#scan-code").focus();
  await page.keyboard.type(cfg.sku + "\n", { delay: 5 });
  await page.locator("#cart-lines li", { hasText: "1 ×" }).waitFor({ timeout: 10000 });
  await page.keyboard.type("NOT-A-SKU\n", { delay: 5 });
  await page.locator("#notice", { hasText: "Nothing at this hub has that code" }).waitFor({ timeout: 10000 });
  ok("a wedge scan adds to the sale; an unknown code is refused in words");

  // Reload between scan and pay: the sale's cart lives on the hub.
  await page.reload();
  await page.locator("#cart-lines li", { hasText: "1 ×" }).waitFor({ timeout: 10000 });
  await page.locator("#link-state", { hasText: "Offline" }).waitFor({ timeout: 10000 });
  if ((await text(page, "#total")) !== "€35.00") throw new Error("total after reload " + (await text(page, "#total")));
  ok("after a reload the scanned item is still in the sale");
  if (!(await page.locator("#pay-card").isDisabled())) throw new Error("card offered with the link down");
  await noRawText(page, "offline till");
  await axe(page, "offline till");
  await shot(page, "till-offline-tablet");

  // The phone QR is made by the hub alone: it shows offline too.
  await page.locator("#pay-qr").click();
  await page.locator("#show-qr").click();
  await page.locator("#pay-qr-img").waitFor({ timeout: 10000 });
  if (!(await page.locator("#pay-qr-img").getAttribute("src")).startsWith("data:image/png")) throw new Error("the pay QR is no image");
  await axe(page, "till phone QR");
  await page.getByRole("button", { name: "Start over" }).click();
  if (await page.evaluate(() => localStorage.getItem("merchd.till.qr"))) throw new Error("the QR outlived Start over");
  ok("the phone QR shows offline, for the buyer to pay on central over their own data");

  // The dangerous moment: the wallet payment reaches the hub, its answer
  // never reaches the page, and the page reloads.
  let sent = false;
  await page.route("**/query", async (route) => {
    if (!(route.request().postData() || "").includes("hubSell(")) return route.continue();
    await route.fetch(); // the hub records the sale…
    sent = true;
    await route.abort("connectionreset"); // …and the tablet never hears of it
  });
  await page.locator("#pay-wallet").click();
  await page.getByLabel("Customer's wallet pass", { exact: true }).fill(cfg.pass);
  await page.locator("#wallet-check").click();
  await page.locator("#wallet-info", { hasText: "Can spend here now" }).waitFor({ timeout: 10000 });
  await page.getByRole("button", { name: "Charge wallet" }).click();
  for (const end = Date.now() + 10000; !sent; await page.waitForTimeout(20)) if (Date.now() > end) throw new Error("hubSell never sent");
  const kept = await page.evaluate(() => JSON.parse(localStorage.getItem("merchd.till.sale") || "null"));
  if (!kept || !kept.key || kept.input.paidWith !== "WALLET") throw new Error("no pending sale kept before the answer: " + JSON.stringify(kept));
  await page.unroute("**/query");
  await page.reload();
  await page.locator("#sale-done").waitFor({ timeout: 15000 });
  if (!(await text(page, "#sale-done")).includes("paid by wallet")) throw new Error("resumed receipt: " + (await text(page, "#sale-done")));
  if (await page.evaluate(() => localStorage.getItem("merchd.till.sale"))) throw new Error("the pending sale outlived its answer");
  if ((await hubSales()) !== 2) throw new Error("hub sales after the resumed wallet payment: " + (await hubSales()));
  const w = (await gql(cfg.hubToken, "query($p: String!) { hubWallet(walletPass: $p) { unconfirmed { amount } } }", { p: cfg.pass })).hubWallet;
  if (w.unconfirmed.amount !== 3500) throw new Error("wallet charged " + w.unconfirmed.amount + " at the hub, want 3500 once");
  ok("a reload after the payment was sent finishes the same sale, once", "key " + kept.key);
  await page.locator("#queue", { hasText: "2 waiting to sync" }).waitFor({ timeout: 10000 });
  ok("the queue shows the two sales waiting for central");

  // Cash with the link still down.
  await page.locator("#new-sale").click();
  await page.locator("#scan-code").focus();
  await page.keyboard.type(cfg.sku + "\n", { delay: 5 });
  await page.locator("#cart-lines li", { hasText: "1 ×" }).waitFor({ timeout: 10000 });
  await page.locator("#pay-cash").click();
  await page.getByLabel("Cash received", { exact: true }).fill("40");
  if ((await text(page, "#change-due")) !== "€5.00") throw new Error("offline change due " + (await text(page, "#change-due")));
  await page.locator("#take-cash").click();
  await page.locator("#sale-done").waitFor({ timeout: 10000 });
  if ((await hubSales()) !== 3) throw new Error("hub sales after the offline cash sale: " + (await hubSales()));
  await page.locator("#queue", { hasText: "3 waiting to sync" }).waitFor({ timeout: 10000 });
  ok("cash offline: change €5.00 on 35.00, recorded once, three sales waiting for central");

  // Landscape: products beside the sale.
  await page.setViewportSize(LANDSCAPE.viewport);
  await page.locator("#new-sale").click();
  const [left, right] = await Promise.all([page.locator(".till-left").boundingBox(), page.locator(".till-right").boundingBox()]);
  if (!(right.x > left.x + left.width - 1)) throw new Error("landscape: the sale is not beside the products " + JSON.stringify([left, right]));
  await touchTargets(page, "tablet landscape");
  ok("landscape puts the sale beside the products");
  await page.setViewportSize(TABLET.viewport);

  // Pickups: a code that is no pickup here is refused in words.
  await page.getByRole("button", { name: "Pickups" }).click();
  await page.getByLabel("Pickup pass or code", { exact: true }).fill("000000");
  await page.getByRole("button", { name: "Hand over" }).click();
  await page.locator("#notice:not(:empty)").waitFor({ timeout: 10000 });
  await noRawText(page, "pickups");
  await axe(page, "till pickups");
  ok("pickups: an unknown code is refused", await text(page, "#notice"));

  // The link returns: the queue drains and the page says so.
  await link("up");
  await page.locator("#link-state", { hasText: "Online" }).waitFor({ timeout: 60000 });
  await page.locator("#queue", { hasText: "0 waiting to sync" }).waitFor({ timeout: 30000 });
  ok("the link returns and the queue drains", await text(page, "#last-sync"));

  // End of day, with a confirmation.
  await page.getByRole("button", { name: "End of day" }).click();
  await page.locator("#close-hub").click();
  await page.locator("#confirm-close[open]").waitFor();
  await axe(page, "till close confirmation");
  await page.locator("#close-cancel").click();
  if (await page.locator("#closed").count()) throw new Error("closed without confirming");
  await page.locator("#close-hub").click();
  await page.locator("#close-confirm").click();
  await page.locator("#closed").waitFor({ timeout: 10000 });
  if (!(await text(page, "#close-result")).includes("16 × " + cfg.sku)) throw new Error("closing handed back: " + (await text(page, "#close-result")));
  ok("closing the hub asks first, then hands back the 16 units left");
  await page.locator("#queue", { hasText: "0 waiting to sync" }).waitFor({ timeout: 30000 });
  await ctx.close();

  // A clerk of another location signs in and is refused the till.
  const octx = await context(TABLET);
  const op = await octx.newPage();
  await op.goto(cfg.base + "/till");
  await op.getByLabel("Email").fill(cfg.other.email);
  await op.getByLabel("Password").fill(cfg.other.password);
  await op.getByRole("button", { name: "Sign in" }).click();
  await op.locator("#not-allowed").waitFor({ timeout: 10000 });
  await axe(op, "till refused");
  ok("a clerk of another location is refused the till", await text(op, "#not-allowed"));
  await octx.close();
});
