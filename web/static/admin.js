// The staff console: sign-in, the areas a role may open, and a router that
// loads each area's module (admin-<area>.js) on demand. An area module
// exports default async function (ctx) that fills ctx.main, where
//   ctx.path   the path segments after /admin/<area>/
//   ctx.query  the URL's search parameters
//   ctx.staff  the signed-in member { id, email, name, role, location }
//   ctx.go     navigate within the console (no reload)
//   ctx.onLeave(fn) runs fn when the page is left (stop subscriptions)
import { gql, h, setToken, useTokenKey, notice } from "/assets/lib.js";
import { staffErrorText, whoAmI, signInForm } from "/assets/admin-lib.js";

useTokenKey("merchd.staff");

const RANK = { CLERK: 1, STAFF: 2, OWNER: 3 };
// The areas in the order of a shop's day; min is the least role that may open one.
export const AREAS = [
  { id: "board", label: "Live board", min: "STAFF" },
  { id: "orders", label: "Orders", min: "STAFF" },
  { id: "customers", label: "Customers", min: "STAFF" },
  { id: "fulfilment", label: "Fulfilment", min: "CLERK" },
  { id: "returns", label: "Returns", min: "CLERK" },
  { id: "catalog", label: "Catalog", min: "STAFF" },
  { id: "drops", label: "Drops", min: "STAFF" },
  { id: "memberships", label: "Memberships", min: "STAFF" },
  { id: "streams", label: "Streams", min: "STAFF" },
  { id: "popups", label: "Pop-ups", min: "STAFF" },
  { id: "analytics", label: "Analytics", min: "STAFF" },
  { id: "settings", label: "Settings", min: "OWNER" },
];
const main = document.getElementById("app");
const nav = document.getElementById("areas");
const who = document.getElementById("who");
const signOut = document.getElementById("sign-out");
let staff = null, leave = [];

const allowed = (a) => staff && RANK[staff.role] >= RANK[a.min];

function signIn() {
  nav.hidden = true; signOut.hidden = true; who.textContent = "";
  signInForm(main, { id: "staff-signin", title: "Staff sign-in", text: staffErrorText, then: route });
}

function drawNav(current) {
  nav.replaceChildren(...AREAS.filter(allowed).map((a) =>
    h("a", { href: "/admin/" + a.id, "aria-current": a.id === current ? "page" : null, "data-area": a.id }, a.label)),
    ...(staff.role === "CLERK" || staff.role === "OWNER" ? [h("a", { href: "/till" }, "Till")] : []));
  nav.hidden = false;
  who.textContent = (staff.name || staff.email) + " · " + staff.role.toLowerCase() + (staff.location ? " @ " + staff.location : "");
  signOut.hidden = false;
}

async function route() {
  for (const f of leave.splice(0)) try { f(); } catch { /* already stopped */ }
  try {
    staff = await whoAmI();
  } catch (e) {
    main.replaceChildren(h("p", { class: "notice error" }, staffErrorText(e)));
    return;
  }
  if (!staff) { setToken(""); return signIn(); }
  const [, , area = "", ...rest] = location.pathname.split("/").map(decodeURIComponent);
  const home = AREAS.find(allowed);
  const a = AREAS.find((x) => x.id === area);
  if (!a) { history.replaceState(null, "", "/admin/" + home.id); return route(); }
  drawNav(a.id);
  document.title = a.label + " · Console";
  if (!allowed(a)) {
    main.replaceChildren(h("h1", {}, a.label), h("p", { class: "notice error", id: "not-allowed" },
      "Your role (" + staff.role.toLowerCase() + ") cannot open " + a.label + ". Ask the shop's owner."));
    return;
  }
  // Each page renders into its own view: a page still loading when the
  // next one starts (a quick second click, a search sent at once) writes
  // into a view no longer shown, never twice into the page.
  const view = h("div", { class: "view" }, h("div", { class: "skeleton", "aria-hidden": "true" }));
  main.replaceChildren(view);
  try {
    const mod = await import("/assets/admin-" + a.id + ".js");
    if (!view.isConnected) return;
    view.replaceChildren();
    await mod.default({ main: view, path: rest.filter(Boolean), query: new URLSearchParams(location.search), staff, go, onLeave: (f) => leave.push(f) });
  } catch (e) {
    if (!view.isConnected) return;
    if (e.code === "UNAUTHENTICATED") return route();
    view.replaceChildren(h("h1", {}, a.label), h("p", { class: "notice error" }, e.code ? staffErrorText(e) : "This area could not load. Reload the page."));
    if (!e.code) console.error(e);
  }
  if (view.isConnected) main.focus();
}

export function go(href) {
  history.pushState(null, "", href);
  route();
}

// Links inside the console change the page without a reload.
document.addEventListener("click", (ev) => {
  const a = ev.target.closest && ev.target.closest("a[href^='/admin']");
  if (!a || ev.ctrlKey || ev.metaKey || ev.shiftKey || a.target || a.hasAttribute("download")) return;
  ev.preventDefault();
  go(a.getAttribute("href"));
});
window.addEventListener("popstate", route);
signOut.addEventListener("click", async () => {
  try { await gql("mutation { staffSignOut { ok } }"); } catch { /* ends locally anyway */ }
  setToken("");
  history.pushState(null, "", "/admin");
  route();
});
// A member disabled or a session revoked is signed out at once: the
// console asks who it is whenever the tab comes back and every 20 s.
const recheck = async () => {
  if (!staff) return;
  const me = await whoAmI().catch(() => staff);
  if (!me) { staff = null; setToken(""); notice("Your session ended. Sign in again."); signIn(); }
};
document.addEventListener("visibilitychange", () => document.visibilityState === "visible" && recheck());
setInterval(recheck, 20000);
route();
