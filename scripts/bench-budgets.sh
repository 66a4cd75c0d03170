#!/usr/bin/env bash
# The criterion benchmarks in quick mode, then every budget of benches/budgets.toml: a
# benchmark's median as a ratio to its baseline's, both from this run. Exit 1 on a breach.
# Quick mode is criterion's sampling with short times (0.5 s warm-up, 2 s of 30 samples per
# benchmark, under a minute in all): criterion's own `--quick` keeps two samples, and its
# ratios moved by half from one run to the next. `QUICK=0` runs them in full.
#
# A breach is measured again before it fails the run: on this shared 2-core machine one run
# measured route/embeddings_1x1536 at 16.5 us and the next, same build, at 13.2 us (and its
# baseline at 2.8 and 5.1 us). A regression breaches twice; a noisy neighbour rarely does.
set -euo pipefail
cd "$(dirname "$0")/.."
# The store benchmarks need a Redis: Debian's redis-server on a free loopback port, for this run.
redis_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
redis-server --port "$redis_port" --bind 127.0.0.1 --save '' --appendonly no > /dev/null 2>&1 &
redis_pid=$!
trap 'kill $redis_pid 2>/dev/null || true' EXIT
for _ in $(seq 1 50); do redis-cli -p "$redis_port" ping > /dev/null 2>&1 && break; sleep 0.1; done
export BENCH_REDIS_URL="redis://127.0.0.1:$redis_port/0"
measure() {
  rm -rf target/criterion
  if [ "${QUICK:-1}" = 1 ]; then
    cargo bench -q -p benches --bench server --bench harness --bench store -- --warm-up-time 0.5 --measurement-time 2 --sample-size 30 --noplot > /dev/null 2>&1
  else
    cargo bench -q -p benches --bench server --bench harness --bench store -- --noplot > /dev/null
  fi
}
# Built first, all of them, with their errors (and in CI Clippy's) shown: a measure is quiet.
cargo bench -q -p benches --no-run
measure
cargo build -q --workspace --bins
if target/debug/check-budgets; then
  exit 0
fi
echo "== a budget was breached: measuring again"
measure
target/debug/check-budgets
