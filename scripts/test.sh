#!/usr/bin/env bash
# The whole test suite: Rust tests (unit, loopback integration, wiremock defect servers),
# then the official openai Python SDK against the real reference-server binary.
set -euo pipefail
cd "$(dirname "$0")/.."
# Every server this script starts keeps its indexes in memory: several run at once, and the
# binary's default database file would be shared (and locked) between them.
export REFSERVER_INDEX_PATH=:memory:

venv=.venv-sdk
sdk_venv() {
  need python3 python3
  # Debian splits venv (and the pip it seeds) out of python3.
  python3 -c 'import ensurepip, venv' >/dev/null 2>&1 || need_package python3-venv
  if [ ! -x "$venv/bin/pytest" ] || ! "$venv/bin/pip" freeze 2>/dev/null | grep -xF -f reference-server/tests/sdk/requirements.txt >/dev/null; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check -r reference-server/tests/sdk/requirements.txt
  fi
}

# need COMMAND PACKAGE: installs Debian's PACKAGE when COMMAND is missing (CI runs as root).
need() {
  # /usr/sbin too: HAProxy lives there, outside a user's PATH.
  command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ] && return 0
  need_package "$2" "$1"
}
need_package() {
  if [ "$(id -u)" = 0 ]; then
    echo "test.sh: installing Debian's '$1'"
    apt-get update -qq && apt-get install -y -qq --no-install-recommends "$1" >/dev/null
  else
    echo "${2:-$1} is missing: install Debian's '$1' package" >&2
    exit 1
  fi
}

# `--install-only`: fetch what the suite uses besides cargo (the SDK's venv, Chromium,
# promtool) and stop; CI does it early, beside slower steps.
if [ "${1:-}" = --install-only ]; then
  sdk_venv
  need chromium chromium
  need promtool prometheus
  need gcc gcc
  need curl curl
  need redis-server redis-server
  need haproxy haproxy
  exit 0
fi

# The replicas' tests run the topology users run: Debian's redis-server and HAProxy in front
# of three replicas. Here they are required (a test without them fails rather than skips).
need redis-server redis-server
need haproxy haproxy
export REFSERVER_TEST_REPLICAS=require

cargo build --workspace --bins
# cargo-nextest when it is there (each test in its own process, in parallel); otherwise the
# same tests with `cargo test`, so a machine with only the Rust toolchain runs them too.
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --no-fail-fast
else
  echo "test.sh: cargo-nextest is not installed: running the tests with cargo test (slower; 'cargo install cargo-nextest --locked' to use it)"
  cargo test --workspace --no-fail-fast
fi

# No import circles between the modules of any crate.
for src in reference-server/src harness/src conformance/src; do
  python3 scripts/module-cycles.py "$src"
done

sdk_venv
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
# A rate-limited deployment gives the verdicts of a quiet one: every tenth generation is a 429
# (Retry-After 1 s); the run waits them out, counts them, and passes as above.
REFSERVER_FAULTS='kind=429,every=10,retry_after=1s' start_server target/debug/reference-server
limited=$(target/debug/conformance run --target "$server_url" --api-key any-key --no-reports --seed 7 2>/dev/null)
echo "$limited" | grep -E '^(rate-limited|summary)'
if ! echo "$limited" | grep -q '^rate-limited: '; then
  echo "the run against the rate-limited server waited out no 429" >&2
  exit 1
fi
kill "$server_pid"
start_server target/debug/reference-server
# The shipped eval suites, end to end against the same separately started server: every suite
# gate and a 100% overall gate with no errored case (the engine is deterministic).
target/debug/conformance eval --target "$server_url" --api-key any-key --no-reports \
  --min-accuracy 1.0 --max-error-rate 0 | grep -E '^(overall|gate overall|gate error)'
kill "$server_pid"

# The latency gate, as the README runs it: against the embedded stand-in, then against a
# separately started server with a timing profile (TTFT 20 ms, 2 ms between tokens) and no rate
# limiter; both must meet the shipped SLO budgets (exit 0).
target/debug/conformance latency --slo cases/latency/slo.toml --duration 2s --no-reports | tail -1
REFSERVER_RATE_LIMIT=off REFSERVER_TTFT=20ms REFSERVER_INTER_TOKEN=2ms start_server target/debug/reference-server
target/debug/conformance latency --target "$server_url/v1" --api-key any-key --slo cases/latency/slo.toml \
  --rate 40 --poisson --duration 3s --no-reports | grep -E '^(chat-stream|verdict)'
kill "$server_pid"

# Paced streams from outside: the pacing benchmark's independent client (gcc, epoll) against the
# debug server with a short profile. Only that every stream arrives whole is checked here; the
# timings are the machine's (scripts/bench-pacing.py on a release build measures them).
need gcc gcc
REFSERVER_BIN=target/debug/reference-server python3 scripts/bench-pacing.py --levels 8 --seconds 1 --ttft 20 --itl 2 | tail -1

