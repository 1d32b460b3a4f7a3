"""Pool overhead: scenario 3's cold graph (300 modules, 20 ms upstream latency) through one
upstream, and through a pool of three upstreams serving the same files with active health
checks on. Cold runs alternate, each with a fresh data dir; the best of each is compared."""

import os
import subprocess

import run


def scenario(work, rounds=3):
    run.log("scenario 9: pool overhead, cold graph through 1 upstream vs a pool of 3 with health checks")
    d = os.path.join(work, "s9")
    proxy, root = os.path.join(d, "proxy"), os.path.join(d, "root")
    os.makedirs(d)
    subprocess.run([run.TESTKIT, "graph", "--modules", "300", "--out", proxy, "--root", root, "--walk"], check=True,
                   capture_output=True)
    ups = [run.start_upstream(proxy, 20) for _ in range(3)]
    urls = [u for _, u in ups]
    members = ", ".join(f'{{ url = "{u}" }}' for u in urls)
    pool = (f'[[pool]]\nname = "three"\nmembers = [{members}]\n'
            '[pool.health]\npath = "/-/stats"\ninterval = "1s"\ntimeout = "1s"\n')
    single, pooled = [], []
    try:
        for i in range(rounds):
            for kind, times in (("single", single), ("pool", pooled)):
                data = os.path.join(d, f"data-{kind}-{i}")
                if kind == "single":
                    p, url = run.start_modgate(data, urls[0])
                else:
                    p, url = run.start_modgate(data, "pool:three", pool)
                times.append(run.go_download_all(root, url, d))
                run.stop(p)
    finally:
        for p, _ in ups:
            run.stop(p)
    return {"single_s": single, "pool_s": pooled, "overhead": min(pooled) / min(single) - 1}


def report(s):
    o = s["overhead"]
    return ["## 9. Pool overhead", "",
            "Scenario 3's cold graph (300 modules, 20 ms upstream latency): one upstream, then a pool of three "
            "upstreams with the same files (round robin, active checks every second); fresh data dir each run, "
            "alternating.", "",
            "| run | cold seconds (each round) | best |", "|---|---|---|",
            f"| one upstream | {', '.join(f'{t:.2f}' for t in s['single_s'])} | {min(s['single_s']):.2f} |",
            f"| pool of 3 | {', '.join(f'{t:.2f}' for t in s['pool_s'])} | {min(s['pool_s']):.2f} |", "",
            f"Overhead: {o * 100:+.1f}% (goal ≤ 5%: {run.verdict(o <= 0.05)}).", ""]
