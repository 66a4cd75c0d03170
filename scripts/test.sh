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
