#!/usr/bin/env python3
"""Soak run (issue "Exactly Go's rules"): one modgate under mixed load for a long time, sampled.

Run through bench/soak.sh (which builds release binaries). Load, all at once:
  warm hits on a hot set; cold fills walking the rest of a synthetic graph; `list`/`@latest`
  with a short TTL (so they refill from upstream); hostile requests (traversal, bad escapes,
  garbage request lines, huge paths, odd methods); slow clients (a request one byte at a time),
  stalled readers of a big zip, and clients hanging up mid-zip; and an upstream that fails every
  N-th request in turn (500, 503, reset, truncated body, slow drip).
Every 10 s: modgate's RSS, open descriptors, threads, runtime tasks (`/-/admin/status`) and
temporary files. At the end: RSS and descriptors of the last 10 minutes against the first 10
after warm-up (within 5%), temporary files left after the load stops (0), responses 500 (0).
Writes the figures into bench/RESULTS.md between `<!-- soak -->` markers and bench/SOAK.json.
"""

import argparse
import json
import os
import random
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run as b  # noqa: E402  (the benchmark helpers: processes, ports, RSS)

STOP = threading.Event()
LOCK = threading.Lock()
STATUS = {}


def count(kind, status):
    with LOCK:
        STATUS.setdefault(kind, {}).setdefault(str(status), 0)
        STATUS[kind][str(status)] += 1


def get(url, timeout=30, headers=None):
    req = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            r.read()
            return r.status
    except urllib.error.HTTPError as e:
        return e.code
    except (OSError, urllib.error.URLError):
        return "conn-error"


def raw(port, data, read=True, timeout=10):
    """Sends raw bytes; returns the status code of the answer, or what happened."""
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout)
        s.sendall(data)
        if not read:
            s.close()
            return "sent"
        head = s.recv(4096)
        s.close()
        m = re.match(rb"HTTP/1\.[01] (\d{3})", head)
        return int(m.group(1)) if m else ("closed" if not head else "garbled")
    except OSError:
        return "conn-error"


def warm(url, paths):
    while not STOP.is_set():
        count("warm", get(url + random.choice(paths)))


def cold(url, paths, rate):
    i = 0
    while not STOP.is_set():
        count("cold", get(url + paths[i % len(paths)]))
        i += 1
        time.sleep(1 / rate)


def mutable(url, lists, rate):
    while not STOP.is_set():
        p = random.choice(lists)
        if random.random() < 0.5:
            p = p.replace("/@v/list", "/@latest")
        count("mutable", get(url + p))
        time.sleep(1 / rate)


HOSTILE = [
    b"GET /../../etc/passwd HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET /example.com/m/@v/..%2f..%2fx.info HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET /example.com/M/@v/list HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET /example.com/m/@v/v1.0.0.zip%00 HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET /example.com/m/@v/%zz.info HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET /example.com/\xff\xfe/@v/list HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET http://evil.invalid/example.com/m/@v/list HTTP/1.1\r\nHost: x\r\n\r\n",
    b"CONNECT evil.invalid:443 HTTP/1.1\r\nHost: x\r\n\r\n",
    b"DELETE /example.com/m/@v/list HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: x\r\n" + b"X-Big: " + b"a" * 100000 + b"\r\n\r\n",
    b"GET /" + b"a/" * 20000 + b"@v/list HTTP/1.1\r\nHost: x\r\n\r\n",
    b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + os.urandom(64),
    b"GARBAGE\r\n\r\n",
    b"GET /example.com/m/@v/v1.0.0.info HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
    b"GET /-/admin/status HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer mg_x_y\r\n\r\n",
    b"PUT /-/publish/example.com/m/@v/v9.9.9.zip HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello",
]


def hostile(port):
    while not STOP.is_set():
        count("hostile", raw(port, random.choice(HOSTILE)))
        time.sleep(0.02)


def slow(port, big):
    """Slow senders, stalled readers and clients that hang up mid-zip, in turn."""
    n = 0
    while not STOP.is_set():
        n += 1
        try:
            s = socket.create_connection(("127.0.0.1", port), 30)
            req = f"GET {big} HTTP/1.1\r\nHost: x\r\n\r\n".encode()
            if n % 3 == 0:
                for ch in req:  # one byte every 20 ms
                    s.sendall(bytes([ch]))
                    time.sleep(0.02)
                s.recv(65536)
                count("slow", "slow-sender")
            elif n % 3 == 1:
                s.sendall(req)
                time.sleep(5)  # stalled: the kernel buffers fill, modgate must wait, not grow
                s.recv(65536)
                count("slow", "stalled-reader")
            else:
                s.sendall(req)
                got = 0
                while got < 64 * 1024:
                    d = s.recv(16384)
                    if not d:
                        break
                    got += len(d)
                count("slow", "hung-up-mid-zip")
            s.close()
        except OSError:
            count("slow", "conn-error")