# The HTML report in a real browser: Debian's Chromium renders the embedded run's report.html,
# and every check of the catalogue is a row of the page it builds.
need chromium chromium
html_dir=$(mktemp -d)
target/debug/conformance run --seed 7 --report html --report-dir "$html_dir" > /dev/null 2>&1
rows=$(chromium --headless --no-sandbox --disable-gpu --disable-background-networking --disable-component-update \
  --disable-sync --no-first-run --user-data-dir="$(mktemp -d)" --dump-dom "file://$html_dir/latest/report.html" \
  2>/dev/null | grep -o '<tr id=' | wc -l)
# Every check but the shape snapshots, which need --snapshots DIR.
checks=$(target/debug/conformance list | grep -vc '^snapshots\.')
if [ "$rows" != "$checks" ]; then
  echo "report.html rendered $rows check rows in Chromium, the catalogue has $checks" >&2
  exit 1
fi
echo "report.html in Chromium: $rows check rows"
# CORS in the browser: a page on another loopback origin uses the server with fetch when
# allowed, and is blocked with CORS off.
scripts/cors-browser.sh target/debug/reference-server
# The eval page too: one score row per suite, per tag, and overall, as eval.json counts them.
target/debug/conformance eval --report-dir "$html_dir" > /dev/null
eval_dir=$(cd "$html_dir/latest" && pwd -P)
rows=$(chromium --headless --no-sandbox --disable-gpu --disable-background-networking --disable-component-update \
  --disable-sync --no-first-run --user-data-dir="$(mktemp -d)" --dump-dom "file://$eval_dir/eval.html" \
  2>/dev/null | grep -o '<tr class="score"' | wc -l)
scores=$(python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print(len(d['suites'])+len(d['tags'])+1)" "$eval_dir/eval.json")
if [ "$rows" != "$scores" ]; then
  echo "eval.html rendered $rows score rows in Chromium, eval.json has $scores" >&2
  exit 1
fi
echo "eval.html in Chromium: $rows score rows"
# The latency page too: a two-step sweep against a paced server (so that streams have a TTFT)
# writes latency.html. Chromium must render as many plots as latency.json has data for, and
# its screenshot must show them: the histogram bars' colour and the passed points' colour.
REFSERVER_RATE_LIMIT=off REFSERVER_TTFT=20ms REFSERVER_INTER_TOKEN=2ms start_server target/debug/reference-server
target/debug/conformance latency --target "$server_url/v1" --api-key any-key --slo cases/latency/slo.toml \
  --sweep 20,40 --duration 1s --warmup 0.5s --report json,html --report-dir "$html_dir" > /dev/null
kill "$server_pid"
lat_run=$(cd "$html_dir/latest" && pwd -P)
plots=$(chromium --headless --no-sandbox --disable-gpu --disable-background-networking --disable-component-update \
  --disable-sync --no-first-run --user-data-dir="$(mktemp -d)" --dump-dom "file://$lat_run/latency.html" \
  2>/dev/null | grep -o '<svg class="plot"' | wc -l)
want=$(python3 -c "
import json, sys
d = json.load(open(sys.argv[1]))
n = 2 if d['sweep'] else 0
for s in d['scenarios']:
    p = s['plots']
    n += 2 * (p['latency'] is not None) + 2 * (p['ttft'] is not None) + 2 * bool(p['timeline'])
print(n)" "$lat_run/latency.json")
if [ "$plots" != "$want" ] || [ "$want" -lt 10 ]; then
  echo "latency.html rendered $plots plots in Chromium, latency.json has data for $want" >&2
  exit 1
fi
chromium --headless --no-sandbox --disable-gpu --disable-background-networking --disable-component-update \
  --disable-sync --no-first-run --user-data-dir="$(mktemp -d)" --window-size=1100,2600 \
  --screenshot="$lat_run/latency.png" "file://$lat_run/latency.html" > /dev/null 2>&1
if ! python3 scripts/png-colors.py "$lat_run/latency.png" 4a78b5 186a1c | awk '$2 < 100 { bad = 1 } END { exit bad }'; then
  echo "the screenshot of latency.html does not show the plots: $(python3 scripts/png-colors.py "$lat_run/latency.png" 4a78b5 186a1c)" >&2
  exit 1
fi
echo "latency.html in Chromium: $plots plots, drawn in the screenshot"

# The /metrics exposition, after traffic that fills every family (429s and replays included),
# must pass promtool's linter.
need promtool prometheus
need curl curl
REFSERVER_RATE_LIMIT=3/60 start_server target/debug/reference-server
for i in 1 2 3 4; do curl -s -o /dev/null -H 'Authorization: Bearer k' "$server_url/v1/models"; done
for i in 1 2; do
  curl -s -o /dev/null -H 'Authorization: Bearer k2' -H 'Idempotency-Key: m1' -H 'Content-Type: application/json' \
    -d '{"model":"ref-embed-1","input":"x"}' "$server_url/v1/embeddings"
done
curl -s "$server_url/metrics" > /tmp/refserver-metrics.txt
kill "$server_pid"
grep -q '^rate_limited_requests_total{route="/v1/models"} 1' /tmp/refserver-metrics.txt
grep -q '^idempotent_replays_total 1' /tmp/refserver-metrics.txt
promtool check metrics < /tmp/refserver-metrics.txt
echo "promtool check metrics: ok"
