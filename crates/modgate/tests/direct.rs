//! Direct mode against the real go command's direct mode: both read the same git repositories
//! (redirected from github.com to local paths by a git `insteadOf`), and must agree on version
//! lists, query resolution (Version and Time) and go.sum hashes.

mod common;
use common::*;
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use testkit::gitrepo::{insteadof_config, Repo};
use testkit::gorun::{parse_download_json, GoEnv};

struct Case {
    module: &'static str,
    queries: Vec<String>,
    versions_to_download: Vec<&'static str>,
}

fn build_repos(root: &Path) -> Vec<Case> {
    let mut cases = Vec::new();

    // Plain module: tags, an untagged commit on main, a pre-release and a non-canonical tag.
    let mut r = Repo::init(&root.join("acme/plain")).unwrap();
    r.write("go.mod", b"module github.com/acme/plain\n\ngo 1.21\n").unwrap();
    r.write("plain.go", b"package plain\n").unwrap();
    r.write("LICENSE", b"MIT\n").unwrap();
    r.commit("one").unwrap();
    r.tag("v1.0.0").unwrap();
    r.write("more.go", b"package plain\n\nconst More = 1\n").unwrap();
    r.commit("two").unwrap();
    r.tag("v1.1.0").unwrap();
    r.tag("v1.2").unwrap();
    r.write("pre.go", b"package plain\n\nconst Pre = 1\n").unwrap();
    r.commit("three").unwrap();
    r.tag("v1.2.0-rc.1").unwrap();
    r.write("later.go", b"package plain\n\nconst Later = 1\n").unwrap();
    let head = r.commit("four").unwrap();
    // Pseudo-versions asked for by name: right ones (with the nearest base, an older base the
    // commit still descends from, no base) and wrong ones (time, base on the commit itself, a
    // v1 without a base, a base it does not descend from).
    let (h12, ts) = (&head[..12], r.stamp("HEAD").unwrap());
    let first = r.git(&["rev-parse", "v1.0.0"]).unwrap();
    let (f12, fts) = (&first[..12], r.stamp("v1.0.0").unwrap());
    let right = leak(format!("v1.2.0-rc.1.0.{ts}-{h12}"));
    let older_base = leak(format!("v1.1.1-0.{ts}-{h12}"));
    let no_base = leak(format!("v0.0.0-{ts}-{h12}"));
    let mut queries = vec!["latest".into(), "main".into(), head[..12].to_string(), "v1.1.0".into(), "v1.2".into()];
    queries.extend([right, older_base, no_base].map(String::from));
    queries.extend([
        format!("v0.0.0-20000101000000-{h12}"),
        format!("v1.0.1-0.{fts}-{f12}"),
        format!("v1.0.0-{ts}-{h12}"),
        format!("v1.3.1-0.{ts}-{h12}"),
        format!("v0.0.0-{ts}-{}", &head[..10]),
    ]);
    cases.push(Case {
        module: "github.com/acme/plain",
        queries,
        versions_to_download: vec!["v1.0.0", "v1.1.0", "v1.2.0-rc.1", right, no_base],
    });

    // No go.mod, v2+ tags: +incompatible.
    let mut r = Repo::init(&root.join("acme/legacy")).unwrap();
    r.write("legacy.go", b"package legacy\n").unwrap();
    r.commit("one").unwrap();
    r.tag("v1.0.0").unwrap();
    r.write("v2.go", b"package legacy\n\nconst V2 = 2\n").unwrap();
    r.commit("two").unwrap();
    r.tag("v2.0.0").unwrap();
    r.write("v21.go", b"package legacy\n\nconst V21 = 21\n").unwrap();
    r.commit("three").unwrap();
    r.tag("v2.1.0").unwrap();
    cases.push(Case {
        module: "github.com/acme/legacy",
        queries: vec!["latest".into(), "main".into(), "v2.1.0+incompatible".into()],
        versions_to_download: vec!["v1.0.0", "v2.0.0+incompatible"],
    });

    // A module in a subdirectory with dir/vX tags, getting the repository's root LICENSE.
    let mut r = Repo::init(&root.join("acme/mono")).unwrap();
    r.write("LICENSE", b"Apache-2.0\n").unwrap();
    r.write("go.mod", b"module github.com/acme/mono\n\ngo 1.21\n").unwrap();
    r.write("sub/go.mod", b"module github.com/acme/mono/sub\n\ngo 1.21\n").unwrap();
    r.write("sub/sub.go", b"package sub\n").unwrap();
    r.commit("one").unwrap();
    r.tag("sub/v1.0.0").unwrap();
    r.tag("v0.5.0").unwrap();
    cases.push(Case {
        module: "github.com/acme/mono/sub",
        queries: vec!["latest".into(), "v1.0.0".into()],
        versions_to_download: vec!["v1.0.0"],
    });

    // A major-version subdirectory: v2/go.mod.
    let mut r = Repo::init(&root.join("acme/major")).unwrap();
    r.write("go.mod", b"module github.com/acme/major\n\ngo 1.21\n").unwrap();
    r.write("major.go", b"package major\n").unwrap();
    r.write("v2/go.mod", b"module github.com/acme/major/v2\n\ngo 1.21\n").unwrap();
    r.write("v2/major.go", b"package major\n\nconst V = 2\n").unwrap();
    r.commit("one").unwrap();
    r.tag("v1.0.0").unwrap();
    r.tag("v2.0.0").unwrap();
    cases.push(Case {
        module: "github.com/acme/major/v2",
        queries: vec!["latest".into(), "v2.0.0".into()],
        versions_to_download: vec!["v2.0.0"],
    });

    // Uppercase owner: !-escaping on the way to modgate, the real case in the repository URL.
    let mut r = Repo::init(&root.join("Acme/Upper")).unwrap();
    r.write("go.mod", b"module github.com/Acme/Upper\n\ngo 1.21\n").unwrap();
    r.write("upper.go", b"package upper\n").unwrap();
    r.commit("one").unwrap();
    r.tag("v0.1.0").unwrap();
    cases.push(Case {
        module: "github.com/Acme/Upper",
        queries: vec!["latest".into()],
        versions_to_download: vec!["v0.1.0"],
    });

    // Zip rules from git, one repository each: a nested module; vendor directories under go 1.21
    // (the fixed-offset quirk); a symlink; .gitattributes with export-ignore, export-subst and an
    // eol=crlf file plus .hg_archival.txt; a submodule gitlink.
    let one_version = |name: &str, files: &[(&str, &[u8])], extra: &dyn Fn(&Repo)| {
        let mut r = Repo::init(&root.join("acme").join(name)).unwrap();
        r.write("go.mod", format!("module github.com/acme/{name}\n\ngo 1.21\n").as_bytes()).unwrap();
        r.write("main.go", format!("package {name}\n").as_bytes()).unwrap();
        for (p, d) in files {
            r.write(p, d).unwrap();
        }
        extra(&r);
        r.commit("one").unwrap();
        r.tag("v1.0.0").unwrap();
        r
    };
    let none = |_: &Repo| {};
    one_version(
        "nested",
        &[
            ("nested/go.mod", b"module github.com/acme/nested/nested\n"),
            ("nested/n.go", b"package nested\n"),
            ("b/GO.MOD", b"module x\n"),
            ("b/b.go", b"package b\n"),
        ],
        &none,
    );
    one_version(
        "vendorold",
        &[
            ("vendor/modules.txt", b"# example.com/dep v1.0.0\n"),
            ("vendor/example.com/dep/dep.go", b"package dep\n"),
            ("pkg/vendor/vendor.go", b"package vendor\n"),
            ("sub/vendor/sub.txt", b"sub\n"),
        ],
        &none,
    );
    one_version("symlinks", &[], &|r: &Repo| std::os::unix::fs::symlink("main.go", r.dir.join("link.go")).unwrap());
    one_version(
        "attrs",
        &[
            (".gitattributes", b"ignored.txt export-ignore\nsubst.txt export-subst\n*.bat text eol=crlf\n"),
            ("ignored.txt", b"still in the module zip\n"),
            ("subst.txt", b"$Format:%H$\n"),
            ("crlf.bat", b"echo hi\r\necho there\r\n"),
            (".hg_archival.txt", b"repo: x\n"),
        ],
        &none,
    );
    let mut r = one_version("gitlink", &[], &none);
    r.git(&["update-index", "--add", "--cacheinfo", "160000,1111111111111111111111111111111111111111,sub"]).unwrap();
    r.commit("gitlink").unwrap();
    r.tag("v1.1.0").unwrap();
    for name in ["nested", "vendorold", "symlinks", "attrs"] {
        cases.push(Case {
            module: leak(format!("github.com/acme/{name}")),
            queries: vec![],
            versions_to_download: vec!["v1.0.0"],
        });
    }
    cases.push(Case {
        module: "github.com/acme/gitlink",
        queries: vec!["latest".into()],
        versions_to_download: vec!["v1.0.0", "v1.1.0"],
    });

    // A module two directories deep, with a tag that carries build metadata (not a version).
    let mut r = Repo::init(&root.join("acme/deep")).unwrap();
    r.write("a/b/go.mod", b"module github.com/acme/deep/a/b\n\ngo 1.21\n").unwrap();
    r.write("a/b/b.go", b"package b\n").unwrap();
    r.commit("one").unwrap();
    r.tag("a/b/v0.1.0").unwrap();
    r.write("a/b/c.go", b"package b\n\nconst C = 1\n").unwrap();
    r.commit("two").unwrap();
    r.tag("a/b/v0.2.0+build.5").unwrap();
    cases.push(Case {
        module: "github.com/acme/deep/a/b",
        queries: vec!["latest".into(), "main".into()],
        versions_to_download: vec!["v0.1.0"],
    });

    // Pre-releases only, and a non-canonical tag.
    let mut r = Repo::init(&root.join("acme/prerelease")).unwrap();
    r.write("go.mod", b"module github.com/acme/prerelease\n\ngo 1.21\n").unwrap();
    r.write("p.go", b"package prerelease\n").unwrap();
    r.commit("one").unwrap();
    r.tag("v0.1.0-alpha").unwrap();
    r.tag("v0.2").unwrap();
    r.write("q.go", b"package prerelease\n\nconst Q = 1\n").unwrap();
    r.commit("two").unwrap();
    r.tag("v0.1.0-beta.2").unwrap();
    cases.push(Case {
        module: "github.com/acme/prerelease",
        queries: vec!["latest".into(), "v0.2".into(), "v0.1.0-alpha".into()],
        versions_to_download: vec!["v0.1.0-alpha", "v0.1.0-beta.2"],
    });

    // Vendor rules from go 1.24: vendor/modules.txt is left out too.
    let mut r = Repo::init(&root.join("acme/vendor124")).unwrap();
    r.write("go.mod", b"module github.com/acme/vendor124\n\ngo 1.24\n").unwrap();
    r.write("v.go", b"package vendor124\n").unwrap();
    r.write("vendor/modules.txt", b"# nothing\n").unwrap();
    r.write("vendor/example.com/x/x.go", b"package x\n").unwrap();
    r.write("sub/vendor/sub.txt", b"sub\n").unwrap();
    r.commit("one").unwrap();
    r.tag("v1.0.0").unwrap();
    cases.push(Case { module: "github.com/acme/vendor124", queries: vec![], versions_to_download: vec!["v1.0.0"] });

    // /vN at the repository root.
    let mut r = Repo::init(&root.join("acme/rootv3")).unwrap();
    r.write("go.mod", b"module github.com/acme/rootv3/v3\n\ngo 1.21\n").unwrap();
    r.write("r.go", b"package rootv3\n").unwrap();
    r.commit("one").unwrap();
    r.tag("v3.0.0").unwrap();
    r.tag("v3.1.0-beta.1").unwrap();
    cases.push(Case {
        module: "github.com/acme/rootv3/v3",
        queries: vec!["latest".into(), "v3".into()],
        versions_to_download: vec!["v3.0.0", "v3.1.0-beta.1"],
    });

    // Odd tags real repositories carry: build metadata, no "v", a leading zero, a tag that looks
    // like a pseudo-version, an explicit +incompatible tag, an annotated tag, a tag on a commit
    // whose go.mod names another path, and a v2 tag on a module without /v2.
    let mut r = Repo::init(&root.join("acme/oddtags")).unwrap();
    r.write("go.mod", b"module github.com/acme/oddtags\n\ngo 1.21\n").unwrap();
    r.write("o.go", b"package oddtags\n").unwrap();
    let first = r.commit("one").unwrap();
    r.tag("v1.0.0").unwrap();
    r.tag("v1.0.1+build.5").unwrap();
    r.tag("1.0.2").unwrap();
    r.tag("v01.0.3").unwrap();
    r.write("o2.go", b"package oddtags\n\nconst Two = 2\n").unwrap();
    r.commit("two").unwrap();
    r.tag("v1.1.0-0.20200101000000-abcdefabcdef").unwrap();
    r.tag("v1.1.1+incompatible").unwrap();
    r.git(&["tag", "-a", "-m", "annotated", "v1.2.0"]).unwrap();
    r.write("go.mod", b"module github.com/acme/renamed\n\ngo 1.21\n").unwrap();
    r.commit("renamed").unwrap();
    r.tag("v1.3.0").unwrap();
    r.write("go.mod", b"module github.com/acme/oddtags\n\ngo 1.21\n").unwrap();
    let last = r.commit("back").unwrap();
    r.tag("v2.0.0").unwrap();
    cases.push(Case {
        module: "github.com/acme/oddtags",
        queries: vec![
            "latest".into(),
            "v1.2.0".into(),
            "v1.0.1".into(),
            "1.0.2".into(),
            "v1.3.0".into(),
            "v2.0.0".into(),
            first[..12].to_string(),
            last[..7].to_string(),
            "v1.1.0-0.20200101000000-abcdefabcdef".into(),
        ],
        versions_to_download: vec!["v1.0.0", "v1.2.0", "v1.3.0"],
    });

    // A go.mod that names another major version at one tag: that version is invalid.
    let mut r = Repo::init(&root.join("acme/postv1")).unwrap();
    r.write("go.mod", b"module github.com/acme/postv1\n\ngo 1.21\n").unwrap();
    r.write("p.go", b"package postv1\n").unwrap();
    r.commit("one").unwrap();
    r.tag("v1.0.0").unwrap();
    r.write("go.mod", b"module github.com/acme/postv1/v2\n\ngo 1.21\n").unwrap();
    r.commit("two").unwrap();
    r.tag("v1.1.0").unwrap();
    cases.push(Case {
        module: "github.com/acme/postv1",
        queries: vec!["v1.0.0".into(), "v1.1.0".into(), "main".into()],
        versions_to_download: vec!["v1.0.0"],
    });

    // Retracted tags: the latest release's go.mod retracts v1.1.0, so neither a commit tagged
    // only v1.1.0 nor one descending from it takes v1.1.0 as its version or base.
    let mut r = Repo::init(&root.join("acme/retracts")).unwrap();
    r.write("go.mod", b"module github.com/acme/retracts\n\ngo 1.21\n").unwrap();
    r.write("r.go", b"package retracts\n").unwrap();
    r.commit("A").unwrap();
    r.tag("v1.0.0").unwrap();
    r.write("r2.go", b"package retracts\n\nconst B = 1\n").unwrap();
    let b = r.commit("B").unwrap();
    r.tag("v1.1.0").unwrap();
    r.git(&["checkout", "-q", "-b", "dev"]).unwrap();
    r.write("dev.go", b"package retracts\n\nconst D = 1\n").unwrap();
    r.commit("D").unwrap();
    r.git(&["checkout", "-q", "main"]).unwrap();
    r.write("go.mod", b"module github.com/acme/retracts\n\ngo 1.21\n\nretract v1.1.0 // broken\n").unwrap();
    r.commit("C").unwrap();
    r.tag("v1.2.0").unwrap();
    cases.push(Case {
        module: "github.com/acme/retracts",
        queries: vec!["latest".into(), "dev".into(), b[..12].to_string(), "v1.1.0".into()],
        versions_to_download: vec!["v1.1.0", "v1.2.0"],
    });

    // Untagged repository: pseudo-versions only.
    let mut r = Repo::init(&root.join("acme/untagged")).unwrap();
    r.write("go.mod", b"module github.com/acme/untagged\n\ngo 1.21\n").unwrap();
    r.write("u.go", b"package untagged\n").unwrap();
    r.commit("one").unwrap();
    let h = r.commit("two").unwrap();
    cases.push(Case {
        module: "github.com/acme/untagged",
        queries: vec!["latest".into(), h[..12].to_string()],
        versions_to_download: vec![],
    });
    cases
}

