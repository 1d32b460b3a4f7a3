//! Direct mode at repository scale, against `git http-backend` on 127.0.0.1 and the real go
//! command's own direct mode on the same server: a long history with a large file early on
//! costs a tag's `.info` a sliver of a full fetch, and servers that hold only part of the
//! history behind some tags give through modgate exactly what they give the go command.

mod common;
use common::*;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};
use testkit::gitrepo::{long_history, Repo};
use testkit::gitserve::GitHttp;
use testkit::gorun::{parse_download_json, GoEnv};

/// A git configuration that sends `https://github.com/` to the local server (plain HTTP).
fn redirect_config(dir: &Path, server: &GitHttp) -> PathBuf {
    let p = dir.join("gitconfig");
    let text =
        format!("[url \"http://{}/\"]\n\tinsteadOf = https://github.com/\n[safe]\n\tdirectory = *\n", server.addr());
    std::fs::write(&p, text).unwrap();
    p
}

fn modgate(data: &Path, gitconfig: &Path) -> Process {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_modgate"));
    cmd.args(["serve", "--listen", "127.0.0.1:0", "--upstream", "direct", "--data-dir"])
        .arg(data)
        .env("GIT_CONFIG_GLOBAL", gitconfig)
        .env("GIT_CONFIG_NOSYSTEM", "1");
    Process::start_with(cmd)
}

fn go_env(proxy: &str, gitconfig: &Path) -> GoEnv {
    GoEnv::with_git_config(proxy, gitconfig).unwrap()
}

/// `go list -m -json module@query`: the version and time, or `None` when the go command
/// refuses; with how long it took.
fn query(g: &GoEnv, module: &str, q: &str) -> (Option<String>, Duration) {
    let start = Instant::now();
    let out = g.run(&g.work(), &["list", "-m", "-json", &format!("{module}@{q}")]);
    let took = start.elapsed();
    let seen = out.ok().map(|o| {
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        format!("{} {}", v["Version"], v["Time"])
    });
    (seen, took)
}

/// `go mod download -json module@version`: the zip and go.mod hashes, or `None`.
fn download(g: &GoEnv, module: &str, version: &str) -> Option<String> {
    let out = g.run(&g.work(), &["mod", "download", "-json", &format!("{module}@{version}")]).ok()?;
    let d = parse_download_json(&out.stdout).ok()?;
    Some(format!("{} {}", d[0].sum, d[0].go_mod_sum))
}

#[test]
fn a_tag_of_a_long_history_costs_a_sliver_of_a_full_fetch() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("srv");
    let module = "github.com/acme/big";
    let tags = long_history(&root.join("acme/big"), module, 50_000, 16 << 20).unwrap();
    let newest = tags.last().unwrap().0.clone();
    let server = GitHttp::start(&root, None).unwrap();
    let gitconfig = redirect_config(tmp.path(), &server);

    // What a full fetch of every branch and tag costs.
    let before = server.sent_bytes();
    let clone = Command::new("git")
        .args(["clone", "-q", "--mirror", &format!("http://{}/acme/big", server.addr())])
        .arg(tmp.path().join("full.git"))
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .status()
        .unwrap();
    assert!(clone.success());
    let full = server.sent_bytes() - before;

    // The first .info of the newest tag: the go command's own direct mode, then through a
    // modgate with no mirror yet. Three rounds, each from nothing; the best time of each.
    let (mut go_took, mut mg_took) = (Duration::MAX, Duration::MAX);
    let (mut go_bytes, mut mg_bytes) = (0, 0);
    let mut kept = None;
    for round in 0..3 {
        let before = server.sent_bytes();
        let direct = go_env("direct", &gitconfig);
        let (want, took) = query(&direct, module, &newest);
        go_took = go_took.min(took);
        go_bytes = server.sent_bytes() - before;
        assert!(want.is_some(), "the go command answers {newest}");

        let mg = modgate(&tmp.path().join(format!("data{round}")), &gitconfig);
        let via = go_env(&mg.url(), &gitconfig);
        let before = server.sent_bytes();
        let (got, took) = query(&via, module, &newest);
        mg_took = mg_took.min(took);
        mg_bytes = mg_bytes.max(server.sent_bytes() - before);
        assert_eq!(got, want, "modgate's answer for {newest}");
        kept = Some((mg, via, direct));
    }
    let (mg, via, direct) = kept.unwrap();
    eprintln!(
        "long history: full fetch {full} bytes; first .info of {newest}: go direct {go_bytes} bytes in {go_took:?}, \
         modgate {mg_bytes} bytes ({:.3}% of full) in {mg_took:?} ({:.2}x go direct)",
        mg_bytes as f64 * 100.0 / full as f64,
        mg_took.as_secs_f64() / go_took.as_secs_f64()
    );
    assert!(full > 16 << 20, "the full fetch carries the large file: {full}");
    assert!(mg_bytes * 10 <= full, "the first .info costs at most 10% of a full fetch: {mg_bytes} of {full}");
    assert!(mg_took <= go_took * 2, "at most twice the go command's time: {mg_took:?} vs {go_took:?}");

    // Every hash equal to the go command's, and still no full fetch.
    let older = tags[tags.len() - 2].0.clone();
    let before = server.sent_bytes();
    let mine: Vec<_> = [&tags[0].0, &newest].iter().map(|t| download(&via, module, t)).collect();
    let mine_older = query(&via, module, &older).0;
    let spent = server.sent_bytes() - before;
    let theirs: Vec<_> = [&tags[0].0, &newest].iter().map(|t| download(&direct, module, t)).collect();
    assert_eq!(mine, theirs, "hashes of {} and {newest}", tags[0].0);
    assert!(mine.iter().all(Option::is_some));
    assert_eq!(mine_older, query(&direct, module, &older).0, "{older}");
    assert!(spent * 4 <= full, "tags alone never fetched the history: {spent} of {full}");
    drop(mg);
}

