# Shell helpers of the scripts that start servers (sourced, not run).

# free_port: a loopback port free right now.
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# wait_for URL SECONDS: until the URL answers at all (any status); 1 when it never did.
wait_for() {
  for _ in $(seq 1 "$(( $2 * 5 ))"); do
    curl -s -o /dev/null "$1" && return 0
    sleep 0.2
  done
  echo "$(basename "$0"): $1 did not come up within $2 s" >&2
  return 1
}