/// Module paths built at run time live for the whole test.
fn leak(s: String) -> &'static str {
    Box::leak(s.into_boxed_str())
}

fn go_env(proxy: &str, gitconfig: &Path) -> GoEnv {
    GoEnv::with_git_config(proxy, gitconfig).unwrap()
}

/// What a go client sees for one module: versions, query answers, hashes.
fn observe(g: &GoEnv, case: &Case) -> BTreeMap<String, String> {
    let mut seen = BTreeMap::new();
    // A listing the go command refuses (say, an invalid latest version) must be refused too.
    let versions = match g.run(&g.work(), &["list", "-m", "-versions", case.module]) {
        Ok(out) => String::from_utf8_lossy(&out.stdout).trim().to_string(),
        Err(_) => "refused".to_string(),
    };
    seen.insert("versions".into(), versions);
    for q in &case.queries {
        // A query the go command refuses must be refused through modgate too.
        let answer = match g.run(&g.work(), &["list", "-m", "-json", &format!("{}@{q}", case.module)]) {
            Ok(out) => {
                let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
                format!("{} {}", v["Version"], v["Time"])
            }
            Err(_) => "no such version".to_string(),
        };
        seen.insert(format!("query {q}"), answer);
    }
    for v in &case.versions_to_download {
        let out = g.run(&g.work(), &["mod", "download", "-json", &format!("{}@{v}", case.module)]).unwrap();
        let d = parse_download_json(&out.stdout).unwrap();
        seen.insert(format!("sum {v}"), format!("{} {}", d[0].sum, d[0].go_mod_sum));
    }
    seen
}

