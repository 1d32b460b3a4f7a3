//! Air-gapped mirrors with the real go: a project built online, its go.sum exported into a
//! bundle, the bundle imported into an offline modgate, and the project built again from it
//! with go.sum unchanged; a bundle signed, and refused under another trusted key; a tampered
//! bundle refused by name with nothing imported; an import done twice.

mod common;
use common::*;
use std::path::Path;
use std::process::{Command, Output};
use testkit::gorun::GoEnv;

fn modgate(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_modgate")).args(args).env_remove("MODGATE_CONFIG").output().unwrap()
}

/// A main module that imports the root package of each module the graph selects.
fn write_project(fx: &Fixture, dir: &Path) {
    fx.graph.write_root_module(dir, "example.com/root").unwrap();
    let imports: String = fx.graph.selected().iter().map(|(m, _)| format!("\t_ \"{}\"\n", m.path)).collect();
    std::fs::write(dir.join("main.go"), format!("package main\n\nimport (\n{imports})\n\nfunc main() {{}}\n")).unwrap();
}

fn files_under(dir: &Path) -> usize {
    if !dir.exists() {
        return 0;
    }
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .map(|p| if p.is_dir() { files_under(&p) } else { 1 })
        .sum()
}

#[test]
fn a_bundle_carries_a_project_into_an_offline_modgate() {
    let fx = fixture(25);
    let online_data = tempfile::tempdir().unwrap();
    let online = InProcess::start(test_config(&fx.upstream.url(), online_data.path()));
    let go = GoEnv::new(&online.url()).unwrap();
    write_project(&fx, &go.work());
    go.run(&go.work(), &["build", "./..."]).unwrap();
    let go_sum = std::fs::read_to_string(go.work().join("go.sum")).unwrap();
    assert!(go_sum.lines().any(|l| !l.contains("/go.mod")), "the build needed zips: {go_sum}");

    let (tmp, url) = (tempfile::tempdir().unwrap(), online.url());
    let bundle = tmp.path().join("bundle.tar");
    let sum_file = go.work().join("go.sum");
    let signer = tmp.path().join("mirror.key");
    let out = modgate(&["mirror", "keygen", "--name", "corp-mirror", "--out", signer.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let vkey = String::from_utf8(out.stdout).unwrap().trim().to_string();
    assert!(vkey.starts_with("corp-mirror+"), "{vkey}");
    let mut args = vec!["mirror", "export", "--proxy", &url, "--file", sum_file.to_str().unwrap()];
    args.extend(["--out", bundle.to_str().unwrap(), "--sign", signer.to_str().unwrap()]);
    let out = modgate(&args);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.starts_with("exported "), "{said}");
    assert!(out.stderr.is_empty(), "quiet in a pipe: {}", String::from_utf8_lossy(&out.stderr));
    online.stop();

    // A tampered copy: one byte of one zip changed.
    let tampered = tmp.path().join("tampered.tar");
    let name = flip_a_zip_byte(&bundle, &tampered);
    let offline_data = tempfile::tempdir().unwrap();
    let data_dir = offline_data.path().join("data");
    let import_trusting = |b: &Path, trust: &str| {
        let mut args = vec!["mirror", "import", b.to_str().unwrap(), "--data-dir", data_dir.to_str().unwrap()];
        args.extend(["--upstream", "off"]);
        if !trust.is_empty() {
            args.extend(["--trust", trust]);
        }
        modgate(&args)
    };
    let import = |b: &Path| import_trusting(b, &vkey);
    // Another key than the one that signed it: refused before anything is read.
    let (_, other) = gomod::sumdb::note::Signer::generate("someone-else").unwrap();
    let out = import_trusting(&bundle, &other);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("not signed by a trusted key"), "{err}");
    let out = import(&tampered);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&name) && err.contains("nothing was imported"), "{err}");
    assert_eq!(files_under(&data_dir.join("cache")), 0, "nothing committed");

    let out = import(&bundle);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let first = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(first.contains("0 already there"), "{first}");
    let out = import_trusting(&bundle, "");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains(" 0 objects added"), "a second import changes nothing");

    // The offline server, no upstream at all: the project builds from the bundle alone.
    let cfg = test_config("off", &data_dir);
    let offline = InProcess::start(cfg);
    let go2 = GoEnv::new(&offline.url()).unwrap();
    std::fs::create_dir_all(go2.work()).unwrap();
    for f in ["go.mod", "go.sum", "main.go"] {
        std::fs::copy(go.work().join(f), go2.work().join(f)).unwrap();
    }
    go2.run(&go2.work(), &["build", "./..."]).unwrap();
    assert_eq!(std::fs::read_to_string(go2.work().join("go.sum")).unwrap(), go_sum, "go.sum unchanged");
    let m = &fx.graph.selected()[0].0.path;
    let list = get(offline.addr, &format!("/{}/@v/list", gomod::path::escape_path(m).unwrap()), &[]);
    assert_eq!(list.status, 200, "lists come with the bundle: {}", list.text());
}

