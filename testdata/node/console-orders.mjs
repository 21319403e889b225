// The console's orders and customers: staff find an order by the buyer's
// email and by its number, refund it to the wallet (the buyer's balance
// rises by the amount, read back through GraphQL), open the buyer's page
// (orders, wallet statement, membership) and grant credit; a clerk has no
// refund button and the API refuses their refund. Desktop and tablet.
import { cfg, ok, run, context, signIn, axe, shot, gql, noRawText, DESKTOP, TABLET } from "./console-lib.mjs";

const balance = async () => ((await gql(cfg.fan.token, "{ wallet { balance { amount } } }")).wallet || { balance: { amount: 0 } }).balance.amount;
const staffToken = (page) => page.evaluate(() => localStorage.getItem("merchd.staff"));
async function apiCode(token, query, variables) {
  try { await gql(token, query, variables); return ""; } catch (e) { return (JSON.parse(e.message)[0].extensions || {}).code; }
}

await run(async () => {
  for (const [size, opts] of [["desktop", DESKTOP], ["tablet", TABLET]]) {
    const ctx = await context(opts);
    const page = await ctx.newPage();
    await signIn(page, cfg.staff.email, cfg.staff.password);
    await page.locator("#areas a[data-area=orders]").click();
    await page.getByLabel("Search orders").waitFor();

    // By the buyer's email: the three orders of theirs, nobody else's.
    await page.getByLabel("Search orders").fill(cfg.fan.email.toUpperCase());
    await page.getByLabel("Search orders").press("Enter");
    await page.locator("#order-count", { hasText: "3 orders" }).waitFor({ timeout: 10000 });
    const numbers = await page.locator("#order-results a.order-link").allInnerTexts();
    for (const o of [cfg.refundOrder, cfg.handover, cfg.returned]) if (!numbers.includes(o.number)) throw new Error(`search by email lacks ${o.number}: ${numbers}`);
    if (numbers.includes(cfg.awayOrder.number)) throw new Error("search by email shows another buyer's order");
    ok(size + ": found by email", numbers.join(", "));
    await noRawText(page, size + " order search");
    await axe(page, size + " order search");

    // By its number, typed the way people do (lower case, no dash).
    await page.getByLabel("Search orders").fill(cfg.refundOrder.number.toLowerCase().replace("-", ""));
    await page.getByLabel("Search orders").press("Enter");
    await page.locator("#order-count", { hasText: "1 order" }).waitFor({ timeout: 10000 });
    await page.locator("#order-results a.order-link", { hasText: cfg.refundOrder.number }).click();
    await page.locator("#order-number", { hasText: cfg.refundOrder.number }).waitFor({ timeout: 10000 });
    ok(size + ": found by number and opened", cfg.refundOrder.number);
    for (const want of ["Lines", "Payments", "Refunds", "Fulfilment", "History"]) await page.locator("section.panel h2", { hasText: want }).first().waitFor();
    if (!(await page.locator(".fulfilment .pickup").innerText()).includes(cfg.refundOrder.pickupCode)) throw new Error("the order page lacks the pickup code");

    if (size === "desktop") {
      // Refund to the wallet: the buyer's balance rises by the order's total.
      const before = await balance();
      await page.getByLabel("The buyer's wallet (instant store credit)").check();
      await page.locator("#refund-submit").click();
      await page.locator("#refund-done", { hasText: "to the buyer's wallet" }).waitFor({ timeout: 10000 });
      const after = await balance();
      if (after - before !== 2500) throw new Error(`wallet went from ${before} to ${after}, want +2500`);
      ok("refunded to the wallet; balance rose by the amount", `${before} → ${after}`);
      await page.locator("#order-refunded", { hasText: "25" }).waitFor();
      await page.locator("section.panel", { hasText: "Refunds" }).locator("td", { hasText: "Wallet" }).first().waitFor();
    } else {
      await page.locator("section.panel", { hasText: "Refunds" }).getByText("Nothing left to refund.").waitFor({ timeout: 10000 });
      ok("tablet: the refunded order offers no second refund");
    }
    await noRawText(page, size + " order page");
    await axe(page, size + " order page");
    await shot(page, "console-orders-" + size);

    // The buyer: their orders, the wallet statement with the refund, and credit.
    await page.locator("#customer-link").click();
    await page.locator("#customer-email", { hasText: cfg.fan.email }).waitFor({ timeout: 10000 });
    await page.locator("section.panel", { hasText: "Wallet statement" }).locator("td", { hasText: "refund" }).first().waitFor();
    await page.locator("#customer-membership", { hasText: "Not a member" }).waitFor();
    ok(size + ": the buyer's page shows the refund in the wallet statement");
    const before = await balance();
    const grant = page.locator("#grant-customer");
    await grant.getByLabel("Amount").fill("5");
    await grant.getByLabel("Note the customer sees").fill("Sorry for the wait (" + size + ")");
    await grant.getByRole("button", { name: "Grant credit" }).click();
    await page.locator("#notice", { hasText: "Granted" }).waitFor({ timeout: 10000 });
    if ((await balance()) - before !== 500) throw new Error("granting €5 did not add 500");
    await page.locator("section.panel", { hasText: "Wallet statement" }).locator("td", { hasText: "Sorry for the wait (" + size + ")" }).waitFor({ timeout: 10000 });
    ok(size + ": credit granted to the customer", "+500");
    await noRawText(page, size + " customer page");
    await axe(page, size + " customer page");

    // Customers: search, and the drop grant panel.
    await page.locator("#areas a[data-area=customers]").click();
    await page.getByLabel("Search customers").fill("ada.fan");
    await page.getByLabel("Search customers").press("Enter");
    await page.locator("#customer-results a", { hasText: cfg.fan.email }).waitFor({ timeout: 10000 });
    await page.locator("#grant-drop").waitFor();
    await axe(page, size + " customers");
    ok(size + ": customers found by part of the email");
    await ctx.close();
  }

  // A clerk: no orders area, no refund button; the API refuses a refund,
  // and reads only their location's orders.
  const ctx = await context(TABLET);
  const page = await ctx.newPage();
  await signIn(page, cfg.clerk.email, cfg.clerk.password);
  await page.goto(cfg.base + "/admin/orders/" + cfg.handover.id);
  await page.locator("#not-allowed").waitFor({ timeout: 10000 });
  if (await page.locator("#refund-submit").count()) throw new Error("a clerk sees a refund button");
  const tok = await staffToken(page);
  const refund = await apiCode(tok, "mutation($i: RefundOrderInput!) { refundOrder(input: $i) { refund { id } } }", { i: { orderId: cfg.handover.id, to: "WALLET", idempotencyKey: "clerk-try" } });
  if (refund !== "FORBIDDEN") throw new Error("a clerk's refund answered " + refund);
  ok("a clerk has no refund button and the API refuses (FORBIDDEN)");
  const away = await apiCode(tok, "query($id: ID!) { node(id: $id) { ... on Order { number } } }", { id: cfg.awayOrder.id });
  const here = await gql(tok, "query($id: ID!) { node(id: $id) { ... on Order { number } } }", { id: cfg.popupOrder.id });
  if (away !== "NOT_FOUND" || here.node.number !== cfg.popupOrder.number) throw new Error(`clerk reads: away ${away}, here ${JSON.stringify(here)}`);
  ok("a clerk at popup-1 reads their pickup and not another location's (NOT_FOUND)");
  await ctx.close();
});
