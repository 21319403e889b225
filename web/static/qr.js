// Venue QR checkout: a phone camera opens /q/{code} (a full URL under
// the shop's --public-url); the buyer taps Buy and pays in a sheet
// (buy.js), then sees the pickup pass.
import { gql, money, h, errorText, intent, variantFields, passView } from "/assets/lib.js";
import { buy } from "/assets/buy.js";

const app = document.getElementById("app");
const code = decodeURIComponent(location.pathname.split("/").pop());

function paid(o) {
  app.replaceChildren(h("h1", { id: "qr-paid" }, "Paid — thank you!"), h("p", {}, "Order " + o.number + " · " + money(o.total)), passView(o),
    h("p", {}, "Show the pass at the counter. It is also in ", h("a", { href: "/orders/" + o.id }, "your orders"), " and your email."));
  app.focus({ preventScroll: true });
}

(async () => {
  try {
    const d = await gql(`query($c: String!) { qrCode(code: $c) { label hub { name } products { id title images { url alt } variants { ${variantFields} } } } }`, { c: code });
    const q = d.qrCode;
    document.title = (q.label || "Order here") + " · " + document.getElementById("shop-name").textContent;
    app.replaceChildren(h("h1", {}, q.label || (q.hub ? q.hub.name : "Order here")), h("p", { class: "muted" }, "Buy here, pay on your phone, collect at the counter."),
      h("ul", { class: "grid", "aria-label": "Products" }, q.products.flatMap((p) => p.variants.map((v, i) => {
        const b = h("button", { class: "buy wide" }, "Buy · " + money(v.memberPrice || v.price));
        b.onclick = intent(b, () => buy(v, p, paid));
        b.setAttribute("aria-describedby", "v-" + v.id.replace(/\W/g, ""));
        return h("li", { class: "card" }, p.images[0] ? h("img", { src: p.images[0].url, alt: p.images[0].alt || p.title, loading: i < 2 ? "eager" : "lazy", width: 400, height: 400 }) : null,
          h("h2", { id: "v-" + v.id.replace(/\W/g, "") }, p.title + " — " + v.title), h("p", { class: v.available > 0 ? "stock" : "soldout" }, v.available > 0 ? v.available + " left" : "Sold out"),
          v.available > 0 ? b : null);
      }))));
    app.focus({ preventScroll: true });
  } catch (e) {
    app.replaceChildren(h("h1", {}, "This QR code is not working"), h("p", { class: "notice error" }, errorText(e), " Ask the staff for help."));
  }
})();
