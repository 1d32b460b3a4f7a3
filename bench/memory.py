#!/usr/bin/env python3
"""Fill memory (issue "Cold fills that beat going direct", point 4): what cold fills of large,
many-entry zips cost in resident memory, and whether it goes back.

Run through bench/memory.sh (which builds release binaries). testkit writes toolchain-shaped
modules (12,000 small source files and one 26 MB file: ~64 MB zips) behind its upstream; a
fresh modgate for each measurement:
  - one cold fill: peak RSS above the idle process;
  - eight cold fills at once: peak RSS above idle;
  - idle afterwards: anonymous memory 3 s after the fills, against before.
With --real MODULE@VERSION, also one cold fill of that real module's zip through the go
command's own GOPROXY (a network benchmark).
Prints JSON; with --write, writes bench/MEMORY.json.
"""

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def escape(s):
    """The GOPROXY protocol's case escaping: an upper-case letter becomes '!' and its lower case."""
    return "".join("!" + c.lower() if c.isupper() else c for c in s)


def zip_path(module, version):
    return f"/{escape(module)}/@v/{escape(version)}.zip"


def fetch(url):
    with urllib.request.urlopen(url, timeout=600) as r:
        n = 0
        while True:
            b = r.read(1 << 20)
            if not b:
                return n
            n += len(b)


def measure(upstream, data, paths, env=None):
    """A fresh modgate: idle RSS, peak RSS while `paths` fill at once, anonymous memory after."""
    mg, url = run.start_modgate(data, upstream, env=env)
    time.sleep(0.5)
    idle_rss, idle_anon = run.rss_kb(mg.pid), run.rss_kb(mg.pid, "RssAnon")
    threads = [threading.Thread(target=fetch, args=(url + p,)) for p in paths]
    t = time.monotonic()
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    elapsed = time.monotonic() - t
    peak = run.rss_kb(mg.pid, "VmHWM")
    time.sleep(3)
    after_anon = run.rss_kb(mg.pid, "RssAnon")
    run.stop(mg)
    return {
        "fills": len(paths),
        "seconds": round(elapsed, 2),
        "idle_rss_mb": round(idle_rss / 1024, 1),
        "peak_rss_mb": round(peak / 1024, 1),
        "peak_over_idle_mb": round((peak - idle_rss) / 1024, 1),
        "anon_before_mb": round(idle_anon / 1024, 1),
        "anon_after_mb": round(after_anon / 1024, 1),
    }


def go_env_goproxy():
    out = subprocess.run([run.GO, "env", "GOPROXY"], capture_output=True, text=True, check=True).stdout.strip()
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--real", help="MODULE@VERSION of a large real module, fetched through go env GOPROXY")
    ap.add_argument("--write", action="store_true")
    args = ap.parse_args()
    work = tempfile.mkdtemp(prefix="modgate-memory-bench-")
    proxy = os.path.join(work, "proxy")
    mods = [f"example.com/bench/toolchain{i}" for i in range(9)]
    for m in mods:
        subprocess.run([run.TESTKIT, "big", "--module", m, "--size", str(26 << 20), "--files", "12000",
                        "--out", proxy], check=True, capture_output=True)
    up, up_url = run.start_upstream(proxy)
    res = {
        "shape": "12,000 small files + one 26 MB file per zip (~64 MB)",
        "one": measure(up_url, os.path.join(work, "d1"), [zip_path(mods[0], "v1.0.0")]),
        "eight": measure(up_url, os.path.join(work, "d8"), [zip_path(m, "v1.0.0") for m in mods[1:]]),
    }
    run.stop(up)
    if args.real:
        module, version = args.real.split("@")
        # The module is named on the command line only (results name no public host).
        res["real"] = measure(go_env_goproxy(), os.path.join(work, "dr"), [zip_path(module, version)])
    run.emit(res, "MEMORY.json", args.write)


if __name__ == "__main__":
    main()
