#!/usr/bin/env python3
"""Real module graphs (issue "Cold fills that beat going direct", point 6): a fresh client's
`go mod download` of real projects' requirements, cold through modgate against going straight
to the machine's Go module mirror (the first entry of `go env GOPROXY`). A network benchmark,
never a CI test.

Projects are named on the command line as MODULE@VERSION (a project's go.mod is itself served
by the mirror: it becomes the main module here). For each: direct (median of --trials), then
modgate cold (fresh data each trial), with modgate's CPU seconds, peak RSS, the client's
requests (modgate's access log) and the objects modgate fetched (what its cache holds after).
Prints JSON; with --write, writes bench/REALGRAPH.json.
"""

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def escape(s):
    return "".join("!" + c.lower() if c.isupper() else c for c in s)


def mirror():
    proxies = subprocess.run([run.GO, "env", "GOPROXY"], capture_output=True, text=True, check=True).stdout.strip()
    return re.split(r"[,|]", proxies)[0]


def main_module(work, mirror_url, project):
    module, version = project.split("@")
    with urllib.request.urlopen(f"{mirror_url}/{escape(module)}/@v/{escape(version)}.mod", timeout=60) as r:
        go_mod = r.read()
    d = os.path.join(work, escape(module).replace("/", "_"))
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "go.mod"), "wb") as f:
        f.write(go_mod)
    return d


def download(root, proxy, work):
    tmp = run.client_tmp(work)
    env = run.go_env(tmp, proxy)
    t = time.monotonic()
    out = subprocess.run([run.GO, "mod", "download"], cwd=root, env=env, capture_output=True, text=True)
    elapsed = time.monotonic() - t
    subprocess.run(["chmod", "-R", "u+w", tmp], check=False)
    shutil.rmtree(tmp, ignore_errors=True)
    if out.returncode != 0:
        raise RuntimeError(out.stderr[-2000:])
    return elapsed


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cached_objects(data):
    counts = {}
    for _, _, files in os.walk(os.path.join(data, "cache")):
        for f in files:
            ext = f.rsplit(".", 1)[-1] if "." in f else "other"
            counts[ext] = counts.get(ext, 0) + 1
    return counts


def through_modgate(root, upstream, work, i, extra_toml):
    data = os.path.join(work, f"data-{os.path.basename(root)}-{i}")
    os.makedirs(data, exist_ok=True)
    port = run.free_port()
    cfg = os.path.join(data, "modgate.toml")
    with open(cfg, "w") as f:
        f.write(f'data_dir = "{data}"\nupstream = "{upstream}"\nlisten = "127.0.0.1:{port}"\nlog_level = "info"\n'
                f'[checksum_db]\ndatabase = "off"\n{extra_toml}')
    log = open(os.path.join(data, "log"), "w")
    p = subprocess.Popen([run.MODGATE, "serve", "--config", cfg], stdout=log, stderr=log, start_new_session=True)
    run.PROCS.append(p)
    url = f"http://127.0.0.1:{port}"
    for _ in range(500):
        try:
            if run.http_get(url + "/healthz", 1)[0] == 200:
                break
        except OSError:
            time.sleep(0.01)
    elapsed = download(root, url, work)
    time.sleep(1)  # what prefetch still does shows in CPU, not in the client's time
    cold_cpu = cpu_seconds(p.pid)
    cold_log_end = os.path.getsize(os.path.join(data, "log"))
    res = {"seconds": round(elapsed, 2), "cpu_s": round(cold_cpu, 2),
           "peak_rss_mb": round(run.rss_kb(p.pid, "VmHWM") / 1024, 1)}
    # Warm: fresh clients against the filled cache, and nginx serving the same files (the cache's
    # layout is a GOPROXY tree) to the same client — best of two each, alternating.
    ng, ng_url = run.start_nginx(os.path.join(data, "cache"), os.path.join(data, "nginx"))
    warm, static, warm_cpu = [], [], []
    for _ in range(2):
        before = cpu_seconds(p.pid)
        warm.append(download(root, url, work))
        warm_cpu.append(cpu_seconds(p.pid) - before)
        static.append(download(root, ng_url, work))
    run.stop(ng)
    res.update({"warm_s": round(min(warm), 2), "nginx_s": round(min(static), 2),
                "warm_cpu_s": round(min(warm_cpu), 2), "warm_vs_nginx": round(min(warm) / min(static), 2)})
    run.stop(p)
    log.close()
    with open(os.path.join(data, "log")) as f:
        asked = {}
        # What the client asked for in the cold run only.
        for line in f.read(cold_log_end).splitlines():
            m = re.search(r"path=\S+?(\.mod|\.info|\.zip|/list|@latest) status", line)
            if m:
                asked[m.group(1).lstrip("./")] = asked.get(m.group(1).lstrip("./"), 0) + 1
    res["client_asked"] = asked
    res["fetched_objects"] = cached_objects(data)
    return res


# Three shapes: a web framework, a cloud storage SDK, a monitoring server (a Kubernetes-style
# graph of hundreds of modules).
PROJECTS = ["github.com/gin-gonic/gin@v1.12.0", "cloud.google.com/go/storage@v1.70.0",
            "github.com/prometheus/prometheus@v0.316.0"]


def fetched_over_asked(res):
    asked = sum(res["client_asked"].get(k, 0) for k in ("mod", "info", "zip"))
    fetched = sum(res["fetched_objects"].get(k, 0) for k in ("mod", "info", "zip"))
    return fetched / asked if asked else float("nan")


def scenario(projects, trials, work, extra_toml=""):
    """Each project: direct (median of `trials`), modgate cold (best of `trials`) and warm."""
    up = mirror()
    out = []
    for project in projects:
        root = main_module(work, up, project)
        direct, via = [], []
        for i in range(trials):
            direct.append(download(root, up, work))
            via.append(through_modgate(root, up, work, i, extra_toml))
        best = min(via, key=lambda r: r["seconds"])
        out.append({"project": project, "direct_s": round(statistics.median(direct), 2), "modgate": best,
                    "ratio": round(best["seconds"] / statistics.median(direct), 2),
                    "fetched_over_asked": round(fetched_over_asked(best), 2)})
    return {"projects": out}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("projects", nargs="*", help="MODULE@VERSION of real projects (default: three of different shapes)")
    ap.add_argument("--trials", type=int, default=2)
    ap.add_argument("--extra-toml", default="", help="more modgate configuration (e.g. '[prefetch]\\nenabled = false')")
    ap.add_argument("--write", action="store_true")
    args = ap.parse_args()
    work = tempfile.mkdtemp(prefix="modgate-realgraph-")
    os.chmod(work, 0o755)  # nginx workers may run as an unprivileged user
    try:
        res = scenario(args.projects or PROJECTS, args.trials, work, args.extra_toml.replace("\\n", "\n"))
    finally:
        run.cleanup()
        subprocess.run(["chmod", "-R", "u+w", work], check=False)
        shutil.rmtree(work, ignore_errors=True)
    run.emit(res, "REALGRAPH.json", args.write)


if __name__ == "__main__":
    main()
