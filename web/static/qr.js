// On-site QR checkout: a phone opens /q/{code} and buys in a few taps.
import { gql, money, moneyInput, h, newKey, notice, errorText, token, setToken, variantFields, orderFields } from "/assets/lib.js";

const app = document.getElementById("app");
const code = decodeURIComponent(location.pathname.split("/").pop());

async function ensureAccount() {
  if (token()) return true;
  return new Promise((resolve) => {
    const email = h("input", { id: "qr-email", type: "email", autocomplete: "email", required: true });
    const password = h("input", { id: "qr-password", type: "password", autocomplete: "new-password", required: true, minlength: 8 });
    const form = h("form", { id: "qr-account", onsubmit: async (e) => {
      e.preventDefault();
      for (const m of ["signIn", "signUp"]) {
        try {
          const d = await gql(`mutation($i: ${m === "signIn" ? "SignInInput" : "SignUpInput"}!) { ${m}(input: $i) { token } }`, { i: { email: email.value, password: password.value } });
          setToken(d[m].token);
          form.remove();
          return resolve(true);
        } catch (err) { if (m === "signUp") notice(errorText(err)); }
      }
    } }, h("h2", {}, "Your email, to get your order"), h("label", { for: "qr-email" }, "Email"), email,
      h("label", { for: "qr-password" }, "Password"), password, h("p", {}, h("button", { type: "submit" }, "Continue")));
    app.append(form);
    email.focus();
  });
}

async function buy(variant) {
  if (!(await ensureAccount())) return;
  try {
    const a = await gql("mutation($i: AddToCartInput!) { addToCart(input: $i) { cart { id total { amount currency currencyDigits } } } }",
      { i: { variantId: variant.id, quantity: 1, idempotencyKey: newKey() } });
    const c = a.addToCart.cart;
    const d = await gql(`mutation($i: CheckoutInput!) { checkout(input: $i) { order { ${orderFields} } } }`,
      { i: { cartId: c.id, payWith: { wallet: moneyInput(c.total) }, idempotencyKey: newKey() } });
    const o = d.checkout.order;
    app.replaceChildren(h("h1", {}, "Paid — thank you!"), h("p", {}, "Show this code at the counter:"),
      h("p", { class: "pickup", id: "pickup-code" }, o.pickupCode), h("p", {}, "Order " + o.number + " · " + money(o.total)));
    app.focus();
  } catch (e) {
    if (e.code === "INSUFFICIENT_FUNDS") notice("Your wallet balance is too low — top up at the counter or in your wallet.");
    else notice(errorText(e));
  }
}

(async () => {
  try {
    const d = await gql(`query($c: String!) { qrCode(code: $c) { label hub { name } products { id title images { url alt } variants { ${variantFields} } } } }`, { c: code });
    const q = d.qrCode;
    app.replaceChildren(h("h1", {}, q.label || (q.hub ? q.hub.name : "Order here")),
      h("ul", { class: "grid", "aria-label": "Products" }, q.products.flatMap((p) => p.variants.map((v) =>
        h("li", { class: "card" }, p.images[0] ? h("img", { src: p.images[0].url, alt: p.images[0].alt || p.title }) : null,
          h("h2", {}, p.title + " — " + v.title), h("p", { class: "price" }, money(v.memberPrice || v.price)),
          v.available > 0 ? h("button", { class: "buy", onclick: () => buy(v) }, "Buy now") : h("p", { class: "soldout" }, "Sold out"))))));
  } catch (e) {
    app.replaceChildren(h("h1", {}, "This QR code is not valid"), h("p", { class: "notice error" }, errorText(e)));
  }
})();
