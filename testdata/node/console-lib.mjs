// Shared harness for the console and till browser tests: headless
// Chromium through playwright-core, one JSON line per check on stdout
// (read by web's runBrowser), axe-core in each page, and a watch for
// Content-Security-Policy violations and script errors. A script does:
//   import { cfg, ok, run, ... } from "./console-lib.mjs";
//   await run(async () => { ...checks... });
import { chromium } from "playwright-core";
import fs from "node:fs";
import path from "node:path";
import { createRequire } from "node:module";

export const cfg = JSON.parse(process.argv[2]);
fs.mkdirSync(cfg.artifacts, { recursive: true });
const axeSource = fs.readFileSync(createRequire(import.meta.url).resolve("axe-core/axe.min.js"), "utf8");
export const ok = (name, detail = "") => console.log(JSON.stringify({ name, ok: true, detail: String(detail) }));
export const DESKTOP = { viewport: { width: 1280, height: 800 } };
export const TABLET = { viewport: { width: 820, height: 1180 }, isMobile: true, hasTouch: true };
export const shot = (page, name, fullPage = false) => page.screenshot({ path: path.join(cfg.artifacts, name + ".png"), fullPage });

export const browser = await chromium.launch({
  executablePath: cfg.chromium,
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync"],
});

const violations = [];
const watch = (page) => {
  page.on("console", (m) => {
    if (/Content Security Policy|Refused to (load|execute|apply|connect|frame)/i.test(m.text())) violations.push(page.url() + ": " + m.text());
  });
  page.on("pageerror", (e) => violations.push(page.url() + ": uncaught " + e));
};

// context opens a browser context; with staffToken the console starts signed in.
export async function context(opts = DESKTOP, staffToken = "") {
  const ctx = await browser.newContext(opts);
  ctx.on("page", watch);
  if (staffToken) await ctx.addInitScript((t) => { if (location.protocol.startsWith("http")) localStorage.setItem("merchd.staff", t); }, staffToken);
  return ctx;
}

// gql runs an operation as a token, outside the browser (seeding, checks).
export async function gql(token, query, variables) {
  const res = await fetch(cfg.base + "/query", { method: "POST", headers: { "Content-Type": "application/json", ...(token ? { Authorization: "Bearer " + token } : {}) }, body: JSON.stringify({ query, variables }) });
  const body = await res.json();
  if (body.errors) throw new Error(JSON.stringify(body.errors));
  return body.data;
}

// signIn signs a member in through the console's form.
export async function signIn(page, email, password) {
  await page.goto(cfg.base + "/admin");
  await page.getByLabel("Email").fill(email);
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.locator("#areas a").first().waitFor({ timeout: 10000 });
}

// axe runs axe-core in the page: no serious or critical violation.
export async function axe(page, name) {
  await page.evaluate(axeSource);
  const r = await page.evaluate(async () => await window.axe.run(document, { resultTypes: ["violations"] }));
  const bad = r.violations.filter((v) => v.impact === "serious" || v.impact === "critical");
  if (bad.length) throw new Error(`axe on ${name}: ` + bad.map((v) => `${v.id} (${v.impact}): ${v.nodes.slice(0, 3).map((n) => n.target.join(" ")).join(", ")}`).join("; "));
  ok("axe " + name, r.violations.length + " minor");
}

// noRawText fails when the page shows text no person should see.
export async function noRawText(page, what) {
  const t = await page.locator("main").innerText();
  const m = t.match(/\bnull\b|\bundefined\b|NaN|\[object Object\]|Failed to fetch|Unexpected token/);
  if (m) throw new Error(`${what}: raw text "${m[0]}" in: ${t.slice(0, 400)}`);
}

// run runs the checks; the first failure ends the script with exit 1.
export async function run(checks) {
  try {
    await checks();
    if (violations.length) throw new Error("page errors or Content-Security-Policy violations:\n" + violations.join("\n"));
    ok("no Content-Security-Policy violations or script errors");
  } catch (e) {
    console.log(JSON.stringify({ name: "failure", ok: false, detail: String((e && e.stack) || e) }));
    await browser.close();
    process.exit(1);
  }
  await browser.close();
}
