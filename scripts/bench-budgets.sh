#!/usr/bin/env bash
# The criterion benchmarks in quick mode, then every budget of benches/budgets.toml: a
# benchmark's median as a ratio to its baseline's, both from this run. Exit 1 on a breach.
# Quick mode is criterion's sampling with short times (0.5 s warm-up, 2 s of 30 samples per
# benchmark, under a minute in all): criterion's own `--quick` keeps two samples, and its
# ratios moved by half from one run to the next. `QUICK=0` runs them in full.
set -euo pipefail
cd "$(dirname "$0")/.."
rm -rf target/criterion
if [ "${QUICK:-1}" = 1 ]; then
  cargo bench -q -p benches --bench server --bench harness -- --warm-up-time 0.5 --measurement-time 2 --sample-size 30 --noplot > /dev/null 2>&1
else
  cargo bench -q -p benches --bench server --bench harness -- --noplot > /dev/null
fi
# The binary as the workspace builds it (scripts/test.sh already did): `cargo run -p benches`
# would resolve features for that package alone and rebuild a part of the tree.
cargo build -q --workspace --bins
target/debug/check-budgets
