#!/usr/bin/env python3
"""Runs the same wshub-bench scenarios against wshub and the peer servers, side by side.

Each (run, server, scenario) starts the server fresh, pinned to CPU 0, and the generator pinned
to CPU 1; every scenario runs --runs times (3) with the servers interleaved, so that drift in
the machine's load hits all of them alike. Prints medians and the ratios wshub / peer, and
writes every JSON line and the summary to --out.

  bench/compare.py                              # everything, 3 runs (about 15 minutes)
  bench/compare.py --runs 1 --scenarios fanout-1k,publish-8 --servers wshub,gorilla

Needs: a release build with wshub and wshub-bench (cmake --preset release && cmake --build
--preset release), python3, taskset, and for the peers
    apt-get install -y golang-go golang-github-gorilla-websocket-dev nodejs npm
(scripts/setup.sh --bench installs them). The peers folder is read-only: it is copied first.
All traffic stays on 127.0.0.1.
"""
import argparse
import json
import os
import re
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

# name -> wshub-bench arguments. The targets of issue 7 are stated against these.
SCENARIOS = {
    "fanout-1k": ["fanout", "--sockets", "1000", "--messages", "2000", "--size", "100"],
    "fanout-10k": ["fanout", "--sockets", "10000", "--messages", "200", "--size", "100"],
    "idle-19k": ["idle", "--sockets", "19000", "--duration", "3"],
    "publish-8": ["publish", "--publishers", "8", "--duration", "5", "--size", "100"],
    # Many publishers in flight: how far group commits carry the durable rate.
    "publish-64": ["publish", "--publishers", "64", "--duration", "5", "--size", "100"],
    "connect-10k": ["connect", "--sockets", "10000"],
    # A fixed load: 100 messages/s to 1,000 sockets (100k deliveries/s) for 10 s; what it costs.
    "steady-1k": ["fanout", "--sockets", "1000", "--messages", "1000", "--size", "100", "--rate", "100"],
    # 1 KiB of words (compressible like text) to 1,000 sockets that offer permessage-deflate: run
    # with wshub and wshub-deflate for what compression saves on the wire and costs in CPU.
    "fanout-1k-text": ["fanout", "--sockets", "1000", "--messages", "2000", "--size", "1024", "--words", "--deflate"],
    # Durable messages/s in batches of 100 (send_messages): wshub servers only, the peers have no
    # batch endpoint.
    "publish-batch-8": ["publish", "--publishers", "8", "--duration", "5", "--size", "100", "--batch", "100"],
}
# Scenarios run only when named with --scenarios.
ON_REQUEST = ("fanout-1k-text", "publish-64", "publish-batch-8")
# Scenarios that use an endpoint only wshub has: the peers are skipped there.
WSHUB_ONLY = ("publish-batch-8",)
# Scenarios whose first argument is "fanout" but whose headline is the cost of a fixed load.
STEADY = ("steady-1k",)

# What the summary shows per scenario: (JSON key, label, how runs are combined). "median" rows get
# ratios wshub / peer; "max" rows (losses, failures) show the worst run; "info" rows have no ratio.
METRICS = {
    "fanout": [("deliveries_per_s", "deliveries/s (higher is better)", "median"),
               ("latency_p50_ms", "publish→receive p50 ms", "median"),
               ("latency_p99_ms", "publish→receive p99 ms", "median"),
               ("publish_per_s", "acknowledged publishes/s", "median"),
               ("server_us_per_delivery", "server CPU µs per delivery (lower is better)", "median"),
               ("server_us_per_message", "server CPU µs per published message", "median"),
               ("wire_bytes_per_delivery", "bytes on the wire per delivery", "median"),
               ("lost", "lost, worst run", "max"), ("out_of_order", "out of order, worst run", "max"),
               ("generator_cpu", "generator CPU, share of its core", "info")],
    "idle": [("rss_per_conn_kib", "server RSS KiB per connection (lower is better)", "median"),
             ("opened", "sockets held", "info"), ("connect_failed", "failed connects, worst run", "max")],
    "publish": [("publish_per_s", "acknowledged POST/s (higher is better)", "median"),
                ("post_p50_ms", "POST p50 ms", "median"), ("post_p99_ms", "POST p99 ms", "median"),
                ("server_us_per_publish", "server CPU µs per publish (lower is better)", "median"),
                ("refused", "refused, worst run", "max")],
    "steady": [("server_cpu_share", "server busy share of one core (lower is better)", "median"),
               ("server_us_per_delivery", "server CPU µs per delivery (lower is better)", "median"),
               ("latency_p99_ms", "publish→receive p99 ms", "median"),
               ("deliveries_per_s", "deliveries/s", "info"),
               ("lost", "lost, worst run", "max"), ("out_of_order", "out of order, worst run", "max")],
    "connect": [("connects_per_s", "connects/s (higher is better)", "median"),
                ("connect_p99_ms", "connect p99 ms", "median"),
                ("connect_failed", "failed connects, worst run", "max")],
}

