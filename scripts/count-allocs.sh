#!/usr/bin/env bash
# Heap allocations per request of a server, counted exactly (not sampled): a uprobe on glibc's
# malloc and realloc, counted by `perf stat` while oha sends N requests to one route. Unlike
# throughput, the count does not depend on how busy the machine is, so a change's effect on
# it shows in one run.
#
#   scripts/count-allocs.sh                                   # the current build, both routes
#   scripts/count-allocs.sh target/release/examples/bare 0    # another server and its arguments
#   N=100000 scripts/count-allocs.sh
#
# Needs perf with uprobes (root, or perf_event_paranoid and tracefs access) and oha on PATH or
# in $OHA. Not run by CI.
set -euo pipefail
cd "$(dirname "$0")/.."
oha=${OHA:-oha}
command -v "$oha" >/dev/null || { echo "oha not found: cargo install oha, or set OHA" >&2; exit 2; }
command -v perf >/dev/null || { echo "perf not found" >&2; exit 2; }
n=${N:-50000}
if [ $# -eq 0 ]; then
  cargo build -q --release -p reference-server --bin reference-server
  set -- target/release/reference-server --port 0
fi
libc=$(ldd "$1" | awk '/libc\.so/ {print $3}')
[ -n "$libc" ] || { echo "$1 is not linked with glibc" >&2; exit 2; }
for fn in malloc realloc; do
  perf probe -q -x "$libc" "$fn" 2>/dev/null || true
done
perf probe -l 2>/dev/null | grep -q 'probe_libc:malloc' || { echo "cannot place a uprobe on $libc" >&2; exit 2; }

work=$(mktemp -d)
server=
trap '[ -n "$server" ] && kill "$server" 2>/dev/null; rm -rf "$work"' EXIT
REFSERVER_RATE_LIMIT=1000000000/1 REFSERVER_INDEX_PATH=:memory: "$@" >"$work/server.log" 2>/dev/null &
server=$!
for _ in $(seq 50); do
  grep -q 'http://' "$work/server.log" 2>/dev/null && break; sleep 0.1
done
base=$(grep -o 'http://[0-9.:]*' "$work/server.log" | head -1)
[ -n "$base" ] || { echo "the server did not print its address" >&2; exit 2; }

body='{"model":"ref-embed-1","input":"The quick brown fox jumps over the lazy dog"}'
for route in models embeddings; do
  if [ "$route" = models ]; then
    args=(-m GET "$base/v1/models")
  else
    args=(-m POST -H 'content-type: application/json' -d "$body" "$base/v1/embeddings")
  fi
  # Connections, caches and the embedding are made before counting.
  "$oha" -n 2000 -c 32 --no-tui -H 'authorization: Bearer sk-bench' "${args[@]}" >/dev/null 2>&1
  perf stat -x, -e probe_libc:malloc,probe_libc:realloc -p "$server" -o "$work/stat" &
  counter=$!
  sleep 0.5
  "$oha" -n "$n" -c 32 --no-tui -H 'authorization: Bearer sk-bench' "${args[@]}" >/dev/null 2>&1
  kill -INT "$counter"; wait "$counter" || true
  awk -F, -v n="$n" -v route="$route" '$1 ~ /^[0-9]+$/ {
    split($3, name, ":"); printf "%-11s %6.2f %s per request\n", route, $1 / n, name[2]
  }' "$work/stat"
done