#[test]
fn direct_mode_agrees_with_the_go_command() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("repos");
    let cases = build_repos(&root);
    let gitconfig = insteadof_config(tmp.path(), "github.com", &root).unwrap();
    let data = tmp.path().join("data");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_modgate"));
    cmd.args(["serve", "--listen", "127.0.0.1:0", "--upstream", "direct", "--data-dir"])
        .arg(&data)
        .env("GIT_CONFIG_GLOBAL", &gitconfig)
        .env("GIT_CONFIG_NOSYSTEM", "1");
    let mg = Process::start_with(cmd);

    let mut table = Vec::new();
    for case in &cases {
        let go = observe(&go_env("direct", &gitconfig), case);
        let via = observe(&go_env(&mg.url(), &gitconfig), case);
        for (k, want) in &go {
            let got = via.get(k).cloned().unwrap_or_default();
            let shown: String = want.chars().take(64).collect();
            table.push(format!("{} | {k} | {} | {shown}", case.module, if &got == want { "agree" } else { "DIFFER" }));
            assert_eq!(&got, want, "{}: {k}", case.module);
        }
    }
    eprintln!("oracle table ({} repositories, {} observations):\n{}", cases.len(), table.len(), table.join("\n"));
    assert!(cases.len() >= 15, "the oracle covers at least 15 repositories");
    // The answers through modgate really came from modgate's own mirrors.
    for case in &cases {
        let escaped = gomod::path::escape_path(case.module).unwrap();
        let (a, b) = (format!("path=/{}/@v/list", escaped.replace('!', "%21")), format!("path=/{escaped}/@v/list"));
        wait_until(std::time::Duration::from_secs(10), &format!("modgate served {}", case.module), || {
            mg.logs().iter().any(|l| l.contains(&a) || l.contains(&b))
        });
    }
    // Mirrors are named by a hash of their URL (24 hex digits).
    let mirrors = std::fs::read_dir(data.join("git"))
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_str().is_some_and(|n| n.len() == 24 && n.bytes().all(|b| b.is_ascii_hexdigit())))
        .count();
    assert!(mirrors >= cases.len(), "one mirror per repository: {mirrors}");
    // Archives and zips were built in temporary files, and none is left behind (direct mode's
    // scratch directory, and the store's).
    // (Small objects already answered may still be being committed: that ends on its own.)
    for tmp in [data.join("git").join("tmp"), data.join("tmp")] {
        wait_until(std::time::Duration::from_secs(10), &format!("{} empty", tmp.display()), || {
            std::fs::read_dir(&tmp).map(|d| d.count()).unwrap_or(0) == 0
        });
    }
}

