// Renders ZPL (stdin) to a PNG (argv[2]) with zebrash compiled to WASM
// (zpl-renderer-js): an independent renderer for merchd's labels.
import { ready } from "zpl-renderer-js";
import fs from "node:fs";

const zpl = fs.readFileSync(0, "utf8");
const { api } = await ready;
const png = await api.zplToBase64Async(zpl, 101.6, 76.2, 8);
fs.writeFileSync(process.argv[2], Buffer.from(png, "base64"));
process.exit(0);
