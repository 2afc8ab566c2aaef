#!/usr/bin/env python3
"""Cross-node delivery in a wshub cluster: sockets on one node, messages published to another.

Starts a redis-server (append-only file, fsync every second) and two wshub nodes with
cache.type redis, then runs `wshub-bench fanout` three ways, --runs times each (3), fresh
processes every run, and prints medians:

  single      one node without Redis (the baseline)
  same-node   cluster: sockets and publisher on node a
  cross-node  cluster: sockets on node b, publisher on node a

  bench/cluster.py                      # 1000 sockets, 2000 messages of 100 bytes, 3 runs
  bench/cluster.py --sockets 200 --messages 200 --runs 1
  bench/cluster.py --rate 40            # latency below capacity (40,000 deliveries/s)

Needs a release build (cmake --preset release && cmake --build --preset release --target wshub
wshub-bench) and redis-server. All traffic stays on 127.0.0.1.
"""
import argparse
import json
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(predicate, seconds, what):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if predicate():
            return
        time.sleep(0.05)
    sys.exit(f"cluster.py: {what} did not happen within {seconds} s")


class Process:
    def __init__(self, args, log_path, ready):
        self.log_path = log_path
        self.log = open(log_path, "w+")
        self.proc = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT)
        wait_for(lambda: self.proc.poll() is None and re.search(ready, Path(log_path).read_text()), 15,
                 f"start of {args[0]}")

    def port(self, pattern):
        return int(re.search(pattern, Path(self.log_path).read_text()).group(1))

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


def start_wshub(build, tmp, name, redis_port):
    data = Path(tmp) / f"data-{name}"
    args = [str(build / "wshub"), "--listen.port", "0", "--data_dir", str(data), "--log.level", "info",
            "--io_threads", "1", "--http.max_connections", "30000"]
    if redis_port:
        args += ["--cache.type", "redis", "--cache.redis.port", str(redis_port), "--cluster.node_id", name]
    p = Process(args, Path(tmp) / f"{name}.log", r"listening on 127\.0\.0\.1:\d+")
    return p, p.port(r"listening on 127\.0\.0\.1:(\d+)")


def bench(build, args, sockets_port, publish_port, server_pid):
    out = subprocess.run([str(build / "wshub-bench"), "fanout", "--port", str(sockets_port), "--publish-port",
                          str(publish_port), "--server-pid", str(server_pid), "--json-only"] + args,
                         capture_output=True, text=True, timeout=600)
    lines = [l for l in out.stdout.splitlines() if l.startswith("{")]
    if not lines:
        sys.exit(f"wshub-bench exited {out.returncode}:\n{out.stdout}{out.stderr}")
    return json.loads(lines[-1])


def one_run(build, mode, args):
    with tempfile.TemporaryDirectory(prefix="wshub-cluster-bench-") as tmp:
        procs = []
        try:
            redis_port = None
            if mode != "single":
                redis_port = free_port()
                procs.append(Process(["redis-server", "--port", str(redis_port), "--bind", "127.0.0.1", "--dir", tmp,
                                      "--save", "", "--appendonly", "yes", "--appendfsync", "everysec"],
                                     Path(tmp) / "redis.log", "Ready to accept connections"))
            a, a_port = start_wshub(build, tmp, "a", redis_port)
            procs.append(a)
            sockets_port, pid = a_port, a.proc.pid
            if mode == "cross-node":
                b, b_port = start_wshub(build, tmp, "b", redis_port)
                procs.append(b)
                sockets_port, pid = b_port, b.proc.pid
            return bench(build, args, sockets_port, a_port, pid)
        finally:
            for p in reversed(procs):
                p.stop()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build-dir", default=str(REPO / "build" / "release"))
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--sockets", type=int, default=1000)
    ap.add_argument("--messages", type=int, default=2000)
    ap.add_argument("--size", type=int, default=100)
    ap.add_argument("--rate", type=float, default=0,
                    help="messages per second (0: as fast as answers come); below capacity, latency is the "
                         "path's own, above it a backlog's")
    o = ap.parse_args()
    build = Path(o.build_dir)
    # Publishes to node a are answered once a has stored them, whatever node b's sockets still have
    # to write: the drain allows for b's backlog.
    args = ["--sockets", str(o.sockets), "--messages", str(o.messages), "--size", str(o.size), "--drain", "60",
            "--rate", str(o.rate)]
    modes = ["single", "same-node", "cross-node"]
    results = {m: [] for m in modes}
    for run in range(o.runs):
        for mode in modes:  # interleaved, so drift in the machine's load hits every mode alike
            r = one_run(build, mode, args)
            results[mode].append(r)
            print(f"run {run + 1} {mode}: {r['deliveries_per_s']:,.0f} deliveries/s, p50 {r['latency_p50_ms']} ms, "
                  f"p99 {r['latency_p99_ms']} ms, lost {r['lost']}, out of order {r['out_of_order']}", flush=True)
    rate = f", {o.rate:g} messages/s" if o.rate else ", as fast as answers come"
    print(f"\nmedians of {o.runs} runs, {o.sockets} sockets, {o.messages} messages of {o.size} bytes{rate}:")
    print(f"{'mode':<12}{'deliveries/s':>14}{'publishes/s':>13}{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}{'lost':>6}{'reordered':>11}")
    for mode in modes:
        rs = results[mode]
        med = lambda k: statistics.median(r[k] for r in rs)
        print(f"{mode:<12}{med('deliveries_per_s'):>14,.0f}{med('publish_per_s'):>13,.0f}{med('latency_p50_ms'):>9.1f}"
              f"{med('latency_p99_ms'):>9.1f}{med('latency_max_ms'):>9.1f}{max(r['lost'] for r in rs):>6}"
              f"{max(r['out_of_order'] for r in rs):>11}")
        print(json.dumps({"mode": mode, "runs": rs}), file=sys.stderr)


if __name__ == "__main__":
    main()
