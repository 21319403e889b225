// Pop-ups: lease stock to a hub and make a venue QR code, as staff, at
// desktop and tablet size; the lease is checked through the API.
import { cfg, ok, run, context, signIn, axe, shot, gql, noRawText, DESKTOP, TABLET } from "./console-lib.mjs";

const held = async () => {
  const d = await gql(cfg.ownerToken, `query($v: ID!) { hubAllocation(hub: "popup-1") { sku available } node(id: $v) { ... on Variant { available } } }`, { v: cfg.variantId });
  const line = d.hubAllocation.find((l) => l.sku === "VENUE-M");
  return { hub: line ? line.available : 0, central: d.node.available };
};

await run(async () => {
  let leased = 0;
  for (const [size, opts, units] of [["desktop", DESKTOP, 4], ["tablet", TABLET, 3]]) {
    const ctx = await context(opts);
    const page = await ctx.newPage();
    await signIn(page, cfg.staff.email, cfg.staff.password);
    await page.locator("#areas a[data-area=popups]").click();
    await page.locator("#lease-form").waitFor({ timeout: 10000 });
    const before = await held();
    await page.getByLabel("Units").fill(String(units));
    await page.getByRole("button", { name: "Lease to the hub" }).click();
    await page.locator("#notice", { hasText: "The hub now holds" }).waitFor({ timeout: 10000 });
    leased += units;
    await page.locator("#allocation td", { hasText: String(leased) }).first().waitFor({ timeout: 10000 });
    const after = await held();
    if (after.hub !== leased || before.central - after.central !== units) throw new Error(`lease of ${units}: ${JSON.stringify(before)} → ${JSON.stringify(after)}`);
    ok(size + ": leased " + units + " to the hub; central's count fell by as many", JSON.stringify(after));

    await page.getByLabel("Label (printed under the code)").fill("Merch table " + size);
    await page.locator("#qr-form input[name=product]").first().check();
    await page.getByRole("button", { name: "Make the QR code" }).click();
    await page.locator("#qr-img").waitFor({ timeout: 10000 });
    if (!(await page.locator("#qr-img").getAttribute("src")).startsWith("data:image/png")) throw new Error("the QR code is no PNG");
    if (!(await page.locator("#qr-url").innerText()).includes("/q/")) throw new Error("the QR code opens " + (await page.locator("#qr-url").innerText()));
    ok(size + ": a venue QR code to print", await page.locator("#qr-url").innerText());
    await noRawText(page, size + " pop-ups");
    await axe(page, size + " pop-ups");
    await shot(page, "console-popups-" + size, size === "desktop");
    await ctx.close();
  }
});
