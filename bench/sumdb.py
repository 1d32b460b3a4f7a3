#!/usr/bin/env python3
"""Checksum-database benchmark (issue "The checksum database"): the cost of verification.

Run through bench/sumdb.sh (which builds release binaries and testkit-sumdb). Side by side, on
127.0.0.1, a 300-module synthetic graph behind testkit's upstream and testkit-sumdb holding
the graph's go.sum lines, both answering after 20 ms (a nearby mirror and database):
  - cold `go mod download all` through modgate with the database off (no verification, the
    go command's GOSUMDB off) and on (modgate verifies every fill; the go command verifies
    through modgate): fresh modgate data and fresh client each run, best of three;
  - tile sharing: the database's request log after the run — lookups and tile fetches.
Prints a JSON object; with --write, also writes bench/SUMDB.json.
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run  # noqa: E402  (helpers: start, stop, start_upstream, start_modgate, go_env, GO, TESTKIT)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SUMDB = os.path.join(ROOT, "target", "testkit-sumdb")
NAME = "sum.bench.invalid"


def start_sumdb(sums, keys):
    p, m = run.start([SUMDB, "-key", keys[0], "-sums", sums, "-preload", "-latency", os.environ.get("DB_LATENCY", "20ms")], r"listening (\S+)")
    return p, "http://" + m.group(1)


def db_requests(url):
    return run.http_get(url + "/-/requests")[1].decode().split()


def cold(root, proxy, work, gosumdb):
    tmp = run.client_tmp(work)
    env = run.go_env(tmp, proxy)
    env["GOSUMDB"] = gosumdb
    env["GONOSUMDB"] = ""
    t = time.monotonic()
    subprocess.run([run.GO, "mod", "download", "all"], cwd=root, env=env, check=True, capture_output=True)
    elapsed = time.monotonic() - t
    subprocess.run(["chmod", "-R", "u+w", tmp], check=False)
    shutil.rmtree(tmp, ignore_errors=True)
    return elapsed


def trial(d, up_url, root, db, keys, on, i):
    data = os.path.join(d, f"data-{'on' if on else 'off'}-{i}")
    toml = f'[checksum_db]\ndatabase = "{keys[1]} {db}"\n' if on else '[checksum_db]\ndatabase = "off"\n'
    mg, mg_url = run.start_modgate(data, up_url, toml)
    try:
        return cold(root, mg_url, d, keys[1] if on else "off")
    finally:
        run.stop(mg)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--modules", type=int, default=300)
    ap.add_argument("--trials", type=int, default=3)
    ap.add_argument("--write", action="store_true")
    args = ap.parse_args()
    work = tempfile.mkdtemp(prefix="modgate-sumdb-bench-")
    d = os.path.join(work, "g")
    proxy, root, sums = os.path.join(d, "proxy"), os.path.join(d, "root"), os.path.join(d, "go.sum")
    os.makedirs(d)
    out = subprocess.run([run.TESTKIT, "graph", "--modules", str(args.modules), "--out", proxy, "--root", root,
                          "--walk", "--sums", sums], check=True, capture_output=True, text=True).stdout.strip()
    keys = subprocess.run([SUMDB, "-genkey", NAME], check=True, capture_output=True, text=True).stdout.split()
    up, up_url = run.start_upstream(proxy, 20)
    dbp, db = start_sumdb(sums, keys)
    off, on = [], []
    for i in range(args.trials):
        off.append(trial(d, up_url, root, db, keys, False, i))
        before = len(db_requests(db))
        on.append(trial(d, up_url, root, db, keys, True, i))
        reqs = db_requests(db)[before:]
    res = {
        "graph": out,
        "cold_off_s": min(off),
        "cold_on_s": min(on),
        "ratio": min(on) / min(off),
        "lookups": sum(1 for r in reqs if r.startswith("/lookup/")),
        "tile_fetches": sum(1 for r in reqs if r.startswith("/tile/")),
        "runs_off_s": off,
        "runs_on_s": on,
    }
    run.stop(dbp)
    run.stop(up)
    run.emit(res, "SUMDB.json", args.write)


if __name__ == "__main__":
    main()
