// The buy sheet, shared by the venue QR page and the watch page: the
// buyer taps Buy, gives an email if the shop does not know them yet (a
// guest account, no password), pays by card or from the wallet without
// leaving the page, and gets the pickup pass. One tap on Buy is one hold:
// the intent's idempotency key is kept (in sessionStorage, across
// reloads) until the order is paid.
import { gql, subscribe, money, moneyInput, h, notice, clearNotice, errorText, intent, newKey, token, setToken, orderFields, stripeForm, clearExpired } from "/assets/lib.js";

const pk = document.body.dataset.stripePk;
export const sheet = h("section", { class: "sheet", id: "sheet", "aria-live": "polite", "aria-labelledby": "sheet-h", hidden: true });
document.body.append(sheet);
let onClose = null;
export const openSheet = (heading, ...nodes) => {
  sheet.hidden = false;
  const close = h("button", { class: "secondary", id: "sheet-close", "aria-label": "Close" }, "×");
  close.onclick = () => { sheet.hidden = true; const f = onClose; onClose = null; f && f(); };
  sheet.replaceChildren(h("div", { class: "sheet-top" }, h("h2", { id: "sheet-h", tabindex: "-1" }, heading), close), ...nodes.filter((n) => n != null));
  sheet.querySelector("h2").focus();
};

// keys: one per intended purchase (variant), kept until it is paid.
const keyFor = (what) => {
  const k = "merchd.qr." + what;
  let v = sessionStorage.getItem(k);
  if (!v) sessionStorage.setItem(k, (v = newKey()));
  return v;
};
const forget = () => Object.keys(sessionStorage).filter((k) => k.startsWith("merchd.qr.")).forEach((k) => sessionStorage.removeItem(k));

// who resolves once the buyer is signed in: already (a returning buyer),
// with an email only (a guest), or with the password of their account.
function who() {
  if (token()) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const email = h("input", { id: "qr-email", type: "email", autocomplete: "email", required: true, inputmode: "email" });
    const pwLabel = h("label", { for: "qr-password", hidden: true }, "Password of your account");
    const password = h("input", { id: "qr-password", type: "password", autocomplete: "current-password", hidden: true });
    const go = h("button", { type: "submit", class: "wide", id: "qr-continue" }, "Continue");
    const form = h("form", { id: "qr-account", novalidate: true }, h("p", { class: "muted" }, "No account needed: we send your receipt and pickup pass to this address."),
      h("label", { for: "qr-email" }, "Email"), email, pwLabel, password, h("div", { class: "actions" }, go));
    form.onsubmit = intent(go, async () => {
      if (!email.reportValidity()) return;
      let d;
      if (password.hidden) {
        try {
          d = (await gql("mutation($i: GuestSignUpInput!) { guestSignUp(input: $i) { token } }", { i: { email: email.value } })).guestSignUp;
        } catch (e) {
          if (e.code !== "BAD_USER_INPUT" || !/already/.test(e.message)) throw e;
          pwLabel.hidden = password.hidden = false;
          password.required = true;
          password.focus();
          notice("This email has an account: enter its password, or ", "ok", { href: "/account", label: "reset it" });
          return;
        }
      } else {
        try {
          d = (await gql("mutation($i: SignInInput!) { signIn(input: $i) { token } }", { i: { email: email.value, password: password.value } })).signIn;
        } catch (e) {
          throw e.code === "UNAUTHENTICATED" ? Object.assign(new Error(), { code: "WRONG_PASSWORD" }) : e;
        }
      }
      setToken(d.token);
      clearNotice();
      onClose = null;
      resolve();
    });
    openSheet("Your email", form);
    onClose = () => reject(Object.assign(new Error("closed"), { code: "CANCELED" }));
    email.focus();
  });
}