PEERS = ("gorilla", "node")
# Ratios between wshub configurations, shown when both are run: (numerator, denominator).
CONFIG_RATIOS = (("wshub-default", "wshub-1t-free"), ("wshub-2t", "wshub"), ("wshub-deflate", "wshub"),
                 ("wshub", "wshub-base"))


def scenario_args(name, scale):
    """The scenario's arguments with socket and message counts divided by `scale` (for trying the script)."""
    out = list(SCENARIOS[name])
    for i, a in enumerate(out[:-1]):
        if a in ("--sockets", "--messages") and scale > 1:
            out[i + 1] = str(max(1, int(out[i + 1]) // scale))
    return out


def kind_of(scenario):
    """Which METRICS rows a scenario's summary shows."""
    return "steady" if scenario in STEADY else SCENARIOS[scenario][0]


def die(msg):
    sys.exit(f"compare: {msg}")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, proc, seconds=15):
    end = time.monotonic() + seconds
    while time.monotonic() < end and proc.poll() is None:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return True
        except OSError:
            time.sleep(0.05)
    return False


class Server:
    """One fresh server process, pinned with taskset; stopped with SIGTERM (SIGKILL after 10 s)."""

    def __init__(self, name, cmd, cpus, workdir, port=None, wshub=False):
        self.name, self.port = name, port
        self.log = open(workdir / f"{name}.log", "w+")
        self.proc = subprocess.Popen(["taskset", "-c", cpus] + cmd, stdout=self.log, stderr=subprocess.STDOUT)
        if wshub:  # port 0: read the port from the "listening on" line
            end = time.monotonic() + 15
            while time.monotonic() < end and self.proc.poll() is None and self.port is None:
                self.log.seek(0)
                m = re.search(r"listening on 127\.0\.0\.1:(\d+)", self.log.read())
                if m:
                    self.port = int(m.group(1))
                else:
                    time.sleep(0.05)
        if self.port is None or not wait_port(self.port, self.proc):
            self.stop()
            self.log.seek(0)
            die(f"{name} did not start:\n{self.log.read()[-2000:]}")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


# name -> (extra wshub flags, server CPUs). Peers are pinned to CPU 0 like "wshub".
WSHUB_VARIANTS = {
    "wshub": (["--io_threads", "1"], "0"),
    "wshub-2t": (["--io_threads", "2"], "0,1"),  # 2 I/O threads on 2 cores; the generator is not pinned
    # The default configuration (io_threads 0: the default rule) and one worker, both with the
    # server and the generator free on every core: what a user gets as documented.
    "wshub-default": ([], "0,1"),
    "wshub-1t-free": (["--io_threads", "1"], "0,1"),
    "wshub-normal": (["--io_threads", "1", "--store.synchronous", "normal"], "0"),
    # publish.answer_ahead: 0 answers every publish once its frames are written; 1024 answers
    # as soon as it is stored, however many frames wait (the latency / batching trade-off).
    "wshub-ahead0": (["--io_threads", "1", "--publish.answer_ahead", "0"], "0"),
    "wshub-unpaced": (["--io_threads", "1", "--publish.answer_ahead", "1024"], "0"),
    # websocket.compression: frames of compression_min_bytes (256) or more deflated once per message.
    "wshub-deflate": (["--io_threads", "1", "--websocket.compression", "true"], "0"),
    # "wshub" as built in --base-dir: an earlier commit, for a before/after in one run.
    "wshub-base": (["--io_threads", "1"], "0"),
}


def server_command(name, args, tmp, peers):
    """(command, cpus, port or None when wshub picks and prints it)."""
    if name in WSHUB_VARIANTS:
        flags, cpus = WSHUB_VARIANTS[name]
        data = Path(tempfile.mkdtemp(prefix="data-", dir=tmp))
        binary = (args.base_dir if name == "wshub-base" else args.build_dir) / "wshub"
        cmd = [str(binary), "--listen.port", "0", "--data_dir", str(data), "--log.level", "info",
               "--http.max_connections", "30000"] + flags + args.wshub_arg
        return cmd, cpus, None
    port = free_port()
    if name == "gorilla":
        return [str(peers / "gorilla-hub" / "gorilla-hub"), "-addr", f"127.0.0.1:{port}"], "0", port
    if name == "node":
        return ["node", str(peers / "node-ws" / "server.js"), str(port)], "0", port
    die(f"unknown server {name}")


def check_tools(servers):
    missing = [t for t in ("taskset",) if not shutil.which(t)]
    if "gorilla" in servers:
        if not shutil.which("go"):
            missing.append("golang-go")
        if not Path("/usr/share/gocode/src/github.com/gorilla/websocket").is_dir():
            missing.append("golang-github-gorilla-websocket-dev")
    if "node" in servers:
        missing += [t for t in ("node", "npm") if not shutil.which(t)]
    if missing:
        die("missing " + " ".join(missing) + "; install them with scripts/setup.sh --bench\n"
            "  (apt-get install -y golang-go golang-github-gorilla-websocket-dev nodejs npm)")


def build_peers(src, tmp, servers):
    """Copies the read-only peers folder and builds what is needed there."""
    peers = tmp / "peers"
    shutil.copytree(src, peers, ignore=shutil.ignore_patterns("node_modules"))
    for p in peers.rglob("*"):
        p.chmod(p.stat().st_mode | 0o200)
    if "gorilla" in servers:
        subprocess.run(["bash", str(peers / "gorilla-hub" / "build.sh")], check=True, stdout=subprocess.DEVNULL)
    if "node" in servers:
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=peers / "node-ws", check=True,
                       stdout=subprocess.DEVNULL)
    return peers


