// The console's toolkit on top of lib.js: staff-worded errors, a button
// that runs one write, tables, stat tiles, form fields, SVG charts and CSV
// downloads. Area modules (admin-<area>.js) build their pages from these.
import { gql, h, token, setToken, notice, clearNotice, errorText } from "/assets/lib.js";

// staffErrorText words a refusal for the person running the shop; codes a
// buyer also meets fall back to lib.js's sentences.
export function staffErrorText(e) {
  const code = (e && e.code) || "";
  return ({
    FORBIDDEN: "Your role cannot do this. Ask the shop's owner.",
    UNAUTHENTICATED: "Your session ended. Sign in again.",
    NOT_FOUND: "Not found: it may have been deleted, or it belongs to another location.",
    INTERNAL: "The server failed on this. It is logged; try again, and tell whoever runs merchd if it repeats.",
    IDEMPOTENCY_KEY_REUSED: "This was already done with other values. Reload the page to see the current state.",
    BAD_USER_INPUT: "Check " + (e && e.field ? "“" + e.field + "”" : "what you entered") + ": " + ((e && e.message) || "it is not valid") + ".",
  })[code] || errorText(e);
}

// act makes btn run one write: disabled and busy while it runs, a notice
// on refusal, ok(result) on success. One key per click sequence, kept for
// retries of a request that got no answer (so a retry never does it twice).
export function act(btn, run, ok) {
  let key = null;
  btn.addEventListener("click", async (ev) => {
    ev.preventDefault();
    if (btn.getAttribute("aria-busy") === "true") return;
    key = key || (crypto.randomUUID ? crypto.randomUUID() : String(Math.random()).slice(2));
    btn.disabled = true; btn.setAttribute("aria-busy", "true");
    try {
      const r = await run(key);
      key = null;
      if (ok) await ok(r);
    } catch (e) {
      if (!["OFFLINE", "BAD_RESPONSE", "RATE_LIMITED", "UNAVAILABLE"].includes(e && e.code)) key = null;
      notice(staffErrorText(e));
    } finally {
      btn.disabled = false; btn.removeAttribute("aria-busy");
    }
  });
  return btn;
}

let ids = 0;
// field is a labelled control: field("Title", "input", { name: "title" }).
export function field(label, tag = "input", attrs = {}, ...children) {
  const id = attrs.id || "f" + ++ids;
  const el = h(tag, { ...attrs, id }, ...children);
  return h("div", { class: "field" }, h("label", { for: id }, label), el);
}
// value reads a named control of a form.
export const value = (form, name) => form.elements.namedItem(name).value.trim();

// table draws rows as a table: columns are { label, cell(row), num }.
export function table(columns, rows, empty = "Nothing here yet.") {
  if (!rows.length) return h("p", { class: "muted empty" }, empty);
  return h("div", { class: "scroll-x" }, h("table", { class: "data" },
    h("thead", {}, h("tr", {}, columns.map((c) => h("th", { scope: "col", class: c.num ? "num" : null }, c.label)))),
    h("tbody", {}, rows.map((r) => h("tr", {}, columns.map((c) => h("td", { class: c.num ? "num" : null }, c.cell(r))))))));
}

// tiles shows headline numbers: [{ label, value, id }].
export const tiles = (items) => h("div", { class: "tiles" }, items.map((t) =>
  h("div", { class: "tile", id: t.id || null }, h("div", { class: "label" }, t.label), h("div", { class: "value" }, t.value))));

export const when = (t) => (t ? new Date(t).toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" }) : "—");
export const status = (s) => h("span", { class: "pill " + s }, String(s).replaceAll("_", " ").toLowerCase());

const NS = "http://www.w3.org/2000/svg";
function svg(tag, attrs = {}, ...children) {
  const el = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) if (v != null) el.setAttribute(k, v);
  for (const c of children.flat(Infinity)) if (c != null) el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return el;
}
const nice = (v) => {
  if (v <= 0) return 1;
  const p = 10 ** Math.floor(Math.log10(v)), f = v / p;
  return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * p;
};

