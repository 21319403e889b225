// Phone payment for a pop-up hub's order: the hub's QR code opens
// /pay/hub#<request>; the buyer pays by card over their own mobile data and
// shows the hub the receipt code central signs, which the hub checks
// without a link.
import { gql, money, h, notice, errorText, stripeForm } from "/assets/lib.js";

const app = document.getElementById("app");
const request = location.hash.slice(1);

async function poll(saleId, status) {
  for (;;) {
    const d = await gql("query($s: String!) { hubPhonePayment(saleId: $s) { status receipt receiptQrPng } }", { s: saleId });
    const p = d.hubPhonePayment;
    if (p && p.receipt) {
      status.replaceWith(h("section", { id: "receipt" }, h("h2", {}, "Paid — show this to the staff"),
        h("img", { id: "receipt-qr", src: p.receiptQrPng, alt: "Receipt code for the staff to scan" }),
        h("p", { class: "code", id: "receipt-code" }, p.receipt)));
      app.focus();
      return;
    }
    if (p && p.status === "FAILED") status.textContent = "The payment did not go through. Try again.";
    await new Promise((r) => setTimeout(r, 2000));
  }
}

(async () => {
  try {
    const d = await gql("mutation($i: PayHubSaleInput!) { payHubSale(input: $i) { saleId hub amount { amount currency currencyDigits } lines { sku quantity unitAmount } clientSecret } }", { i: { request } });
    const p = d.payHubSale;
    const status = h("p", { class: "status", id: "pay-status", "aria-live": "polite" }, "Waiting for your payment…");
    app.replaceChildren(h("h1", {}, "Pay at " + p.hub),
      h("ul", { id: "pay-lines" }, p.lines.map((l) => h("li", {}, l.quantity + " × " + l.sku + " — " + money({ amount: l.unitAmount * l.quantity, currency: p.amount.currency, currencyDigits: p.amount.currencyDigits })))),
      h("p", { class: "price", id: "pay-total" }, "Total " + money(p.amount)), status);
    const pk = document.body.dataset.stripePk;
    if (pk) stripeForm(pk, p.clientSecret, status);
    poll(p.saleId, status);
  } catch (e) {
    app.replaceChildren(h("h1", {}, "This payment link is not valid"), h("p", { class: "notice error" }, errorText(e)));
    notice(errorText(e));
  }
})();
