// Loads merchd's embedded GraphiQL in headless Chromium with every request
// beyond the server refused, runs a query and prints the answer as one JSON
// line: {ok, response, blocked, violations, errors}. The Go test is
// web/graphiql_test.go; argv[2] is its JSON config {base, chromium, query}.
import { chromium } from "playwright-core";

const cfg = JSON.parse(process.argv[2]);
const origin = new URL(cfg.base).origin;
const blocked = [], violations = [], errors = [];
const browser = await chromium.launch({
  executablePath: cfg.chromium,
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync"],
});
let result = { ok: false };
try {
  const ctx = await browser.newContext();
  // No network but the server itself: a CDN request fails (and is noted).
  await ctx.route("**/*", (route) => {
    const u = route.request().url();
    if (u.startsWith(origin + "/") || u.startsWith("data:")) return route.continue();
    blocked.push(u);
    return route.abort("internetdisconnected");
  });
  const page = await ctx.newPage();
  page.on("console", (m) => {
    if (/Content Security Policy|Refused to/i.test(m.text())) violations.push(m.text());
    else if (m.type() === "error") errors.push(m.text());
  });
  page.on("pageerror", (e) => errors.push(String(e)));
  await page.goto(cfg.base + "/graphiql?query=" + encodeURIComponent(cfg.query), { waitUntil: "load" });
  await page.waitForSelector(".graphiql-execute-button", { timeout: 20000 });
  await page.click(".graphiql-execute-button");
  const response = await page.waitForFunction(() => {
    const el = document.querySelector(".graphiql-response .CodeMirror");
    const text = el && el.CodeMirror ? el.CodeMirror.getValue() : "";
    return text.includes("__typename") ? text : null;
  }, null, { timeout: 20000 });
  if (cfg.screenshot) await page.screenshot({ path: cfg.screenshot });
  result = { ok: true, response: await response.jsonValue() };
} catch (e) {
  result = { ok: false, error: String(e) };
} finally {
  await browser.close();
}
console.log(JSON.stringify({ ...result, blocked, violations, errors }));
