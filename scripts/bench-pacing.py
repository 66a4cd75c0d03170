#!/usr/bin/env python3
"""Measures the reference server's paced streams from outside, with an independent client.

Starts `reference-server` with a timing profile (default TTFT 200 ms, 20 ms between tokens)
and keeps N chat streams open at once with `scripts/pacing-client.c` (plain sockets and epoll,
compiled here with gcc; a Python client needed more CPU than the server it measured). Each of
the N slots sends one stream after another for `--seconds`; their first requests are spread
over one stream's length, so the server sees a steady N streams. Reported per level:

- TTFT: request written -> first content delta received (p50, p95), and its ratio to the
  configured value;
- ITL: between consecutive content deltas of a stream (p50, p95), and its ratio;
- head: request written -> response headers (the server's queueing and handler time);
- the server's CPU time (utime + stime from /proc) per stream-second: the cost of a paced
  stream that is mostly waiting.

    scripts/bench-pacing.py                        # 1, 64, 512 streams, 6 s each
    scripts/bench-pacing.py --levels 64 --seconds 10 --ttft 200 --itl 20

The server binary is REFSERVER_BIN or target/release/reference-server.
"""
import argparse
import os
import pathlib
import re
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
PROMPT = " ".join(f"word{i}" for i in range(48))  # echoed back: about 50 tokens
BODY = ('{"model":"ref-chat-1","stream":true,"messages":[{"role":"user","content":"%s"}]}' % PROMPT).encode()


def percentile(values, q):
    if not values:
        return float("nan")
    values = sorted(values)
    k = (len(values) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(values) - 1)
    return values[lo] + (values[hi] - values[lo]) * (k - lo)


def client_binary():
    out = ROOT / "target" / "pacing-client"
    src = ROOT / "scripts" / "pacing-client.c"
    if not out.exists() or out.stat().st_mtime < src.stat().st_mtime:
        out.parent.mkdir(exist_ok=True)
        subprocess.run(["gcc", "-O2", "-Wall", "-o", str(out), str(src)], check=True)
    return str(out)


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--levels", type=int, nargs="+", default=[1, 64, 512])
    ap.add_argument("--ttft", type=float, default=200.0, help="configured TTFT, ms")
    ap.add_argument("--itl", type=float, default=20.0, help="configured inter-token delay, ms")
    ap.add_argument("--seconds", type=float, default=6.0, help="length of each level")
    args = ap.parse_args()

    binary = os.environ.get("REFSERVER_BIN", "target/release/reference-server")
    env = dict(os.environ, REFSERVER_TTFT=f"{args.ttft}ms", REFSERVER_INTER_TOKEN=f"{args.itl}ms",
               REFSERVER_RATE_LIMIT="off", REFSERVER_MAX_CONCURRENT_REQUESTS="4096",
               REFSERVER_INDEX_PATH=":memory:")
    proc = subprocess.Popen([binary, "--port", "0", "--quiet"], stdout=subprocess.PIPE, env=env, text=True)
    line = proc.stdout.readline().strip()
    m = re.match(r"listening on http://([\d.]+):(\d+)", line)
    if not m:
        proc.kill()
        sys.exit(f"server did not start: {line!r}")
    host, port = m.group(1), int(m.group(2))
    # One stream lasts about TTFT + 50 gaps: first requests are spread over that.
    spread_ms = args.ttft + 50 * args.itl
    client = client_binary()
    body = tempfile.NamedTemporaryFile(suffix=".json")
    body.write(BODY)
    body.flush()
    print(f"profile: ttft={args.ttft} ms, inter_token={args.itl} ms; {args.seconds} s per level")
    print(f"{'streams':>8} {'done':>6} {'ttft p50':>9} {'ttft p95':>9} {'itl p50':>8} {'itl p95':>8} "
          f"{'ttft/conf':>9} {'itl/conf':>8} {'head p50':>9} {'head p95':>9} {'srv cpu ms/stream-s':>20} "
          f"{'client cpu s':>12}")
    try:
        for n in args.levels:
            cpu0, t0 = cpu_seconds(proc.pid), time.monotonic()
            before = os.times()
            run = subprocess.run([client, host, str(port), str(n), str(args.seconds), str(spread_ms), body.name],
                                 capture_output=True, text=True, check=True)
            after = os.times()
            cpu1, t1 = cpu_seconds(proc.pid), time.monotonic()
            ttfts, gaps, heads, errors = [], [], [], 0
            for line in run.stdout.splitlines():
                if line == "E":
                    errors += 1
                    continue
                fields = [int(x) / 1e6 for x in line.split()[1:]]
                heads.append(fields[0])
                ttfts.append(fields[1])
                gaps.extend(fields[2:])
            if errors or not ttfts:
                sys.exit(f"{errors} streams had no content delta")
            client_cpu = (after.children_user - before.children_user) + (after.children_system - before.children_system)
            stream_seconds = n * (t1 - t0)
            ms = lambda v: 1000 * v
            t50, t95 = ms(percentile(ttfts, 0.5)), ms(percentile(ttfts, 0.95))
            i50, i95 = ms(percentile(gaps, 0.5)), ms(percentile(gaps, 0.95))
            h50, h95 = ms(percentile(heads, 0.5)), ms(percentile(heads, 0.95))
            print(f"{n:>8} {len(ttfts):>6} {t50:>9.1f} {t95:>9.1f} {i50:>8.2f} {i95:>8.2f} "
                  f"{t50 / args.ttft:>9.3f} {i50 / args.itl:>8.3f} {h50:>9.2f} {h95:>9.2f} "
                  f"{1000 * (cpu1 - cpu0) / stream_seconds:>20.3f} {client_cpu:>12.2f}", flush=True)
    finally:
        proc.terminate()
        proc.wait(timeout=10)


if __name__ == "__main__":
    main()