def run_one(args, server, scenario, run, tmp, peers):
    cmd, cpus, port = server_command(server, args, tmp, peers)
    srv = Server(server, cmd, cpus, tmp, port=port, wshub=server in WSHUB_VARIANTS)
    gen_cpus = "0,1" if cpus == "0,1" else "1"
    bench = ["taskset", "-c", gen_cpus, str(args.build_dir / "wshub-bench")] + scenario_args(scenario, args.scale) + [
        "--port", str(srv.port), "--server-pid", str(srv.proc.pid), "--label", server, "--json-only", "--timeout", "150"]
    load = os.getloadavg()[0]
    try:
        out = subprocess.run(bench, capture_output=True, text=True, timeout=200)
    finally:
        srv.stop()
    lines = [l for l in out.stdout.splitlines() if l.startswith("{")]
    if not lines:
        die(f"{server} {scenario}: wshub-bench exited {out.returncode}:\n{out.stdout}{out.stderr}")
    result = json.loads(lines[-1])
    result.update(server=server, name=scenario, run=run, exit_code=out.returncode, load_before=round(load, 2))
    return result


def fmt(v):
    if v is None:
        return "–"
    if abs(v) >= 1000:
        return f"{v:,.0f}"
    if abs(v) >= 10 or v == int(v):
        return f"{v:.1f}" if v != int(v) else f"{v:.0f}"
    return f"{v:.2f}"


