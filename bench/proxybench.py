"""Reverse proxy against nginx's proxy_pass, side by side in one run, to the same backend (an nginx
serving a small file and a 100 MB one): small responses over 64 keep-alive connections (requests/s
and p99), and 100 MB responses streamed to 4 clients (bytes/s). The two fronts run in turns, the
first of each round alternating, so that neither always runs on a machine warmed (or slowed) by the
other; each round gives a ratio of the two, and the report gives the median of those ratios with their
range. On a small machine the load generator, the backend and the front share the cores, and a
front's share of them moves by ±10 % from one run to the next: one round's ratio says little, the
median of several says more.

The scored comparison is like for like: modgate's route writes the headers the nginx front is
configured to write (`X-Forwarded-For`, `X-Forwarded-Proto`), and no `Via` (nginx sends none), though it
still adds its request id both ways. modgate with its default headers (`Via` both ways,
`X-Forwarded-Host` and `Forwarded` as well) is measured in the same rounds and reported beside."""

import statistics

import os

import run

FRONT = """
worker_processes 2;
pid @DIR@/front.pid;
error_log @DIR@/front-error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path @DIR@/tmp;
    proxy_temp_path @DIR@/tmp;
    fastcgi_temp_path @DIR@/tmp;
    uwsgi_temp_path @DIR@/tmp;
    scgi_temp_path @DIR@/tmp;
    upstream backend { server 127.0.0.1:@BACKEND@; keepalive 128; }
    server {
        listen 127.0.0.1:@PORT@;
        location / {
            proxy_pass http://backend;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $proxy_host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;
        }
    }
}
"""


# What the nginx front above writes to the backend besides the request: the same for modgate.
LIKE_NGINX = 'forwarded_headers = ["x-forwarded-for", "x-forwarded-proto"]\nvia = false\n'


def start_front(work, backend_port):
    port = run.free_port()
    conf = FRONT.replace("@DIR@", work).replace("@PORT@", str(port)).replace("@BACKEND@", str(backend_port))
    if os.geteuid() == 0:
        conf = "user root;\n" + conf
    os.makedirs(os.path.join(work, "tmp"), exist_ok=True)
    path = os.path.join(work, "front.conf")
    with open(path, "w") as f:
        f.write(conf)
    p, _ = run.start([run.NGINX, "-c", path, "-g", "daemon off;"])
    run.wait_port(port)
    return p, f"http://127.0.0.1:{port}"


def scenario(work, duration, rounds=5):
    run.log("scenario 10: reverse proxy vs nginx proxy_pass, same backend")
    d = os.path.join(work, "s10")
    root = os.path.join(d, "root")
    os.makedirs(root)
    with open(os.path.join(root, "small"), "wb") as f:
        f.write(b"x" * 200)
    with open(os.path.join(root, "big"), "wb") as f:
        f.truncate(100 << 20)
    backend, backend_url = run.start_nginx(root, os.path.join(d, "backend"))
    backend_port = int(backend_url.rsplit(":", 1)[1])
    ng, ng_url = start_front(os.path.join(d, "front"), backend_port)
    route = f'[[proxy]]\nto = "{backend_url}"\n'
    mg, mg_url = run.start_modgate(os.path.join(d, "data"), "off", route + LIKE_NGINX)
    dflt, dflt_url = run.start_modgate(os.path.join(d, "data-defaults"), "off", route)
    res = {name: {"small": [], "big": []} for name in ("modgate", "nginx", "defaults")}
    try:
        for url in (mg_url, ng_url, dflt_url):
            run.wrk(url, 64, 2, path="/small")
        for r in range(rounds):
            order = [("modgate", mg_url), ("nginx", ng_url), ("defaults", dflt_url)]
            for name, url in order[r % 3:] + order[:r % 3]:
                res[name]["small"].append(run.wrk(url, 64, duration, path="/small"))
                if name != "defaults":
                    res[name]["big"].append(run.wrk(url, 4, duration, path="/big"))
        res["modgate_peak_rss_kb"] = run.rss_kb(mg.pid, "VmHWM")
    finally:
        for p in (mg, dflt, ng, backend):
            run.stop(p)
    out = {"modgate_peak_rss_kb": res["modgate_peak_rss_kb"], "rounds": rounds}
    for name in ("modgate", "nginx"):
        small, big = res[name]["small"], res[name]["big"]
        out[name] = {
            "rps": statistics.median(r["rps"] for r in small),
            "p99_ms": statistics.median(r["p99_ms"] for r in small),
            "non2xx": sum(r["non2xx"] for r in small + big),
            "stream_bytes_per_sec": statistics.median(r["bytes_per_sec"] for r in big),
        }
    pairs = list(zip(res["modgate"]["small"], res["nginx"]["small"]))
    rps = [m["rps"] / max(n["rps"], 1e-9) for m, n in pairs]
    p99 = [m["p99_ms"] / max(n["p99_ms"], 1e-9) for m, n in pairs]
    stream = [
        m["bytes_per_sec"] / max(n["bytes_per_sec"], 1e-9) for m, n in zip(res["modgate"]["big"], res["nginx"]["big"])
    ]
    out["rps_ratio"], out["rps_ratios"] = statistics.median(rps), rps
    out["p99_ratio"], out["p99_ratios"] = statistics.median(p99), p99
    out["stream_ratio"], out["stream_ratios"] = statistics.median(stream), stream
    dsmall = res["defaults"]["small"]
    out["defaults"] = {
        "rps": statistics.median(r["rps"] for r in dsmall),
        "p99_ms": statistics.median(r["p99_ms"] for r in dsmall),
        "non2xx": sum(r["non2xx"] for r in dsmall),
        "rps_ratio": statistics.median(m["rps"] / max(n["rps"], 1e-9) for m, n in zip(dsmall, res["nginx"]["small"])),
        "p99_ratio": statistics.median(
            m["p99_ms"] / max(n["p99_ms"], 1e-9) for m, n in zip(dsmall, res["nginx"]["small"])
        ),
    }
    return out


