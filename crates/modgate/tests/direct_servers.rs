//! Direct mode over real git servers on 127.0.0.1 — `git daemon`, `git http-backend` with
//! Basic auth (token and netrc credentials) and OpenSSH with a key — and `?go-get=1`
//! discovery through an egress proxy, checked against the real go command's direct mode.

mod common;
use common::*;
use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use testkit::gitrepo::Repo;
use testkit::gitserve::{ForwardProxy, GitDaemon, GitHttp, Sshd};
use testkit::gorun::{parse_download_json, GoEnv};

fn start(cfg_text: &str, dir: &Path) -> Process {
    Process::start_config(cfg_text, dir)
}

/// A repository without go.mod (so any module path may serve it) with two tagged versions.
fn shared_repo(dir: &Path) -> Repo {
    let mut r = Repo::init(dir).unwrap();
    r.write("lib.go", b"package lib\n").unwrap();
    r.write("LICENSE", b"BSD\n").unwrap();
    r.commit("one").unwrap();
    r.tag("v1.0.0").unwrap();
    r.write("more.go", b"package lib\n\nconst More = 2\n").unwrap();
    r.commit("two").unwrap();
    r.tag("v1.1.0").unwrap();
    r
}

/// What a client sees of one module version: list, info, and the zip's hash.
fn view(addr: std::net::SocketAddr, module: &str) -> String {
    let list = get(addr, &format!("/{module}/@v/list"), &[]);
    assert_eq!(list.status, 200, "{module} list: {}", list.text());
    let info = get(addr, &format!("/{module}/@v/v1.1.0.info"), &[]);
    assert_eq!(info.status, 200, "{module} info: {}", info.text());
    let zip = get(addr, &format!("/{module}/@v/v1.1.0.zip"), &[]);
    assert_eq!(zip.status, 200, "{module} zip: {}", zip.text());
    let h1 = gomod::dirhash::hash_zip(std::io::Cursor::new(&zip.body)).unwrap();
    format!("{} | {} | {h1}", list.text().trim().replace('\n', " "), info.text().trim())
}

