#!/usr/bin/env python3
"""modgate benchmarks: every comparison runs side by side in one invocation, on 127.0.0.1.

Run through bench/run.sh (which builds release binaries and installs wrk, h2load and nginx).
Writes bench/RESULTS.md. Every process started here is stopped on exit, whatever happens.

Scenarios (see issue "Benchmarks against the limit"):
  1 warm small objects vs nginx      2 warm zips vs nginx (+ modgate peak RSS)
  3 cold and warm `go mod download all` vs direct and file://
  4 thundering herd on a cold zip    5 cache size: 1,000 vs 100,000 versions
  6 startup time and idle RSS
"""

import argparse
import atexit
import json
import os
import platform
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, "target", "release")
# MODGATE_BIN runs another build (an A/B comparison in one session).
MODGATE = os.environ.get("MODGATE_BIN") or os.path.join(BIN, "modgate")
TESTKIT = os.path.join(BIN, "testkit")
LUA = os.path.join(ROOT, "bench", "random.lua")
SEQ_LUA = os.path.join(ROOT, "bench", "sequential.lua")
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
GO = os.environ.get("MODGATE_TEST_GO") or shutil.which("go") or "go"

PROCS = []


def log(*a):
    print("[bench]", *a, file=sys.stderr, flush=True)


def cleanup():
    for p in PROCS:
        if p.poll() is None:
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except OSError:
                pass
            p.wait()


atexit.register(cleanup)
signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def start(cmd, wait_for=None, env=None, cwd=None):
    """Starts a process in its own group; optionally waits for a line matching `wait_for`."""
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, cwd=cwd,
                         start_new_session=True, text=True)
    PROCS.append(p)
    found = {}
    ready = threading.Event()

    def pump():
        for line in p.stdout:
            if wait_for and not ready.is_set():
                m = re.search(wait_for, line)
                if m:
                    found["m"] = m
                    ready.set()
        ready.set()

    threading.Thread(target=pump, daemon=True).start()
    if wait_for:
        ready.wait(60)
        if "m" not in found:
            raise RuntimeError(f"{cmd[0]} did not report readiness")
        return p, found["m"]
    return p, None


def stop(p):
    if p.poll() is None:
        os.killpg(p.pid, signal.SIGTERM)
        try:
            p.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()


def rss_kb(pid, field="VmRSS"):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def http_get(url, timeout=30):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.status, r.read()


def start_upstream(directory, latency_ms=0):
    p, m = start([TESTKIT, "upstream", "--dir", directory, "--latency-ms", str(latency_ms)], r"listening (\S+)")
    return p, "http://" + m.group(1)


def start_modgate(data, upstream, extra_toml="", env=None):
    """modgate at log level warn: like nginx's `access_log off`, no per-request log lines."""
    cfg = os.path.join(data, "modgate.toml")
    os.makedirs(data, exist_ok=True)
    port = free_port()
    # Synthetic modules are in no public checksum database: none unless the scenario names one
    # (modgate would otherwise take the go command's default).
    if "[checksum_db]" not in extra_toml:
        extra_toml += '\n[checksum_db]\ndatabase = "off"\n'
    with open(cfg, "w") as f:
        f.write(f'data_dir = "{data}"\nupstream = "{upstream}"\nlog_level = "warn"\n'
                f'listen = "127.0.0.1:{port}"\n' + extra_toml)
    p, _ = start([MODGATE, "serve", "--config", cfg], env=env)
    url = f"http://127.0.0.1:{port}"
    for _ in range(1000):
        try:
            if http_get(url + "/healthz", 1)[0] == 200:
                return p, url
        except OSError:
            time.sleep(0.01)
    raise RuntimeError("modgate did not start")


def start_nginx(root, work):
    port = free_port()
    os.makedirs(os.path.join(work, "tmp"), exist_ok=True)
    with open(os.path.join(ROOT, "bench", "nginx.conf.in")) as f:
        conf = f.read()
    conf = conf.replace("@DIR@", work).replace("@PORT@", str(port)).replace("@ROOT@", root)
    if os.geteuid() == 0:
        # Workers run as root too, so they can read files under root's temporary directories.
        conf = "user root;\n" + conf
    path = os.path.join(work, "nginx.conf")
    with open(path, "w") as f:
        f.write(conf)
    p, _ = start([NGINX, "-c", path, "-g", "daemon off;"])
    url = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return p, url
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("nginx did not start")


def wait_port(port):
    for _ in range(200):
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port}")


def parse_duration_ms(s):
    m = re.match(r"([\d.]+)(us|ms|s|m)", s)
    if not m:
        return float("nan")
    v, u = float(m.group(1)), m.group(2)
    return v / 1000 if u == "us" else v if u == "ms" else v * 1000 if u == "s" else v * 60000


