// Form helpers shared by the console's catalog, drops, memberships and
// streams areas: money typed in major units, local date-times, a copy
// button, and forms that submit one write.
import { h, notice } from "/assets/lib.js";
import { act } from "/assets/admin-lib.js";

// digits is how many decimals a currency's minor unit has (EUR 2, JPY 0).
export const digits = (currency) => {
  try {
    return new Intl.NumberFormat("en", { style: "currency", currency }).resolvedOptions().maximumFractionDigits;
  } catch {
    return 2;
  }
};

// toMinor reads "25.00" as 2500 minor units of currency; null if it is not an amount.
export function toMinor(text, currency) {
  const s = String(text).trim().replace(",", ".");
  const d = digits(currency);
  if (!/^\d+(\.\d*)?$/.test(s)) return null;
  const [w, f = ""] = s.split(".");
  if (f.length > d) return null;
  return Number(w + f.padEnd(d, "0"));
}

// fromMinor writes minor units as "25.00" for an input.
export const fromMinor = (amount, currency) => (amount / 10 ** digits(currency)).toFixed(digits(currency));

// localInput writes a time for <input type="datetime-local">; fromLocal reads it back.
export const localInput = (t) => {
  if (!t) return "";
  const d = new Date(t);
  const p = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}`;
};
export const fromLocal = (s) => (s ? new Date(s).toISOString() : null);

// bad is a refusal of a field the page itself found, worded like the API's.
export const bad = (field, message) => Object.assign(new Error(message), { code: "BAD_USER_INPUT", field, message });

// submitter makes a form run one write on submit (Enter or its button):
// run(key, form) returns the result, ok(result) shows it.
export function submitter(form, run, ok) {
  const btn = form.querySelector("button[type=submit]");
  act(btn, (key) => {
    if (!form.checkValidity()) {
      form.reportValidity();
      throw bad("", "fill in the marked fields");
    }
    return run(key, form);
  }, ok);
  form.addEventListener("submit", (ev) => { ev.preventDefault(); btn.click(); });
  return form;
}

// copyButton copies text (a WHIP URL, a stream key) to the clipboard.
export const copyButton = (text, label, id) => h("button", { type: "button", class: "secondary small", id, onclick: async () => {
  try {
    await navigator.clipboard.writeText(text());
    notice(label + " copied.", "ok");
  } catch {
    notice("Copying was refused by the browser: select the text and copy it by hand.");
  }
} }, "Copy " + label.toLowerCase());

// show replaces el's children, skipping the absent (null, false) ones that
// replaceChildren would write as text.
export const show = (el, ...kids) => el.replaceChildren(...kids.flat().filter((k) => k != null && k !== false));
