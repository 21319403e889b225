// Runs the graphql-http server audit (GraphQL over HTTP spec) against the
// URL in argv[2] and prints a JSON summary. Exit status 1 on any MUST
// violation ("error").
import { auditServer } from 'graphql-http';

const url = process.argv[2];
const results = await auditServer({ url });
const summary = { ok: 0, notice: 0, warn: 0, error: 0, failures: [] };
for (const r of results) {
  summary[r.status]++;
  if (r.status !== 'ok') summary.failures.push({ status: r.status, name: r.name, reason: r.reason });
}
console.log(JSON.stringify(summary));
process.exit(summary.error > 0 ? 1 : 0);