def parse_size(s):
    m = re.match(r"([\d.]+)([KMGT]?B)", s)
    if not m:
        return 0.0
    mult = {"B": 1, "KB": 1 << 10, "MB": 1 << 20, "GB": 1 << 30, "TB": 1 << 40}[m.group(2)]
    return float(m.group(1)) * mult


def wrk(url, conns, duration, paths_file=None, path="/", threads=2, script=LUA):
    cmd = ["wrk", f"-t{threads}", f"-c{conns}", f"-d{duration}s", "--latency", "--timeout", "10s"]
    if paths_file:
        cmd += ["-s", script, url, "--", paths_file]
    else:
        cmd += [url + path]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    res = {"raw": out}
    m = re.search(r"Requests/sec:\s+([\d.]+)", out)
    res["rps"] = float(m.group(1)) if m else 0.0
    m = re.search(r"Transfer/sec:\s+(\S+)", out)
    res["bytes_per_sec"] = parse_size(m.group(1)) if m else 0.0
    for pct in ("50", "90", "99"):
        m = re.search(rf"^\s+{pct}(?:\.000)?%\s+(\S+)", out, re.M)
        res[f"p{pct}_ms"] = parse_duration_ms(m.group(1)) if m else float("nan")
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    res["non2xx"] = int(m.group(1)) if m else 0
    m = re.search(r"Socket errors: (.*)", out)
    res["socket_errors"] = m.group(1).strip() if m else ""
    return res


def client_tmp(work):
    """A fresh go client's home, caches and module cache: on tmpfs when the machine has one. The
    client's own disk work is the same whichever proxy it talks to, and on this machine's disk it
    was the largest source of noise: extracting tens of thousands of files right after the previous
    run deleted as many made ext4's inode allocator scan recently deleted inodes (perf:
    `recently_deleted`), and a warm run varied from 10 to 42 s."""
    shm = "/dev/shm"
    base = shm if os.path.isdir(shm) and os.access(shm, os.W_OK) else work
    return tempfile.mkdtemp(prefix="modgate-bench-client-", dir=base)


def go_env(tmp, proxy):
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": os.path.join(tmp, "home"),
        "GOPATH": os.path.join(tmp, "gopath"),
        "GOMODCACHE": os.path.join(tmp, "gopath", "pkg", "mod"),
        "GOCACHE": os.path.join(tmp, "gocache"),
        "GOENV": "off",
        "GOPROXY": proxy,
        "GOSUMDB": "off",
        "GOFLAGS": "-mod=mod",
        "GOTOOLCHAIN": "local",
        "GOTELEMETRY": "off",
        "CGO_ENABLED": "0",
    }
    for d in ("home", "gocache"):
        os.makedirs(os.path.join(tmp, d), exist_ok=True)
    return env


def go_download_all(root_dir, proxy, work):
    tmp = client_tmp(work)
    env = go_env(tmp, proxy)
    t = time.monotonic()
    subprocess.run([GO, "mod", "download", "all"], cwd=root_dir, env=env, check=True, capture_output=True)
    elapsed = time.monotonic() - t
    subprocess.run(["chmod", "-R", "u+w", tmp], check=False)
    shutil.rmtree(tmp, ignore_errors=True)
    return elapsed


def copy_objects(src, dst, exts):
    """Copies a GOPROXY tree's files with the given suffixes (the cache's layout is the same)."""
    for dirpath, _, files in os.walk(src):
        rel = os.path.relpath(dirpath, src)
        for f in files:
            if f.endswith(exts):
                os.makedirs(os.path.join(dst, rel), exist_ok=True)
                shutil.copyfile(os.path.join(dirpath, f), os.path.join(dst, rel, f))


def emit(result, name, write):
    """Prints a benchmark's JSON result; with `write`, also keeps it as bench/NAME."""
    print(json.dumps(result, indent=2))
    if write:
        with open(os.path.join(ROOT, "bench", name), "w") as f:
            json.dump(result, f, indent=2)


