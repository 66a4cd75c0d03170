#!/usr/bin/env bash
# Throughput of the reference server beside the bare axum baseline (examples/bare.rs), with oha:
# GET /v1/models and POST /v1/embeddings (1536 dimensions), 32 connections, the server pinned to
# CPU 0 and oha to CPU 1, the default stack (rate limiter on with a budget that never runs out,
# metrics, one log line per request). Prints req/s, p50, p99 and the server's peak RSS.
#
#   scripts/bench-routes.sh                       # bare and the current build, 8 s per route
#   BEFORE=/path/to/old/reference-server scripts/bench-routes.sh   # and an older build
#
# Needs oha (`cargo install oha`) on PATH or in $OHA. Not run by CI: timings are the machine's.
set -euo pipefail
cd "$(dirname "$0")/.."
oha=${OHA:-oha}
command -v "$oha" >/dev/null || { echo "oha not found: cargo install oha, or set OHA" >&2; exit 2; }
duration=${DURATION:-8s}
cargo build -q --release -p reference-server --bin reference-server --example bare

bench() { # LABEL COMMAND...
  local label=$1; shift
  local log; log=$(mktemp)
  REFSERVER_RATE_LIMIT=1000000000/1 taskset -c 0 "$@" >"$log" 2>/dev/null &
  local pid=$! base=
  for _ in $(seq 50); do base=$(grep -o 'http://[0-9.:]*' "$log" | head -1 || true); [ -n "$base" ] && break; sleep 0.1; done
  local body='{"model":"ref-embed-1","input":"The quick brown fox jumps over the lazy dog"}'
  for route in models embeddings; do
    local args
    if [ $route = models ]; then args=(-m GET "$base/v1/models")
    else args=(-m POST -H 'content-type: application/json' -d "$body" "$base/v1/embeddings"); fi
    taskset -c 1 "$oha" -z 2s -c 32 --no-tui -H 'authorization: Bearer sk-bench' "${args[@]}" >/dev/null 2>&1
    taskset -c 1 "$oha" -z "$duration" -c 32 --no-tui --output-format json \
      -H 'authorization: Bearer sk-bench' "${args[@]}" 2>/dev/null |
      python3 -c "import json,sys; d=json.load(sys.stdin); s=d['summary']; p=d['latencyPercentiles']
print(f'$label'.ljust(8), '$route'.ljust(11), f'{s[\"requestsPerSec\"]:8.0f} req/s  p50 {p[\"p50\"]*1000:5.2f} ms  p99 {p[\"p99\"]*1000:5.2f} ms', d['statusCodeDistribution'])"
  done
  echo "$label peak RSS $(awk '/VmHWM/ {print $2}' /proc/$pid/status) kB"
  kill $pid; wait $pid 2>/dev/null || true
}

bench bare target/release/examples/bare 0
if [ -n "${BEFORE:-}" ]; then bench before "$BEFORE" --port 0; fi
bench after target/release/reference-server --port 0