#[test]
fn configured_mappings_serve_private_repositories() {
    let tmp = tempfile::tempdir().unwrap();
    let mut r = Repo::init(&tmp.path().join("tools")).unwrap();
    r.write("LICENSE", b"internal use\n").unwrap();
    r.write("cli/go.mod", b"module corp.example/tools/cli\n\ngo 1.21\n").unwrap();
    r.write("cli/main.go", b"package main\n\nfunc main() {}\n").unwrap();
    r.commit("one").unwrap();
    r.tag("cli/v1.0.0").unwrap();
    r.tag("v9.9.9").unwrap(); // the repository root's tags are not the cli module's
    let cfg = tmp.path().join("modgate.toml");
    std::fs::write(
        &cfg,
        format!(
            "upstream = \"direct\"\ndata_dir = \"{}\"\n[[direct.repo]]\nprefix = \"corp.example/tools\"\nurl = \"{}\"\n",
            tmp.path().join("data").display(),
            r.url()
        ),
    )
    .unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_modgate"));
    cmd.args(["serve", "--listen", "127.0.0.1:0", "--config"]).arg(&cfg).env("GIT_CONFIG_NOSYSTEM", "1");
    let mg = Process::start_with(cmd);
    let g = GoEnv::new(&mg.url()).unwrap();
    std::fs::write(g.work().join("go.mod"), "module example.com/user\n\ngo 1.21\n").unwrap();
    let out = g.run(&g.work(), &["list", "-m", "-versions", "corp.example/tools/cli"]).unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "corp.example/tools/cli v1.0.0");
    let out = g.run(&g.work(), &["mod", "download", "-json", "corp.example/tools/cli@v1.0.0"]).unwrap();
    let d = &parse_download_json(&out.stdout).unwrap()[0];
    let mut want = gomod::dirhash::Hash1::new();
    for (p, data) in [
        ("go.mod", &b"module corp.example/tools/cli\n\ngo 1.21\n"[..]),
        ("main.go", b"package main\n\nfunc main() {}\n"),
        ("LICENSE", b"internal use\n"),
    ] {
        want.add_bytes(format!("corp.example/tools/cli@v1.0.0/{p}"), data).unwrap();
    }
    assert_eq!(d.sum, want.finish(), "the subdirectory module with the root LICENSE");
    // A module under the prefix that does not exist there is a clean 404.
    let r = get(mg.addr, "/corp.example/tools/nothing/@v/v1.0.0.info", &[]);
    assert_eq!(r.status, 404, "{}", r.text());
}

