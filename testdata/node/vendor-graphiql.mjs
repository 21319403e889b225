// Copies GraphiQL and React (versions pinned in package.json) from
// node_modules into web/static/graphiql, which the merchd binary embeds:
// /graphiql then works with no internet. Run after changing a version:
//
//	cd testdata/node && npm ci && npm run vendor-graphiql
//
// and commit web/static/graphiql.
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const out = path.join(here, "..", "..", "web", "static", "graphiql");
const files = {
  "graphiql/graphiql.min.js": "graphiql.min.js",
  "graphiql/graphiql.min.css": "graphiql.min.css",
  "graphiql/LICENSE": "LICENSE.graphiql",
  "react/umd/react.production.min.js": "react.production.min.js",
  "react/LICENSE": "LICENSE.react",
  "react-dom/umd/react-dom.production.min.js": "react-dom.production.min.js",
};
fs.mkdirSync(out, { recursive: true });
const versions = [];
for (const [from, to] of Object.entries(files)) {
  let body = fs.readFileSync(path.join(here, "node_modules", from));
  if (to.endsWith(".js")) {
    // The source map is not shipped: drop the comment pointing to it.
    body = Buffer.from(body.toString("utf8").replace(/\n\/\/# sourceMappingURL=\S+\s*$/, "\n"));
  }
  fs.writeFileSync(path.join(out, to), body);
}
for (const pkg of ["graphiql", "react", "react-dom"]) {
  versions.push(pkg + " " + JSON.parse(fs.readFileSync(path.join(here, "node_modules", pkg, "package.json"))).version);
}
fs.writeFileSync(path.join(out, "VERSIONS"), versions.join("\n") + "\n");
console.log("vendored into", out + ":", versions.join(", "));