#[test]
fn git_daemon_http_backend_and_ssh_serve_byte_identical_modules() {
    let tmp = tempfile::tempdir().unwrap();
    let repos = tmp.path().join("repos");
    let repo = shared_repo(&repos.join("lib"));
    let daemon = GitDaemon::start(&repos).unwrap();
    let token = "tok-http-backend-777";
    let with_token = GitHttp::start(&repos, Some(("bot", token))).unwrap();
    let netrc_pass = "netrc-pass-888";
    let with_netrc = GitHttp::start(&repos, Some(("ci", netrc_pass))).unwrap();
    let sshd = Sshd::start(&tmp.path().join("sshd")).unwrap();
    let netrc = tmp.path().join("netrc");
    std::fs::write(&netrc, format!("machine 127.0.0.1\n  login ci\n  password {netrc_pass}\n")).unwrap();
    let data = tmp.path().join("data");
    let modules = ["file", "daemon", "token", "netrc", "ssh"];
    let urls = [
        repo.url(),
        daemon.url("lib"),
        format!("http://{}/lib", with_token.addr()),
        format!("http://{}/lib", with_netrc.addr()),
        sshd.url(&repo.dir),
    ];
    let mut cfg = format!("upstream = \"direct\"\ndata_dir = \"{}\"\nlog_level = \"debug\"\n", data.display());
    cfg.push_str("[direct]\ntimeout = \"20s\"\n");
    for (m, u) in modules.iter().zip(&urls) {
        cfg.push_str(&format!("[[direct.repo]]\nprefix = \"corp.example/{m}\"\nurl = \"{u}\"\n"));
    }
    // The same servers without credentials (or with the wrong key) must refuse.
    cfg.push_str(&format!(
        "[[direct.repo]]\nprefix = \"corp.example/nocreds\"\nurl = \"http://localhost:{}/lib\"\n",
        with_token.addr().port()
    ));
    cfg.push_str(&format!(
        "[[direct.repo]]\nprefix = \"corp.example/nokey\"\nurl = \"{}\"\n",
        sshd.url(&repo.dir).replace("127.0.0.1", "localhost")
    ));
    cfg.push_str(&format!(
        "[[direct.credentials]]\nhost = \"{}\"\nusername = \"bot\"\ntoken = \"{token}\"\n\
         [[direct.credentials]]\nhost = \"{}\"\nnetrc = \"{}\"\n\
         [[direct.credentials]]\nhost = \"127.0.0.1\"\nssh_key = \"{}\"\n",
        with_token.addr(),
        with_netrc.addr(),
        netrc.display(),
        sshd.client_key.display()
    ));
    let mg = start(&cfg, tmp.path());

    // Every transport gives the same list, info and zip hash as the local file:// baseline,
    // modulo the module path.
    let mut seen = BTreeMap::new();
    for m in modules {
        let module = format!("corp.example/{m}");
        seen.insert(m, view(mg.addr, &module));
    }
    let baseline = seen["file"].clone();
    assert!(baseline.starts_with("v1.0.0 v1.1.0 | {\"Version\":\"v1.1.0\""), "{baseline}");
    // The zip paths carry the module path, so hashes differ per module: compare them against
    // a zip built for the same path from file://.
    for m in modules {
        let (lists, _) = seen[m].rsplit_once(" | ").unwrap();
        let (base_lists, _) = baseline.rsplit_once(" | ").unwrap();
        assert_eq!(lists, base_lists, "{m}");
    }
    let tmp2 = tempfile::tempdir().unwrap();
    let mut cfg2 = format!("upstream = \"direct\"\ndata_dir = \"{}\"\n", tmp2.path().join("data").display());
    for m in modules {
        cfg2.push_str(&format!("[[direct.repo]]\nprefix = \"corp.example/{m}\"\nurl = \"{}\"\n", repo.url()));
    }
    let reference = start(&cfg2, tmp2.path());
    for m in modules {
        assert_eq!(seen[m], view(reference.addr, &format!("corp.example/{m}")), "{m} differs from file://");
    }
    // The servers really checked credentials.
    assert!(with_token.requests().iter().any(|r| r.ends_with(" user")), "{:?}", with_token.requests());
    assert!(with_netrc.requests().iter().any(|r| r.ends_with(" user")), "{:?}", with_netrc.requests());

    // No credentials: refused, with a reason, promptly.
    let r = get(mg.addr, "/corp.example/nocreds/@v/list", &[]);
    assert_eq!(r.status, 404, "{}", r.text());
    let r = get(mg.addr, "/corp.example/nokey/@v/list", &[]);
    assert_eq!(r.status, 404, "{}", r.text());

    wait_until(std::time::Duration::from_secs(10), "the access lines", || {
        mg.logs().iter().any(|l| l.contains("/corp.example/nokey/"))
    });
    let logs = mg.logs().join("\n");
    for secret in [token, netrc_pass] {
        assert!(!logs.contains(secret), "a secret reached the logs");
    }
}

/// A go-get page with the given go-import tags.
fn page(tags: &[&str]) -> String {
    let metas: String = tags.iter().map(|t| format!("<meta name=\"go-import\" content=\"{t}\">\n")).collect();
    format!("<!DOCTYPE html>\n<html><head>\n{metas}</head><body>nothing here</body></html>\n")
}

struct Discovery {
    _tmp: tempfile::TempDir,
    proxy: ForwardProxy,
    _git: GitHttp,
    _mods: testkit::upstream::FakeUpstream,
    modgate: Process,
}