#[test]
fn hanging_git_servers_time_out_and_secrets_stay_secret() {
    // A server that accepts connections and never answers.
    let hang = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let hang_port = hang.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for c in hang.incoming().flatten() {
            held.push(c);
        }
    });
    // A port nobody listens on.
    let closed_port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let secret = "s3cr3t-t0ken-value";
    let tmp = tempfile::tempdir().unwrap();
    let cfg = tmp.path().join("modgate.toml");
    std::fs::write(
        &cfg,
        format!(
            "upstream = \"direct\"\ndata_dir = \"{}\"\nlog_level = \"debug\"\n[direct]\ntimeout = \"2s\"\n\
             [[direct.repo]]\nprefix = \"corp.example/hang\"\nurl = \"http://bot:{secret}@127.0.0.1:{hang_port}/hang.git\"\n\
             [[direct.repo]]\nprefix = \"corp.example/refused\"\nurl = \"http://bot:{secret}@127.0.0.1:{closed_port}/x.git\"\n",
            tmp.path().join("data").display()
        ),
    )
    .unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_modgate"));
    cmd.args(["serve", "--listen", "127.0.0.1:0", "--config"]).arg(&cfg).env("GIT_CONFIG_NOSYSTEM", "1");
    let mg = Process::start_with(cmd);

    let r = get(mg.addr, "/corp.example/hang/@v/list", &[]);
    assert_eq!(r.status, 504, "{}", r.text());
    assert!(!r.text().contains(secret), "{}", r.text());
    // Not stuck: the same repository answers again (and times out again), and others are served.
    let r = get(mg.addr, "/corp.example/hang/@v/v1.0.0.info", &[]);
    assert_eq!(r.status, 504, "{}", r.text());
    assert_eq!(get(mg.addr, "/healthz", &[]).status, 200);

    let r = get(mg.addr, "/corp.example/refused/@v/list", &[]);
    assert_eq!(r.status, 404, "{}", r.text());
    assert!(!r.text().contains(secret), "{}", r.text());
    assert!(r.text().contains("127.0.0.1"), "the reason names the server: {}", r.text());

    // The log reader runs beside the test: wait for the last request's line, then look.
    wait_until(std::time::Duration::from_secs(10), "the access lines", || {
        mg.logs().iter().any(|l| l.contains("/corp.example/refused/"))
    });
    let logs = mg.logs().join("\n");
    assert!(!logs.contains(secret), "a secret reached the logs:\n{logs}");
}

