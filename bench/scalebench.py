"""Scenario 11: several replicas on a shared bucket (testkit's s3s-fs server) and Redis (redis-server).

a. Warm small objects (scenario 1's 5,000-module graph): one modgate on the bucket with its local cache,
   against one on the local disk, in the same run (alternating, best of three).
b. The cold 300-module graph (scenario 3): three replicas on the bucket and Redis behind nginx (round robin),
   against one replica on the local disk, the same upstream with 20 ms latency, fresh caches each time.
"""

import os
import shutil
import subprocess

import run

LB = """
worker_processes 1;
pid @DIR@/lb.pid;
error_log @DIR@/lb-error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path @DIR@/tmp;
    proxy_temp_path @DIR@/tmp;
    fastcgi_temp_path @DIR@/tmp;
    uwsgi_temp_path @DIR@/tmp;
    scgi_temp_path @DIR@/tmp;
    # A module's requests go to one replica (its .info, .mod and .zip meet in that replica's
    # memory); any replica could answer them.
    map $uri $module {
        ~^(?<m>/.+?)/@(v|latest) $m;
        default $uri;
    }
    upstream replicas { hash $module consistent; @SERVERS@ keepalive 64; }
    server {
        listen 127.0.0.1:@PORT@;
        location / {
            proxy_pass http://replicas;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $host;
            proxy_buffering off;
        }
    }
}
"""

ACCESS, SECRET = "testkit-access", "testkit-secret-key"


def start_s3(root, bucket):
    p, m = run.start([run.TESTKIT, "s3", "--root", root, "--bucket", bucket], r"listening (\S+)")
    return p, "http://" + m.group(1)


def start_redis(work):
    os.makedirs(work, exist_ok=True)
    port = run.free_port()
    p, _ = run.start(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                      "--dir", work])
    run.wait_port(port)
    return p, f"redis://127.0.0.1:{port}"


def shared_toml(s3_url, redis_url, prefix):
    toml = (f'[storage]\nkind = "s3"\nbucket = "bench"\nprefix = "{prefix}"\nendpoint = "{s3_url}"\n'
            f'access_key_id = "{ACCESS}"\nsecret_access_key = "{SECRET}"\n')
    if redis_url:
        toml += f'[coordination]\nredis = "{redis_url}"\nprefix = "{prefix}"\n'
    return toml


def upstream_total(url):
    import json
    return sum(json.loads(run.http_get(url + "/-/stats")[1])["counts"].values())


def start_lb(work, ports):
    os.makedirs(os.path.join(work, "tmp"), exist_ok=True)
    port = run.free_port()
    servers = " ".join(f"server 127.0.0.1:{p};" for p in ports)
    conf = LB.replace("@DIR@", work).replace("@PORT@", str(port)).replace("@SERVERS@", servers)
    if os.geteuid() == 0:
        conf = "user root;\n" + conf
    path = os.path.join(work, "lb.conf")
    with open(path, "w") as f:
        f.write(conf)
    p, _ = run.start([run.NGINX, "-c", path, "-g", "daemon off;"])
    run.wait_port(port)
    return p, f"http://127.0.0.1:{port}"


def read_all(url, paths_file):
    import concurrent.futures
    import http.client
    host = url.replace("http://", "")
    paths = [p.strip() for p in open(paths_file) if p.strip()]

    def worker(chunk):
        c = http.client.HTTPConnection(host, timeout=30)
        for p in chunk:
            c.request("GET", p)
            r = c.getresponse()
            r.read()
            assert r.status == 200, (p, r.status)
        c.close()

    with concurrent.futures.ThreadPoolExecutor(16) as ex:
        list(ex.map(worker, [paths[i::16] for i in range(16)]))


def warm_small(work, duration, s3_url, s3_root):
    run.log("scenario 11a: warm small objects, bucket + local cache vs local disk")
    d = os.path.join(work, "s11a")
    proxy = os.path.join(d, "proxy")
    paths = os.path.join(d, "paths.txt")
    os.makedirs(d)
    subprocess.run([run.TESTKIT, "graph", "--modules", "5000", "--out", proxy, "--paths", paths, "--no-zips"],
                   check=True, capture_output=True)
    local = os.path.join(d, "local")
    run.copy_objects(proxy, os.path.join(local, "cache"), (".info", ".mod"))
    # The bucket holds the same objects (s3s-fs keeps a bucket as a directory).
    run.copy_objects(proxy, os.path.join(s3_root, "bench", "warm"), (".info", ".mod"))
    os.sync()
    lo, lo_url = run.start_modgate(local, "off")
    sh, sh_url = run.start_modgate(os.path.join(d, "shared"), "off", shared_toml(s3_url, None, "warm"))
    res = {"local": [], "bucket": []}
    # Warm: every object read once through each (the bucket's go to memory and the local cache).
    for url in (lo_url, sh_url):
        read_all(url, paths)
    for _ in range(3):
        for name, url in (("local", lo_url), ("bucket", sh_url)):
            res[name].append(run.wrk(url, 64, duration, paths))
    for p in (lo, sh):
        run.stop(p)
    out = {name: max(r["rps"] for r in rs) for name, rs in res.items()}
    out["p99_ms"] = {name: min(r["p99_ms"] for r in rs) for name, rs in res.items()}
    out["ratio"] = run.ratio(out["bucket"], out["local"])
    return out


