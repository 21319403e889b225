// The console's fulfilment and returns: the pick list grouped by where
// orders go, packing, a ZPL label, the late list, live updates; a pickup
// handed over through the wedge-scanner path (the pass typed fast, then
// Enter) and refused in words when scanned again; a clerk at popup-1 sees
// only their pickups and hands one over with the camera (a
// BarcodeDetector stand-in); a return taken in by its code and graded
// back to stock (the variant's stock rises, read through GraphQL).
import { cfg, ok, run, context, signIn, axe, shot, gql, noRawText, DESKTOP, TABLET } from "./console-lib.mjs";

const fstatus = async (id) => (await gql(cfg.ownerToken, "query($id: ID!) { node(id: $id) { ... on Fulfillment { status } } }", { id })).node.status;
const stock = async () => (await gql(cfg.ownerToken, "query($id: ID!) { node(id: $id) { ... on Variant { available } } }", { id: cfg.variant })).node.available;
const row = (page, o) => page.locator("#pick-list tr", { hasText: o.number });

await run(async () => {
  // Staff at a desktop: pick, pack, label, hand over by the scanner.
  {
    const ctx = await context(DESKTOP);
    const page = await ctx.newPage();
    await signIn(page, cfg.staff.email, cfg.staff.password);
    await page.locator("#areas a[data-area=fulfilment]").click();
    await row(page, cfg.handover).waitFor({ timeout: 10000 });
    const groups = await page.locator("#pick-list .pick-group h3").allInnerTexts();
    if (!groups.some((g) => g.startsWith("Pickup · Central")) || !groups.some((g) => g.startsWith("Pickup · Pop-up"))) throw new Error("pick list groups: " + groups);
    ok("the pick list is grouped by where orders go", groups.join(" | "));
    await page.locator("#late-list").getByText(/Nothing is late|Was due/).first().waitFor();
    const hasDetector = await page.evaluate(() => "BarcodeDetector" in window);
    if ((await page.locator("#scan-camera").count()) !== (hasDetector ? 1 : 0)) throw new Error("the camera button does not follow BarcodeDetector");
    ok("the camera button is shown only where BarcodeDetector exists", String(hasDetector));

    for (const [label, want] of [["Start picking", "PICKING"], ["Mark packed", "PACKED"], ["Ready for pickup", "READY_FOR_PICKUP"]]) {
      await row(page, cfg.handover).getByRole("button", { name: label }).click();
      await row(page, cfg.handover).locator(".pill", { hasText: want.replaceAll("_", " ").toLowerCase() }).waitFor({ timeout: 10000 });
      if ((await fstatus(cfg.handover.fulfillmentId)) !== want) throw new Error("after " + label + " the fulfilment is not " + want);
    }
    ok("packed and made ready for pickup, one step per click");
    const download = page.waitForEvent("download");
    await row(page, cfg.handover).getByRole("button", { name: "Label ZPL" }).click();
    const file = await download;
    if (!file.suggestedFilename().endsWith(".zpl")) throw new Error("label file " + file.suggestedFilename());
    await page.locator("#notice", { hasText: "Label ready" }).waitFor({ timeout: 10000 });
    ok("a ZPL label for the label printer", file.suggestedFilename());

    // Live: a move made elsewhere shows up without a reload.
    await gql(cfg.ownerToken, "mutation($i: AdvanceFulfillmentInput!) { advanceFulfillment(input: $i) { fulfillment { status } } }",
      { i: { fulfillmentId: cfg.awayOrder.fulfillmentId, status: "PICKING", idempotencyKey: "live-move" } });
    await row(page, cfg.awayOrder).locator(".pill", { hasText: "picking" }).waitFor({ timeout: 10000 });
    ok("live: a move made elsewhere appears at once");
    await noRawText(page, "fulfilment");
    await axe(page, "desktop fulfilment");

    // The wedge scanner: the pass typed fast, then Enter.
    await page.locator("#scan-code").focus();
    await page.keyboard.type(cfg.handover.pass, { delay: 2 });
    await page.keyboard.press("Enter");
    await page.locator("#scan-result.ok", { hasText: cfg.handover.number }).waitFor({ timeout: 10000 });
    if ((await fstatus(cfg.handover.fulfillmentId)) !== "COLLECTED") throw new Error("the scanned pickup is not collected");
    await row(page, cfg.handover).waitFor({ state: "detached", timeout: 10000 });
    ok("handed over by the wedge-scanner path; it leaves the pick list");
    await shot(page, "console-fulfilment-desktop");
    await page.keyboard.type(cfg.handover.pass, { delay: 2 });
    await page.keyboard.press("Enter");
    await page.locator("#scan-result.error", { hasText: "Already collected" }).waitFor({ timeout: 10000 });
    await page.keyboard.type("NOPE99", { delay: 2 });
    await page.keyboard.press("Enter");
    await page.locator("#scan-result.error", { hasText: "Refused" }).waitFor({ timeout: 10000 });
    ok("a second scan is refused in words (already collected); an unknown code too");

    // Returns: intake by the typed code, then the inspection lane back to stock.
    await page.locator("#areas a[data-area=returns]").click();
    await page.locator("#return-location").selectOption(cfg.centralId);
    await page.locator("#return-code").fill(cfg.returnCode);
    await page.locator("#return-code").press("Enter");
    await page.locator("#return-result.ok", { hasText: cfg.returned.number }).waitFor({ timeout: 10000 });
    ok("a return taken in by its code", cfg.returnCode);
    const inspect = page.locator("#inspection-lane .inspect", { hasText: cfg.returnCode });
    await inspect.waitFor({ timeout: 10000 });
    await page.locator("#grade-location").selectOption(cfg.centralId);
    await shot(page, "console-returns-desktop");
    const before = await stock();
    await inspect.getByLabel(/Grade for/).selectOption("RESELLABLE");
    await inspect.getByRole("button", { name: "Grade" }).click();
    await page.locator("#notice", { hasText: "back to stock" }).waitFor({ timeout: 10000 });
    const after = await stock();
    if (after !== before + 1) throw new Error(`stock went ${before} → ${after}, want +1`);
    ok("graded back to stock: the variant's stock rose by one", `${before} → ${after}`);
    await page.locator("#returns-status").selectOption("INSPECTED");
    await page.locator("#returns-list td", { hasText: cfg.returnCode }).first().waitFor({ timeout: 10000 }).catch(async () => {
      await page.locator("#returns-status").selectOption("REFUNDED");
      await page.locator("#returns-list td", { hasText: cfg.returnCode }).first().waitFor({ timeout: 10000 });
    });
    ok("the return is listed under its new status");
    await noRawText(page, "returns");
    await axe(page, "desktop returns");
    await ctx.close();
  }

  // A clerk at popup-1 on a tablet, with a camera that reads QR codes.
  {
    const ctx = await context(TABLET);
    await ctx.addInitScript((pass) => {
      window.BarcodeDetector = class { async detect() { return [{ rawValue: pass, format: "qr_code" }]; } };
      const c = document.createElement("canvas");
      c.width = 64; c.height = 64;
      Object.defineProperty(navigator, "mediaDevices", { value: { getUserMedia: async () => c.captureStream(5) } });
    }, cfg.popupOrder.pass);
    const page = await ctx.newPage();
    await signIn(page, cfg.clerk.email, cfg.clerk.password);
    await page.locator("#areas a[data-area=fulfilment]").click();
    await row(page, cfg.popupOrder).waitFor({ timeout: 10000 });
    if (await row(page, cfg.awayOrder).count()) throw new Error("a clerk's pick list shows another location's pickup");
    if (await page.locator("#late-list").count()) throw new Error("a clerk sees the late list");
    if (await page.locator("[data-advance]").count()) throw new Error("a clerk is offered packing");
    ok("a clerk sees only their location's pickups, no packing, no late list");
    await noRawText(page, "clerk fulfilment");
    await axe(page, "tablet fulfilment");
    await shot(page, "console-fulfilment-tablet");
    await page.locator("#scan-camera").click();
    await page.locator("#scan-result.ok", { hasText: cfg.popupOrder.number }).waitFor({ timeout: 10000 }).catch(async (e) => { throw new Error("camera handover: " + (await page.locator("#scan-result").innerText()) + " / " + (await page.locator("#notice").innerText()) + " / " + e); });
    if ((await fstatus(cfg.popupOrder.fulfillmentId)) !== "COLLECTED") throw new Error("the camera handover did not collect");
    ok("a clerk hands over by the camera (BarcodeDetector stand-in)");
    await page.locator("#areas a[data-area=returns]").click();
    await page.getByText("Dropped off at Pop-up").waitFor({ timeout: 10000 });
    if (await page.locator("#inspection-lane").count()) throw new Error("a clerk sees the inspection lane");
    await axe(page, "tablet returns");
    ok("a clerk takes returns in at their location only; no inspection lane");
    await ctx.close();
  }
});