def report(s):
    m, n = s["modgate"], s["nginx"]

    def spread(ratios):
        return f"{min(ratios):.2f}–{max(ratios):.2f}×"

    lines = [
        "## 10. Reverse proxy vs nginx `proxy_pass` (same nginx backend)",
        "",
        f"{s.get('rounds', 3)} rounds, the fronts in turns (the first rotating); medians, and the median of "
        "the rounds' ratios (their range beside it). Like for like: modgate's route writes the forwarding "
        "headers nginx's front is configured to write (`X-Forwarded-For`, `X-Forwarded-Proto`) and no `Via` "
        "(`forwarded_headers`, `via = false`); it still adds its request id both ways.",
        "",
        "| | modgate | nginx | ratio (range) | goal |",
        "|---|---|---|---|---|",
        f"| small responses, 64 connections: requests/s | {m['rps']:,.0f} | {n['rps']:,.0f} | "
        f"{s['rps_ratio']:.2f}× ({spread(s.get('rps_ratios', [s['rps_ratio']]))}) | "
        f"≥ 1.0× {run.verdict(s['rps_ratio'] >= 1.0)} |",
        f"| p99 | {m['p99_ms']:.2f} ms | {n['p99_ms']:.2f} ms | {s.get('p99_ratio', m['p99_ms'] / n['p99_ms']):.2f}× "
        f"({spread(s.get('p99_ratios', [m['p99_ms'] / n['p99_ms']]))}) | "
        f"≤ nginx {run.verdict(s.get('p99_ratio', m['p99_ms'] / n['p99_ms']) <= 1.0)} |",
        f"| 100 MB responses, 4 clients: MB/s | {m['stream_bytes_per_sec'] / 1e6:,.0f} | "
        f"{n['stream_bytes_per_sec'] / 1e6:,.0f} | {s['stream_ratio']:.2f}× "
        f"({spread(s.get('stream_ratios', [s['stream_ratio']]))}) | ≥ 0.9× {run.verdict(s['stream_ratio'] >= 0.9)} |",
    ]
    if "defaults" in s:
        dd = s["defaults"]
        lines.append(
            f"| modgate with its default headers (`Via` both ways, `X-Forwarded-Host`, `Forwarded`): requests/s, p99 | "
            f"{dd['rps']:,.0f}, {dd['p99_ms']:.2f} ms | | {dd['rps_ratio']:.2f}×, {dd['p99_ratio']:.2f}× | (not scored) |"
        )
    lines += [
        "",
        f"modgate's peak RSS over the run: {s['modgate_peak_rss_kb'] / 1024:.1f} MB; "
        f"non-2xx answers: modgate {m['non2xx']}, nginx {n['non2xx']}.",
        "",
    ]
    return lines