def summarize(results, servers, scenarios):
    lines = []
    peers = [p for p in PEERS if p in servers]
    pairs = [(a, b) for a, b in CONFIG_RATIOS if a in servers and b in servers]
    header = ["scenario", "metric"] + servers + [f"wshub ÷ {p}" for p in peers] + [f"{a} ÷ {b}" for a, b in pairs]
    lines.append("| " + " | ".join(header) + " |")
    lines.append("|" + "---|" * len(header))
    for sc in scenarios:
        for key, label, how in METRICS[kind_of(sc)]:
            vals = {}
            for s in servers:
                xs = [r[key] for r in results if r["server"] == s and r["name"] == sc and r.get(key) is not None]
                vals[s] = (max(xs) if how == "max" else statistics.median(xs)) if xs else None
            row = [sc, label] + [fmt(vals[s]) for s in servers]
            for a, b in [("wshub", p) for p in peers] + pairs:
                w, v = vals.get(a), vals.get(b)
                row.append(f"{w / v:.2f}×" if how == "median" and w is not None and v else "")
            lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build-dir", type=Path, default=REPO / "build" / "release",
                    help="folder with wshub and wshub-bench (build/release)")
    ap.add_argument("--base-dir", type=Path,
                    help="folder with the wshub binary of an earlier build, run as the server wshub-base "
                         "(the ratio wshub ÷ wshub-base is a before/after in one run)")
    ap.add_argument("--peers", type=Path, default=REPO.parent / "shared" / "peers", help="the peer servers (read-only)")
    ap.add_argument("--servers", default="wshub,gorilla,node,wshub-2t",
                    help="wshub (1 I/O thread, CPU 0), wshub-2t (2 I/O threads, CPUs 0-1), wshub-default "
                         "(default io_threads, CPUs 0-1), wshub-1t-free (1 I/O thread, CPUs 0-1), "
                         "wshub-normal (store.synchronous normal), wshub-deflate (websocket.compression), "
                         "wshub-base (wshub of --base-dir), "
                         "gorilla, node")
    ap.add_argument("--scenarios", default=",".join(s for s in SCENARIOS if s not in ON_REQUEST),
                    help="from: " + ", ".join(SCENARIOS) + " (" + ", ".join(ON_REQUEST) + " only when named)")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--out", type=Path, default=REPO / "build" / "bench-results", help="where results go")
    ap.add_argument("--wshub-arg", action="append", default=[], help="extra flag for every wshub (repeatable)")
    ap.add_argument("--scale", type=int, default=1, help="divide socket and message counts by this (try the script)")
    args = ap.parse_args()
    args.build_dir = args.build_dir.resolve()
    servers = args.servers.split(",")
    scenarios = args.scenarios.split(",")
    for s in scenarios:
        if s not in SCENARIOS:
            die(f"unknown scenario {s}")
    for b in ("wshub", "wshub-bench"):
        if not (args.build_dir / b).is_file():
            die(f"no {args.build_dir / b}: build it with cmake --preset release && cmake --build --preset release")
    if "wshub-base" in servers and not (args.base_dir and (args.base_dir / "wshub").is_file()):
        die("wshub-base needs --base-dir DIR with the wshub binary of the build to compare against")
    if os.cpu_count() < 2:
        die("needs 2 CPUs: the server is pinned to CPU 0 and the generator to CPU 1")
    check_tools(servers)

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # inherited by the servers and the generator
    args.out.mkdir(parents=True, exist_ok=True)
    results = []
    with tempfile.TemporaryDirectory(prefix="wshub-compare-") as t:
        tmp = Path(t)
        peers = build_peers(args.peers, tmp, servers) if any(s in PEERS for s in servers) else None
        started = time.strftime("%Y-%m-%d %H:%M:%S")
        load_start = os.getloadavg()
        with open(args.out / "results.jsonl", "w") as raw:
            for run in range(1, args.runs + 1):
                for sc in scenarios:
                    for s in servers:
                        if sc in WSHUB_ONLY and s in PEERS:
                            continue
                        r = run_one(args, s, sc, run, tmp, peers)
                        results.append(r)
                        raw.write(json.dumps(r) + "\n")
                        raw.flush()
                        key = METRICS[kind_of(sc)][0][0]
                        print(f"run {run} {sc:12} {s:9} {key} {fmt(r.get(key))}"
                              f"{'' if r['ok'] else '  (not clean: ' + r.get('first_error', 'see results') + ')'}",
                              flush=True)
        load_end = os.getloadavg()
    table = summarize(results, servers, scenarios)
    unclean = [f"{r['server']} {r['name']} run {r['run']}: {r.get('first_error', '')}" for r in results if not r["ok"]]
    summary = (f"{started}, {args.runs} run(s), medians; load average at start {load_start[0]:.2f}, "
               f"at end {load_end[0]:.2f}, CPUs {os.cpu_count()}\n\n{table}\n")
    if unclean:
        summary += "\nRuns that were not clean (lost, reordered, refused or failed):\n" + "\n".join(
            f"- {u}" for u in unclean) + "\n"
    (args.out / "summary.md").write_text(summary)
    print("\n" + summary)
    print(f"raw results: {args.out / 'results.jsonl'}")


if __name__ == "__main__":
    main()
