// Renders ZPL (stdin) to a PNG (argv[2]; label size in mm in argv[3] and
// argv[4], 4×3 inches by default) with zebrash compiled to WASM
// (zpl-renderer-js): an independent renderer for merchd's labels.
import { ready } from "zpl-renderer-js";
import fs from "node:fs";

const zpl = fs.readFileSync(0, "utf8");
const { api } = await ready;
const [w, h] = [Number(process.argv[3] ?? 101.6), Number(process.argv[4] ?? 76.2)];
const png = await api.zplToBase64Async(zpl, w, h, 8);
fs.writeFileSync(process.argv[2], Buffer.from(png, "base64"));
process.exit(0);
