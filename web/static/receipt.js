// A hub sale's receipt on central, by the sale id printed on the paper
// receipt and the bag label (their QR codes open /hub-sales/{saleId}).
import { gql, money, h, errorText } from "/assets/lib.js";

const app = document.getElementById("app");
const saleId = decodeURIComponent(location.pathname.split("/").pop());
const number = (id) => (id.slice(0, 4) + "-" + id.slice(4, 8)).toUpperCase();

(async () => {
  try {
    const d = await gql("query($s: String!) { hubSaleReceipt(saleId: $s) { saleId hub soldAt paidWith lines { sku quantity unitAmount } total { amount currency currencyDigits } } }", { s: saleId });
    const r = d.hubSaleReceipt;
    if (!r) {
      app.replaceChildren(h("h1", {}, "Sale " + number(saleId)),
        h("p", { class: "status", id: "receipt-pending" }, "Not here yet: the pop-up sends its sales when its internet connection allows. Check back later."));
      return;
    }
    app.replaceChildren(h("h1", {}, "Sale " + number(r.saleId)),
      h("p", {}, "At " + r.hub + " · " + new Date(r.soldAt).toLocaleString() + " · paid by " + r.paidWith.toLowerCase()),
      h("ul", { id: "receipt-lines" }, r.lines.map((l) => h("li", {}, l.quantity + " × " + l.sku + " — " + money({ amount: l.unitAmount * l.quantity, currency: r.total.currency, currencyDigits: r.total.currencyDigits })))),
      h("p", { class: "price", id: "receipt-total" }, "Total " + money(r.total)));
  } catch (e) {
    app.replaceChildren(h("h1", {}, "Receipt"), h("p", { class: "notice error" }, errorText(e)));
  }
})();