def temp_files(data):
    n = 0
    for sub in ("tmp", os.path.join("git", "tmp")):
        for _, _, files in os.walk(os.path.join(data, sub)):
            n += len(files)
    return n


def sample(pid, url, key, data):
    s = {"t": time.time(), "rss_kb": b.rss_kb(pid), "threads": b.rss_kb(pid, "Threads"),
         "fds": len(os.listdir(f"/proc/{pid}/fd")), "tmp_files": temp_files(data)}
    try:
        req = urllib.request.Request(url + "/-/admin/status", headers={"Authorization": f"Bearer {key}"})
        with urllib.request.urlopen(req, timeout=10) as r:
            s["tasks"] = json.loads(r.read()).get("tasks")
    except (OSError, ValueError):
        s["tasks"] = None
    return s


def setup(work, modules, fault_every):
    up = os.path.join(work, "up")
    subprocess.run([b.TESTKIT, "graph", "--modules", str(modules), "--seed", "11", "--out", up,
                    "--paths", os.path.join(work, "paths.txt"), "--lists", os.path.join(work, "lists.txt")],
                   check=True, stdout=subprocess.DEVNULL)
    subprocess.run([b.TESTKIT, "big", "--module", "example.com/soak/big", "--size", str(8 << 20), "--out", up],
                   check=True, stdout=subprocess.DEVNULL)
    p, m = b.start([b.TESTKIT, "upstream", "--dir", up, "--latency-ms", "2", "--fault-every", str(fault_every)],
                   r"listening (\S+)")
    keys = os.path.join(work, "keys.toml")
    out = subprocess.run([b.MODGATE, "keys", "add", "--file", keys, "--name", "ops", "--groups", "ops"],
                         check=True, capture_output=True, text=True).stdout
    key = re.search(r"mg_\S+", out).group(0)
    policy = os.path.join(work, "policy.toml")
    with open(policy, "w") as f:
        f.write('admin = ["ops"]\n\n[[rule]]\nmodules = "*"\nread = ["*", "public"]\n')
    data = os.path.join(work, "data")
    extra = (f'\n[cache]\nlist_ttl = "2s"\n\n[auth]\nkeys_file = "{keys}"\npolicy_file = "{policy}"\n'
             f'anonymous_group = "public"\naudit_log = "{os.path.join(work, "audit.log")}"\n')
    mp, url = b.start_modgate(data, "http://" + m.group(1), extra)
    return mp, url, key, data


def flat(samples, field, t0, warmup_s, window_s):
    first = [s[field] for s in samples if t0 + warmup_s <= s["t"] < t0 + warmup_s + window_s]
    last = [s[field] for s in samples if s["t"] >= samples[-1]["t"] - window_s]
    a, z = sum(first) / max(len(first), 1), sum(last) / max(len(last), 1)
    return {"first": round(a, 1), "last": round(z, 1), "change_pct": round(100 * (z - a) / a, 2) if a else None}