/// Copies `from` to `to` with one byte inside the first zip entry changed; returns its name.
fn flip_a_zip_byte(from: &Path, to: &Path) -> String {
    let mut data = std::fs::read(from).unwrap();
    let mut archive = tar::Archive::new(std::fs::File::open(from).unwrap());
    let (name, at) = archive
        .entries()
        .unwrap()
        .map(|e| e.unwrap())
        .find_map(|e| {
            let name = e.path().unwrap().to_string_lossy().into_owned();
            name.ends_with(".zip").then(|| (name, e.raw_file_position()))
        })
        .expect("a zip in the bundle");
    data[at as usize + 40] ^= 0x55;
    std::fs::write(to, data).unwrap();
    name
}

#[test]
fn a_whole_cache_goes_into_a_bundle_from_a_server_or_a_directory() {
    let fx = fixture(8);
    let data = tempfile::tempdir().unwrap();
    let mut cfg = test_config(&fx.upstream.url(), &data.path().join("data"));
    let (_, ops) = with_admin(&mut cfg, data.path());
    let mg = InProcess::start(cfg);
    let mut cached = 0;
    for m in &fx.graph.modules {
        let v = &m.versions[0].version;
        for ext in [".info", ".mod", ".zip"] {
            assert_eq!(get(mg.addr, &obj_path(&m.path, v, ext), &[]).status, 200);
        }
        cached += 1;
    }
    mg.settle();
    let tmp = tempfile::tempdir().unwrap();
    let entries = |bundle: &Path| -> usize {
        let mut archive = tar::Archive::new(std::fs::File::open(bundle).unwrap());
        let mut first = archive.entries().unwrap().next().unwrap().unwrap();
        let mut text = String::new();
        std::io::Read::read_to_string(&mut first, &mut text).unwrap();
        let manifest: serde_json::Value = serde_json::from_str(&text).unwrap();
        manifest["entries"].as_array().unwrap().len()
    };
    let from_server = tmp.path().join("server.tar");
    let out = modgate(&[
        "mirror",
        "export",
        "--all",
        "--proxy",
        &mg.url(),
        "--key",
        &ops,
        "--out",
        from_server.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    // Prefetch may have cached more versions than were asked for: at least those.
    let n = entries(&from_server);
    assert!(n >= cached, "{n} versions exported, {cached} asked for");
    let out = modgate(&[
        "mirror",
        "export",
        "--all",
        "--proxy",
        &mg.url(),
        "--out",
        tmp.path().join("x.tar").to_str().unwrap(),
    ]);
    assert!(!out.status.success(), "--all needs an admin key");
    // A module named alone carries its requirement graph: the go.mod of each version met.
    let (m, v, req) = fx
        .graph
        .modules
        .iter()
        .flat_map(|m| m.versions.iter().map(move |v| (m, v)))
        .find_map(|(m, v)| {
            gomod::modfile::requires(&v.go_mod).first().map(|r| (m.path.clone(), v.version.clone(), r.clone()))
        })
        .expect("a version with a requirement");
    let walked = tmp.path().join("walked.tar");
    let at = format!("{m}@{v}");
    let out = modgate(&["mirror", "export", &at, "--proxy", &mg.url(), "--out", walked.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let mut archive = tar::Archive::new(std::fs::File::open(&walked).unwrap());
    let names: Vec<String> =
        archive.entries().unwrap().map(|e| e.unwrap().path().unwrap().to_string_lossy().into_owned()).collect();
    let want = format!("cache/{}", obj_path(&req.0, &req.1, ".mod").trim_start_matches('/'));
    assert!(names.contains(&want), "{want} in {names:?}");
    mg.stop();
    let from_dir = tmp.path().join("dir.tar");
    let dir = data.path().join("data");
    let out = modgate(&["mirror", "export", "--cache", dir.to_str().unwrap(), "--out", from_dir.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    // Prefetch and the walk above may have cached more since: at least what the server listed.
    assert!(entries(&from_dir) >= n, "the directory holds what the server listed");
}
