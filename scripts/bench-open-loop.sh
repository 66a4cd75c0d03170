#!/usr/bin/env bash
# The open loop at rising rates, `conformance latency --rate` beside `oha -q RATE
# --latency-correction`, against the same reference server (embeddings, no delay, rate limit
# off). The server is pinned to CPU 0 and each generator in turn to CPU 1. Per rate and tool:
# p50 and p99 (ms), requests sent and, for ours, sent late (more than 2 ms after they were
# due: oha does not report it), and the generator's CPU time (user + system) per request.
#
#   scripts/bench-open-loop.sh
#   RATES="1000 5000 10000 20000" DURATION=5s CONNECTIONS=256 scripts/bench-open-loop.sh
#   CONFORMANCE=/tmp/conformance-before TOOLS=ours scripts/bench-open-loop.sh
#   TICK=0 TOOLS=ours scripts/bench-open-loop.sh      # ours pacing each request to the µs
#
# Both tools get the same connections (oha's -c, our --max-in-flight) and both keep a 1 ms
# schedule (oha's timer, our default --tick), unless TICK says otherwise.
#
# The two tools time differently: we measure from when a request was *due*, oha (with
# --latency-correction) from when its ticker woke for it, so a late timer is counted against
# the server by us and not by oha. Needs oha on PATH or in $OHA. Not run by CI: timings are
# the machine's.
set -euo pipefail
cd "$(dirname "$0")/.."
oha=${OHA:-oha}
command -v "$oha" >/dev/null || { echo "oha not found: cargo install oha --locked, or set OHA" >&2; exit 2; }
rates=${RATES:-1000 5000 10000 15000 20000 25000 30000 35000 40000}
duration=${DURATION:-5s}
warmup=${WARMUP:-1s}
connections=${CONNECTIONS:-256}
cargo build -q --release -p reference-server -p conformance
# CONFORMANCE: another build of ours to measure (an earlier commit's, for a before/after).
ours=${CONFORMANCE:-target/release/conformance}
work=$(mktemp -d)
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true; rm -rf "$work"' EXIT
REFSERVER_RATE_LIMIT=off REFSERVER_INDEX_PATH=:memory: taskset -c 0 \
  target/release/reference-server --port 0 --quiet > "$work/server.out" &
pids+=($!)
for _ in $(seq 50); do grep -q listening "$work/server.out" && break; sleep 0.1; done
url=$(awk '{print $3}' "$work/server.out")
body='{"model":"ref-embed-1","input":"The keeper climbed the tower at dusk to light the lamp."}'
cat > "$work/slo.toml" <<TOML
[[scenario]]
name = "embed"
endpoint = "/v1/embeddings"
body = { model = "ref-embed-1", input = "The keeper climbed the tower at dusk to light the lamp." }
budgets = ["error_rate <= 1%"]
TOML
cpu() { # FILE: user+system seconds written by /usr/bin/time -f "%U %S"
  awk '{print $1 + $2}' "$1"
}
printf '%8s  %-5s %9s %9s %9s %8s %12s\n' rate tool p50_ms p99_ms sent late cpu_us/req
tools=${TOOLS:-oha ours}
repeat=${REPEAT:-3}
for rate in $rates; do
 for _ in $(seq "$repeat"); do
  if [[ " $tools " == *" oha "* ]]; then
  # oha: the warm-up is a short run of its own before the measured one.
  taskset -c 1 "$oha" -z "$warmup" --no-tui -q "$rate" --latency-correction -c "$connections" -m POST \
    -H 'Authorization: Bearer k' -H 'Content-Type: application/json' -d "$body" \
    --output-format json "$url/v1/embeddings" > /dev/null
  /usr/bin/time -o "$work/oha.time" -f "%U %S" taskset -c 1 "$oha" -z "$duration" --no-tui \
    -q "$rate" --latency-correction -c "$connections" -m POST -H 'Authorization: Bearer k' \
    -H 'Content-Type: application/json' -d "$body" --output-format json \
    "$url/v1/embeddings" > "$work/oha.json"
  python3 - "$work/oha.json" "$(cpu "$work/oha.time")" "$rate" <<'PY' | tee -a "$work/rows"
import json, sys
d = json.load(open(sys.argv[1])); p = d["latencyPercentiles"]
n = sum(d.get("statusCodeDistribution", {}).values()) or 1
print(f"{sys.argv[3]:>8}  {'oha':<5} {p['p50']*1000:9.3f} {p['p99']*1000:9.3f} {n:9d} {'-':>8} {float(sys.argv[2])*1e6/n:12.1f}")
PY
  fi
  [[ " $tools " == *" ours "* ]] || continue
  rm -rf "$work/r"
  /usr/bin/time -o "$work/ours.time" -f "%U %S" taskset -c 1 "$ours" latency \
    --target "$url/v1" --api-key k --slo "$work/slo.toml" --rate "$rate" --duration "$duration" \
    --warmup "$warmup" --max-in-flight "$connections" --tick "${TICK:-1ms}" \
    --report-dir "$work/r" --report json > /dev/null || true
  python3 - "$work/r/latest/latency.json" "$(cpu "$work/ours.time")" "$rate" <<'PY' | tee -a "$work/rows"
import json, sys
d = json.load(open(sys.argv[1])); s = d["scenarios"][0]
n = s["requests"] + s["warmup_requests"]
lag = d.get("generator_lag") or {}
print(f"{sys.argv[3]:>8}  {'ours':<5} {s['latency']['p50_ms']:9.3f} {s['latency']['p99_ms']:9.3f} {s['requests']:9d} {lag.get('late', 0):8d} {float(sys.argv[2])*1e6/n:12.1f}")
PY
 done
done
# Medians of the REPEAT runs per rate and tool; the highest rate each tool sustains (from the
# lowest rate up, median p99 within 10x its median p99 at the lowest rate); and our CPU per
# request against oha's at each rate both sustain.
python3 - "$work/rows" <<'PY'
import statistics, sys
runs = {}
for line in open(sys.argv[1]):
    r = line.split()
    if r:
        runs.setdefault((r[1], float(r[0])), []).append((float(r[2]), float(r[3]), float(r[6])))
print("\nmedians of each rate's runs:")
by = {}
for (tool, rate), got in sorted(runs.items(), key=lambda kv: (kv[0][1], kv[0][0])):
    p50, p99, cpu = (statistics.median(x) for x in zip(*got))
    print(f"{rate:8.0f}  {tool:<5} p50 {p50:8.3f} ms  p99 {p99:8.3f} ms  cpu {cpu:6.1f} us/req")
    by.setdefault(tool, []).append((rate, p99, cpu))
best = {}
for tool, points in by.items():
    points.sort()
    limit = points[0][1] * 10
    top = None
    for rate, p99, _ in points:
        if p99 > limit:
            break
        top = rate
    best[tool] = top
    print(f"{tool}: sustains {top:.0f}/s (p99 within 10x its {points[0][1]:.3f} ms at {points[0][0]:.0f}/s)" if top else f"{tool}: sustains no rate")
if best.get("ours") and best.get("oha"):
    print(f"sustained rate, ours/oha: {best['ours'] / best['oha']:.2f}")
    cpu = {t: {rate: c for rate, _, c in p} for t, p in by.items()}
    ratios = [cpu["ours"][r] / cpu["oha"][r] for r in sorted(cpu["ours"]) if r in cpu["oha"] and r <= best["oha"]]
    print("CPU per request, ours/oha at each sustained rate: " + " ".join(f"{x:.2f}" for x in ratios))
PY
