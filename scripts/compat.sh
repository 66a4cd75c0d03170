#!/usr/bin/env bash
# Compatibility evidence from real third-party servers installed from the registries:
# llmsim (crates.io) and LiteLLM's proxy with mock models (PyPI). Each is run with
# `conformance run --profile open-responses` (OpenAI's core and Open Responses' rules), and every verdict is compared with
# cases/compat/<server>.toml: a new failure, a new pass or a changed reason fails the script.
# docs/compatibility.md is rendered from the expectations and must be up to date.
#
#   scripts/compat.sh                  check (CI)
#   COMPAT_UPDATE=1 scripts/compat.sh  rewrite the expectations from this run (new reasons are
#                                      "TODO" until someone writes why each is a true deviation)
set -euo pipefail
cd "$(dirname "$0")/.."

LLMSIM_VERSION=0.6.0
LITELLM_VERSION=1.106.12
tools=.compat-tools
out=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

# grep reads all of its input (no -q): under pipefail, a writer cut off by SIGPIPE would fail
# the check and reinstall.
if ! "$tools/bin/llmsim" --version 2>/dev/null | grep -F "$LLMSIM_VERSION" >/dev/null; then
  echo "compat: installing llmsim $LLMSIM_VERSION from crates.io"
  # A debug build: llmsim is only answered, never timed, and it builds in half the time.
  cargo install --quiet --locked --debug llmsim --version "$LLMSIM_VERSION" --root "$tools"
fi
if ! "$tools/litellm/bin/pip" show litellm 2>/dev/null | grep -xF "Version: $LITELLM_VERSION" >/dev/null; then
  echo "compat: installing LiteLLM $LITELLM_VERSION from PyPI"
  python3 -m venv "$tools/litellm"
  "$tools/litellm/bin/pip" install --quiet --disable-pip-version-check "litellm[proxy]==$LITELLM_VERSION"
fi

# `--install-only`: fetch the two servers and stop (CI does it early, beside slower steps).
[ "${1:-}" = --install-only ] && exit 0

cargo build --quiet --bin conformance
conformance=target/debug/conformance

# shellcheck source=scripts/lib/servers.sh
source scripts/lib/servers.sh

status=0
# check NAME TARGET KEY: runs the harness and compares with cases/compat/NAME.toml.
check() {
  local name=$1 target=$2 key=$3
  "$conformance" run --target "$target" --api-key "$key" --profile open-responses --seed 7 \
    --budget 8 --report json --report-dir "$out/$name" > "$out/$name.txt" 2>/dev/null || true
  local report
  report="$out/$name/latest/report.json"
  if [ "${COMPAT_UPDATE:-}" = 1 ]; then
    "$conformance" compat check --update --expect "cases/compat/$name.toml" --report "$report"
  elif ! "$conformance" compat check --expect "cases/compat/$name.toml" --report "$report"; then
    status=1
    grep -E '^(  (FAIL|PREC|ERR )|summary)' "$out/$name.txt" || true
  fi
}

port=$(free_port)
"$tools/bin/llmsim" serve --host 127.0.0.1 --port "$port" > "$out/llmsim.log" 2>&1 &
pids+=($!)
wait_for "http://127.0.0.1:$port/health" 30
# llmsim serves OpenAI's API under /openai/v1.
check llmsim "http://127.0.0.1:$port/openai/v1" sk-compat

port=$(free_port)
"$tools/litellm/bin/litellm" --config cases/compat/litellm-config.yaml --host 127.0.0.1 --port "$port" \
  > "$out/litellm.log" 2>&1 &
pids+=($!)
wait_for "http://127.0.0.1:$port/health/liveliness" 120
check litellm "http://127.0.0.1:$port/v1" sk-compat-master

rendered="$out/compatibility.md"
"$conformance" compat render --expect cases/compat/llmsim.toml --expect cases/compat/litellm.toml > "$rendered"
if [ "${COMPAT_UPDATE:-}" = 1 ]; then
  cp "$rendered" docs/compatibility.md
elif ! diff -u docs/compatibility.md "$rendered"; then
  echo "compat: docs/compatibility.md is out of date; run COMPAT_UPDATE=1 scripts/compat.sh" >&2
  status=1
fi
exit $status
