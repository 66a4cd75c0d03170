#!/usr/bin/env bash
# `conformance latency` beside oha against the same reference server, in one run:
#   - the same fixed rate (open loop, oha with --latency-correction): p50 and p95 of both;
#   - the same concurrency (closed loop): the throughput of both.
# The server is pinned to CPU 0 and the load generators to CPU 1; the two tools take turns,
# ROUNDS times, and the medians are compared. DELAY gives the server an embeddings delay (a
# distribution such as "lognormal(20ms, 0.5)") so latencies are a real server's, not the
# scheduling noise of a loopback round trip; the throughput rounds use no delay (the
# generator's own ceiling).
#
#   scripts/bench-latency-vs-oha.sh
#   ROUNDS=5 RATE=1000 CONCURRENCY=32 DURATION=10s DELAY="lognormal(20ms, 0.5)" scripts/bench-latency-vs-oha.sh
#
# Needs oha (`cargo install oha`) on PATH or in $OHA. Not run by CI: timings are the machine's.
set -euo pipefail
cd "$(dirname "$0")/.."
oha=${OHA:-oha}
command -v "$oha" >/dev/null || { echo "oha not found: cargo install oha, or set OHA" >&2; exit 2; }
rounds=${ROUNDS:-3}
rate=${RATE:-1000}
concurrency=${CONCURRENCY:-32}
duration=${DURATION:-10s}
delay=${DELAY:-lognormal(20ms, 0.5)}
cargo build -q --release -p reference-server -p conformance
work=$(mktemp -d)
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true; rm -rf "$work"' EXIT

start() { # NAME DELAY (not in a subshell: the pid must reach the trap)
  REFSERVER_RATE_LIMIT=off REFSERVER_INDEX_PATH=:memory: REFSERVER_EMBEDDING_DELAY="$2" taskset -c 0 \
    target/release/reference-server --port 0 --quiet > "$work/$1.out" &
  pids+=($!)
  for _ in $(seq 50); do grep -q listening "$work/$1.out" && break; sleep 0.1; done
}
start slow "$delay"
start fast 0ms
slow=$(awk '{print $3}' "$work/slow.out")
fast=$(awk '{print $3}' "$work/fast.out")
body='{"model":"ref-embed-1","input":"The keeper climbed the tower at dusk to light the lamp."}'
cat > "$work/slo.toml" <<EOF
[[scenario]]
name = "embed"
endpoint = "/v1/embeddings"
body = $(python3 -c "import json,sys; d=json.loads(sys.argv[1]); print('{ model = \"%s\", input = \"%s\" }' % (d['model'], d['input']))" "$body")
budgets = ["error_rate <= 1%"]
EOF

oha_run() { # URL EXTRA...
  local url=$1; shift
  taskset -c 1 "$oha" -z "$duration" --no-tui -m POST -H 'Authorization: Bearer k' \
    -H 'Content-Type: application/json' -d "$body" --output-format json "$@" "$url/v1/embeddings" > "$work/oha.json"
  python3 -c "import json; d=json.load(open('$work/oha.json')); p=d['latencyPercentiles']; print(p['p50']*1000, p['p95']*1000, d['summary']['requestsPerSec'])"
}
ours_run() { # URL EXTRA...
  local url=$1; shift
  rm -rf "$work/r"
  taskset -c 1 target/release/conformance latency --target "$url/v1" --api-key k --slo "$work/slo.toml" \
    --duration "$duration" --warmup 0s --report-dir "$work/r" --report json "$@" > /dev/null
  python3 -c "import json,glob; d=json.load(open('$work/r/latest/latency.json'))['scenarios'][0]; print(d['latency']['p50_ms'], d['latency']['p95_ms'], d['throughput_per_s'])"
}

: > "$work/results"
for round in $(seq "$rounds"); do
  echo "oha-rate $(oha_run "$slow" -q "$rate" --latency-correction)" >> "$work/results"
  echo "ours-rate $(ours_run "$slow" --rate "$rate")" >> "$work/results"
  echo "oha-closed $(oha_run "$fast" -c "$concurrency")" >> "$work/results"
  echo "ours-closed $(ours_run "$fast" --concurrency "$concurrency")" >> "$work/results"
  echo "round $round done" >&2
done
python3 - "$work/results" "$rate" "$concurrency" "$delay" <<'EOF'
import statistics, sys
rows = {}
for line in open(sys.argv[1]):
    name, *vals = line.split()
    rows.setdefault(name, []).append([float(v) for v in vals])
med = {k: [statistics.median(col) for col in zip(*v)] for k, v in rows.items()}
rate, conc, delay = sys.argv[2], sys.argv[3], sys.argv[4]
o, u = med["oha-rate"], med["ours-rate"]
print(f"fixed rate {rate}/s, server delay {delay} (median of {len(rows['oha-rate'])} rounds)")
print(f"  oha   p50 {o[0]:8.3f} ms  p95 {o[1]:8.3f} ms")
print(f"  ours  p50 {u[0]:8.3f} ms  p95 {u[1]:8.3f} ms   ratio p50 {u[0]/o[0]:.3f}  p95 {u[1]/o[1]:.3f}")
o, u = med["oha-closed"], med["ours-closed"]
print(f"closed loop, {conc} in flight, no server delay")
print(f"  oha   {o[2]:10.1f} req/s   rounds {[round(r[2]) for r in rows['oha-closed']]}")
print(f"  ours  {u[2]:10.1f} req/s   rounds {[round(r[2]) for r in rows['ours-closed']]}   ratio {u[2]/o[2]:.3f}")
EOF