def cpu_seconds(pid):
    """User and system CPU seconds a process has used so far."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def ratio(a, b):
    return a / b if b else float("nan")


# ---------------------------------------------------------------------------------------------

def scenario_small(work, duration):
    log("scenario 1: warm small objects")
    d = os.path.join(work, "s1")
    proxy = os.path.join(d, "proxy")
    paths = os.path.join(d, "paths.txt")
    os.makedirs(d)
    out = subprocess.run([TESTKIT, "graph", "--modules", "5000", "--out", proxy, "--paths", paths, "--no-zips"],
                         check=True, capture_output=True, text=True).stdout.strip()
    data = os.path.join(d, "data")
    copy_objects(proxy, os.path.join(data, "cache"), (".info", ".mod"))
    os.sync()
    mg, mg_url = start_modgate(data, "off")
    ng, ng_url = start_nginx(proxy, os.path.join(d, "nginx"))
    n_paths = sum(1 for _ in open(paths))
    res = {}
    for name, url in (("modgate", mg_url), ("nginx", ng_url)):
        wrk(url, 64, 3, paths)  # warm-up
        res[name] = wrk(url, 64, duration, paths)
    res["modgate_rss_kb"] = rss_kb(mg.pid, "VmHWM")
    stop(mg)
    stop(ng)
    res["objects"] = n_paths
    res["graph"] = out
    return res


def scenario_zips(work, duration):
    log("scenario 2: warm 20 MB zip, 256 clients")
    d = os.path.join(work, "s2")
    proxy = os.path.join(d, "proxy")
    os.makedirs(d)
    subprocess.run([TESTKIT, "big", "--module", "example.com/bench/zip20", "--size", str(20 << 20), "--out", proxy],
                   check=True, capture_output=True)
    path = "/example.com/bench/zip20/@v/v1.0.0.zip"
    up, up_url = start_upstream(proxy)
    mg, mg_url = start_modgate(os.path.join(d, "data"), up_url)
    status, body = http_get(mg_url + path)
    assert status == 200 and len(body) > 20 << 20
    del body
    ng, ng_url = start_nginx(proxy, os.path.join(d, "nginx"))
    res = {}
    for name, url in (("modgate", mg_url), ("nginx", ng_url)):
        res[name] = wrk(url, 256, duration, path=path)
    res["modgate_peak_rss_kb"] = rss_kb(mg.pid, "VmHWM")
    for p in (mg, ng, up):
        stop(p)
    return res


def scenario_cold_graph(work):
    log("scenario 3: cold graph, 300 modules, 20 ms upstream latency")
    d = os.path.join(work, "s3")
    proxy = os.path.join(d, "proxy")
    root = os.path.join(d, "root")
    os.makedirs(d)
    # The main module requires only the graph's roots: go must walk the graph to find the rest.
    subprocess.run([TESTKIT, "graph", "--modules", "300", "--out", proxy, "--root", root, "--walk"], check=True,
                   capture_output=True)
    up, up_url = start_upstream(proxy, 20)
    res = {}
    res["direct_s"] = go_download_all(root, up_url, d)
    mg, mg_url = start_modgate(os.path.join(d, "data"), up_url)
    res["modgate_cold_s"] = go_download_all(root, mg_url, d)
    res["modgate_cold_cpu_s"] = cpu_seconds(mg.pid)
    # Warm runs take well under a second: best of three, alternating, to keep noise out of the
    # ratio. nginx serving the same files is the reference for what any HTTP server can reach:
    # the go command's own per-request HTTP cost is the difference between it and file://.
    ng, ng_url = start_nginx(proxy, os.path.join(d, "nginx"))
    warm, local, static, warm_cpu = [], [], [], []
    for _ in range(3):
        before = cpu_seconds(mg.pid)
        warm.append(go_download_all(root, mg_url, d))
        warm_cpu.append(cpu_seconds(mg.pid) - before)
        local.append(go_download_all(root, "file://" + proxy, d))
        static.append(go_download_all(root, ng_url, d))
    stop(ng)
    res["modgate_warm_s"], res["file_s"], res["nginx_s"] = min(warm), min(local), min(static)
    res["modgate_warm_cpu_s"] = min(warm_cpu)
    res["upstream_requests"] = sum(json.loads(http_get(up_url + "/-/stats")[1])["counts"].values())
    stop(mg)
    stop(up)
    return res


def scenario_herd(work, trials=3):
    """Three independent cold runs (fresh modgate and cache each): the first-byte delay is a single event per
    run and noisy on a 2-core machine, so every trial is reported and the median is judged."""
    runs = [herd_once(work, i) for i in range(trials)]
    res = dict(runs[0])
    deltas = sorted(r["first_byte_delta_ms"] for r in runs)
    res["first_byte_delta_ms"] = deltas[len(deltas) // 2]
    res["first_byte_deltas_ms"] = [r["first_byte_delta_ms"] for r in runs]
    res["upstream_zip_requests"] = max(r["upstream_zip_requests"] for r in runs)
    res["all_correct"] = all(r["all_correct"] for r in runs)
    res["ok"] = min(r["ok"] for r in runs)
    res["modgate_peak_rss_kb"] = max(r["modgate_peak_rss_kb"] for r in runs)
    return res


def herd_once(work, trial):
    log(f"scenario 4: 500 clients, one cold 50 MB zip (trial {trial + 1})")
    d = os.path.join(work, f"s4-{trial}")
    proxy = os.path.join(d, "proxy")
    os.makedirs(d)
    out = subprocess.run([TESTKIT, "big", "--module", "example.com/bench/herd", "--size", str(50 << 20),
                          "--out", proxy], check=True, capture_output=True, text=True).stdout
    want = re.search(r"sha256=(\w+)", out).group(1)
    path = "/example.com/bench/herd/@v/v1.0.0.zip"
    up, up_url = start_upstream(proxy)
    mg, mg_url = start_modgate(os.path.join(d, "data"), up_url)
    # The .mod is filled first so that the herd measures the zip alone.
    http_get(mg_url + "/example.com/bench/herd/@v/v1.0.0.mod")
    addr = mg_url.replace("http://", "")
    herd = json.loads(subprocess.run([TESTKIT, "herd", "--addr", addr, "--path", path, "--clients", "500"],
                                     check=True, capture_output=True, text=True).stdout)
    stats = json.loads(http_get(up_url + "/-/stats")[1])
    res = {
        "clients": herd["clients"],
        "ok": herd["ok"],
        "distinct_bodies": herd["distinct_bodies"],
        "all_correct": herd["distinct_bodies"] == 1 and want in herd["digests"] and herd["ok"] == 500,
        "upstream_zip_requests": stats["counts"].get(path, 0),
        "first_byte_delta_ms": (herd["first_body_byte_us"] - stats["first_body_byte_us"].get(path, 0)) / 1000,
        "wall_ms": herd["wall_ms"],
        "modgate_peak_rss_kb": rss_kb(mg.pid, "VmHWM"),
    }
    stop(mg)
    stop(up)
    shutil.rmtree(d, ignore_errors=True)
    return res


def scenario_cache_size(work, duration):
    log("scenario 5: .info and list latency, 1,000 vs 100,000 cached versions")
    res = {}
    for n_modules in (500, 50000):
        d = os.path.join(work, f"s5-{n_modules}")
        proxy = os.path.join(d, "proxy")
        paths = os.path.join(d, "paths.txt")
        lists = os.path.join(d, "lists.txt")
        os.makedirs(d)
        out = subprocess.run([TESTKIT, "graph", "--modules", str(n_modules), "--out", proxy, "--paths", paths,
                              "--lists", lists, "--no-zips"], check=True, capture_output=True, text=True).stdout
        versions = int(re.search(r"(\d+) versions", out).group(1))
        data = os.path.join(d, "data")
        copy_objects(proxy, os.path.join(data, "cache"), (".info", ".mod"))
        copy_objects(proxy, os.path.join(data, "meta"), ("list",))
        # Let writeback of the freshly written files finish before measuring.
        os.sync()
        infos = os.path.join(d, "infos.txt")
        with open(paths) as f, open(infos, "w") as g:
            g.writelines(line for line in f if line.rstrip().endswith(".info"))
        mg, mg_url = start_modgate(data, "off", '[cache]\nlist_ttl = "1h"\nmemory_mb = 512\n')
        # Warm-up touches every object at least once (a first read from disk runs at well over
        # 10,000 objects a second), then random load settles.
        wrk(mg_url, 64, max(3, versions // 10000), infos, script=SEQ_LUA)
        wrk(mg_url, 64, 2, infos)
        # Latency is measured below saturation (8 connections, one wrk thread): at 64 connections
        # on two shared cores the p50 is the length of the queue, i.e. throughput, which is
        # reported beside it.
        r = {}
        for kind, paths_file in (("info", infos), ("list", lists)):
            wrk(mg_url, 8, 2, paths_file, threads=1)
            r[kind] = wrk(mg_url, 8, duration, paths_file, threads=1)
            r[kind + "_saturated"] = wrk(mg_url, 64, duration, paths_file)
        stop(mg)
        res[versions] = r
        shutil.rmtree(d, ignore_errors=True)
    return res


def scenario_direct(work):
    """Direct mode on a repository with 1,000 tags and 5,000 files: modgate's first .zip vs the go
    command's own direct mode for the same version; then a second version from the same mirror."""
    log("scenario 7: direct mode, 1,000 tags and 5,000 files")
    d = os.path.join(work, "s7")
    repo = os.path.join(d, "repos", "bench", "big")
    os.makedirs(repo)
    git = lambda *a, **kw: subprocess.run(["git", "-C", repo, *a], check=True, capture_output=True, text=True, **kw)
    git("init", "-q", "-b", "main")
    git("config", "user.email", "bench@modgate.test")
    git("config", "user.name", "bench")
    with open(os.path.join(repo, "go.mod"), "w") as f:
        f.write("module github.com/bench/big\n\ngo 1.21\n")
    for i in range(5000):
        sub = os.path.join(repo, f"pkg{i // 100:02d}")
        os.makedirs(sub, exist_ok=True)
        with open(os.path.join(sub, f"f{i:04d}.go"), "w") as f:
            f.write(f"package pkg{i // 100:02d}\n\n// F{i} is generated.\nconst F{i} = {i}\n" + "// padding\n" * 20)
    git("add", "-A")
    git("commit", "-q", "-m", "files")
    tree = git("rev-parse", "HEAD^{tree}").stdout.strip()
    parent = git("rev-parse", "HEAD").stdout.strip()
    refs = []
    for i in range(1000):
        parent = git("commit-tree", tree, "-p", parent, "-m", f"r{i}").stdout.strip()
        refs.append(f"create refs/tags/v1.0.{i} {parent}\n")
    git("update-ref", "--stdin", input="".join(refs))
    git("update-ref", "refs/heads/main", parent)
    gitconfig = os.path.join(d, "gitconfig")
    with open(gitconfig, "w") as f:
        f.write(f'[url "file://{os.path.join(d, "repos")}/"]\n\tinsteadOf = https://github.com/\n')
    # The go command's own direct mode.
    tmp = tempfile.mkdtemp(dir=d)
    env = go_env(tmp, "direct")
    env.update({"GIT_CONFIG_GLOBAL": gitconfig, "GIT_CONFIG_NOSYSTEM": "1"})
    t = time.monotonic()
    subprocess.run([GO, "mod", "download", "github.com/bench/big@v1.0.999"], cwd=tmp, env=env, check=True,
                   capture_output=True)
    go_s = time.monotonic() - t
    # modgate, empty data dir, same repository.
    data = os.path.join(d, "data")
    p, url = start_modgate(data, "direct", env=dict(os.environ, GIT_CONFIG_GLOBAL=gitconfig, GIT_CONFIG_NOSYSTEM="1"))
    t = time.monotonic()
    status, body = http_get(url + "/github.com/bench/big/@v/v1.0.999.zip", 300)
    first_s = time.monotonic() - t
    # Mirrors are the directories named by 24 hex digits (beside them: known_hosts, tmp/).
    list_mirrors = lambda: sorted(n for n in os.listdir(os.path.join(data, "git"))
                                  if re.fullmatch(r"[0-9a-f]{24}", n))
    mirrors = list_mirrors()
    t = time.monotonic()
    status2, _ = http_get(url + "/github.com/bench/big/@v/v1.0.500.zip", 300)
    second_s = time.monotonic() - t
    same_mirror = list_mirrors() == mirrors
    stop(p)
    subprocess.run(["chmod", "-R", "u+w", tmp], check=False)
    import directbig
    return {"go_direct_s": go_s, "modgate_first_zip_s": first_s, "modgate_second_zip_s": second_s,
            "ok": status == 200 and status2 == 200 and len(body) > 0, "one_mirror": same_mirror and len(mirrors) == 1,
            "large": directbig.scenario(work)}


