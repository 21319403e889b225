// The console's shell: staff sign in through the form, see the areas
// their role may open, a clerk is refused settings, and a disabled member
// is signed out at once. Desktop and tablet.
import { cfg, ok, run, context, signIn, axe, shot, gql, noRawText, DESKTOP, TABLET } from "./console-lib.mjs";

await run(async () => {
  for (const [size, opts] of [["desktop", DESKTOP], ["tablet", TABLET]]) {
    const ctx = await context(opts);
    const page = await ctx.newPage();
    await page.goto(cfg.base + "/admin");
    await page.getByLabel("Email").fill(cfg.owner.email);
    await page.getByLabel("Password").fill("not the password");
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.locator("#notice", { hasText: "do not match" }).waitFor({ timeout: 10000 });
    ok(size + ": a wrong password is refused in words");
    await signIn(page, cfg.owner.email, cfg.owner.password);
    const areas = await page.locator("#areas a").allInnerTexts();
    for (const want of ["Live board", "Orders", "Fulfilment", "Settings", "Analytics"]) if (!areas.includes(want)) throw new Error(`owner nav lacks ${want}: ${areas}`);
    ok(size + ": the owner sees every area", areas.join(", "));
    await noRawText(page, size + " console home");
    await axe(page, size + " console home");
    await ctx.close();
  }

  // A clerk: pickups and returns only; settings refused; sign-out by the owner ends the session at once.
  const ctx = await context(TABLET);
  const page = await ctx.newPage();
  await signIn(page, cfg.clerk.email, cfg.clerk.password);
  const areas = await page.locator("#areas a").allInnerTexts();
  if (areas.includes("Settings") || areas.includes("Orders")) throw new Error("a clerk's nav offers " + areas);
  ok("a clerk sees", areas.join(", "));
  await page.goto(cfg.base + "/admin/settings");
  await page.locator("#not-allowed").waitFor({ timeout: 10000 });
  ok("a clerk cannot open settings");
  await gql(cfg.ownerToken, "mutation($i: DisableStaffInput!) { disableStaff(input: $i) { staff { disabledAt } } }", { i: { staffId: cfg.clerk.id } });
  await page.evaluate(() => document.dispatchEvent(new Event("visibilitychange")));
  await page.locator("#staff-signin").waitFor({ timeout: 10000 });
  ok("a disabled clerk is signed out at once");
  await ctx.close();
});
