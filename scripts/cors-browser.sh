#!/usr/bin/env bash
# CORS in a real browser: a page served from another loopback origin, opened in Debian's
# headless Chromium, calls the reference server with fetch (a JSON answer and a stream) and
# reads x-request-id. It must work with [cors] allow_origins naming the page's origin, and be
# blocked with CORS off. Usage: scripts/cors-browser.sh SERVER_BINARY
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${1:-target/debug/reference-server}
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true' EXIT

# The page's origin: Python's static server on a free loopback port.
page_log=$(mktemp)
python3 -u -m http.server 0 --bind 127.0.0.1 --directory scripts/cors-page > "$page_log" 2>&1 &
pids+=($!)
for _ in $(seq 1 50); do grep -q 'port' "$page_log" && break; sleep 0.1; done
page_port=$(grep -o 'port [0-9]*' "$page_log" | head -1 | awk '{print $2}')
origin="http://127.0.0.1:$page_port"

# open ORIGINS: starts the server with CORS set to ORIGINS (empty: off), and prints what the
# page wrote once its requests ended.
open_page() {
  local out; out=$(mktemp)
  REFSERVER_CORS_ORIGINS="$1" REFSERVER_AUTH_MODE=strict REFSERVER_API_KEYS=sk-page \
    REFSERVER_INDEX_PATH=:memory: "$bin" --port 0 --quiet > "$out" &
  local pid=$!
  pids+=("$pid")
  for _ in $(seq 1 50); do grep -q listening "$out" && break; sleep 0.1; done
  local api; api=$(awk '{print $3}' "$out")
  # The virtual time budget keeps the page open until its fetches end.
  chromium --headless --no-sandbox --disable-gpu --disable-background-networking \
    --disable-component-update --disable-sync --no-first-run --user-data-dir="$(mktemp -d)" \
    --virtual-time-budget=10000 --dump-dom "$origin/index.html?$api" 2>/dev/null \
    | sed -n 's/.*<pre id="out">\(.*\)<\/pre>.*/\1/p'
  kill "$pid"
}

allowed=$(open_page "$origin")
echo "CORS allowing $origin: $allowed"
case "$allowed" in
  "json=You said: hello from a page request_id=req_"*" stream_done=true stream_request_id=req_"*) ;;
  *) echo "the page on $origin could not use the server with CORS allowing it" >&2; exit 1 ;;
esac
off=$(open_page "")
echo "CORS off: $off"
case "$off" in
  "blocked: TypeError: Failed to fetch"*) ;;
  *) echo "with CORS off the browser did not block the page on $origin" >&2; exit 1 ;;
esac
