#!/usr/bin/env bash
# Load-tests the storefront catalog query against a real `merchd serve`
# binary with wrk from a second process, on SQLite and (if
# MERCHD_TEST_POSTGRES is set) on PostgreSQL. Only 127.0.0.1 is a target.
#
#   bench/storefront.sh [duration, default 20s] [connections, default 32]
set -euo pipefail
cd "$(dirname "$0")/.."
duration=${1:-20s}
conns=${2:-32}
command -v wrk >/dev/null || { echo "needs wrk: apt-get install wrk"; exit 1; }
tmp=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$tmp"' EXIT
go build -o "$tmp/merchd" .

run() { # name, database url
  "$tmp/merchd" serve --addr 127.0.0.1:18181 --database "$2" --demo --log-level warn >"$tmp/$1.log" 2>&1 &
  local pid=$!
  for _ in $(seq 100); do curl -fsS http://127.0.0.1:18181/readyz >/dev/null 2>&1 && break; sleep 0.1; done
  wrk -t2 -c"$conns" -d5s -s bench/storefront.lua http://127.0.0.1:18181/query >/dev/null # warm up
  echo "== $1 ($conns connections, $duration)"
  wrk -t2 -c"$conns" -d"$duration" -s bench/storefront.lua http://127.0.0.1:18181/query | grep -E 'requests/s|p50|non-2xx'
  kill $pid; wait $pid 2>/dev/null || true
}

run sqlite "$tmp/bench.db"
if [ -n "${MERCHD_TEST_POSTGRES:-}" ]; then
  db="merchd_bench_$$"
  psql "$MERCHD_TEST_POSTGRES" -qc "CREATE DATABASE $db"
  run postgres "$(echo "$MERCHD_TEST_POSTGRES" | sed -E "s#/[^/?]+(\?|$)#/$db\1#")"
  psql "$MERCHD_TEST_POSTGRES" -qc "DROP DATABASE $db WITH (FORCE)"
fi