def cold_replicas(work, s3_url, redis_url, rounds=2):
    run.log("scenario 11b: cold 300-module graph: three replicas on a bucket + Redis, one on them, one on local disk")
    d = os.path.join(work, "s11b")
    proxy = os.path.join(d, "proxy")
    root = os.path.join(d, "root")
    os.makedirs(d)
    subprocess.run([run.TESTKIT, "graph", "--modules", "300", "--out", proxy, "--root", root, "--walk"], check=True,
                   capture_output=True)
    up, up_url = run.start_upstream(proxy, 20)
    local, one, three, fetches = [], [], [], []
    for i in range(rounds):
        mg, mg_url = run.start_modgate(os.path.join(d, f"local-{i}"), up_url)
        local.append(run.go_download_all(root, mg_url, d))
        run.stop(mg)
        mg, mg_url = run.start_modgate(os.path.join(d, f"one-{i}"), up_url, shared_toml(s3_url, redis_url, f"one{i}"))
        one.append(run.go_download_all(root, mg_url, d))
        run.stop(mg)
        replicas = [run.start_modgate(os.path.join(d, f"r{i}-{k}"), up_url, shared_toml(s3_url, redis_url, f"three{i}"))
                    for k in range(3)]
        ports = [int(u.rsplit(":", 1)[1]) for _, u in replicas]
        lb, lb_url = start_lb(os.path.join(d, f"lb-{i}"), ports)
        before = upstream_total(up_url)
        three.append(run.go_download_all(root, lb_url, d))
        fetches.append(upstream_total(up_url) - before)
        for p in [lb] + [p for p, _ in replicas]:
            run.stop(p)
    run.stop(up)
    shutil.rmtree(d, ignore_errors=True)
    return {"local_s": min(local), "one_s": min(one), "three_s": min(three), "ratio": run.ratio(min(three), min(one)),
            "ratio_local": run.ratio(min(three), min(local)), "upstream_requests_three": fetches}


def scenario(work, duration):
    d = os.path.join(work, "s11")
    s3_root = os.path.join(d, "s3")
    os.makedirs(os.path.join(s3_root, "bench"))
    s3, s3_url = start_s3(s3_root, "bench")
    redis, redis_url = start_redis(os.path.join(d, "redis"))
    try:
        return {"warm": warm_small(work, duration, s3_url, s3_root), "cold": cold_replicas(work, s3_url, redis_url)}
    finally:
        run.stop(redis)
        run.stop(s3)


def report(s):
    w, c = s["warm"], s["cold"]
    return [
        "## 11. Several replicas: a bucket and Redis",
        "",
        "The bucket is testkit's s3s-fs server and Redis is redis-server, on the same two cores as everything else.",
        "",
        "| | shared | reference | ratio | goal |",
        "|---|---|---|---|---|",
        f"| warm small objects, 64 connections: requests/s, on the bucket + local cache vs on the local disk | "
        f"{w['bucket']:,.0f} | {w['local']:,.0f} | {w['ratio']:.2f}× | ≥ 0.9× {run.verdict(w['ratio'] >= 0.9)} |",
        f"| cold 300-module graph, `go mod download all`: three replicas behind nginx vs one replica on the same bucket "
        f"and Redis | {c['three_s']:.2f} s | {c['one_s']:.2f} s | {c['ratio']:.2f}× | ≤ 1.1× {run.verdict(c['ratio'] <= 1.1)} |",
        f"| the same three replicas vs one replica on the local disk | {c['three_s']:.2f} s | {c['local_s']:.2f} s | "
        f"{c['ratio_local']:.2f}× | ≤ 1.1× {run.verdict(c['ratio_local'] <= 1.1)} |",
        "",
        f"p99 of the warm run: bucket {w['p99_ms']['bucket']:.2f} ms, local {w['p99_ms']['local']:.2f} ms. "
        f"Upstream requests of each three-replica run: {c['upstream_requests_three']} (one replica: 953).",
        "",
    ]