fn discovery_fixture() -> Discovery {
    let tmp = tempfile::tempdir().unwrap();
    let repos = tmp.path().join("repos");
    // corp.example/plain: a plain module with a nested module corp.example/plain/sub.
    let mut r = Repo::init(&repos.join("plain.git")).unwrap();
    r.write("go.mod", b"module corp.example/plain\n\ngo 1.21\n").unwrap();
    r.write("plain.go", b"package plain\n").unwrap();
    r.write("LICENSE", b"Apache\n").unwrap();
    r.write("sub/go.mod", b"module corp.example/plain/sub\n\ngo 1.21\n").unwrap();
    r.write("sub/sub.go", b"package sub\n").unwrap();
    r.commit("one").unwrap();
    r.tag("v1.0.0").unwrap();
    r.tag("sub/v1.0.0").unwrap();
    r.write("plain2.go", b"package plain\n\nconst X = 2\n").unwrap();
    r.commit("two").unwrap();
    r.tag("v1.1.0").unwrap();
    // corp.example/mono: go 1.25's subdirectory field; the module lives in go/.
    let mut r = Repo::init(&repos.join("mono.git")).unwrap();
    r.write("README", b"the Go module is in go/\n").unwrap();
    r.write("go/go.mod", b"module corp.example/mono\n\ngo 1.21\n").unwrap();
    r.write("go/mono.go", b"package mono\n").unwrap();
    r.commit("one").unwrap();
    r.tag("go/v1.0.0").unwrap();
    // A bare tag elsewhere: which of the two the go command reads is what the oracle checks.
    r.write("go/later.go", b"package mono\n\nconst Later = 1\n").unwrap();
    r.commit("two").unwrap();
    r.tag("v1.5.0").unwrap();
    // corp.example/v3mod/v3: the repository root is the module path itself.
    let mut r = Repo::init(&repos.join("v3mod.git")).unwrap();
    r.write("go.mod", b"module corp.example/v3mod/v3\n\ngo 1.21\n").unwrap();
    r.write("v.go", b"package v3mod\n").unwrap();
    r.commit("one").unwrap();
    r.tag("v3.0.1").unwrap();
    // corp.example/viamod: served by a module proxy named in a `mod` tag.
    let mods_dir = tmp.path().join("modproxy");
    let m = testkit::graph::big_module("corp.example/viamod", "v1.0.0", 1000, 7);
    testkit::graph::Graph { modules: vec![m] }.write_proxy_dir(&mods_dir).unwrap();
    let mods = testkit::upstream::FakeUpstream::start(&mods_dir);

    let git = GitHttp::start(&repos, None).unwrap();
    git.set_page("corp.example/plain", &page(&["corp.example/plain git http://git.corp.example/plain.git"]));
    git.set_page("corp.example/plain/sub", &page(&["corp.example/plain git http://git.corp.example/plain.git"]));
    git.set_page("corp.example/mono", &page(&["corp.example/mono git http://git.corp.example/mono.git go"]));
    git.set_page("corp.example/v3mod/v3", &page(&["corp.example/v3mod/v3 git http://git.corp.example/v3mod.git"]));
    git.set_page(
        "corp.example/viamod",
        &page(&[
            "corp.example/viamod git http://git.corp.example/none.git",
            "corp.example/viamod mod http://modproxy.corp.example",
        ]),
    );
    // Hostile pages.
    git.set_page("corp.example/elsewhere", &page(&["github.com/evil/x git http://git.corp.example/plain.git"]));
    git.set_page(
        "corp.example/fileurl",
        &page(&[&format!("corp.example/fileurl git file://{}", repos.join("plain.git").display())]),
    );
    git.set_page("corp.example/liar/sub", &page(&["corp.example/liar git http://git.corp.example/plain.git"]));
    git.set_page("corp.example/liar", &page(&["corp.example/liar git http://git.corp.example/mono.git"]));
    git.set_page(
        "corp.example/twice",
        &page(&[
            "corp.example git http://git.corp.example/plain.git",
            "corp.example/twice git http://git.corp.example/mono.git",
        ]),
    );
    git.set_page("corp.example/noscheme", &page(&["corp.example/noscheme git git.corp.example/plain.git"]));

    let routes = HashMap::from([
        ("corp.example".to_string(), git.addr()),
        ("git.corp.example".to_string(), git.addr()),
        ("modproxy.corp.example".to_string(), mods.addr()),
    ]);
    let proxy = ForwardProxy::start(routes).unwrap();
    let cfg = format!(
        "upstream = \"direct\"\ndata_dir = \"{}\"\n[direct]\ninsecure = \"corp.example\"\ntimeout = \"20s\"\n\
         [egress]\nproxy = \"{}\"\n",
        tmp.path().join("data").display(),
        proxy.url()
    );
    let modgate = start(&cfg, tmp.path());
    Discovery { _tmp: tmp, proxy, _git: git, _mods: mods, modgate }
}

