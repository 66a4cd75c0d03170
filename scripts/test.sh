#!/usr/bin/env bash
# The whole test suite: Rust tests (unit, loopback integration, wiremock defect servers),
# then the official openai Python SDK against the real reference-server binary.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo build --workspace --bins
cargo nextest run --workspace --no-fail-fast

venv=.venv-sdk
if [ ! -x "$venv/bin/pytest" ] || ! "$venv/bin/pip" freeze 2>/dev/null | grep -qxF -f reference-server/tests/sdk/requirements.txt; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r reference-server/tests/sdk/requirements.txt
fi
"$venv/bin/pytest" -q reference-server/tests/sdk

# End to end: the harness against a separately started reference-server, strict and permissive.
start_server() {
  local out; out=$(mktemp)
  "$@" --port 0 --quiet > "$out" &
  server_pid=$!
  for _ in $(seq 1 50); do grep -q listening "$out" && break; sleep 0.1; done
  server_url=$(awk '{print $3}' "$out")
}
REFSERVER_API_KEYS=sk-e2e-key start_server target/debug/reference-server --auth-mode strict
trap 'kill $server_pid 2>/dev/null || true' EXIT
target/debug/conformance run --target "$server_url/v1" --api-key sk-e2e-key --expect-strict-auth --no-reports --seed 7 2>/dev/null | tail -3
kill "$server_pid"
start_server target/debug/reference-server
target/debug/conformance run --target "$server_url" --api-key any-key --no-reports --seed 7 2>/dev/null | tail -3
kill "$server_pid"