#[test]
fn routes_pick_sources_and_deny_everywhere() {
    let fx = fixture(12);
    let tmp = tempfile::tempdir().unwrap();
    let mut r = Repo::init(&tmp.path().join("tools")).unwrap();
    r.write("cli/go.mod", b"module corp.example/tools/cli\n\ngo 1.21\n").unwrap();
    r.write("cli/main.go", b"package main\n").unwrap();
    r.commit("one").unwrap();
    r.tag("cli/v1.0.0").unwrap();
    let cfg = tmp.path().join("modgate.toml");
    std::fs::write(
        &cfg,
        format!(
            "upstream = \"{}\"\ndata_dir = \"{}\"\n\
             [[route]]\nmodules = \"evil.example,example.com/g/m0\"\nsource = \"deny\"\n\
             [[route]]\nmodules = \"corp.example/*\"\nsource = \"direct\"\n\
             [[direct.repo]]\nprefix = \"corp.example/tools\"\nurl = \"{}\"\n",
            fx.upstream.url(),
            tmp.path().join("data").display(),
            r.url()
        ),
    )
    .unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_modgate"));
    cmd.args(["serve", "--listen", "127.0.0.1:0", "--config"]).arg(&cfg).env("GIT_CONFIG_NOSYSTEM", "1");
    let mg = Process::start_with(cmd);

    // Denied: every endpoint, 403 with a reason, nothing asked upstream.
    for p in [
        "/evil.example/x/@v/list",
        "/evil.example/x/@latest",
        "/evil.example/x/@v/v1.0.0.info",
        "/evil.example/x/@v/master.info",
        "/evil.example/x/@v/v1.0.0.mod",
        "/evil.example/x/@v/v1.0.0.zip",
        "/example.com/g/m0/@v/list",
    ] {
        let r = get(mg.addr, p, &[]);
        assert_eq!(r.status, 403, "{p}: {}", r.text());
        assert!(r.text().contains("denied"), "{p}: {}", r.text());
        assert_eq!(request(mg.addr, "HEAD", p, &[]).status, 403, "HEAD {p}");
    }
    // Direct route: served from git, never sent to the upstream proxy.
    let g = GoEnv::new(&mg.url()).unwrap();
    std::fs::write(g.work().join("go.mod"), "module example.com/user\n\ngo 1.21\n").unwrap();
    g.run(&g.work(), &["mod", "download", "corp.example/tools/cli@v1.0.0"]).unwrap();
    // Everything else: the upstream chain.
    let plain = fx.graph.modules.iter().find(|m| m.kind == "plain" && m.path != "example.com/g/m0").unwrap();
    assert_eq!(get(mg.addr, &format!("/{}/@v/list", plain.path), &[]).status, 200);
    let up = fx.upstream.stats_json();
    assert!(!up.contains("evil.example") && !up.contains("corp.example") && !up.contains("/m0/"), "{up}");
}