fn go_through_proxy(goproxy: &str, proxy: &str) -> GoEnv {
    let mut g = GoEnv::new(goproxy).unwrap();
    for (k, v) in [
        ("HTTP_PROXY", proxy),
        ("HTTPS_PROXY", proxy),
        ("http_proxy", proxy),
        ("https_proxy", proxy),
        ("GOINSECURE", "corp.example"),
        ("GIT_CONFIG_NOSYSTEM", "1"),
        ("GIT_CONFIG_GLOBAL", "/dev/null"),
    ] {
        g.extra.push((k.into(), v.into()));
    }
    std::fs::write(g.work().join("go.mod"), "module example.com/oracle\n\ngo 1.21\n").unwrap();
    g
}

fn observe(g: &GoEnv, module: &str, version: &str) -> Vec<String> {
    let mut seen = Vec::new();
    let out = g.run(&g.work(), &["list", "-m", "-versions", module]).unwrap();
    seen.push(String::from_utf8_lossy(&out.stdout).trim().to_string());
    for q in ["latest", version] {
        let out = g.run(&g.work(), &["list", "-m", "-json", &format!("{module}@{q}")]).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        seen.push(format!("{q}: {} {}", v["Version"], v["Time"]));
    }
    let out = g.run(&g.work(), &["mod", "download", "-json", &format!("{module}@{version}")]).unwrap();
    let d = parse_download_json(&out.stdout).unwrap();
    seen.push(format!("{} {}", d[0].sum, d[0].go_mod_sum));
    seen
}

#[test]
fn go_get_discovery_agrees_with_the_go_command() {
    let fx = discovery_fixture();
    let direct = go_through_proxy("direct", &fx.proxy.url());
    let through = go_through_proxy(&fx.modgate.url(), &fx.proxy.url());
    let cases = [
        ("corp.example/plain", "v1.0.0"),
        ("corp.example/plain/sub", "v1.0.0"),
        ("corp.example/mono", "v1.0.0"),
        ("corp.example/v3mod/v3", "v3.0.1"),
        ("corp.example/viamod", "v1.0.0"),
    ];
    let mut table = Vec::new();
    for (module, version) in cases {
        let want = observe(&direct, module, version);
        let got = observe(&through, module, version);
        table.push(format!("{module}: {}", if want == got { "agree" } else { "DIFFER" }));
        assert_eq!(got, want, "{module}: modgate vs go direct");
    }
    eprintln!("discovery oracle:\n  {}", table.join("\n  "));
    // modgate really went through the egress proxy for pages and for git.
    let asked = fx.proxy.requests();
    assert!(asked.iter().any(|r| r.contains("corp.example/plain?go-get=1")), "{asked:?}");
    assert!(asked.iter().any(|r| r.contains("git-upload-pack")), "{asked:?}");
    assert!(asked.iter().any(|r| r.contains("modproxy.corp.example/corp.example/viamod/@v/")), "{asked:?}");
}

#[test]
fn malicious_go_import_tags_are_refused() {
    let fx = discovery_fixture();
    for (module, why) in [
        ("corp.example/elsewhere", "no go-import meta tag matches"),
        ("corp.example/fileurl", "file scheme disallowed"),
        ("corp.example/liar/sub", "disagree"),
        ("corp.example/twice", "multiple go-import meta tags"),
        ("corp.example/noscheme", "no scheme"),
        ("corp.example/missing", "404"),
    ] {
        for ep in ["@v/list", "@latest", "@v/v1.0.0.info", "@v/v1.0.0.zip"] {
            let r = get(fx.modgate.addr, &format!("/{module}/{ep}"), &[]);
            assert_eq!(r.status, 404, "{module}/{ep}: {}", r.text());
            assert!(r.text().contains(why), "{module}/{ep}: {}", r.text());
        }
    }
    // The go command refuses the same tags when it goes direct.
    let direct = go_through_proxy("direct", &fx.proxy.url());
    for module in ["corp.example/elsewhere", "corp.example/fileurl", "corp.example/liar/sub", "corp.example/twice"] {
        direct.run_fail(&direct.work(), &["list", "-m", "-versions", module]).unwrap();
    }
}