// lineChart draws points [{ x: Date|number, y }] as a line over an area,
// with a y axis from zero; label names it for screen readers.
export function lineChart(points, { label, width = 640, height = 220, y = String, x = (v) => new Date(v).toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit" }) } = {}) {
  const pad = { l: 48, r: 12, t: 10, b: 24 };
  const w = width - pad.l - pad.r, hgt = height - pad.t - pad.b;
  const xs = points.map((p) => +new Date(p.x)), ys = points.map((p) => p.y);
  const x0 = Math.min(...xs), x1 = Math.max(...xs), top = nice(Math.max(...ys, 0));
  const px = (v) => pad.l + (x1 === x0 ? w / 2 : ((v - x0) / (x1 - x0)) * w);
  const py = (v) => pad.t + hgt - (v / top) * hgt;
  const line = points.map((p, i) => (i ? "L" : "M") + px(xs[i]).toFixed(1) + " " + py(p.y).toFixed(1)).join(" ");
  const grid = [0, .5, 1].map((f) => [svg("line", { class: "axis", x1: pad.l, x2: width - pad.r, y1: py(top * f), y2: py(top * f) }),
    svg("text", { x: pad.l - 6, y: py(top * f) + 4, "text-anchor": "end" }, y(top * f))]);
  const ticks = points.length ? [x0, x1].map((v, i) => svg("text", { x: px(v), y: height - 6, "text-anchor": i ? "end" : "start" }, x(v))) : [];
  return svg("svg", { class: "chart", viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": label },
    svg("title", {}, label), grid, ticks,
    points.length ? svg("path", { class: "area", d: line + ` L${px(x1).toFixed(1)} ${py(0)} L${px(x0).toFixed(1)} ${py(0)} Z` }) : null,
    points.length ? svg("path", { class: "series", d: line }) : null);
}

// barChart draws bars [{ label, value, alt }] with their values on top.
export function barChart(bars, { label, width = 640, height = 220, y = String } = {}) {
  const pad = { l: 12, r: 12, t: 18, b: 28 };
  const w = width - pad.l - pad.r, hgt = height - pad.t - pad.b;
  const top = nice(Math.max(...bars.map((b) => b.value), 0));
  const slot = w / Math.max(bars.length, 1), bw = Math.min(56, slot * .7);
  return svg("svg", { class: "chart", viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": label },
    svg("title", {}, label),
    svg("line", { class: "axis", x1: pad.l, x2: width - pad.r, y1: pad.t + hgt, y2: pad.t + hgt }),
    bars.map((b, i) => {
      const bh = (b.value / top) * hgt, cx = pad.l + slot * i + slot / 2;
      return [svg("rect", { class: "bar" + (b.alt ? " alt" : ""), x: cx - bw / 2, y: pad.t + hgt - bh, width: bw, height: Math.max(bh, 0) }),
        svg("text", { x: cx, y: pad.t + hgt - bh - 4, "text-anchor": "middle" }, y(b.value)),
        svg("text", { x: cx, y: height - 8, "text-anchor": "middle" }, String(b.label).slice(0, 14))];
    }));
}

// csv turns rows (arrays) into RFC 4180 text; a cell that a spreadsheet
// would run as a formula (= + - @) is quoted with a leading apostrophe.
export function csv(rows) {
  const cell = (v) => {
    let s = v == null ? "" : String(v);
    if (/^[=+\-@\t\r]/.test(s) && !/^-?\d+(\.\d+)?$/.test(s)) s = "'" + s;
    return /[",\r\n]/.test(s) ? '"' + s.replaceAll('"', '""') + '"' : s;
  };
  return rows.map((r) => r.map(cell).join(",")).join("\r\n") + "\r\n";
}

// download saves text as a file the browser offers to keep.
export function download(name, text, type = "text/csv") {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const a = h("a", { href: url, download: name, hidden: true });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

// ok confirms a finished write in the notice region.
export const done = (msg) => notice(msg, "ok");

// whoAmI is the signed-in staff member of this page's session, or null
// when there is none (or it ended).
export async function whoAmI() {
  if (!token()) return null;
  try {
    return (await gql("{ staffViewer { id email name role location } }")).staffViewer;
  } catch (e) {
    if (e.code === "UNAUTHENTICATED") return null;
    throw e;
  }
}

// signInForm draws the staff sign-in form (the console's and the till's)
// into main; after a sign-in, the session is kept and then() runs.
export function signInForm(main, { id, title, intro, text, then }) {
  const form = h("form", { class: "signin", id },
    h("h1", {}, title),
    intro ? h("p", { class: "muted" }, intro) : null,
    h("label", { for: "email" }, "Email"), h("input", { id: "email", name: "email", type: "email", autocomplete: "username", required: true }),
    h("label", { for: "password" }, "Password"), h("input", { id: "password", name: "password", type: "password", autocomplete: "current-password", required: true }),
    h("div", { class: "actions" }, h("button", { type: "submit", class: "wide" }, "Sign in")));
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const btn = form.querySelector("button");
    btn.disabled = true;
    try {
      const d = await gql("mutation($i: StaffSignInInput!) { staffSignIn(input: $i) { token } }",
        { i: { email: form.email.value.trim(), password: form.password.value } });
      setToken(d.staffSignIn.token);
      clearNotice();
      await then();
    } catch (e) {
      notice(e.code === "UNAUTHENTICATED" ? "That email and password do not match an active staff member." : text(e));
    } finally {
      btn.disabled = false;
    }
  });
  main.replaceChildren(form);
  form.email.focus();
}
