// The console's analytics page on the seeded shop (analyticstest.Seed):
// the period picker set to the seeded 60 days, the EUR revenue tile shows
// the hand-computed €77.00 (o6 5.00 + o1 20.00 + o2 10.00 + o3 30.00 + the
// hub sale 12.00; the orders outside the period, unpaid or canceled, and
// the USD order are not in it), the revenue chart is an SVG path, the
// drop's bar is drawn, and "Export CSV" downloads the same figures. A
// clerk's own session is refused the report (FORBIDDEN). Desktop and tablet.
import fs from "node:fs";
import { cfg, ok, run, context, signIn, axe, shot, noRawText, DESKTOP, TABLET } from "./console-lib.mjs";

const A = cfg.analytics;

await run(async () => {
  for (const [size, opts] of [["desktop", DESKTOP], ["tablet", TABLET]]) {
    const ctx = await context({ ...opts, timezoneId: "UTC", locale: "en-US", acceptDownloads: true });
    const page = await ctx.newPage();
    await signIn(page, cfg.staff.email, cfg.staff.password);
    await page.locator('#areas a[data-area="analytics"]').click();
    await page.waitForURL(/\/admin\/analytics/);
    await page.locator("#an-out .tiles").waitFor({ timeout: 10000 });
    ok(size + ": the analytics page opens from the nav");

    // Keyboard: choose custom dates, type them, submit with Enter.
    await page.getByLabel("Period").selectOption("custom");
    await page.getByLabel("From (first day)").fill(A.from);
    await page.getByLabel("To (last day)").fill(A.to);
    await page.getByLabel("To (last day)").press("Enter");
    await page.locator("#tile-revenue-EUR .value", { hasText: "€77.00" }).waitFor({ timeout: 10000 });
    const tile = (id) => page.locator(`#${id} .value`).innerText();
    const want = { "tile-revenue-EUR": "€77.00", "tile-orders-EUR": "5", "tile-aov-EUR": "€15.40", "tile-revenue-USD": "$25.00",
      "tile-conversion": "63.6 %", "tile-attach": "40.0 %", "tile-repeat": "66.7 %", "tile-sla": "33.3 %", "tile-fulfilled": "48.0 h" };
    for (const [id, v] of Object.entries(want)) {
      const got = await tile(id);
      if (got !== v) throw new Error(`${size}: tile ${id} shows ${got}, want ${v}`);
    }
    ok(size + ": the tiles show the hand-computed figures", Object.values(want).join(" · "));

    const path = await page.locator("#chart-revenue-EUR svg.chart path.series").getAttribute("d");
    if (!path || path.split("L").length < 60) throw new Error(`${size}: the revenue line has too few points: ${path}`);
    const bars = await page.locator("#an-drops svg.chart rect.bar").count();
    if (bars !== 2) throw new Error(`${size}: ${bars} sell-through bars, want 2 (tour drop, poster drop)`);
    const returnBars = await page.locator("#an-returns svg.chart rect.bar").count();
    if (returnBars !== 3) throw new Error(`${size}: ${returnBars} return-rate bars, want 3`);
    const raw = await page.locator("#an-out").evaluate((e) => [...e.querySelectorAll("svg")].map((s) => s.textContent).join(" "));
    if (/\[object /.test(raw)) throw new Error(`${size}: a chart shows raw objects: ${raw.slice(0, 200)}`);
    ok(size + ": the revenue line (60 days), sell-through and return-rate bars are drawn as SVG");
    const soldOut = await page.locator("#an-drops table").innerText();
    if (!soldOut.includes("4 of 4") || !soldOut.includes("100.0 %") || !soldOut.includes("47.0 h")) throw new Error(`${size}: drop table ${soldOut}`);
    const stock = await page.locator("#an-stockouts table").innerText();
    if (!/TEE-M\s+central\s+2\s+120/.test(stock) || !/POSTER\s+popup-1\s+1\s+15/.test(stock)) throw new Error(`${size}: stock-outs ${stock}`);
    ok(size + ": the drop sold out in 47 h; stock-out minutes per SKU and location");

    const [dl] = await Promise.all([page.waitForEvent("download"), page.getByRole("button", { name: "Export CSV" }).click()]);
    const text = fs.readFileSync(await dl.path(), "utf8");
    for (const line of ["Revenue,EUR,,,77.00", "Orders,EUR,,,5", "Average order value,EUR,,,15.40", "Revenue,USD,,,25.00",
      "Conversion hold to paid,,7,11,", "Attach rate,,2,5,0.4", "Pickups within SLA,,1,3,", "Tour drop,4,4,1,", "TEE-M,central,2,120", "2025-03-02T00:00:00Z,EUR,30.00,2"]) {
      if (!text.includes(line)) throw new Error(`${size}: the CSV lacks "${line}":\n${text.slice(0, 800)}`);
    }
    ok(size + ": the CSV download carries the same figures", dl.suggestedFilename());

    await noRawText(page, size + " analytics");
    const nav = await page.locator("#areas").innerText();
    if (/\bnull\b/.test(nav)) throw new Error(`${size}: the nav shows raw text: ${nav}`);
    await axe(page, size + " analytics");
    await shot(page, "console-analytics-" + size, true);

    // One drop: its lines only (o1, o2, o3: 10.00 + 10.00 + 20.00).
    await page.getByLabel("Scope").selectOption({ label: "Tour drop" });
    await page.getByRole("button", { name: "Show" }).click();
    await page.locator("#tile-revenue-EUR .value", { hasText: "€40.00" }).waitFor({ timeout: 10000 });
    if ((await tile("tile-conversion")) !== "75.0 %") throw new Error(size + ": drop conversion " + (await tile("tile-conversion")));
    ok(size + ": scoped to the drop, revenue €40.00 and conversion 75.0 %");
    await ctx.close();
  }

  // A clerk's session: the nav has no analytics, and the API refuses it.
  const ctx = await context(TABLET);
  const page = await ctx.newPage();
  await signIn(page, cfg.clerk.email, cfg.clerk.password);
  if ((await page.locator('#areas a[data-area="analytics"]').count()) !== 0) throw new Error("a clerk's nav offers analytics");
  const code = await page.evaluate(async (a) => {
    const res = await fetch("/query", { method: "POST", headers: { "Content-Type": "application/json", Authorization: "Bearer " + localStorage.getItem("merchd.staff") },
      body: JSON.stringify({ query: "query($i: AnalyticsInput!) { analyticsCSV(input: $i) }", variables: { i: { from: a.from + "T00:00:00Z", to: a.to + "T00:00:00Z" } } }) });
    const body = await res.json();
    return body.errors && body.errors[0].extensions.code;
  }, A);
  if (code !== "FORBIDDEN") throw new Error("a clerk's session reading analytics got " + code);
  ok("a clerk's session is refused analytics (FORBIDDEN)");
  await ctx.close();
});