#[test]
fn versions_that_break_the_zip_rules_are_404_with_the_reason() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("repos");
    let mut r = Repo::init(&root.join("acme/clash")).unwrap();
    r.write("go.mod", b"module github.com/acme/clash\n\ngo 1.21\n").unwrap();
    r.write("a.go", b"package clash\n").unwrap();
    r.write("A.go", b"package clash\n").unwrap();
    r.commit("one").unwrap();
    r.tag("v1.0.0").unwrap();
    let gitconfig = insteadof_config(tmp.path(), "github.com", &root).unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_modgate"));
    cmd.args(["serve", "--listen", "127.0.0.1:0", "--upstream", "direct", "--data-dir"])
        .arg(tmp.path().join("data"))
        .env("GIT_CONFIG_GLOBAL", &gitconfig)
        .env("GIT_CONFIG_NOSYSTEM", "1");
    let mg = Process::start_with(cmd);
    let r = get(mg.addr, "/github.com/acme/clash/@v/v1.0.0.zip", &[]);
    assert_eq!(r.status, 404, "{}", r.text());
    assert!(r.text().contains("collision"), "{}", r.text());
    // The go command shows modgate's reason to its user.
    let g = go_env(&mg.url(), &gitconfig);
    let err = g.run_fail(&g.work(), &["mod", "download", "github.com/acme/clash@v1.0.0"]).unwrap();
    assert!(err.contains("collision"), "{err}");
}

