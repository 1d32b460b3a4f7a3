#!/usr/bin/env python3
"""Scenario 7, large repository: direct mode on a long history with a large file early on.

A bare repository made in one `git fast-import`: a module whose first commit adds an
incompressible file that the second removes, then many small commits, a release tag every
quarter and one untagged commit at the tip of main. Served by `git daemon` on 127.0.0.1 and
reached through `url.insteadOf` by both the go command and modgate.

Measured: the bytes and time of a full mirror fetch; the go command's own direct mode for the
newest tag's `.info` (`go list -m`) and `.zip` (`go mod download`); modgate's first `.info` and
`.zip` of the same tag from an empty data dir, and the size its mirror has then; then a
pseudo-version of main's untagged tip, which needs the history (and so a full fetch).
"""

import os
import shutil
import socket
import subprocess
import tempfile
import time

import run

MODULE = "github.com/bench/long"


def make_repo(path, commits, big_bytes):
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", path], check=True)
    every = max(commits // 4, 1)
    big = os.urandom(big_bytes)
    go_mod = f"module {MODULE}\n\ngo 1.21\n".encode()
    tags = []
    p = subprocess.Popen(["git", "-C", path, "fast-import", "--quiet"], stdin=subprocess.PIPE)
    w = p.stdin
    for n in range(1, commits + 4):
        t = 1_700_000_000 + n * 60
        msg = f"change {n}\n".encode()
        w.write(f"commit refs/heads/main\nmark :{n}\ncommitter bench <bench@modgate.test> {t} +0000\n".encode())
        w.write(b"data %d\n" % len(msg) + msg)
        if n > 1:
            w.write(f"from :{n - 1}\n".encode())
        if n == 1:
            w.write(b"M 100644 inline go.mod\ndata %d\n" % len(go_mod) + go_mod + b"\n")
            w.write(b"M 100644 inline blob.bin\ndata %d\n" % len(big) + big + b"\n")
        elif n == 2:
            w.write(b"D blob.bin\n")
        else:
            body = f"package long\n\nconst N{n % 97} = {n}\n".encode()
            w.write(f"M 100644 inline f{n % 97}.go\ndata {len(body)}\n".encode() + body + b"\n")
        k = n - 2
        if 0 < k <= commits and k % every == 0:
            tag = f"v1.{len(tags)}.0"
            w.write(f"reset refs/tags/{tag}\nfrom :{n}\n\n".encode())
            tags.append(tag)
    w.close()
    if p.wait() != 0:
        raise RuntimeError("git fast-import failed")
    return tags


def du(path):
    total = 0
    for root, _, files in os.walk(path):
        for f in files:
            try:
                total += os.lstat(os.path.join(root, f)).st_size
            except OSError:
                pass
    return total


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def timed(cmd, **kw):
    t = time.monotonic()
    subprocess.run(cmd, check=True, capture_output=True, **kw)
    return time.monotonic() - t


def scenario(work, commits=200_000, big_mb=64):
    run.log(f"scenario 7, large repository: {commits:,} commits, a {big_mb} MB file at the start")
    d = os.path.join(work, "s7big")
    repos = os.path.join(d, "repos")
    repo = os.path.join(repos, "bench", "long")
    os.makedirs(os.path.dirname(repo))
    t = time.monotonic()
    tags = make_repo(repo, commits, big_mb << 20)
    made_s = time.monotonic() - t
    newest = tags[-1]
    port = free_port()
    daemon = subprocess.Popen(["git", "daemon", "--reuseaddr", "--export-all", f"--base-path={repos}",
                               "--listen=127.0.0.1", f"--port={port}", repos],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        url = f"git://127.0.0.1:{port}/bench/long"
        for _ in range(100):
            if subprocess.run(["git", "ls-remote", url], capture_output=True).returncode == 0:
                break
            time.sleep(0.05)
        gitconfig = os.path.join(d, "gitconfig")
        with open(gitconfig, "w") as f:
            f.write(f'[url "git://127.0.0.1:{port}/"]\n\tinsteadOf = https://github.com/\n')
        genv = dict(os.environ, GIT_CONFIG_GLOBAL=gitconfig, GIT_CONFIG_NOSYSTEM="1")
        full_dir = os.path.join(d, "full.git")
        full_s = timed(["git", "clone", "-q", "--mirror", url, full_dir])
        full_bytes = du(full_dir)
        shutil.rmtree(full_dir)

        tmp = run.client_tmp(work)
        env = run.go_env(tmp, "direct")
        env.update({"GIT_CONFIG_GLOBAL": gitconfig, "GIT_CONFIG_NOSYSTEM": "1"})
        with open(os.path.join(tmp, "go.mod"), "w") as f:
            f.write("module example.com/bench\n\ngo 1.21\n")
        go_info_s = timed([run.GO, "list", "-m", "-json", f"{MODULE}@{newest}"], cwd=tmp, env=env)
        go_zip_s = timed([run.GO, "mod", "download", f"{MODULE}@{newest}"], cwd=tmp, env=env)
        subprocess.run(["chmod", "-R", "u+w", tmp], check=False)
        shutil.rmtree(tmp, ignore_errors=True)

        data = os.path.join(d, "data")
        p, base = run.start_modgate(data, "direct", env=genv)
        try:
            t = time.monotonic()
            s1, _ = run.http_get(f"{base}/{MODULE}/@v/{newest}.info", 600)
            info_s = time.monotonic() - t
            mirror_bytes = du(os.path.join(data, "git"))
            t = time.monotonic()
            s2, body = run.http_get(f"{base}/{MODULE}/@v/{newest}.zip", 600)
            zip_s = time.monotonic() - t
            t = time.monotonic()
            s3, latest = run.http_get(f"{base}/{MODULE}/@v/main.info", 600)
            pseudo_s = time.monotonic() - t
            mirror_after_pseudo = du(os.path.join(data, "git"))
        finally:
            run.stop(p)
    finally:
        daemon.terminate()
        daemon.wait()
    shutil.rmtree(d, ignore_errors=True)
    return {"commits": commits, "big_mb": big_mb, "made_s": made_s, "tag": newest,
            "full_fetch_s": full_s, "full_fetch_bytes": full_bytes,
            "go_info_s": go_info_s, "go_zip_s": go_zip_s,
            "modgate_info_s": info_s, "modgate_zip_s": zip_s, "mirror_bytes_after_info": mirror_bytes,
            "modgate_pseudo_s": pseudo_s, "mirror_bytes_after_pseudo": mirror_after_pseudo,
            "pseudo": latest.decode(errors="replace").strip(),
            "ok": s1 == 200 and s2 == 200 and s3 == 200 and len(body) > 0}


def report(s):
    ri = run.ratio(s["modgate_info_s"], s["go_info_s"])
    share = s["mirror_bytes_after_info"] / max(s["full_fetch_bytes"], 1)
    return [
        f"### Large repository: {s['commits']:,} commits, a {s['big_mb']} MB file at the start", "",
        "Served by `git daemon`; sizes are of the bare repositories on disk.", "",
        "| step | seconds | bytes on disk |", "|---|---|---|",
        f"| full mirror fetch (`git clone --mirror`) | {s['full_fetch_s']:.2f} | {s['full_fetch_bytes']:,} |",
        f"| go's own direct mode, `.info` of {s['tag']} (`go list -m`) | {s['go_info_s']:.2f} | |",
        f"| go's own direct mode, `.zip` after it (`go mod download`) | {s['go_zip_s']:.2f} | |",
        f"| modgate, first `.info` of {s['tag']} (empty data dir) | {s['modgate_info_s']:.2f} "
        f"| {s['mirror_bytes_after_info']:,} |",
        f"| modgate, its `.zip` | {s['modgate_zip_s']:.2f} | |",
        f"| modgate, `main` (untagged tip: needs the history) | {s['modgate_pseudo_s']:.2f} "
        f"| {s['mirror_bytes_after_pseudo']:,} |", "",
        f"First `.info`: {ri:.2f}× go (goal ≤ 2: {run.verdict(ri <= 2)}), mirror {share * 100:.2f}% of a full "
        f"fetch (goal ≤ 10%: {run.verdict(share <= 0.10)}); `main` → `{s['pseudo']}`; answers 200: {s['ok']}.", ""]