def write_results(result, out):
    r = result
    rows = "\n".join(
        f"| {k} | {', '.join(f'{s}: {n}' for s, n in sorted(v.items()))} |" for k, v in sorted(r["status"].items()))
    text = f"""<!-- soak -->
## Soak: {r['minutes']} minutes of mixed load ({r['date']})

`bench/soak.sh --minutes {r['minutes']}`: warm hits, cold fills ({r['modules']}-module graph), `list`/`@latest`
refilling every 2 s, hostile requests, slow senders, stalled readers and clients hanging up mid-zip (8 MiB zip),
upstream failing every {r['fault_every']}th request (500, 503, reset, truncation, slow drip). Samples every 10 s;
windows: the first {r['window_min']} minutes after {r['warmup_min']} minutes of warm-up, and the last {r['window_min']}.

| measure | first window | last window | change |
|---|---|---|---|
| RSS (MiB) | {r['rss']['first'] / 1024:.1f} | {r['rss']['last'] / 1024:.1f} | {r['rss']['change_pct']}% |
| open descriptors | {r['fds']['first']} | {r['fds']['last']} | {r['fds']['change_pct']}% |
| runtime tasks | {r['tasks']['first']} | {r['tasks']['last']} | {r['tasks']['change_pct']}% |
| threads | {r['threads']['first']} | {r['threads']['last']} | {r['threads']['change_pct']}% |

Peak RSS {r['peak_rss_kb'] / 1024:.1f} MiB; temporary files left after the load stopped: {r['tmp_left']};
responses 500: {r['status_500']}; verdict: **{r['verdict']}**.

| load | answers |
|---|---|
{rows}
<!-- /soak -->"""
    old = open(out).read() if os.path.exists(out) else ""
    if "<!-- soak -->" in old:
        old = re.sub(r"<!-- soak -->.*?<!-- /soak -->", lambda _: text, old, flags=re.S)
    else:
        old = old.rstrip("\n") + "\n\n" + text + "\n"
    with open(out, "w") as f:
        f.write(old)
    return text


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--minutes", type=float, default=30)
    ap.add_argument("--warmup", type=float, default=5, help="minutes before the first window")
    ap.add_argument("--window", type=float, default=10, help="minutes in each compared window")
    ap.add_argument("--modules", type=int, default=600)
    ap.add_argument("--fault-every", type=int, default=40)
    ap.add_argument("--out", default=os.path.join(b.ROOT, "bench", "RESULTS.md"))
    args = ap.parse_args()
    work = tempfile.mkdtemp(prefix="modgate-soak-")
    mp, url, key, data = setup(work, args.modules, args.fault_every)
    port = int(url.rsplit(":", 1)[1])
    paths = [l.strip() for l in open(os.path.join(work, "paths.txt")) if l.strip()]
    lists = [l.strip() for l in open(os.path.join(work, "lists.txt")) if l.strip()]
    random.seed(5)
    random.shuffle(paths)
    hot = paths[: len(paths) // 5]
    big = "/example.com/soak/big/@v/v1.0.0.zip"
    for p in hot:  # warm the hot set first
        get(url + p)
    rate = max(len(paths) * 0.8 / (args.minutes * 60), 2)
    threads = [threading.Thread(target=warm, args=(url, hot)) for _ in range(3)]
    threads += [threading.Thread(target=cold, args=(url, paths[len(hot):], rate)),
                threading.Thread(target=mutable, args=(url, lists, 10)),
                threading.Thread(target=hostile, args=(port,))]
    threads += [threading.Thread(target=slow, args=(port, big)) for _ in range(3)]
    for t in threads:
        t.daemon = True
        t.start()
    t0 = time.time()
    samples = []
    end = t0 + args.minutes * 60
    while time.time() < end:
        samples.append(sample(mp.pid, url, key, data))
        b.log(f"soak {int(time.time() - t0)}s: rss {samples[-1]['rss_kb'] // 1024} MiB, fds {samples[-1]['fds']}, "
              f"tasks {samples[-1]['tasks']}, tmp {samples[-1]['tmp_files']}, 500s {STATUS_500()}")
        time.sleep(max(0, 10 - (time.time() - samples[-1]["t"])))
    STOP.set()
    for t in threads:
        t.join(40)
    time.sleep(5)  # let in-flight fills finish
    left = temp_files(data)
    w, warm_s = args.window * 60, args.warmup * 60
    tasks_samples = [s for s in samples if s["tasks"] is not None]
    result = {
        "date": time.strftime("%Y-%m-%d"), "minutes": args.minutes, "warmup_min": args.warmup,
        "window_min": args.window,
        "modules": args.modules, "fault_every": args.fault_every,
        "rss": flat(samples, "rss_kb", t0, warm_s, w), "fds": flat(samples, "fds", t0, warm_s, w),
        "threads": flat(samples, "threads", t0, warm_s, w),
        "tasks": flat(tasks_samples, "tasks", t0, warm_s, w) if tasks_samples else {"first": None, "last": None, "change_pct": None},
        "peak_rss_kb": max(s["rss_kb"] for s in samples), "tmp_left": left, "status_500": STATUS_500(),
        "status": STATUS, "samples": samples,
    }
    ok = (abs(result["rss"]["change_pct"] or 0) <= 5 and abs(result["fds"]["change_pct"] or 0) <= 5
          and left == 0 and result["status_500"] == 0 and mp.poll() is None)
    result["verdict"] = "pass" if ok else "FAIL"
    with open(os.path.join(b.ROOT, "bench", "SOAK.json"), "w") as f:
        json.dump(result, f, indent=1)
    print(write_results(result, args.out))
    b.stop(mp)
    sys.exit(0 if ok else 1)


def STATUS_500():
    with LOCK:
        return sum(v.get("500", 0) for v in STATUS.values())


if __name__ == "__main__":
    main()
