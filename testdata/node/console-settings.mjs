// The console's settings at desktop and tablet size: the owner renames
// the shop and changes its colour (the storefront shows them after a
// reload), adds a member and a token (secret shown once) and revokes it,
// sends a test email, reads the audit log; delivery and webhooks
// sections work; a clerk and a staff member are refused, by the page
// and by the API.
import { cfg, ok, run, context, signIn, axe, shot, gql, noRawText, DESKTOP, TABLET } from "./console-lib.mjs";

const code = async (p) => {
  try { await p; return "OK"; } catch (e) { const m = String(e.message).match(/"code":"([A-Z_]+)"/); return m ? m[1] : String(e); }
};
const brandOf = (page) => page.evaluate(() => getComputedStyle(document.documentElement).getPropertyValue("--brand").trim());

await run(async () => {
  for (const [size, opts, colour] of [["desktop", DESKTOP, "#0a7d5a"], ["tablet", TABLET, "#b0301f"]]) {
    const ctx = await context(opts);
    await ctx.grantPermissions(["clipboard-read", "clipboard-write"], { origin: cfg.base });
    const page = await ctx.newPage();
    await signIn(page, cfg.owner.email, cfg.owner.password);
    await page.locator("#areas a", { hasText: "Settings" }).click();
    await page.locator("#shop-form").waitFor({ timeout: 10000 });

    // A bad colour is refused in words, naming the field.
    await page.getByLabel("Brand colour (#rrggbb)").fill("red");
    await page.getByRole("button", { name: "Save" }).click();
    await page.locator("#notice", { hasText: "brandColor" }).waitFor({ timeout: 10000 });
    ok(size + ": a bad colour is refused, naming the field");

    const name = "Harbour Lights " + size;
    await page.getByLabel("Shop name").fill(name);
    await page.getByLabel("Brand colour (#rrggbb)").fill(colour);
    await page.getByRole("button", { name: "Save" }).click();
    await page.locator("#notice", { hasText: "Saved" }).waitFor({ timeout: 10000 });
    await noRawText(page, size + " shop settings");
    await axe(page, size + " shop settings");
    await shot(page, "console-settings-" + size);
    ok(size + ": the owner saved the shop's name and colour");

    const shop = await ctx.newPage();
    await shop.goto(cfg.base + "/");
    await shop.reload();
    const shown = await shop.locator("#shop-name").innerText();
    const brand = await brandOf(shop);
    if (shown !== name || brand !== colour) throw new Error(`storefront shows ${shown} / ${brand}, want ${name} / ${colour}`);
    ok(size + ": the storefront shows the new name and colour after a reload", shown + " " + brand);
    await shop.close();

    // Staff and tokens: add a member, issue a token (shown once), revoke it.
    await page.getByRole("link", { name: "Staff and tokens" }).click();
    await page.locator("#new-staff").waitFor({ timeout: 10000 });
    const email = "new-" + size + "@shop.example";
    const form = page.locator("#new-staff");
    await form.getByLabel("Email").fill(email);
    await form.getByLabel("Name").fill("New " + size);
    await form.getByLabel("Role").selectOption("CLERK");
    await form.getByLabel("Clerk's location code").fill("popup-1");
    await form.getByLabel("First password (8+ characters)").fill("a long first password");
    await form.getByRole("button", { name: "Add member" }).click();
    await page.locator("#settings-staff table", { hasText: email }).first().waitFor({ timeout: 10000 });
    ok(size + ": the owner added a clerk", email);

    const tf = page.locator("#new-token");
    await tf.getByLabel("For").selectOption({ label: email });
    await tf.getByLabel("Label").fill("script-" + size);
    await tf.getByRole("button", { name: "Issue token" }).click();
    await page.locator("#secret-value").waitFor({ timeout: 10000 });
    const secret = (await page.locator("#secret-value").innerText()).trim();
    if (!secret.startsWith("mst_")) throw new Error("token secret shown: " + secret);
    const me = await gql(secret, "{ staffViewer { email role } }");
    if (me.staffViewer.email !== email) throw new Error("the new token acts as " + JSON.stringify(me));
    await page.getByRole("button", { name: "Copy" }).click();
    await page.locator("#notice", { hasText: "Copied" }).waitFor({ timeout: 10000 });
    const copied = await page.evaluate(() => navigator.clipboard.readText());
    if (copied !== secret) throw new Error("copied " + copied);
    ok(size + ": a token's secret is shown with a copy button, and works");
    await axe(page, size + " staff and tokens");
    await noRawText(page, size + " staff and tokens");
    await page.reload();
    await page.locator("#new-token").waitFor({ timeout: 10000 });
    if (await page.locator("#secret-value").count()) throw new Error("the secret is shown again after a reload");
    if ((await page.locator("main").innerText()).includes(secret)) throw new Error("the secret is on the page after a reload");
    ok(size + ": the secret is shown once");
    await page.getByRole("button", { name: "Revoke token script-" + size + " of " + email }).click();
    await page.locator("#notice", { hasText: "revoked" }).waitFor({ timeout: 10000 });
    const after = await code(gql(secret, "{ staffViewer { email } }"));
    if (after !== "UNAUTHENTICATED") throw new Error("a revoked token answered " + after);
    ok(size + ": a revoked token stops working at once");

    // Email: the SMTP server and a test email that arrives.
    await page.getByRole("link", { name: "Email" }).click();
    await page.locator("#smtp-server").waitFor({ timeout: 10000 });
    await page.getByLabel("To").fill("ops-" + size + "@shop.example");
    await page.getByRole("button", { name: "Send test email" }).click();
    await page.locator("#email-result", { hasText: "Sent" }).waitFor({ timeout: 15000 });
    await axe(page, size + " email");
    ok(size + ": the test email went through the SMTP server");

    // The audit log: the token's creation and revocation, by the owner.
    await page.getByRole("link", { name: "Audit log" }).click();
    await page.locator("#audit-count").waitFor({ timeout: 10000 });
    await page.getByLabel("Operation").fill("revokeStaffToken");
    await page.getByRole("button", { name: "Filter" }).click();
    // The filtered list replaces the whole one (which also holds the row):
    // wait until every row shown is the operation asked for.
    await page.waitForFunction(() => {
      const rows = [...document.querySelectorAll("#audit-rows tbody tr")];
      return rows.length > 0 && rows.every((r) => r.innerText.includes("revokeStaffToken"));
    }, null, { timeout: 10000 }).catch(() => {});
    const rows = await page.locator("#audit-rows tbody tr").allInnerTexts();
    if (!rows.length || !rows.every((r) => r.includes(cfg.owner.email) && r.includes("revokeStaffToken"))) throw new Error("audit rows: " + rows.join(" | "));
    await noRawText(page, size + " audit log");
    await axe(page, size + " audit log");
    ok(size + ": the audit log shows the revocation by the owner", rows.length + " rows");

    if (size === "desktop") {
      // Delivery: add a pickup point; it is listed.
      await page.getByRole("link", { name: "Delivery" }).click();
      const pf = page.locator("#new-point");
      await pf.waitFor({ timeout: 10000 });
      await pf.getByLabel("Code (letters, digits, -)").fill("counter-harbour");
      await pf.getByLabel("Name").fill("Harbour counter");
      await pf.getByLabel("Street and number").fill("Hafenstraße 1");
      await pf.getByLabel("Postcode").fill("20457");
      await pf.getByLabel("City").fill("Hamburg");
      await pf.getByLabel("Country (DE, GB…)").fill("DE");
      await pf.getByRole("button", { name: "Add pickup point" }).click();
      await page.locator("#settings-delivery table", { hasText: "Harbour counter" }).waitFor({ timeout: 10000 });
      await noRawText(page, "delivery");
      await axe(page, "delivery");
      ok("desktop: the owner added a pickup point");

      // Webhooks: add an endpoint (secret shown once), delete it.
      await page.getByRole("link", { name: "Webhooks" }).click();
      const wf = page.locator("#new-webhook");
      await wf.waitFor({ timeout: 10000 });
      await wf.getByLabel("URL (https)").fill(cfg.base + "/hooks/test");
      await wf.getByRole("button", { name: "Add endpoint" }).click();
      await page.locator("#secret-value").waitFor({ timeout: 10000 });
      await axe(page, "webhooks");
      await page.getByRole("button", { name: "Delete endpoint " + cfg.base + "/hooks/test" }).click();
      await page.locator("#notice", { hasText: "deleted" }).waitFor({ timeout: 10000 });
      ok("desktop: the owner added and deleted a webhook endpoint");
    }
    await ctx.close();
  }

  // A clerk and a staff member: the page refuses, and so does the API.
  for (const who of [cfg.clerk, cfg.staff]) {
    const ctx = await context(TABLET);
    const page = await ctx.newPage();
    await signIn(page, who.email, who.password);
    await page.goto(cfg.base + "/admin/settings/staff");
    await page.locator("#not-allowed").waitFor({ timeout: 10000 });
    const tok = await page.evaluate(() => localStorage.getItem("merchd.staff"));
    for (const [what, q, v] of [
      ["updateShopSettings", "mutation($i: UpdateShopSettingsInput!) { updateShopSettings(input: $i) { settings { name } } }", { i: { name: "Mine" } }],
      ["sendTestEmail", "mutation { sendTestEmail(input: {to: \"x@shop.example\"}) { to } }", {}],
      ["staffTokens", "{ staffTokens { id } }", {}],
    ]) {
      const c = await code(gql(tok, q, v));
      if (c !== "FORBIDDEN") throw new Error(`${who.email}: ${what} answered ${c}`);
    }
    ok(who.email + " cannot open settings: the page says so and the API is FORBIDDEN");
    await ctx.close();
  }
});