/// The source of the partial servers: v1.0.0 at A, v1.0.1 at B, v1.1.0 at C, D at the tip
/// of main.
struct Source {
    repo: Repo,
    b: String,
    d: String,
}

fn source(dir: &Path) -> Source {
    let mut r = Repo::init(dir).unwrap();
    r.write("go.mod", b"module github.com/acme/part\n\ngo 1.21\n").unwrap();
    r.write("a.go", b"package part\n").unwrap();
    r.commit("A").unwrap();
    r.tag("v1.0.0").unwrap();
    r.write("b.go", b"package part\n\nconst B = 1\n").unwrap();
    let b = r.commit("B").unwrap();
    r.tag("v1.0.1").unwrap();
    r.write("c.go", b"package part\n\nconst C = 1\n").unwrap();
    r.commit("C").unwrap();
    r.tag("v1.1.0").unwrap();
    r.write("d.go", b"package part\n\nconst D = 1\n").unwrap();
    let d = r.commit("D").unwrap();
    Source { repo: r, b, d }
}

fn git(dir: &Path, args: &[&str]) {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .output()
        .unwrap();
    assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

/// A copy whose commit B (v1.0.1, behind v1.1.0) is gone: loose objects, one deleted.
fn missing_history(src: &Source, dest: &Path) {
    std::fs::create_dir_all(dest).unwrap();
    git(dest, &["init", "-q", "--bare"]);
    // Few objects: receive-pack keeps them loose.
    git(&src.repo.dir, &["push", "-q", "--mirror", &format!("file://{}", dest.display())]);
    let object = dest.join("objects").join(&src.b[..2]).join(&src.b[2..]);
    std::fs::remove_file(&object).unwrap();
}

/// A shallow copy: main two commits deep (D and C, with v1.1.0), plus v1.0.0 alone.
fn shallow_copy(src: &Source, dest: &Path) {
    let url = format!("file://{}", src.repo.dir.display());
    let parent = dest.parent().unwrap();
    let name = dest.file_name().unwrap().to_str().unwrap();
    git(parent, &["clone", "-q", "--bare", "--depth=2", &url, name]);
    git(dest, &["fetch", "-q", "--depth=1", &url, "refs/tags/v1.0.0:refs/tags/v1.0.0"]);
    assert!(dest.join("shallow").exists());
}

#[test]
fn servers_with_partial_history_answer_what_the_go_command_answers() {
    let tmp = tempfile::tempdir().unwrap();
    let src = source(&tmp.path().join("src"));
    let root = tmp.path().join("srv");
    missing_history(&src, &root.join("acme/part-missing"));
    shallow_copy(&src, &root.join("acme/part-shallow"));
    let server = GitHttp::start(&root, None).unwrap();
    let gitconfig = redirect_config(tmp.path(), &server);
    let mg = modgate(&tmp.path().join("data"), &gitconfig);

    let ts = src.repo.stamp(&src.d).unwrap();
    let d12 = &src.d[..12];
    let no_base = format!("v0.0.0-{ts}-{d12}");
    let with_base = format!("v1.1.1-0.{ts}-{d12}");
    let mut table = Vec::new();
    let mut refused = 0;
    for kind in ["missing", "shallow"] {
        let module = format!("github.com/acme/part-{kind}");
        // The go.mod names github.com/acme/part: another path, same major, as Go allows.
        let (direct, via) = (go_env("direct", &gitconfig), go_env(&mg.url(), &gitconfig));
        let mut seen: BTreeMap<String, (Option<String>, Option<String>)> = BTreeMap::new();
        for q in ["latest", "main", "v1.0.0", "v1.0.1", "v1.1.0", d12, &no_base, &with_base] {
            seen.insert(format!("query {q}"), (query(&direct, &module, q).0, query(&via, &module, q).0));
        }
        for v in ["v1.0.0", "v1.1.0", &no_base] {
            seen.insert(format!("download {v}"), (download(&direct, &module, v), download(&via, &module, v)));
        }
        for (k, (want, got)) in &seen {
            let verdict = if want == got { "agree" } else { "DIFFER" };
            table.push(format!("{kind} | {k} | {verdict} | {}", want.as_deref().unwrap_or("refused")));
        }
        for (k, (want, got)) in &seen {
            assert_eq!(got, want, "{module}: {k}");
        }
        // What the go command cannot have is a 404 with a reason.
        for (k, (want, _)) in &seen {
            let Some(q) = k.strip_prefix("query ").filter(|_| want.is_none()) else { continue };
            let escaped = gomod::path::escape_path(&module).unwrap();
            let r = get(mg.addr, &format!("/{escaped}/@v/{q}.info"), &[]);
            assert_eq!(r.status, 404, "{module}@{q}: {}", r.text());
            assert!(r.text().trim().len() > 10, "{module}@{q} says why: {:?}", r.text());
            eprintln!("{module}@{q}: 404 {}", r.text().trim());
            refused += 1;
        }
    }
    eprintln!("partial servers ({} observations):\n{}", table.len(), table.join("\n"));
    assert!(refused >= 3, "some versions really are out of reach: {refused}");
    assert!(table.iter().filter(|l| !l.ends_with("refused")).count() >= 8, "most answer");

    // A cold mirror asked for three tags at once, one of them out of reach: the fetches queue
    // (or go together), the bad tag fails alone, and the others are served.
    let mg = modgate(&tmp.path().join("data-cold"), &gitconfig);
    let addr = mg.addr;
    let asks: Vec<_> = ["v1.0.0", "v1.0.1", "v1.1.0"]
        .into_iter()
        .map(|v| std::thread::spawn(move || (v, get(addr, &format!("/github.com/acme/part-missing/@v/{v}.info"), &[]))))
        .collect();
    for ask in asks {
        let (v, r) = ask.join().unwrap();
        let want = if v == "v1.0.1" { 404 } else { 200 };
        assert_eq!(r.status, want, "{v}: {}", r.text());
    }
}

#[test]
fn a_server_that_goes_away_leaves_the_mirror_answering() {
    let tmp = tempfile::tempdir().unwrap();
    let src = source(&tmp.path().join("src"));
    let root = tmp.path().join("srv");
    std::fs::create_dir_all(root.join("acme")).unwrap();
    let url = format!("file://{}", src.repo.dir.display());
    git(&root.join("acme"), &["clone", "-q", "--bare", &url, "part"]);
    let server = GitHttp::start(&root, None).unwrap();
    let gitconfig = redirect_config(tmp.path(), &server);
    // Nothing is fresh for long: every answer goes back to the source.
    let cfg = tmp.path().join("modgate.toml");
    std::fs::write(&cfg, "upstream = \"direct\"\n[cache]\nlist_ttl = \"0s\"\nnegative_ttl = \"0s\"\n").unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_modgate"));
    cmd.args(["serve", "--listen", "127.0.0.1:0", "--config"])
        .arg(&cfg)
        .arg("--data-dir")
        .arg(tmp.path().join("data"))
        .env("GIT_CONFIG_GLOBAL", &gitconfig)
        .env("GIT_CONFIG_NOSYSTEM", "1");
    let mg = Process::start_with(cmd);
    let base = "/github.com/acme/part/@v";
    // A branch query: its pseudo-version needs the whole history.
    let first = get(mg.addr, &format!("{base}/main.info"), &[]);
    assert_eq!(first.status, 200, "{}", first.text());

    // The repository goes away.
    std::fs::rename(root.join("acme/part"), root.join("acme/gone")).unwrap();
    let seen = server.requests().len();
    // What the mirror holds is still answered: the list from the last listing of refs, a tag
    // and a commit prefix never asked for before.
    let list = get(mg.addr, &format!("{base}/list"), &[]);
    assert_eq!(list.status, 200, "{}", list.text());
    assert_eq!(list.text().split_whitespace().collect::<Vec<_>>(), ["v1.0.0", "v1.0.1", "v1.1.0"]);
    let info = get(mg.addr, &format!("{base}/v1.0.1.info"), &[]);
    assert_eq!(info.status, 200, "{}", info.text());
    let by_hash = get(mg.addr, &format!("{base}/{}.info", &src.d[..9]), &[]);
    assert_eq!(by_hash.status, 200, "{}", by_hash.text());
    assert_eq!(by_hash.text(), first.text(), "the same commit, the same version");
    assert!(server.requests().len() > seen, "the server was asked, and could not answer");
    // A version the mirror never held is a 404 that says why.
    let missing = get(mg.addr, &format!("{base}/v9.9.9.info"), &[]);
    assert_eq!(missing.status, 404, "{}", missing.text());
}
