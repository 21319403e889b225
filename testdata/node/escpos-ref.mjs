// Encodes merchd's reference receipt with an independent ESC/POS encoder
// (@point-of-sale/receipt-printer-encoder) and prints it as hex.
import ReceiptPrinterEncoder from "@point-of-sale/receipt-printer-encoder";

const e = new ReceiptPrinterEncoder({ language: "esc-pos", columns: 42, codepageMapping: "epson", imageMode: "raster", autoFlush: false, newline: "\n" });
const out = e.initialize()
  .align("center").bold(true).line("MERCHD POP-UP").bold(false)
  .align("left").line("Order K7Q-2MXD")
  .underline(true).line("Tour Tee 2026 M x1").underline(false)
  .size(2, 2).line("EUR 35.00").size(1, 1)
  .align("center").qrcode("https://shop.example/orders/K7Q-2MXD", { model: 2, size: 6, errorlevel: "m" })
  .newline()
  .cut("partial")
  .encode();
console.log(Buffer.from(out).toString("hex"));
