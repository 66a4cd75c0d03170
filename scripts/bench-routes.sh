#!/usr/bin/env bash
# Throughput of the reference server beside the bare axum baseline (examples/bare.rs), with oha:
# GET /v1/models and POST /v1/embeddings (1536 dimensions), 32 connections, the servers pinned
# to CPU 0 and oha to CPU 1, the default stack (rate limiter on with a budget that never runs
# out, metrics, one log line per request). The servers run side by side and are measured in
# turn, ROUNDS times, so a slow minute of the machine hits all of them; the summary gives the
# median req/s, p50 and p99 of each, its ratio to bare (of the medians, and the median of each
# round's ratio), the server CPU time per request, and each server's peak RSS.
#
#   scripts/bench-routes.sh                       # bare and the current build
#   BEFORE=/path/to/old/reference-server scripts/bench-routes.sh   # and an older build
#   FLOOR=1 scripts/bench-routes.sh              # and examples/floor.rs: bare plus only the work
#                                                 # the server cannot leave out, written plainly
#   ROUNDS=5 DURATION=8s scripts/bench-routes.sh
#
# Needs oha (`cargo install oha`) on PATH or in $OHA. Not run by CI: timings are the machine's.
set -euo pipefail
cd "$(dirname "$0")/.."
oha=${OHA:-oha}
command -v "$oha" >/dev/null || { echo "oha not found: cargo install oha, or set OHA" >&2; exit 2; }
duration=${DURATION:-5s}
rounds=${ROUNDS:-3}
cargo build -q --release -p reference-server --bin reference-server --example bare --example floor
work=$(mktemp -d)
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true; rm -rf "$work"' EXIT

start() { # LABEL COMMAND...
  local label=$1; shift
  REFSERVER_RATE_LIMIT=1000000000/1 REFSERVER_INDEX_PATH=:memory: taskset -c 0 "$@" >"$work/$label.log" 2>/dev/null &
  pids+=($!)
  echo $! >"$work/$label.pid"
  for _ in $(seq 50); do
    grep -q 'http://' "$work/$label.log" 2>/dev/null && break; sleep 0.1
  done
  grep -o 'http://[0-9.:]*' "$work/$label.log" | head -1 >"$work/$label.base"
}

labels=(bare)
start bare target/release/examples/bare 0
if [ -n "${FLOOR:-}" ]; then labels+=(floor); start floor target/release/examples/floor 0; fi
if [ -n "${BEFORE:-}" ]; then labels+=(before); start before "$BEFORE" --port 0; fi
labels+=(after)
start after target/release/reference-server --port 0

# The server's CPU time so far (user + system, all threads, in clock ticks): per request it is
# what the server costs, steadier than req/s on a shared machine.
ticks() { awk '{print $14 + $15}' "/proc/$(cat "$work/$1.pid")/stat"; }

body='{"model":"ref-embed-1","input":"The quick brown fox jumps over the lazy dog"}'
for round in $(seq "$rounds"); do
  for route in models embeddings; do
    for label in "${labels[@]}"; do
      base=$(cat "$work/$label.base")
      if [ $route = models ]; then args=(-m GET "$base/v1/models")
      else args=(-m POST -H 'content-type: application/json' -d "$body" "$base/v1/embeddings"); fi
      [ "$round" = 1 ] && taskset -c 1 "$oha" -z 2s -c 32 --no-tui -H 'authorization: Bearer sk-bench' "${args[@]}" >/dev/null 2>&1
      ticks "$label" >"$work/$label.$route.$round.cpu"
      taskset -c 1 "$oha" -z "$duration" -c 32 --no-tui --output-format json \
        -H 'authorization: Bearer sk-bench' "${args[@]}" 2>/dev/null >"$work/$label.$route.$round.json"
      ticks "$label" >>"$work/$label.$route.$round.cpu"
    done
  done
done
for label in "${labels[@]}"; do
  echo "$label $(awk '/VmHWM/ {print $2}' "/proc/$(cat "$work/$label.pid")/status")" >>"$work/rss"
done

python3 - "$work" "$rounds" "$(getconf CLK_TCK)" "${labels[@]}" <<'PY'
import json, statistics, sys
work, rounds, hz, labels = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4:]
rss = dict(line.split() for line in open(f"{work}/rss"))
for route in ["models", "embeddings"]:
    bare = None
    bare_rounds = None
    for label in labels:
        runs = [json.load(open(f"{work}/{label}.{route}.{r}.json")) for r in range(1, rounds + 1)]
        rps = [d["summary"]["requestsPerSec"] for d in runs]
        bare_rounds = bare_rounds or rps
        # Each round's ratio to bare's run just before it, then their median: a slow minute of
        # the machine hits both sides of a ratio, so this moves less than the ratio of medians.
        paired = statistics.median(x / b for x, b in zip(rps, bare_rounds))
        p50 = statistics.median(d["latencyPercentiles"]["p50"] * 1000 for d in runs)
        p99 = statistics.median(d["latencyPercentiles"]["p99"] * 1000 for d in runs)
        codes = {}
        for d in runs:
            for k, v in d["statusCodeDistribution"].items():
                codes[k] = codes.get(k, 0) + v
        cpu = []
        for r, d in enumerate(runs, 1):
            t0, t1 = (int(x) for x in open(f"{work}/{label}.{route}.{r}.cpu").read().split())
            served = sum(d["statusCodeDistribution"].values())
            cpu.append((t1 - t0) / hz * 1e6 / max(served, 1))
        med = statistics.median(rps)
        bare = bare or med
        each = " ".join(f"{x:.0f}" for x in rps)
        print(f"{label:7} {route:11} {med:8.0f} req/s ({med / bare:4.2f}x, paired {paired:4.2f}x)  p50 {p50:5.2f} ms  "
              f"p99 {p99:5.2f} ms  cpu {statistics.median(cpu):5.1f} us/req  rounds [{each}]  {codes}")
for label in labels:
    print(f"{label:7} peak RSS {rss[label]} kB")
PY