def scenario_startup(work):
    log("scenario 6: startup and idle")
    d = os.path.join(work, "s6")
    os.makedirs(d)
    cfg = os.path.join(d, "modgate.toml")
    with open(cfg, "w") as f:
        f.write(f'data_dir = "{d}/data"\nupstream = "off"\n')
    port = free_port()
    t = time.monotonic()
    p, _ = start([MODGATE, "serve", "--config", cfg, "--listen", f"127.0.0.1:{port}"])
    ready = None
    while time.monotonic() - t < 10:
        try:
            if http_get(f"http://127.0.0.1:{port}/readyz", 1)[0] == 200:
                ready = time.monotonic() - t
                break
        except OSError:
            time.sleep(0.001)
    time.sleep(1)
    idle = rss_kb(p.pid)
    stop(p)
    return {"ready_ms": ready * 1000 if ready else float("nan"), "idle_rss_kb": idle}


# ---------------------------------------------------------------------------------------------

def tool_version(cmd):
    try:
        r = subprocess.run(cmd, capture_output=True, text=True)
        return (r.stdout + r.stderr).strip().splitlines()[0]
    except (OSError, IndexError):
        return "not found"


def verdict(ok):
    return "**met**" if ok else "**missed**"


def report(r, args):
    mem_kb = int(open("/proc/meminfo").readline().split()[1])
    lines = ["# modgate benchmark results", "",
             f"Run {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} by `bench/run.sh` "
             f"(duration {args.duration}s per measured load). Every comparison ran side by side in this one run.", "",
             "## Machine", "",
             f"- {os.cpu_count()} cores, {mem_kb // 1024} MiB memory, {platform.platform()}",
             f"- {tool_version(['rustc', '-V'])}; {tool_version([GO, 'version'])}",
             f"- {tool_version(['wrk', '-v'])}; {tool_version([NGINX, '-v'])}", ""]
    if "small" in r:
        s = r["small"]
        m, n = s["modgate"], s["nginx"]
        rr, pr = ratio(m["rps"], n["rps"]), ratio(m["p99_ms"], n["p99_ms"])
        lines += ["## 1. Warm small objects", "",
                  f"Random `.info`/`.mod` GETs over {s['objects']} cached objects ({s['graph']}), 64 keep-alive "
                  "connections, 2 wrk threads.", "",
                  "| | requests/s | p50 ms | p99 ms | non-2xx |", "|---|---|---|---|---|",
                  f"| modgate | {m['rps']:.0f} | {m['p50_ms']:.2f} | {m['p99_ms']:.2f} | {m['non2xx']} |",
                  f"| nginx | {n['rps']:.0f} | {n['p50_ms']:.2f} | {n['p99_ms']:.2f} | {n['non2xx']} |", "",
                  f"Ratio: throughput {rr:.2f}× nginx (goal ≥ 1.0: {verdict(rr >= 1.0)}), "
                  f"p99 {pr:.2f}× nginx (goal ≤ 1.5: {verdict(pr <= 1.5)}). modgate peak RSS "
                  f"{s['modgate_rss_kb'] // 1024} MiB.", ""]
    if "zips" in r:
        s = r["zips"]
        m, n = s["modgate"], s["nginx"]
        rr = ratio(m["bytes_per_sec"], n["bytes_per_sec"])
        rss = s["modgate_peak_rss_kb"] / 1024
        lines += ["## 2. Warm zips", "", "A cached 20 MB zip, 256 concurrent clients.", "",
                  "| | MiB/s | requests/s | p99 ms |", "|---|---|---|---|",
                  f"| modgate | {m['bytes_per_sec'] / (1 << 20):.0f} | {m['rps']:.1f} | {m['p99_ms']:.0f} |",
                  f"| nginx | {n['bytes_per_sec'] / (1 << 20):.0f} | {n['rps']:.1f} | {n['p99_ms']:.0f} |", "",
                  f"Ratio: {rr:.2f}× nginx throughput (goal ≥ 0.9: {verdict(rr >= 0.9)}); modgate peak RSS "
                  f"{rss:.0f} MiB (goal ≤ 100: {verdict(rss <= 100)}).", ""]
    if "cold" in r:
        s = r["cold"]
        cr, wr = ratio(s["modgate_cold_s"], s["direct_s"]), ratio(s["modgate_warm_s"], s["file_s"])
        lines += ["## 3. Cold graph", "",
                  "`go mod download all` of a 300-module synthetic graph, fresh client cache each time, testkit "
                  "upstream with 20 ms latency per request.", "",
                  "| run | seconds |", "|---|---|",
                  f"| go → upstream (direct) | {s['direct_s']:.2f} |",
                  f"| go → modgate (empty cache) → upstream | {s['modgate_cold_s']:.2f} |",
                  f"| go → modgate (filled), best of 3 | {s['modgate_warm_s']:.2f} |",
                  f"| go → file:// GOPROXY, best of 3 | {s['file_s']:.2f} |",
                  f"| go → nginx on the same files (reference), best of 3 | {s['nginx_s']:.2f} |", "",
                  f"Cold: {cr:.2f}× direct (goal ≤ 0.3: {verdict(cr <= 0.3)}), modgate CPU "
                  f"{s.get('modgate_cold_cpu_s', float('nan')):.2f} s. Warm: {wr:.2f}× file:// "
                  f"(goal ≤ 1.05: {verdict(wr <= 1.05)}); nginx reaches {ratio(s['nginx_s'], s['file_s']):.2f}× "
                  f"file://, modgate is {ratio(s['modgate_warm_s'], s['nginx_s']):.2f}× nginx, modgate CPU per warm "
                  f"download {s.get('modgate_warm_cpu_s', float('nan')):.2f} s. "
                  f"Upstream requests in all: {s['upstream_requests']}.", ""]
    if "herd" in r:
        s = r["herd"]
        lines += ["## 4. Thundering herd", "", "500 concurrent GETs for one cold 50 MB zip; counts and RSS from the first run, the first-byte "
                  "delay from every run.", "",
                  "| measure | value |", "|---|---|",
                  f"| upstream zip requests | {s['upstream_zip_requests']} |",
                  f"| clients answered 200 | {s['ok']} / {s['clients']} |",
                  f"| all bodies identical and correct | {s['all_correct']} |",
                  f"| first client's first body byte after the upstream's first byte, median of "
                  f"{len(s['first_byte_deltas_ms'])} cold runs | {s['first_byte_delta_ms']:.1f} ms "
                  f"(runs: {', '.join(f'{x:.1f}' for x in s['first_byte_deltas_ms'])}) |",
                  f"| wall time for all 500 | {s['wall_ms']} ms |",
                  f"| modgate peak RSS | {s['modgate_peak_rss_kb'] // 1024} MiB |", "",
                  f"One upstream fetch: {verdict(s['upstream_zip_requests'] == 1)}; identical correct bytes: "
                  f"{verdict(s['all_correct'])}; first byte within 10 ms: "
                  f"{verdict(s['first_byte_delta_ms'] <= 10)}.", ""]
    if "size" in r:
        s = r["size"]
        (small_n, small), (big_n, big) = sorted(s.items())
        lines += ["## 5. Cache size", "",
                  "Random `.info` and random `list` GETs from memory and `meta/`. Latency at 8 connections (one wrk "
                  "thread, below saturation); throughput at 64 connections (two wrk threads, saturated).", "",
                  "| cached versions | .info p50 ms | .info p99 ms | .info req/s at 64 | list p50 ms | list p99 ms "
                  "| list req/s at 64 |",
                  "|---|---|---|---|---|---|---|"]
        for n, v in sorted(s.items()):
            i, l_ = v["info"], v["list"]
            lines.append(f"| {n} | {i['p50_ms']:.3f} | {i['p99_ms']:.2f} | {v['info_saturated']['rps']:.0f} | "
                         f"{l_['p50_ms']:.3f} | {l_['p99_ms']:.2f} | {v['list_saturated']['rps']:.0f} |")
        ri = ratio(big["info"]["p50_ms"], small["info"]["p50_ms"])
        rl = ratio(big["list"]["p50_ms"], small["list"]["p50_ms"])
        ti = ratio(small["info_saturated"]["rps"], big["info_saturated"]["rps"])
        tl = ratio(small["list_saturated"]["rps"], big["list_saturated"]["rps"])
        lines += ["", f"p50 ratio {big_n} vs {small_n}: .info {ri:.2f}×, list {rl:.2f}× "
                  f"(goal ≤ 1.2: {verdict(ri <= 1.2 and rl <= 1.2)}). Saturated throughput, {small_n} over {big_n}: "
                  f".info {ti:.2f}×, list {tl:.2f}× (reported).", ""]
    if "direct" in r:
        s = r["direct"]
        rr = ratio(s["modgate_first_zip_s"], s["go_direct_s"])
        lines += ["## 7. Direct mode", "",
                  "A git repository with 1,000 tags and 5,000 files, reached through `url.insteadOf`.", "",
                  "| run | seconds |", "|---|---|",
                  f"| go's own direct mode, `go mod download m@v1.0.999` | {s['go_direct_s']:.2f} |",
                  f"| modgate, first `.zip` (mirror created) | {s['modgate_first_zip_s']:.2f} |",
                  f"| modgate, a second version's `.zip` | {s['modgate_second_zip_s']:.2f} |", "",
                  f"First zip: {rr:.2f}× go (goal ≤ 2: {verdict(rr <= 2)}); second version from the same mirror, "
                  f"no re-clone: {verdict(s['one_mirror'])}; answers 200: {s['ok']}.", ""]
        if "large" in s:
            import directbig
            lines += directbig.report(s["large"])
    if "real" in r:
        lines += real_report(r["real"])
    if "pool" in r:
        import poolbench
        lines += poolbench.report(r["pool"])
    if "proxy" in r:
        import proxybench
        lines += proxybench.report(r["proxy"])
    if "scale" in r:
        import scalebench
        lines += scalebench.report(r["scale"])
    if "startup" in r:
        s = r["startup"]
        lines += ["## 6. Startup and idle", "",
                  f"exec → `/readyz` 200: {s['ready_ms']:.1f} ms; idle RSS: {s['idle_rss_kb'] / 1024:.1f} MiB.", ""]
    return "\n".join(lines)


