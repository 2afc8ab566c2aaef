#!/usr/bin/env python3
"""Heap allocations per accepted publish: how many malloc/calloc/realloc calls the server makes
for one message published over HTTP (docs/BENCHMARKS.md, "Heap allocations per accepted publish").

Starts wshub with the LD_PRELOAD shim bench/alloc_count (built next to the wshub binary), one I/O
thread, no WebSocket client, and publishes over one keep-alive connection, each publish waiting
for its answer: warm-up publishes first, then the measured ones; the shim's count after the
measured ones minus its count before them, divided by the messages they carried, is the figure.
Three ways: a form-encoded send_message, a JSON send_message, and send_messages in batches of 100.

  bench/alloc_per_publish.py                          # the debug build (build/dev)
  bench/alloc_per_publish.py --build-dir build/release --kinds json

All traffic stays on 127.0.0.1.
"""
import argparse
import http.client
import json
import os
import re
import signal
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlencode

REPO = Path(__file__).resolve().parent.parent
BODY = "x" * 100

# kind -> (path, content type, body, messages per request)
KINDS = {
    "form": ("/api/tool/send_message", "application/x-www-form-urlencoded",
             urlencode({"message": BODY, "channel": "bench"}), 1),
    "json": ("/api/tool/send_message", "application/json",
             json.dumps({"message": BODY, "channel": "bench"}), 1),
    "batch": ("/api/tool/send_messages", "application/json",
              json.dumps({"messages": [{"message": BODY, "channel": "bench"}] * 100}), 100),
}


def die(msg):
    sys.exit(f"alloc_per_publish: {msg}")


def start_server(build_dir, workdir):
    count_file = workdir / "allocations"
    shim = build_dir / "liballoc_count.so"
    wshub = build_dir / "wshub"
    for f in (shim, wshub):
        if not f.exists():
            die(f"{f} is missing: build the targets wshub and alloc_count first")
    env = dict(os.environ, LD_PRELOAD=str(shim.resolve()), ALLOC_COUNT_FILE=str(count_file))
    log = open(workdir / "wshub.log", "w+")
    proc = subprocess.Popen([str(wshub), "--listen.port", "0", "--io_threads", "1", "--data_dir",
                             str(workdir / "data"), "--log.level", "info"],
                            env=env, stdout=log, stderr=subprocess.STDOUT)
    end = time.monotonic() + 20
    while time.monotonic() < end and proc.poll() is None:
        log.seek(0)
        m = re.search(r"listening on 127\.0\.0\.1:(\d+)", log.read())
        if m:
            return proc, int(m.group(1)), count_file, log
        time.sleep(0.05)
    proc.kill()
    log.seek(0)
    die(f"wshub did not start:\n{log.read()[-2000:]}")


def allocations(count_file):
    with open(count_file, "rb") as f:
        return struct.unpack("<Q", f.read(8))[0]


def publish(conn, kind, requests):
    path, content_type, body, _ = KINDS[kind]
    for _ in range(requests):
        conn.request("POST", path, body=body, headers={"Content-Type": content_type})
        res = conn.getresponse()
        answer = res.read()
        if res.status != 200:
            die(f"{kind}: HTTP {res.status}: {answer[:200]!r}")


def measure(port, count_file, kind, warmup, messages):
    per_request = KINDS[kind][3]
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    publish(conn, kind, max(1, warmup // per_request))
    before = allocations(count_file)
    requests = max(1, messages // per_request)
    publish(conn, kind, requests)
    after = allocations(count_file)
    conn.close()
    return (after - before) / (requests * per_request)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--build-dir", default=str(REPO / "build" / "dev"))
    p.add_argument("--kinds", default="form,json,batch", help="comma separated: form, json, batch")
    p.add_argument("--warmup", type=int, default=200, help="messages published before counting")
    p.add_argument("--messages", type=int, default=2000,
                   help="messages counted (batches: 10 times as many, in requests of 100)")
    args = p.parse_args()
    kinds = [k for k in args.kinds.split(",") if k]
    for k in kinds:
        if k not in KINDS:
            die(f"unknown kind {k!r}")
    with tempfile.TemporaryDirectory(prefix="wshub-alloc-") as tmp:
        proc, port, count_file, log = start_server(Path(args.build_dir), Path(tmp))
        try:
            for kind in kinds:
                scale = 10 if KINDS[kind][3] > 1 else 1
                per = measure(port, count_file, kind, args.warmup * scale, args.messages * scale)
                print(f"{kind}: {per:.1f} allocations per publish")
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            log.close()


if __name__ == "__main__":
    main()
