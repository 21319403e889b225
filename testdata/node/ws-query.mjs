// Runs one operation over graphql-transport-ws with the graphql-ws client
// and prints each result as a JSON line. argv: url, token ('' for none),
// query, count (results to wait for; 0 = until complete).
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';

const [url, token, query, countArg] = process.argv.slice(2);
const want = Number(countArg || 0);
const client = createClient({
  url,
  webSocketImpl: WebSocket,
  connectionParams: token ? { Authorization: `Bearer ${token}` } : {},
  retryAttempts: 0,
});
let seen = 0;
const done = (code) => { client.dispose(); process.exit(code); };
client.subscribe({ query }, {
  next: (r) => {
    console.log(JSON.stringify(r));
    seen++;
    if (want > 0 && seen >= want) done(0);
  },
  error: (e) => { console.log(JSON.stringify({ clientError: String(e?.message ?? e?.reason ?? e) })); done(2); },
  complete: () => done(0),
});
setTimeout(() => { console.log(JSON.stringify({ clientError: 'timeout' })); done(3); }, 15000);