// buy holds one unit of v (of product p) and opens the pay sheet;
// onPaid(order) runs once the order is paid. extra goes to addToCart
// (streamId on the watch page).
export async function buy(v, p, onPaid, extra = {}) {
  await who();
  const hold = () => gql("mutation($i: AddToCartInput!) { addToCart(input: $i) { cart { id total { amount currency currencyDigits } lines { id status } } } }",
    { i: { variantId: v.id, quantity: 1, idempotencyKey: keyFor("hold." + v.id), ...extra } });
  let c = (await hold()).addToCart.cart;
  // The kept key replays a hold that has since run out: hold anew.
  if (!c.total.amount) { forget(); c = (await hold()).addToCart.cart; }
  await clearExpired(c.lines);
  const w = await gql("{ wallet { balance { amount currency currencyDigits } } }").catch(() => ({ wallet: null }));
  const bal = w.wallet && w.wallet.balance.currency === c.total.currency ? w.wallet.balance.amount : 0;
  const n = c.lines.filter((l) => l.status === "HELD").length;
  const summary = h("p", {}, h("strong", {}, p.title + " — " + v.title), n > 1 ? " and " + (n - 1) + " more held for you" : "", h("br"), "Total ", h("span", { class: "price", id: "qr-total" }, money(c.total)));
  const box = h("div", { id: "qr-pay" });
  const card = h("button", { id: "pay-card", class: bal >= c.total.amount ? "secondary wide" : "wide" }, "Pay " + money(c.total) + " by card");
  card.onclick = intent(card, async () => {
    if (!pk) throw Object.assign(new Error(), { code: "NO_CARD" });
    const d = await checkout(c, { card: true });
    if (d.order.status === "PAID") return paid(d.order, onPaid);
    card.hidden = true;
    if (wallet) wallet.hidden = true;
    await stripeForm(pk, d.clientSecret, box, "Pay " + money(c.total));
    box.replaceChildren(h("p", { class: "status", id: "qr-waiting" }, "Confirming your payment…"));
    follow(d.order.id, onPaid);
  }, expired);
  const wallet = bal >= c.total.amount ? h("button", { id: "pay-wallet", class: "wide" }, "Pay " + money(c.total) + " from wallet (" + money(w.wallet.balance) + ")") : null;
  if (wallet) wallet.onclick = intent(wallet, async () => paid((await checkout(c, { wallet: moneyInput(c.total) })).order, onPaid), expired);
  openSheet("Pay", summary, box, h("div", { class: "actions" }, wallet, pk ? card : null),
    !wallet && bal > 0 ? h("p", { class: "muted" }, "Your wallet has " + money(w.wallet.balance) + ": not enough for this.") : null);
  // No wallet to pay from: the card form opens at once (one tap fewer).
  if (!wallet && pk) card.click();
  else (wallet || card).focus();
}

// expired: the hold ran out on the pay step; the next Buy holds anew.
function expired(e) {
  if (e.code === "NO_CARD") notice("Card payments are not set up here. Pay from your wallet or at the counter.");
  if (e.code === "HOLD_EXPIRED") { forget(); sheet.hidden = true; }
}

async function checkout(c, payWith) {
  const d = await gql(`mutation($i: CheckoutInput!) { checkout(input: $i) { order { ${orderFields} } clientSecret } }`,
    { i: { cartId: c.id, payWith, idempotencyKey: keyFor("pay." + c.id + "." + (payWith.card ? "card" : "wallet")) } });
  return d.checkout;
}

function follow(orderId, onPaid) {
  const stop = subscribe(`subscription($id: ID!) { orderUpdated(orderId: $id) { ${orderFields} } }`, { id: orderId }, (d) => {
    const o = d.orderUpdated;
    if (o.status === "PAID") { stop(); paid(o, onPaid); }
    if (o.status === "PAYMENT_FAILED") notice(errorText({ code: "PAYMENT_DECLINED" }));
  }, (e) => notice(errorText(e)));
}

function paid(o, onPaid) {
  forget();
  sheet.hidden = true;
  onPaid(o);
}
