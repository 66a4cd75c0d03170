#!/usr/bin/env bash
# Schemathesis (from PyPI) against the reference server in strict mode, reading the document
# the server serves at /openapi.json, with every check on. Exits non-zero on any finding.
#
#   scripts/schemathesis.sh                 # pinned Schemathesis, 40 examples per operation
#   ST_EXAMPLES=200 scripts/schemathesis.sh # a longer run
#   ST_PLAIN=1 scripts/schemathesis.sh      # no hooks: what a user's plain `st run` reports
#                                           # (only the design classes the document describes)
#
# The findings that are the server's design (a reused Idempotency-Key is 422; ids that must
# name stored things are 400; a vector must have its index's dimensions), each dropped only in
# the exact case it covers, and why, are in scripts/schemathesis_hooks.py.
set -euo pipefail
cd "$(dirname "$0")/.."

version=${SCHEMATHESIS_VERSION:-4.32.5}
tools=.compat-tools
venv=$tools/schemathesis-$version
if [ ! -x "$venv/bin/st" ]; then
  echo "== installing schemathesis==$version into $venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q "schemathesis==$version"
fi
# `--install-only`: fetch Schemathesis and stop (CI does it early, beside slower steps).
[ "${1:-}" = --install-only ] && exit 0

server=${REFSERVER_BIN:-target/debug/reference-server}
if [ ! -x "$server" ]; then
  cargo build -q -p reference-server --bin reference-server
fi

key=sk-schemathesis
log=$(mktemp)
REFSERVER_AUTH_MODE=strict REFSERVER_API_KEYS=$key REFSERVER_RATE_LIMIT=off REFSERVER_INDEX_PATH=:memory: \
  "$server" --port 0 --quiet >"$log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null || true; rm -f "$log"' EXIT
base=
for _ in $(seq 1 100); do
  base=$(grep -o 'http://[0-9.:]*' "$log" | head -1 || true)
  [ -n "$base" ] && break
  sleep 0.1
done
if [ -z "$base" ]; then
  echo "the reference server did not start:" >&2
  cat "$log" >&2
  exit 2
fi

echo "== schemathesis $version against $base/openapi.json (strict auth, all checks)"
hooks=(SCHEMATHESIS_HOOKS=schemathesis_hooks PYTHONPATH=scripts)
[ -n "${ST_PLAIN:-}" ] && hooks=()
env "${hooks[@]}" \
  "$venv/bin/st" run "$base/openapi.json" \
  --checks all \
  --header "Authorization: Bearer $key" \
  --max-examples "${ST_EXAMPLES:-40}" \
  --seed "${ST_SEED:-20261129}" \
  --warnings off \
  --no-color
