#!/usr/bin/env bash
# `eval --compare` against three real deployments: the reference server, llmsim (crates.io) and
# LiteLLM's proxy with mock models (PyPI), installed as scripts/compat.sh installs them. The
# shipped suites are asked of all three; the comparison must say what is true of them (the
# reference server answers every case right, the two mocks do not, and the difference is
# significant), and Chromium must render compare.html: a row per case, the answers side by
# side, and the colours of passed and failed cells in its screenshot.
#
#   scripts/compare-targets.sh [OUT_DIR]     OUT_DIR keeps the reports (default: a temp dir)
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/compat.sh --install-only > /dev/null
tools=.compat-tools
out=${1:-$(mktemp -d)}
mkdir -p "$out"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

cargo build --quiet --bin conformance --bin reference-server
# shellcheck source=scripts/lib/servers.sh
source scripts/lib/servers.sh

ref_port=$(free_port)
REFSERVER_INDEX_PATH=:memory: target/debug/reference-server --port "$ref_port" --quiet > "$out/reference.log" 2>&1 &
pids+=($!)
llmsim_port=$(free_port)
"$tools/bin/llmsim" serve --host 127.0.0.1 --port "$llmsim_port" > "$out/llmsim.log" 2>&1 &
pids+=($!)
litellm_port=$(free_port)
"$tools/litellm/bin/litellm" --config cases/compat/litellm-config.yaml --host 127.0.0.1 --port "$litellm_port" \
  > "$out/litellm.log" 2>&1 &
pids+=($!)
wait_for "http://127.0.0.1:$ref_port/healthz" 30
wait_for "http://127.0.0.1:$llmsim_port/health" 30
wait_for "http://127.0.0.1:$litellm_port/health/liveliness" 120

cat > "$out/targets.toml" <<TOML
[[target]]
name = "reference"
url = "http://127.0.0.1:$ref_port/v1"
api_key_env = "COMPARE_REFERENCE_KEY"

[[target]]
name = "llmsim"
url = "http://127.0.0.1:$llmsim_port/openai/v1"
api_key_env = "COMPARE_LLMSIM_KEY"

[[target]]
name = "litellm"
url = "http://127.0.0.1:$litellm_port/v1"
api_key_env = "COMPARE_LITELLM_KEY"
model = "mock-chat"
TOML
status=0
COMPARE_REFERENCE_KEY=sk-compare COMPARE_LLMSIM_KEY=sk-compare COMPARE_LITELLM_KEY=sk-compat-master \
  target/debug/conformance eval --compare "$out/targets.toml" --cases 'cases/evals/*.jsonl' \
  --concurrency 4 --fail-if-worse reference --report-dir "$out/reports" > "$out/compare.txt" 2>&1 || status=$?
cat "$out/compare.txt"
# The mocks fail the suites' own gates and are significantly worse than the reference: exit 1.
if [ "$status" != 1 ]; then
  echo "compare-targets: eval --compare exited $status, not 1 (two targets worse than the reference)" >&2
  exit 1
fi
run=$(cd "$out/reports/latest" && pwd -P)

# What the comparison must say of these three.
python3 - "$run/compare.json" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
t = {s["name"]: s for s in c["targets"]}
problems = []
if set(t) != {"reference", "llmsim", "litellm"}:
    problems.append(f"targets {sorted(t)}")
if c["cases"] < 30:
    problems.append(f"only {c['cases']} cases")
if t["reference"]["overall"]["accuracy"] != 1.0:
    problems.append(f"reference accuracy {t['reference']['overall']['accuracy']}")
for name in ("llmsim", "litellm"):
    s = t[name]
    if s["answers"] == 0:
        problems.append(f"{name} answered nothing")
    if s["overall"]["accuracy"] is None or s["overall"]["accuracy"] >= 0.5:
        problems.append(f"{name} accuracy {s['overall']['accuracy']}: a mock should not pass the suites")
pairs = {(p["a"], p["b"]): p for p in c["pairs"]}
for other in ("llmsim", "litellm"):
    p = pairs[("reference", other)]
    if not (p["significant"] and p.get("better") == "reference"):
        problems.append(f"reference vs {other}: {p}")
if c["disagreements"] == 0:
    problems.append("no disagreement")
failed = {g["name"] for g in c["gates"] if not g["passed"]}
for other in ("llmsim", "litellm"):
    if f"{other} not significantly worse than reference (McNemar p < 0.05)" not in failed:
        problems.append(f"--fail-if-worse reference did not fail {other}")
if problems:
    sys.exit("compare.json: " + "; ".join(problems))
print(f"compare.json: {c['cases']} cases, {c['disagreements']} disagreements; "
      + ", ".join(f"{n} {s['overall']['accuracy']:.2f}" for n, s in t.items()))
PY

# compare.html in a real browser: every case a row with three cells, and the screenshot shows
# the colours of passed (green) and failed (red) cells.
browse() {
  chromium --headless --no-sandbox --disable-gpu --disable-background-networking --disable-component-update \
    --disable-sync --no-first-run --user-data-dir="$(mktemp -d)" "$@" 2>/dev/null
}
dom=$(browse --dump-dom "file://$run/compare.html")
rows=$(grep -o '<tr class="case' <<< "$dom" | wc -l)
cells=$(grep -o '<td class="\(passed\|failed\|errored\|ungraded\)"' <<< "$dom" | wc -l)
targets=$(grep -o '<tr class="target"' <<< "$dom" | wc -l)
cases=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["cases"])' "$run/compare.json")
if [ "$rows" != "$cases" ] || [ "$cells" != "$(( 3 * cases ))" ] || [ "$targets" != 3 ]; then
  echo "compare.html rendered $rows case rows ($cells cells) and $targets targets; compare.json has $cases cases of 3 targets" >&2
  exit 1
fi
browse --window-size=1400,3000 --screenshot="$run/compare.png" "file://$run/compare.html" > /dev/null
if ! python3 scripts/png-colors.py "$run/compare.png" e3f4e4 fbe3e3 | awk '$2 < 1000 { bad = 1 } END { exit bad }'; then
  echo "the screenshot of compare.html does not show passed and failed cells: $(python3 scripts/png-colors.py "$run/compare.png" e3f4e4 fbe3e3)" >&2
  exit 1
fi
echo "compare.html in Chromium: $rows case rows, $cells cells, passed and failed cells drawn ($(python3 scripts/png-colors.py "$run/compare.png" e3f4e4 fbe3e3 | tr '\n' ' '))"
