#!/usr/bin/env bash
# The replicas topology on this machine, from Debian's packages: redis-server on a loopback
# port, N replicas of the reference server sharing it (REFSERVER_STORE_URL), and HAProxy in
# front of them (round-robin, /readyz checks). Prints the balancer's URL and serves until
# interrupted. The tests (reference-server/tests/replicas.rs) start the same topology.
#
#   scripts/replicas.sh                       # 3 replicas of target/release/reference-server
#   REPLICAS=1 BIN=target/debug/reference-server scripts/replicas.sh
#   PORT=8080 REFSERVER_RATE_LIMIT=off scripts/replicas.sh   # any REFSERVER_* reaches the replicas
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${BIN:-target/release/reference-server}
replicas=${REPLICAS:-3}
port=${PORT:-8080}
haproxy=$(command -v haproxy || echo /usr/sbin/haproxy)
for tool in redis-server "$haproxy"; do
  command -v "$tool" >/dev/null 2>&1 || { echo "replicas.sh: $tool is missing (Debian: apt-get install redis-server haproxy)" >&2; exit 2; }
done
[ -x "$bin" ] || { echo "replicas.sh: no $bin (cargo build --release -p reference-server)" >&2; exit 2; }

dir=$(mktemp -d)
pids=()
stop() { kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$dir"; }
trap stop EXIT INT TERM

# shellcheck source=scripts/lib/servers.sh
source scripts/lib/servers.sh
redis_port=${REDIS_PORT:-$(free_port)}
redis-server --port "$redis_port" --bind 127.0.0.1 --save '' --appendonly no > "$dir/redis.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 50); do redis-cli -p "$redis_port" ping >/dev/null 2>&1 && break; sleep 0.1; done

servers=""
for i in $(seq 1 "$replicas"); do
  REFSERVER_STORE_URL="redis://127.0.0.1:$redis_port/0" REFSERVER_INDEX_PATH=:memory: \
    "$bin" --port 0 --quiet > "$dir/replica-$i.out" 2> "$dir/replica-$i.log" &
  pids+=($!)
  for _ in $(seq 1 50); do grep -q listening "$dir/replica-$i.out" && break; sleep 0.1; done
  addr=$(awk '{print $3}' "$dir/replica-$i.out" | sed 's|http://||')
  servers+="  server r$i $addr check inter 500ms"$'\n'
  echo "replica $i: http://$addr"
done
cat > "$dir/haproxy.cfg" <<CFG
global
  # Two descriptors per connection: 4096 fits the usual hard limit of 8192 and more.
  maxconn 4096
defaults
  mode http
  timeout connect 1s
  timeout client 60s
  timeout server 60s
  retries 2
  option redispatch
  retry-on conn-failure empty-response
frontend api
  bind 127.0.0.1:$port
  default_backend replicas
backend replicas
  balance roundrobin
  option httpchk GET /readyz
$servers
CFG
"$haproxy" -db -f "$dir/haproxy.cfg" > "$dir/haproxy.log" 2>&1 &
pids+=($!)
sleep 0.3
if ! kill -0 "${pids[-1]}" 2>/dev/null; then
  echo "replicas.sh: haproxy did not start:" >&2
  cat "$dir/haproxy.log" >&2
  exit 1
fi
echo "redis: redis://127.0.0.1:$redis_port/0"
echo "balancer: http://127.0.0.1:$port"
wait
