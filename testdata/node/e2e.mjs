// End-to-end tests of merchd's pages in headless Chromium (playwright-core).
// The Go test (web/e2e_test.go) starts the server, seeds data and passes a
// JSON config as argv[2]; this prints one JSON line per check and exits 1
// on the first failure. Screenshots go to cfg.artifacts.
import { chromium } from "playwright-core";
import fs from "node:fs";
import path from "node:path";

const cfg = JSON.parse(process.argv[2]);
fs.mkdirSync(cfg.artifacts, { recursive: true });
const results = [];
const ok = (name, detail = "") => { results.push({ name, ok: true, detail }); console.log(JSON.stringify({ name, ok: true, detail })); };
const shot = (page, name) => page.screenshot({ path: path.join(cfg.artifacts, name + ".png"), fullPage: true });

const browser = await chromium.launch({
  executablePath: cfg.chromium,
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--autoplay-policy=no-user-gesture-required"],
});

// Every page is watched for Content-Security-Policy violations and script
// errors: a policy that breaks a page must fail the run, not go unseen.
const violations = [];
const watch = (page) => {
  page.on("console", (m) => {
    if (/Content Security Policy|Refused to (load|execute|apply|connect|frame)/i.test(m.text())) violations.push(page.url() + ": " + m.text());
  });
  page.on("pageerror", (e) => { if (/Content Security Policy/i.test(String(e))) violations.push(page.url() + ": " + e); });
};
const newContext = browser.newContext.bind(browser);
browser.newContext = async (opts) => {
  const ctx = await newContext(opts);
  ctx.on("page", watch);
  return ctx;
};

async function signedIn(token, opts = {}) {
  const ctx = await browser.newContext(opts);
  await ctx.addInitScript((t) => localStorage.setItem("merchd.token", t), token);
  return ctx;
}

async function gql(token, query, variables) {
  const res = await fetch(cfg.base + "/query", { method: "POST", headers: { "Content-Type": "application/json", Authorization: "Bearer " + token }, body: JSON.stringify({ query, variables }) });
  const body = await res.json();
  if (body.errors) throw new Error(JSON.stringify(body.errors));
  return body.data;
}