def real_report(s):
    """Scenario 8: real module graphs through the machine's Go module mirror (see realgraph.py)."""
    lines = ["## 8. Real module graphs", ""]
    if "skipped" in s:
        return lines + [f"Skipped: {s['skipped']}.", ""]
    lines += ["A fresh client's `go mod download` of real projects (each project's go.mod, fetched from the mirror, is "
              "the main module): straight to the machine's Go module mirror, then cold through modgate (fresh cache), "
              "then warm through modgate and through nginx serving modgate's cache files, best of two each. "
              "Fetched/asked: `.mod`/`.info`/`.zip` objects modgate fetched over those the client asked for.", "",
              "| project | direct s | cold s | cold / direct | cold CPU s | fetched / asked | peak RSS MiB "
              "| warm s | nginx s | warm / nginx | warm CPU s |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for p in s["projects"]:
        m = p["modgate"]
        lines.append(f"| {p['project']} | {p['direct_s']:.2f} | {m['seconds']:.2f} | {p['ratio']:.2f} | {m['cpu_s']:.2f} "
                     f"| {p['fetched_over_asked']:.2f} | {m['peak_rss_mb']:.0f} | {m['warm_s']:.2f} | {m['nginx_s']:.2f} "
                     f"| {m['warm_vs_nginx']:.2f} | {m['warm_cpu_s']:.2f} |")
    worst = max(p["ratio"] for p in s["projects"])
    cpu = max(p["modgate"]["cpu_s"] for p in s["projects"])
    fetched = max(p["fetched_over_asked"] for p in s["projects"])
    warm = max(p["modgate"]["warm_vs_nginx"] for p in s["projects"])
    wcpu = max(p["modgate"]["warm_cpu_s"] for p in s["projects"])
    lines += ["", f"Worst project: cold {worst:.2f}× direct (goal ≤ 0.9: {verdict(worst <= 0.9)}), cold CPU {cpu:.2f} s "
              f"(goal ≤ 5: {verdict(cpu <= 5)}), fetched {fetched:.2f}× asked (goal ≤ 1.3: {verdict(fetched <= 1.3)}); "
              f"warm {warm:.2f}× nginx (goal ≤ 1.05: {verdict(warm <= 1.05)}), warm CPU {wcpu:.2f} s "
              f"(goal ≤ 0.3: {verdict(wcpu <= 0.3)}). The mirror's own times vary by tens of percent between runs.", ""]
    return lines


def scenario_real(work):
    log("scenario 8: real module graphs through the module mirror")
    import realgraph  # noqa: E402 (it imports this module)
    try:
        return realgraph.scenario(realgraph.PROJECTS, 1, work)
    except OSError as e:
        return {"skipped": f"the module mirror is not reachable ({e})"}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--duration", type=int, default=10)
    ap.add_argument("--only", default="small,zips,cold,herd,size,direct,real,pool,proxy,scale,startup")
    ap.add_argument("--out", default=os.path.join(ROOT, "bench", "RESULTS.md"))
    args = ap.parse_args()
    only = set(args.only.split(","))
    work = tempfile.mkdtemp(prefix="modgate-bench-")
    os.chmod(work, 0o755)  # nginx workers run as an unprivileged user
    results = {}
    try:
        if "small" in only:
            results["small"] = scenario_small(work, args.duration)
        if "zips" in only:
            results["zips"] = scenario_zips(work, args.duration)
        if "cold" in only:
            results["cold"] = scenario_cold_graph(work)
        if "herd" in only:
            results["herd"] = scenario_herd(work)
        if "size" in only:
            results["size"] = scenario_cache_size(work, args.duration)
        if "direct" in only:
            results["direct"] = scenario_direct(work)
        if "real" in only:
            results["real"] = scenario_real(work)
        if "pool" in only:
            import poolbench
            results["pool"] = poolbench.scenario(work)
        if "proxy" in only:
            import proxybench
            results["proxy"] = proxybench.scenario(work, args.duration)
        if "scale" in only:
            import scalebench
            results["scale"] = scalebench.scenario(work, args.duration)
        if "startup" in only:
            results["startup"] = scenario_startup(work)
    finally:
        cleanup()
        subprocess.run(["chmod", "-R", "u+w", work], check=False)
        shutil.rmtree(work, ignore_errors=True)
    text = report(results, args)
    # The soak run (bench/soak.py) keeps its own section of the same file.
    old = open(args.out).read() if os.path.exists(args.out) else ""
    soak = re.search(r"<!-- soak -->.*?<!-- /soak -->", old, flags=re.S)
    with open(args.out, "w") as f:
        f.write(text + "\n" + ("\n" + soak.group(0) + "\n" if soak else ""))
    with open(args.out.replace(".md", ".json"), "w") as f:
        json.dump(results, f, indent=1, default=str)
    print(text)


if __name__ == "__main__":
    main()
