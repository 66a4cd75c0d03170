#!/usr/bin/env bash
# User-space instructions per request of a server, counted by valgrind's callgrind: the server
# runs under callgrind, oha sends N1 requests to one route and the count is dumped; a second run
# sends N2. The difference over N2 - N1 requests is the cost of one request, without start-up.
# Unlike time, the count is the same from run to run (to about 0.2%) on a busy machine, so a
# change of 1% shows. It does not see the kernel, cache misses or waiting: it counts work.
#
#   scripts/count-instructions.sh                                   # the current build, both routes
#   scripts/count-instructions.sh target/release/examples/bare 0    # another server and its arguments
#   N1=1000 N2=9000 scripts/count-instructions.sh
#   KEEP=/tmp/profile scripts/count-instructions.sh   # keep the N2 profile for callgrind_annotate
#
# Needs valgrind (apt install valgrind) and oha on PATH or in $OHA. Not run by CI.
set -euo pipefail
cd "$(dirname "$0")/.."
oha=${OHA:-oha}
command -v "$oha" >/dev/null || { echo "oha not found: cargo install oha, or set OHA" >&2; exit 2; }
command -v callgrind_control >/dev/null || { echo "valgrind not found: apt install valgrind" >&2; exit 2; }
n1=${N1:-1000}
n2=${N2:-5000}
[ "$n2" -gt "$n1" ] || { echo "N2 ($n2) must be more than N1 ($n1)" >&2; exit 2; }
if [ $# -eq 0 ]; then
  cargo build -q --release -p reference-server --bin reference-server
  set -- target/release/reference-server --port 0
fi
work=$(mktemp -d)
pid=
trap '[ -n "$pid" ] && kill -9 "$pid" 2>/dev/null; rm -rf "$work"' EXIT

body='{"model":"ref-embed-1","input":"The quick brown fox jumps over the lazy dog"}'
# Instructions after N requests to ROUTE (printed), the profile left in $work/N.out*.
count() { # ROUTE N SERVER-COMMAND...
  local route=$1 n=$2
  shift 2
  REFSERVER_RATE_LIMIT=1000000000/1 REFSERVER_INDEX_PATH=:memory: \
    valgrind --tool=callgrind --callgrind-out-file="$work/$n.out" --dump-instr=no "$@" \
    >"$work/server.log" 2>/dev/null &
  pid=$!
  for _ in $(seq 300); do grep -q 'http://' "$work/server.log" 2>/dev/null && break; sleep 0.2; done
  local base
  base=$(grep -o 'http://[0-9.:]*' "$work/server.log" | head -1)
  [ -n "$base" ] || { echo "the server did not start under valgrind" >&2; exit 1; }
  local args
  if [ "$route" = models ]; then args=(-m GET "$base/v1/models")
  else args=(-m POST -H 'content-type: application/json' -d "$body" "$base/v1/embeddings"); fi
  "$oha" -n "$n" -c 4 --no-tui -H 'authorization: Bearer sk-bench' "${args[@]}" >/dev/null 2>&1
  # A dump while running: the baseline server cannot be asked to exit cleanly.
  callgrind_control -d "$pid" >/dev/null 2>&1
  for _ in $(seq 100); do ls "$work/$n.out".* >/dev/null 2>&1 && break; sleep 0.2; done
  sleep 0.5
  kill -9 "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  pid=
  awk '/^(summary|totals):/ {print $2; exit}' "$work/$n.out".*
}

for route in models embeddings; do
  a=$(count "$route" "$n1" "$@")
  b=$(count "$route" "$n2" "$@")
  printf '%-11s %8d instructions per request\n' "$route" $(( (b - a) / (n2 - n1) ))
  if [ -n "${KEEP:-}" ]; then cp "$work/$n2.out".* "$KEEP.$route"; fi
  rm -f "$work"/*.out*
done