#[test]
fn credentials_go_to_their_host_only_and_never_to_the_logs() {
    // Two git "servers" that record the first request's headers and refuse.
    fn recorder() -> (u16, std::sync::mpsc::Receiver<String>) {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            use std::io::{BufRead, Write};
            for mut c in l.incoming().flatten() {
                let mut head = String::new();
                let mut r = std::io::BufReader::new(c.try_clone().unwrap());
                loop {
                    let mut line = String::new();
                    if r.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                        break;
                    }
                    head.push_str(&line);
                }
                let _ = tx.send(head);
                let _ = c.write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
            }
        });
        (port, rx)
    }
    let (with_port, with_rx) = recorder();
    let (without_port, without_rx) = recorder();
    let token = "tok-very-secret-123";
    let tmp = tempfile::tempdir().unwrap();
    let cfg = tmp.path().join("modgate.toml");
    std::fs::write(
        &cfg,
        format!(
            "upstream = \"direct\"\ndata_dir = \"{}\"\nlog_level = \"debug\"\n\
             [[direct.repo]]\nprefix = \"corp.example/a\"\nurl = \"http://127.0.0.1:{with_port}/a.git\"\n\
             [[direct.repo]]\nprefix = \"corp.example/b\"\nurl = \"http://127.0.0.1:{without_port}/b.git\"\n\
             [[direct.credentials]]\nhost = \"127.0.0.1:{with_port}\"\nusername = \"bot\"\ntoken = \"{token}\"\n",
            tmp.path().join("data").display()
        ),
    )
    .unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_modgate"));
    cmd.args(["serve", "--listen", "127.0.0.1:0", "--config"]).arg(&cfg).env("GIT_CONFIG_NOSYSTEM", "1");
    let mg = Process::start_with(cmd);
    assert_eq!(get(mg.addr, "/corp.example/a/@v/list", &[]).status, 404);
    assert_eq!(get(mg.addr, "/corp.example/b/@v/list", &[]).status, 404);
    use base64::Engine as _;
    let want = format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("bot:{token}")));
    let seen_with: Vec<String> = with_rx.try_iter().collect();
    assert!(seen_with.iter().any(|h| h.contains(&want)), "the credential reached its host: {seen_with:?}");
    let seen_without: Vec<String> = without_rx.try_iter().collect();
    assert!(!seen_without.is_empty(), "the other host was asked");
    assert!(seen_without.iter().all(|h| !h.to_ascii_lowercase().contains("authorization")), "{seen_without:?}");
    wait_until(std::time::Duration::from_secs(10), "the access lines", || {
        mg.logs().iter().any(|l| l.contains("/corp.example/b/"))
    });
    let logs = mg.logs().join("\n");
    assert!(!logs.contains(token) && !logs.contains(&want[6..]), "a secret reached the logs");
}