try {
  // 0. Signing in goes back only to a page of this site: a next of
  // javascript:, another site or a protocol-relative URL ends on "/".
  for (const [next, want] of [["javascript:alert(document.domain)", "/"], ["https://evil.example/", "/"], ["//evil.example/", "/"],
    ["/\\evil.example/", "/"], ["/..//evil.example/pwned", "/"], ["/.//evil.example/", "/"], ["/cart", "/cart"]]) {
    const ctx = await browser.newContext();
    const page = await ctx.newPage();
    let dialog = "";
    page.on("dialog", (d) => { dialog = d.message(); d.dismiss(); });
    await page.route((u) => u.hostname === "evil.example", (r) => r.fulfill({ status: 200, body: "evil" })); // never leave for real
    await page.goto(cfg.base + "/signin?next=" + encodeURIComponent(next));
    await page.getByLabel("Email").fill(cfg.alice.email);
    await page.getByLabel("Password").fill(cfg.alice.password);
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.waitForURL((u) => u.href !== cfg.base + "/signin?next=" + encodeURIComponent(next) && !u.href.startsWith(cfg.base + "/signin"), { timeout: 10000 });
    await page.waitForLoadState();
    if (page.url() !== cfg.base + want) throw new Error(`next=${next} ended on ${page.url()}, want ${cfg.base + want}`);
    if (dialog) throw new Error(`next=${next} ran a script: dialog ${dialog}`);
    ok("sign-in next " + JSON.stringify(next), "→ " + want);
    await ctx.close();
  }

  // 1. Browse → add to cart → hold countdown → pay from the wallet → order PAID.
  {
    const ctx = await browser.newContext();
    const page = await ctx.newPage();
    await page.goto(cfg.base + "/signin");
    await page.getByLabel("Email").fill(cfg.alice.email);
    await page.getByLabel("Password").fill(cfg.alice.password);
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.waitForURL(cfg.base + "/");
    await page.getByRole("heading", { name: cfg.productTitle }).click();
    await page.waitForURL(/\/products\//);
    await page.locator(".stock").first().waitFor();
    await shot(page, "product");
    await page.getByRole("button", { name: "Add to cart" }).first().click();
    await page.waitForURL(cfg.base + "/cart");
    const cd = page.locator(".hold-countdown").first();
    await cd.waitFor();
    const t1 = await cd.textContent();
    await page.waitForTimeout(2100);
    const t2 = await cd.textContent();
    if (!/^\d\d:\d\d$/.test(t1) || t1 === t2) throw new Error(`hold countdown did not run: ${t1} → ${t2}`);
    ok("hold countdown", `${t1} → ${t2}`);
    await shot(page, "cart");
    await page.locator("#pay-wallet").click();
    await page.waitForURL(/\/orders\//);
    await page.locator("#order-status", { hasText: "PAID" }).waitFor({ timeout: 10000 });
    await page.locator(".pickup").waitFor();
    ok("paid from the wallet");
    await shot(page, "order-paid");

    // The same, by card: the page turns PAID live when Stripe confirms.
    await page.goto(cfg.base + "/products/" + cfg.productSlug);
    await page.getByRole("button", { name: "Add to cart" }).first().click();
    await page.waitForURL(cfg.base + "/cart");
    await page.locator("#pay-card").click();
    await page.waitForURL(/\/orders\//);
    await page.locator("#order-status", { hasText: "PENDING PAYMENT" }).waitFor();
    await shot(page, "order-pending");
    const orderId = decodeURIComponent(page.url().split("/").pop());
    const res = await fetch(cfg.base + "/test/pay?order=" + encodeURIComponent(orderId), { method: "POST" });
    if (res.status !== 200) throw new Error("could not deliver the payment webhook: " + res.status);
    await page.locator("#order-status", { hasText: "PAID" }).waitFor({ timeout: 10000 });
    ok("order turned paid live");

    await page.goto(cfg.base + "/wallet");
    await page.locator("#wallet-balance").waitFor();
    await shot(page, "wallet");
    await page.goto(cfg.base + "/");
    await shot(page, "home");
    await ctx.close();
  }

  // 2. A second browser buying the last unit: the first shows sold out live.
  {
    const a = await (await signedIn(cfg.alice.token)).newPage();
    const b = await (await signedIn(cfg.bob.token)).newPage();
    await a.goto(cfg.base + "/drops/" + cfg.dropId);
    await a.locator("#drop-remaining", { hasText: "1 left" }).waitFor();
    await shot(a, "drop-open");
    await b.goto(cfg.base + "/drops/" + cfg.dropId);
    await b.getByRole("button", { name: /^Add/ }).first().click();
    await b.waitForURL(cfg.base + "/cart");
    await a.locator("#drop-state", { hasText: "Sold out" }).waitFor({ timeout: 10000 });
    ok("sold out without reload");
    await shot(a, "drop-sold-out");
  }

  // 3. QR checkout on a phone-sized screen.
  {
    const ctx = await browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true });
    const page = await ctx.newPage();
    await page.goto(cfg.base + cfg.qrPath);
    await page.getByRole("button", { name: "Buy now" }).first().click();
    await page.getByLabel("Email").fill(cfg.carol.email);
    await page.getByLabel("Password").fill(cfg.carol.password);
    await page.getByRole("button", { name: "Continue" }).click();
    await page.locator("#pickup-code").waitFor({ timeout: 10000 });
    const code = await page.locator("#pickup-code").textContent();
    if (!/^[ABCDEFGHJKMNPQRSTUVWXYZ2-9]{6}$/.test(code)) throw new Error("pickup code " + code);
    ok("QR checkout", "pickup " + code);
    await shot(page, "qr-paid");
    const forged = await page.goto(cfg.base + "/q/forged.code");
    if (forged.status() !== 400) throw new Error("forged QR status " + forged.status());
    await page.locator("#qr-error").waitFor();
    ok("forged QR refused");
    await shot(page, "qr-forged");
    await ctx.close();
  }

  // 3b. A pop-up hub's order paid from the buyer's phone: the page shows
  // the order, Stripe confirms, the page shows central's signed receipt.
  {
    const ctx = await browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true });
    const page = await ctx.newPage();
    await page.goto(cfg.base + cfg.hubPayPath);
    await page.locator("#pay-total", { hasText: "39.98" }).waitFor({ timeout: 10000 });
    const res = await fetch(cfg.base + "/test/pay-hub?sale=" + encodeURIComponent(cfg.hubSaleId), { method: "POST" });
    if (res.status !== 200) throw new Error("hub payment webhook: " + res.status);
    await page.locator("#receipt-code").waitFor({ timeout: 10000 });
    const receipt = await page.locator("#receipt-code").textContent();
    if (!receipt.startsWith("M1.")) throw new Error("receipt code " + receipt);
    await page.waitForFunction(() => { const i = document.getElementById("receipt-qr"); return i && i.complete && i.naturalWidth > 0; });
    ok("hub phone payment shows the receipt", receipt.length + " characters");
    await shot(page, "hub-pay-receipt");
    const damaged = await ctx.newPage(); // a new document: a changed fragment alone does not reload
    await damaged.goto(cfg.base + "/pay/hub#damaged");
    await damaged.locator("main .notice.error").waitFor({ timeout: 10000 });
    ok("damaged pay link refused");
    await ctx.close();
  }

  // 3c. The receipt page a hub's receipt and bag label point to.
  {
    const ctx = await browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true });
    const page = await ctx.newPage();
    await page.goto(cfg.base + cfg.receiptPath);
    await page.locator("#receipt-total", { hasText: "19.99" }).waitFor({ timeout: 10000 });
    ok("hub sale receipt page");
    await shot(page, "hub-sale-receipt");
    await page.goto(cfg.base + "/hub-sales/0123456789abcdef");
    await page.locator("#receipt-pending").waitFor({ timeout: 10000 });
    ok("receipt of a sale not synced yet");
    await ctx.close();
  }

  // 4. The stream viewer plays the Go publisher's stream; the overlay follows a purchase.
  {
    const ctx = await browser.newContext();
    const page = await ctx.newPage();
    await page.goto(cfg.base + "/watch/" + cfg.streamId);
    // Playing means decoded pictures, not just a running clock.
    await page.waitForFunction(() => {
      const v = document.getElementById("video");
      return v.currentTime > 1 && v.videoWidth > 0 && v.getVideoPlaybackQuality().totalVideoFrames > 20;
    }, null, { timeout: 20000 });
    const q = await page.evaluate(() => { const v = document.getElementById("video"); return { t: v.currentTime, w: v.videoWidth, h: v.videoHeight, f: v.getVideoPlaybackQuality().totalVideoFrames }; });
    ok("video plays", `currentTime ${q.t.toFixed(2)}, ${q.w}×${q.h}, ${q.f} frames decoded`);
    const tileLeft = page.locator(`[data-product="${cfg.streamProductId}"] .left`);
    await tileLeft.waitFor();
    const before = await tileLeft.textContent();
    await gql(cfg.bob.token, "mutation($i: AddToCartInput!) { addToCart(input: $i) { cart { id } } }",
      { i: { variantId: cfg.streamVariantId, quantity: 2, streamId: cfg.streamId, idempotencyKey: "e2e-live-" + Date.now() } });
    await page.waitForFunction(([sel, b]) => { const el = document.querySelector(sel); return el && el.textContent !== b; },
      [`[data-product="${cfg.streamProductId}"] .left`, before], { timeout: 10000 });
    ok("overlay stock follows a purchase", before + " → " + (await tileLeft.textContent()));
    await shot(page, "watch");
    const overlay = await ctx.newPage();
    await overlay.goto(cfg.base + "/overlay/" + cfg.streamId);
    await overlay.locator(".tile").first().waitFor();
    await shot(overlay, "overlay");
    await ctx.close();
  }

  // Page weight: no page ships more than 150 KB of JavaScript.
  for (const p of ["/", "/products/" + cfg.productSlug, "/drops/" + cfg.dropId, cfg.qrPath, cfg.hubPayPath, cfg.receiptPath, "/watch/" + cfg.streamId, "/overlay/" + cfg.streamId]) {
    const ctx = await browser.newContext();
    const page = await ctx.newPage();
    let js = 0;
    page.on("response", (r) => {
      if (!r.url().endsWith(".js")) return;
      r.body().then((b) => (js += b.length), () => (js += Number(r.headers()["content-length"] || 0)));
    });
    await page.goto(cfg.base + p, { waitUntil: "networkidle" }).catch(() => {});
    await page.waitForTimeout(200);
    if (js === 0) throw new Error(`${p}: no JavaScript seen; the measurement is broken`);
    if (js > 150 * 1024) throw new Error(`${p} ships ${js} bytes of JavaScript`);
    ok("javascript weight " + p, js + " bytes");
    await ctx.close();
  }
  if (violations.length) throw new Error("Content-Security-Policy violations:\n" + violations.join("\n"));
  ok("no Content-Security-Policy violations");
} catch (e) {
  console.log(JSON.stringify({ name: "failure", ok: false, detail: String(e && e.stack || e) }));
  await browser.close();
  process.exit(1);
}
await browser.close();
