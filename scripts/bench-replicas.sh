#!/usr/bin/env bash
# What the shared store costs, and what replicas give, measured with `conformance latency`
# (closed loop) on release builds, in one run so the ratios share the machine's state:
#  1. one replica, in memory vs on Redis: /v1/embeddings (the rate limiter on, one bucket take
#     per request) and a keyed /v1/responses (a bucket take, a claim and a record);
#  2. on Redis, one replica vs three behind HAProxy (scripts/replicas.sh).
# Prints req/s, p50 and p99 of each, and the ratios.
#
#   scripts/bench-replicas.sh                # CONCURRENCY=32 DURATION=8s
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build -q --release -p reference-server -p conformance
conc=${CONCURRENCY:-32}
duration=${DURATION:-8s}
dir=$(mktemp -d)
pids=()
cleanup() { kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$dir"; }
trap cleanup EXIT
# Limits on (so the limiter runs on every request) but never reached.
export REFSERVER_RATE_LIMIT=1000000000/1
cat > "$dir/slo.toml" <<'SLO'
[[scenario]]
name = "embeddings"
endpoint = "/v1/embeddings"
body = { model = "ref-embed-1", input = "The keeper climbed the tower at dusk.", dimensions = 256 }
budgets = ["error_rate <= 0%"]

[[scenario]]
name = "responses-keyed"
endpoint = "/v1/responses"
idempotency_key = true
body = { model = "ref-chat-1", input = "Write two sentences about lighthouses.", store = false }
budgets = ["error_rate <= 0%"]
SLO

# shellcheck source=scripts/lib/servers.sh
source scripts/lib/servers.sh
redis_port=$(free_port)
redis-server --port "$redis_port" --bind 127.0.0.1 --save '' --appendonly no > /dev/null 2>&1 &
pids+=($!)
for _ in $(seq 1 50); do redis-cli -p "$redis_port" ping >/dev/null 2>&1 && break; sleep 0.1; done

start() { # start NAME ENV... : one replica; sets $url
  local out="$dir/$1.out"; shift
  env "$@" REFSERVER_INDEX_PATH=:memory: target/release/reference-server --port 0 --quiet > "$out" 2>/dev/null &
  pids+=($!)
  for _ in $(seq 1 50); do grep -q listening "$out" && break; sleep 0.1; done
  url=$(awk '{print $3}' "$out")
}
measure() { # measure LABEL URL SCENARIO
  target/release/conformance latency --target "$2/v1" --api-key bench --slo "$dir/slo.toml" --scenario "$3" \
    --concurrency "$conc" --duration "$duration" --warmup 1s --report json --report-dir "$dir/r-$1-$3" > /dev/null 2>&1 || true
  python3 - "$1" "$3" "$dir/r-$1-$3" <<'PY'
import glob, json, sys
label, scenario, d = sys.argv[1:]
f = sorted(glob.glob(d + "/*/latency.json"))[-1]
s = json.load(open(f))["scenarios"][0]
print(f"{label:<22} {scenario:<16} {s['throughput_per_s']:>9.0f} req/s  p50 {s['latency']['p50_ms']:>7.2f} ms  p99 {s['latency']['p99_ms']:>7.2f} ms  errors {s['errors']}")
with open(d + ".tsv", "w") as out:
    out.write(f"{s['throughput_per_s']}\t{s['latency']['p50_ms']}\t{s['latency']['p99_ms']}\n")
PY
}
rate() { cut -f1 "$dir/r-$1-$2.tsv"; }

start memory; memory=$url
start redis REFSERVER_STORE_URL="redis://127.0.0.1:$redis_port/0"; redis=$url
for scenario in embeddings responses-keyed; do
  measure one-in-memory "$memory" "$scenario"
  measure one-on-redis "$redis" "$scenario"
done
: > "$dir/replicas.out"   # before the background job opens it, so the wait below can read it
PORT=$(free_port) BIN=target/release/reference-server REPLICAS=3 scripts/replicas.sh > "$dir/replicas.out" 2>&1 &
pids+=($!)
for _ in $(seq 1 100); do grep -q balancer "$dir/replicas.out" && break; sleep 0.1; done
sleep 1
three=$(awk '/^balancer:/ {print $2}' "$dir/replicas.out")
for scenario in embeddings responses-keyed; do
  measure three-behind-haproxy "$three" "$scenario"
done
echo
for scenario in embeddings responses-keyed; do
  python3 - "$scenario" "$(rate one-in-memory $scenario)" "$(rate one-on-redis $scenario)" "$(rate three-behind-haproxy $scenario)" <<'PY'
import sys
name, mem, redis, three = sys.argv[1], *map(float, sys.argv[2:])
print(f"{name}: req/s on Redis / in memory = {redis / mem:.2f}; three replicas behind HAProxy / one on Redis = {three / redis:.2f}")
PY
done
