//! TLS, API keys, the access policy and the audit log: the real go command over TLS with a test
//! CA and a `.netrc`, a table of bypass attempts, key rotation and reloads.

mod common;
use common::*;
use std::path::{Path, PathBuf};
use std::process::Command;
use testkit::gorun::{parse_download_json, GoEnv};
use testkit::graph::{big_module, Graph};
use testkit::tlsgen::TestCa;
use testkit::upstream::FakeUpstream;

struct Fx {
    tmp: tempfile::TempDir,
    upstream: FakeUpstream,
    graph: Graph,
    ca: PathBuf,
    keys_file: PathBuf,
    policy_file: PathBuf,
    audit: PathBuf,
    dev_key: String,
    outsider_key: String,
    revoked_key: String,
    ci_key: String,
    /// May read the secret module.
    admin_key: String,
}

const POLICY: &str = r#"
admin = ["ops"]
# The secret module: admins only. The rest of corp.example: devs. Everything else: anyone.
[[rule]]
modules = "corp.example/secret"
read = ["admins"]

[[rule]]
modules = "corp.example"
read = ["devs"]
write = ["ci"]

[[rule]]
modules = "*"
read = ["*", "public"]
"#;

fn add_key(keys: &Path, name: &str, groups: &str) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_modgate"))
        .args(["keys", "add", "--file"])
        .arg(keys)
        .args(["--name", name, "--groups", groups])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

fn fixture() -> Fx {
    let tmp = tempfile::tempdir().unwrap();
    let graph = Graph {
        modules: vec![
            big_module("corp.example/private", "v1.0.0", 2000, 1),
            big_module("corp.example/secret", "v1.0.0", 2000, 2),
            big_module("example.com/public", "v1.0.0", 2000, 3),
        ],
    };
    let dir = tmp.path().join("upstream");
    graph.write_proxy_dir(&dir).unwrap();
    let upstream = FakeUpstream::start(&dir);
    let ca = TestCa::new("modgate test CA").unwrap();
    let ca_path = ca.write(&tmp.path().join("ca.pem")).unwrap();
    let server = ca.server(&["127.0.0.1", "localhost"], tmp.path(), "server").unwrap();
    let keys_file = tmp.path().join("keys.toml");
    let dev_key = add_key(&keys_file, "dev-alice", "devs");
    let outsider_key = add_key(&keys_file, "outsider-bob", "contractors");
    let revoked_key = add_key(&keys_file, "old-ci", "devs,admins");
    let ci_key = add_key(&keys_file, "ci", "ci");
    let admin_key = add_key(&keys_file, "ops-carol", "admins");
    let out = Command::new(env!("CARGO_BIN_EXE_modgate"))
        .args(["keys", "revoke", "--file"])
        .arg(&keys_file)
        .arg("old-ci")
        .output()
        .unwrap();
    assert!(out.status.success());
    let policy_file = tmp.path().join("policy.toml");
    std::fs::write(&policy_file, POLICY).unwrap();
    let audit = tmp.path().join("audit.log");
    let cfg = format!(
        "upstream = \"{}\"\ndata_dir = \"{}\"\n\
         [tls]\ncert = \"{}\"\nkey = \"{}\"\n\
         [auth]\nkeys_file = \"{}\"\npolicy_file = \"{}\"\nanonymous_group = \"public\"\naudit_log = \"{}\"\n",
        upstream.url(),
        tmp.path().join("data").display(),
        server.cert.display(),
        server.key.display(),
        keys_file.display(),
        policy_file.display(),
        audit.display()
    );
    std::fs::write(tmp.path().join("modgate.toml"), cfg).unwrap();
    Fx {
        tmp,
        upstream,
        graph,
        ca: ca_path,
        keys_file,
        policy_file,
        audit,
        dev_key,
        outsider_key,
        revoked_key,
        ci_key,
        admin_key,
    }
}

/// The fixture's keys and policy on plain HTTP (so requests can be written byte by byte), with
/// extra TOML before the `[auth]` section and inside it.
fn plain_config(fx: &Fx, name: &str, before_auth: &str, in_auth: &str) -> PathBuf {
    let text = std::fs::read_to_string(fx.tmp.path().join("modgate.toml")).unwrap();
    let (head, rest) = text.split_once("[tls]").unwrap();
    let auth = &rest[rest.find("[auth]").unwrap()..];
    let cfg = fx.tmp.path().join(name);
    std::fs::write(&cfg, format!("{head}{before_auth}{auth}{in_auth}")).unwrap();
    cfg
}

fn start(cfg: &Path) -> Process {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_modgate"));
    cmd.args(["serve", "--listen", "127.0.0.1:0", "--config"]).arg(cfg);
    Process::start_with(cmd)
}

/// The go command over TLS, trusting the test CA, with a .netrc holding `key` (if any).
fn go_with(fx: &Fx, mg: &Process, key: Option<&str>) -> GoEnv {
    let mut g = GoEnv::new(&format!("https://127.0.0.1:{}", mg.addr.port())).unwrap();
    let netrc = g.root().join("netrc");
    match key {
        // The go command matches the machine against host:port.
        Some(k) => {
            std::fs::write(&netrc, format!("machine 127.0.0.1:{}\nlogin ci\npassword {k}\n", mg.addr.port())).unwrap()
        }
        None => std::fs::write(&netrc, "").unwrap(),
    }
    g.extra.push(("NETRC".into(), netrc.display().to_string()));
    g.extra.push(("SSL_CERT_FILE".into(), fx.ca.display().to_string()));
    std::fs::write(g.work().join("go.mod"), "module example.com/user\n\ngo 1.21\n").unwrap();
    g
}

#[test]
fn the_go_command_over_tls_with_a_netrc_key() {
    let fx = fixture();
    let mg = start(&fx.tmp.path().join("modgate.toml"));

    // A developer's key downloads the private module; the hashes are the fixture's own.
    let dev = go_with(&fx, &mg, Some(&fx.dev_key));
    let out = dev.run(&dev.work(), &["mod", "download", "-json", "corp.example/private@v1.0.0"]).unwrap();
    let d = parse_download_json(&out.stdout).unwrap();
    let want = &fx.graph.modules[0].versions[0];
    assert_eq!(d[0].sum, want.zip_hash("corp.example/private"));
    // ... but not the secret one: 403 with modgate's one-line reason in go's error.
    let err = dev.run_fail(&dev.work(), &["mod", "download", "corp.example/secret@v1.0.0"]).unwrap();
    assert!(err.contains("403") && err.contains("may not read"), "{err}");

    // Another group: 403 for corp.example, yet public modules are fine.
    let outsider = go_with(&fx, &mg, Some(&fx.outsider_key));
    let err = outsider.run_fail(&outsider.work(), &["mod", "download", "corp.example/private@v1.0.0"]).unwrap();
    assert!(err.contains("403") && err.contains("key:outsider-bob may not read"), "{err}");
    outsider.run(&outsider.work(), &["mod", "download", "example.com/public@v1.0.0"]).unwrap();

    // No credentials: anonymous, so public modules are served and private ones get 401.
    let anon = go_with(&fx, &mg, None);
    let err = anon.run_fail(&anon.work(), &["mod", "download", "corp.example/private@v1.0.0"]).unwrap();
    assert!(err.contains("401"), "{err}");
    anon.run(&anon.work(), &["mod", "download", "example.com/public@v1.0.0"]).unwrap();
    // A revoked key is refused outright.
    let old = go_with(&fx, &mg, Some(&fx.revoked_key));
    let err = old.run_fail(&old.work(), &["mod", "download", "example.com/public@v1.0.0"]).unwrap();
    assert!(err.contains("401"), "{err}");

    // The audit log has one JSON line per decision, apart from the access log.
    let audit = std::fs::read_to_string(&fx.audit).unwrap();
    let lines: Vec<serde_json::Value> = audit.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let allowed = lines.iter().find(|l| l["who"] == "key:dev-alice" && l["allowed"] == true).unwrap();
    assert_eq!(allowed["module"], "corp.example/private");
    assert_eq!(allowed["action"], "read");
    assert!(allowed["request_id"].as_str().is_some_and(|s| !s.is_empty()));
    let denied = lines.iter().find(|l| l["who"] == "key:outsider-bob" && l["allowed"] == false).unwrap();
    assert!(denied["reason"].as_str().unwrap().contains("policy rule 2"), "{denied}");
    assert!(lines.iter().any(|l| l["who"] == "invalid-credentials"));
    // No secret anywhere in the logs.
    let logs = mg.logs().join("\n");
    for k in [&fx.dev_key, &fx.outsider_key, &fx.revoked_key] {
        assert!(!logs.contains(k.as_str()) && !audit.contains(k.as_str()), "a key reached a log");
    }
}

#[test]
fn bypass_attempts_never_reach_private_content() {
    let fx = fixture();
    let mg = start(&plain_config(&fx, "plain.toml", "", ""));
    let addr = mg.addr;
    let outsider = format!("Bearer {}", fx.outsider_key);
    let dev = format!("Bearer {}", fx.dev_key);
    use base64::Engine as _;
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let targets = [
        "/corp.example/secret/@v/list",
        "/corp.example/secret/@latest",
        "/corp.example/secret/@v/v1.0.0.info",
        "/corp.example/secret/@v/v1.0.0.mod",
        "/corp.example/secret/@v/v1.0.0.zip",
        "/corp.example/secret/@v/master.info",
        "/corp.example/%73ecret/@v/list",
        "/corp.example%2Fsecret/@v/list",
        "/corp.example/secret%2F@v/list",
        "/corp.example//secret/@v/list",
        "/corp.example/./secret/@v/list",
        "/corp.example/x/../secret/@v/list",
        "/corp.example/secret./@v/list",
        "/corp.example/secret/./@v/list",
        "/corp.example/secret/@v/v1.0.0.zip%00",
        "/corp.example/secret%00/@v/list",
        "/corp.example/Secret/@v/list",
        "/corp.example/!secret/@v/list",
        "/corp.example/%21secret/@v/list",
        "/CORP.EXAMPLE/secret/@v/list",
        "/corp.example/secret/v2/../@v/list",
        "/corp.example/secret/@v/v1.0.0.zip?x=1",
        "/sumdb/sum.corp.example/lookup/corp.example/secret@v1.0.0",
        "/sumdb/sum.corp.example/lookup/corp.example%2Fsecret@v1.0.0",
        "/sumdb/sum.corp.example/lookup/corp.example/%73ecret@v1.0.0",
        "/sumdb/sum.corp.example/lookup/corp.example/!secret@v1.0.0",
        "/sumdb/sum.corp.example/db/lookup/corp.example/secret@v1.0.0",
        "/-/publish/corp.example/secret/@v/v1.0.0",
    ];
    let mut cases: Vec<(String, Vec<u8>)> = Vec::new();
    for t in targets {
        for (who, h) in [
            ("outsider bearer", format!("Authorization: {outsider}\r\n")),
            ("dev bearer", format!("Authorization: {dev}\r\n")),
            ("anonymous", String::new()),
        ] {
            cases.push((
                format!("GET {t} as {who}"),
                format!("GET {t} HTTP/1.1\r\nHost: modgate\r\n{h}Connection: close\r\n\r\n").into_bytes(),
            ));
        }
        cases.push((
            format!("HEAD {t} as dev"),
            format!("HEAD {t} HTTP/1.1\r\nHost: modgate\r\nAuthorization: {dev}\r\nConnection: close\r\n\r\n")
                .into_bytes(),
        ));
    }
    let secret_list = "/corp.example/secret/@v/list";
    // The dev key with its last hex digit changed (to one it is not).
    let changed = {
        let (head, last) = fx.dev_key.split_at(fx.dev_key.len() - 1);
        format!("{head}{}", if last == "0" { "1" } else { "0" })
    };
    for (name, extra) in [
        ("absolute-form target", format!("GET http://modgate{secret_list} HTTP/1.1\r\nHost: modgate\r\nAuthorization: {dev}\r\n")),
        ("absolute-form to another host", format!("GET http://127.0.0.1:1{secret_list} HTTP/1.1\r\nHost: x\r\nAuthorization: {dev}\r\n")),
        ("no Host header", format!("GET {secret_list} HTTP/1.1\r\nAuthorization: {dev}\r\n")),
        ("Host names the upstream", format!("GET {secret_list} HTTP/1.1\r\nHost: {}\r\nAuthorization: {dev}\r\n", fx.upstream.addr())),
        ("two Host headers", format!("GET {secret_list} HTTP/1.1\r\nHost: a\r\nHost: b\r\nAuthorization: {dev}\r\n")),
        ("X-API-Key of an outsider", format!("GET {secret_list} HTTP/1.1\r\nHost: m\r\nX-API-Key: {}\r\n", fx.outsider_key)),
        ("outsider key beats a dev bearer", format!("GET {secret_list} HTTP/1.1\r\nHost: m\r\nX-API-Key: {}\r\nAuthorization: {dev}\r\n", fx.outsider_key)),
        ("Basic with the dev key as user name", format!("GET /corp.example/private/@v/list HTTP/1.1\r\nHost: m\r\nAuthorization: Basic {}\r\n", b64(&format!("{}:", fx.dev_key)))),
        ("Basic with a revoked key", format!("GET /example.com/public/@v/list HTTP/1.1\r\nHost: m\r\nAuthorization: Basic {}\r\n", b64(&format!("x:{}", fx.revoked_key)))),
        ("revoked admin key on the secret mod", format!("GET /corp.example/secret/@v/v1.0.0.mod HTTP/1.1\r\nHost: m\r\nAuthorization: Bearer {}\r\n", fx.revoked_key)),
        ("revoked admin key on the secret info, HEAD", format!("HEAD /corp.example/secret/@v/v1.0.0.info HTTP/1.1\r\nHost: m\r\nX-API-Key: {}\r\n", fx.revoked_key)),
        ("outsider on the secret mod with If-None-Match", format!("GET /corp.example/secret/@v/v1.0.0.mod HTTP/1.1\r\nHost: m\r\nIf-None-Match: *\r\nAuthorization: {outsider}\r\n")),
        ("truncated dev key", format!("GET /corp.example/private/@v/list HTTP/1.1\r\nHost: m\r\nAuthorization: Bearer {}\r\n", &fx.dev_key[..fx.dev_key.len() - 1])),
        ("dev key with a changed secret", format!("GET /corp.example/private/@v/list HTTP/1.1\r\nHost: m\r\nAuthorization: Bearer {changed}\r\n")),
        ("unknown auth scheme", format!("GET /corp.example/private/@v/list HTTP/1.1\r\nHost: m\r\nAuthorization: Digest {}\r\n", fx.dev_key)),
        ("empty bearer", "GET /corp.example/private/@v/list HTTP/1.1\r\nHost: m\r\nAuthorization: Bearer \r\n".to_string()),
        ("outsider on private zip", format!("GET /corp.example/private/@v/v1.0.0.zip HTTP/1.1\r\nHost: m\r\nAuthorization: {outsider}\r\n")),
        ("outsider on private mod with Range", format!("GET /corp.example/private/@v/v1.0.0.mod HTTP/1.1\r\nHost: m\r\nRange: bytes=0-10\r\nAuthorization: {outsider}\r\n")),
        ("PUT publish as outsider", format!("PUT /-/publish/corp.example/secret/@v/v1.0.0 HTTP/1.1\r\nHost: m\r\nContent-Length: 0\r\nAuthorization: {outsider}\r\n")),
        ("Disable-Module-Fetch as outsider", format!("GET /corp.example/private/@v/list HTTP/1.1\r\nHost: m\r\nDisable-Module-Fetch: true\r\nAuthorization: {outsider}\r\n")),
    ] {
        cases.push((name.to_string(), format!("{extra}Connection: close\r\n\r\n").into_bytes()));
    }
    // Markers of private content or metadata: version lists and info JSON, go.mod text, zips.
    let leaks = ["\"Version\"", "v1.0.0\n", "module corp.example", "PK\u{3}\u{4}", "testdata/blob.bin"];
    let run_table = || -> Vec<u16> {
        let mut statuses = Vec::new();
        for (name, bytes) in &cases {
            let r = raw(addr, bytes).unwrap();
            let body = String::from_utf8_lossy(&r.body).into_owned();
            let leaked = leaks.iter().find(|m| body.contains(*m));
            assert!(![200, 206, 304].contains(&r.status) && leaked.is_none(), "{name}: {} {body:?}", r.status);
            assert_eq!(get(addr, "/healthz", &[]).status, 200, "alive after {name}");
            statuses.push(r.status);
        }
        statuses
    };
    let cold = run_table();
    assert!(cases.len() >= 40, "the table has {} requests", cases.len());
    let table: Vec<String> = cases.iter().zip(&cold).map(|((name, _), s)| format!("{s:>3} {name}")).collect();
    eprintln!("bypass table: {} requests, none served private content:\n{}", cases.len(), table.join("\n"));
    // Denied requests never reached the upstream. (corp.example/Secret, which `!secret` names,
    // is another module, and devs may ask for it.)
    let stats = fx.upstream.stats_json();
    assert!(!stats.contains("/corp.example/secret/"), "{stats}");
    // The same table once the secret's `.info` and `.mod` are warm in memory, where plain
    // requests take the HTTP layer's hot path: every answer is the same as cold.
    let admin = format!("Bearer {}", fx.admin_key);
    for ext in [".info", ".mod"] {
        let path = format!("/corp.example/secret/@v/v1.0.0{ext}");
        for _ in 0..2 {
            let r = get(addr, &path, &[("Authorization", &admin)]);
            assert_eq!(r.status, 200, "{}", r.text());
        }
        let r = get(addr, &path, &[("Authorization", &admin)]);
        assert_eq!(r.header("x-modgate-cache"), Some("hit"));
    }
    let warm = run_table();
    for (((name, _), c), w) in cases.iter().zip(&cold).zip(&warm) {
        assert_eq!(c, w, "{name}: cold {c}, warm {w}");
    }
    // The permitted paths still work, so the table tests the guard and not a broken server.
    let ok = get(addr, "/corp.example/private/@v/list", &[("Authorization", &dev)]);
    assert_eq!(ok.status, 200, "{}", ok.text());
    let ok = get(addr, "/example.com/public/@v/list", &[]);
    assert_eq!(ok.status, 200, "anonymous reads public modules: {}", ok.text());
}

#[test]
fn keys_and_policy_reload_and_bad_files_are_refused() {
    let fx = fixture();
    let mg = start(&plain_config(&fx, "reload.toml", "", ""));
    let outsider = format!("Bearer {}", fx.outsider_key);
    let path = "/corp.example/private/@v/list";
    assert_eq!(get(mg.addr, path, &[("Authorization", &outsider)]).status, 403);

    // A policy that lets contractors in, swapped in by rename (as config management does).
    let next = fx.tmp.path().join("policy.next");
    std::fs::write(&next, POLICY.replace("read = [\"devs\"]", "read = [\"devs\", \"contractors\"]")).unwrap();
    std::fs::rename(&next, &fx.policy_file).unwrap();
    mg.signal(libc::SIGHUP);
    wait_until(std::time::Duration::from_secs(10), "the new policy", || {
        get(mg.addr, path, &[("Authorization", &outsider)]).status == 200
    });

    // A broken policy is refused, loudly, and the one in force stays.
    std::fs::write(&fx.policy_file, "[[rule]]\nmodules = \"corp.example\"\nread = [\"devs\"\n").unwrap();
    mg.signal(libc::SIGHUP);
    wait_until(std::time::Duration::from_secs(10), "the refusal in the log", || {
        mg.logs().iter().any(|l| l.contains("refused") && l.contains("previous ones stay in force"))
    });
    assert_eq!(get(mg.addr, path, &[("Authorization", &outsider)]).status, 200);

    // Revoking a key takes effect without a restart (file change, no signal).
    let out = Command::new(env!("CARGO_BIN_EXE_modgate"))
        .args(["keys", "revoke", "--file"])
        .arg(&fx.keys_file)
        .arg("outsider-bob")
        .output()
        .unwrap();
    assert!(out.status.success());
    wait_until(std::time::Duration::from_secs(15), "the revocation", || {
        get(mg.addr, path, &[("Authorization", &outsider)]).status == 401
    });
    // `keys list` shows names and groups, never secrets.
    let out = Command::new(env!("CARGO_BIN_EXE_modgate"))
        .args(["keys", "list", "--file"])
        .arg(&fx.keys_file)
        .output()
        .unwrap();
    let listing = String::from_utf8_lossy(&out.stdout);
    assert!(listing.contains("outsider-bob") && listing.contains("contractors"), "{listing}");
    assert!(!listing.contains(&fx.dev_key[16..]), "{listing}");
}

/// A blocking TLS client that trusts `ca` and sends `name` as SNI; returns the server
/// certificate's subject and the response's status line.
fn tls_get(
    addr: std::net::SocketAddr,
    ca: &Path,
    name: &str,
    versions: &[&'static rustls::SupportedProtocolVersion],
) -> Result<(String, String), String> {
    tls_request(addr, ca, name, versions, None, "/healthz", None)
}

/// A TLS request with an optional client certificate, offering only the named cipher suites when
/// `suites` is given; returns the server certificate's subject and the status line.
fn tls_request(
    addr: std::net::SocketAddr,
    ca: &Path,
    name: &str,
    versions: &[&'static rustls::SupportedProtocolVersion],
    client: Option<&testkit::tlsgen::Issued>,
    path: &str,
    suites: Option<&[&str]>,
) -> Result<(String, String), String> {
    let (subject, text) = tls_exchange(addr, ca, name, versions, client, path, suites)?;
    let status = format!("{} {}", text.lines().next().unwrap_or(""), text.lines().last().unwrap_or(""));
    Ok((subject, status))
}

/// `tls_request`'s exchange: the server certificate's subject and the whole answer.
fn tls_exchange(
    addr: std::net::SocketAddr,
    ca: &Path,
    name: &str,
    versions: &[&'static rustls::SupportedProtocolVersion],
    client: Option<&testkit::tlsgen::Issued>,
    path: &str,
    suites: Option<&[&str]>,
) -> Result<(String, String), String> {
    use rustls::pki_types::pem::PemObject;
    use std::io::{Read, Write};
    let mut roots = rustls::RootCertStore::empty();
    for c in rustls::pki_types::CertificateDer::pem_file_iter(ca).unwrap() {
        roots.add(c.unwrap()).unwrap();
    }
    let mut provider = rustls::crypto::ring::default_provider();
    if let Some(names) = suites {
        provider.cipher_suites.retain(|s| names.contains(&format!("{:?}", s.suite()).as_str()));
    }
    let builder = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(provider))
        .with_protocol_versions(versions)
        .unwrap()
        .with_root_certificates(roots);
    let cfg = match client {
        None => builder.with_no_client_auth(),
        Some(c) => {
            let certs: Vec<_> =
                rustls::pki_types::CertificateDer::pem_file_iter(&c.cert).unwrap().map(|c| c.unwrap()).collect();
            let key = rustls::pki_types::PrivateKeyDer::from_pem_file(&c.key).unwrap();
            builder.with_client_auth_cert(certs, key).unwrap()
        }
    };
    let server_name = rustls::pki_types::ServerName::try_from(name.to_string()).unwrap();
    let conn = rustls::ClientConnection::new(std::sync::Arc::new(cfg), server_name).map_err(|e| e.to_string())?;
    let sock = std::net::TcpStream::connect(addr).map_err(|e| e.to_string())?;
    sock.set_read_timeout(Some(std::time::Duration::from_secs(10))).unwrap();
    let mut tls = rustls::StreamOwned::new(conn, sock);
    tls.write_all(format!("GET {path} HTTP/1.1\r\nHost: {name}\r\nConnection: close\r\n\r\n").as_bytes())
        .map_err(|e| e.to_string())?;
    let mut buf = Vec::new();
    match tls.read_to_end(&mut buf) {
        Ok(_) => {}
        // Servers may close without close_notify after Connection: close.
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof && !buf.is_empty() => {}
        Err(e) => return Err(e.to_string()),
    }
    let leaf = tls.conn.peer_certificates().and_then(|c| c.first().cloned()).ok_or("no certificate")?;
    let (_, cert) = x509_parser::parse_x509_certificate(leaf.as_ref()).map_err(|e| e.to_string())?;
    Ok((cert.subject().to_string(), String::from_utf8_lossy(&buf).into_owned()))
}

#[test]
fn sni_versions_and_certificate_reload_under_load() {
    let tmp = tempfile::tempdir().unwrap();
    let ca = TestCa::new("modgate test CA").unwrap();
    let ca_path = ca.write(&tmp.path().join("ca.pem")).unwrap();
    let a = ca.server(&["a.example", "127.0.0.1"], tmp.path(), "a").unwrap();
    let b = ca.server(&["b.example"], tmp.path(), "b").unwrap();
    let cfg = tmp.path().join("modgate.toml");
    std::fs::write(
        &cfg,
        format!(
            "upstream = \"off\"\ndata_dir = \"{}\"\n[tls]\ncert = \"{}\"\nkey = \"{}\"\nmin_version = \"1.3\"\n\
             [[tls.sni]]\ncert = \"{}\"\nkey = \"{}\"\n",
            tmp.path().join("data").display(),
            a.cert.display(),
            a.key.display(),
            b.cert.display(),
            b.key.display()
        ),
    )
    .unwrap();
    let mg = start(&cfg);
    let all = &[&rustls::version::TLS13, &rustls::version::TLS12][..];
    let (subject, status) = tls_get(mg.addr, &ca_path, "a.example", all).unwrap();
    assert!(subject.contains("a.example") && status.contains("200"), "{subject} {status}");
    let (subject, _) = tls_get(mg.addr, &ca_path, "b.example", all).unwrap();
    assert!(subject.contains("b.example"), "SNI picks the second certificate: {subject}");
    // The minimum version holds.
    assert!(tls_get(mg.addr, &ca_path, "a.example", &[&rustls::version::TLS12]).is_err());
    // `/metrics` counts the handshakes and says when each certificate expires.
    let (_, metrics) = tls_exchange(mg.addr, &ca_path, "a.example", all, None, "/metrics", None).unwrap();
    let sample = |key: &str| -> f64 {
        let line = metrics.lines().find(|l| l.starts_with(key)).unwrap_or_else(|| panic!("{key} in {metrics}"));
        line.rsplit_once(' ').and_then(|(_, v)| v.parse().ok()).unwrap_or(f64::NAN)
    };
    assert!(sample(r#"modgate_tls_handshakes_total{result="ok"}"#) >= 2.0);
    assert!(sample(r#"modgate_tls_handshakes_total{result="failed"}"#) >= 1.0, "the TLS 1.2 offer");
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs_f64();
    for c in [&a.cert, &b.cert] {
        let key = format!("modgate_tls_certificate_not_after_seconds{{certificate=\"{}\"}}", c.display());
        let not_after = sample(&key);
        assert!(not_after > now + 86400.0, "{key}: {not_after}");
    }

    // Clients hammer the server while the default certificate is replaced three times.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut workers = Vec::new();
    for _ in 0..4 {
        let (stop, ca_path, addr) = (stop.clone(), ca_path.clone(), mg.addr);
        workers.push(std::thread::spawn(move || {
            let (mut ok, mut failed) = (0u32, Vec::new());
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                match tls_get(addr, &ca_path, "a.example", &[&rustls::version::TLS13]) {
                    Ok((_, s)) if s.contains("200") => ok += 1,
                    other => failed.push(format!("{other:?}")),
                }
            }
            (ok, failed)
        }));
    }
    for round in 0..3 {
        let next = ca.server(&["a.example", "127.0.0.1"], tmp.path(), &format!("a{round}")).unwrap();
        // Replaced by rename, key first, so no handshake sees a half-written pair for long.
        std::fs::rename(&next.key, &a.key).unwrap();
        std::fs::rename(&next.cert, &a.cert).unwrap();
        let want = round + 1;
        wait_until(std::time::Duration::from_secs(20), "the reload", || {
            mg.logs().iter().filter(|l| l.contains("TLS certificates reloaded")).count() >= want
        });
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let (mut ok, mut failed) = (0, Vec::new());
    for w in workers {
        let (o, f) = w.join().unwrap();
        ok += o;
        failed.extend(f);
    }
    assert!(ok > 20, "the clients ran: {ok}");
    assert!(
        failed.is_empty(),
        "{} of {} requests failed across reloads: {:?}",
        failed.len(),
        ok as usize + failed.len(),
        &failed[..failed.len().min(3)]
    );
    eprintln!("certificate reload under load: {ok} requests, 0 failed, 3 reloads");

    // A broken certificate is refused and the one in force stays.
    let refusals = || mg.logs().iter().filter(|l| l.contains("TLS reload refused")).count();
    let before = refusals();
    std::fs::write(&a.cert, "not a certificate").unwrap();
    wait_until(std::time::Duration::from_secs(20), "the refusal", || refusals() > before);
    assert!(tls_get(mg.addr, &ca_path, "a.example", all).is_ok());
}

/// A module directory and its zip as the go command would build it.
#[test]
fn publishing_is_create_only_checked_and_served_to_the_go_command() {
    let fx = fixture();
    let mg = start(&fx.tmp.path().join("modgate.toml"));
    let server = format!("https://127.0.0.1:{}", mg.addr.port());
    let dir = fx.tmp.path().join("lib");
    module_zip(&dir, "corp.example/lib", "v1.0.0", "one");
    let publish = |key: &str, version: &str| {
        Command::new(env!("CARGO_BIN_EXE_modgate"))
            .args(["publish"])
            .arg(&dir)
            .args(["--module", "corp.example/lib", "--version", version, "--server", &server])
            .args(["--time", "2026-01-02T03:04:05Z"])
            .env("MODGATE_KEY", key)
            .env("SSL_CERT_FILE", &fx.ca)
            .output()
            .unwrap()
    };
    let out = publish(&fx.ci_key, "v1.0.0");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let said = String::from_utf8_lossy(&out.stdout).to_string();
    // The go command downloads it with the same hash, and lists it.
    let dev = go_with(&fx, &mg, Some(&fx.dev_key));
    let got = dev.run(&dev.work(), &["mod", "download", "-json", "corp.example/lib@v1.0.0"]).unwrap();
    let d = parse_download_json(&got.stdout).unwrap();
    assert!(said.contains(&d[0].sum), "{said} vs {}", d[0].sum);
    let listed = dev.run(&dev.work(), &["list", "-m", "-versions", "corp.example/lib"]).unwrap();
    assert_eq!(String::from_utf8_lossy(&listed.stdout).trim(), "corp.example/lib v1.0.0");
    let latest = dev.run(&dev.work(), &["list", "-m", "-json", "corp.example/lib@latest"]).unwrap();
    let v: serde_json::Value = serde_json::from_slice(&latest.stdout).unwrap();
    assert_eq!((v["Version"].as_str(), v["Time"].as_str()), (Some("v1.0.0"), Some("2026-01-02T03:04:05Z")));
    // Never overwritten; and a reader may not publish.
    let again = publish(&fx.ci_key, "v1.0.0");
    assert!(String::from_utf8_lossy(&again.stderr).contains("409"), "{}", String::from_utf8_lossy(&again.stderr));
    let denied = publish(&fx.dev_key, "v1.1.0");
    let err = String::from_utf8_lossy(&denied.stderr).to_string();
    assert!(err.contains("403") && err.contains("may not publish"), "{err}");
    // The audit log records the write.
    let audit = std::fs::read_to_string(&fx.audit).unwrap();
    assert!(audit.lines().any(|l| l.contains("\"action\":\"write\"") && l.contains("\"allowed\":true")), "{audit}");
}

#[test]
fn concurrent_publishes_of_one_version_make_exactly_one() {
    let fx = fixture();
    let cfg = plain_config(&fx, "publish.toml", "[publish]\nmax_mb = 1\n", "");
    let mut mg = start(&cfg);
    let path = "/-/publish/corp.example/race/@v/v1.0.0";
    // Twenty different zips for one version, sent at once.
    let zips: Vec<Vec<u8>> = (0..20)
        .map(|i| {
            module_zip(&fx.tmp.path().join(format!("race{i}")), "corp.example/race", "v1.0.0", &format!("zip {i}"))
        })
        .collect();
    let barrier = std::sync::Arc::new(std::sync::Barrier::new(zips.len()));
    let handles: Vec<_> = zips
        .iter()
        .cloned()
        .map(|z| {
            let (b, key, addr) = (barrier.clone(), fx.ci_key.clone(), mg.addr);
            std::thread::spawn(move || {
                b.wait();
                put(addr, path, &key, &z).status
            })
        })
        .collect();
    let statuses: Vec<u16> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    assert_eq!(statuses.iter().filter(|s| **s == 201).count(), 1, "{statuses:?}");
    assert_eq!(statuses.iter().filter(|s| **s == 409).count(), 19, "{statuses:?}");
    // The stored zip is exactly one of the bodies, whole.
    let dev = format!("Bearer {}", fx.dev_key);
    let stored = get(mg.addr, "/corp.example/race/@v/v1.0.0.zip", &[("Authorization", &dev)]);
    assert_eq!(stored.status, 200);
    assert!(zips.contains(&stored.body), "the stored zip is one publisher's, intact");
    assert_eq!(get(mg.addr, "/corp.example/race/@v/list", &[("Authorization", &dev)]).text(), "v1.0.0\n");
    // A restarted server still knows what was published (no upstream knows this module).
    drop(mg);
    mg = start(&cfg);
    assert_eq!(get(mg.addr, "/corp.example/race/@v/list", &[("Authorization", &dev)]).text(), "v1.0.0\n");
    let latest = get(mg.addr, "/corp.example/race/@latest", &[("Authorization", &dev)]);
    assert!(latest.text().contains("\"Version\":\"v1.0.0\""), "{}", latest.text());

    // Checked before commit: garbage, a wrong module in the zip, non-canonical versions, size.
    let ci = &fx.ci_key;
    assert_eq!(put(mg.addr, "/-/publish/corp.example/bad/@v/v1.0.0", ci, b"not a zip").status, 400);
    let other = module_zip(&fx.tmp.path().join("other"), "corp.example/other", "v1.0.0", "x");
    assert_eq!(put(mg.addr, "/-/publish/corp.example/bad/@v/v1.0.0", ci, &other).status, 400);
    for v in ["v1.0", "master", "v1.0.0+meta", "latest"] {
        let r = put(mg.addr, &format!("/-/publish/corp.example/bad/@v/{v}"), ci, &other);
        assert!(matches!(r.status, 400 | 404), "{v}: {} {}", r.status, r.text());
    }
    let big = vec![0u8; 2 << 20];
    assert_eq!(put(mg.addr, "/-/publish/corp.example/bad/@v/v1.0.0", ci, &big).status, 413);
    // Nothing of the refused publishes was kept.
    assert_eq!(get(mg.addr, "/corp.example/bad/@v/list", &[("Authorization", &dev)]).status, 404);
}

#[test]
fn client_certificates_are_identities() {
    let fx = fixture();
    let ca = TestCa::new("clients CA").unwrap();
    let clients_ca = ca.write(&fx.tmp.path().join("clients-ca.pem")).unwrap();
    let bot = ca.client("ci-bot", "Corp", fx.tmp.path(), "bot").unwrap();
    let stranger = ca.client("stranger", "Elsewhere", fx.tmp.path(), "stranger").unwrap();
    // The policy maps the bot's subject to the devs group.
    let policy = format!("{POLICY}\n[[client_cert]]\nsubject = \"CN=ci-bot, O=Corp\"\ngroups = [\"devs\"]\n");
    std::fs::write(&fx.policy_file, policy).unwrap();
    let base = std::fs::read_to_string(fx.tmp.path().join("modgate.toml")).unwrap();
    let all = &[&rustls::version::TLS13, &rustls::version::TLS12][..];
    let private = "/corp.example/private/@v/list";
    for mode in ["optional", "required"] {
        let cfg = fx.tmp.path().join(format!("mtls-{mode}.toml"));
        let text = base
            .replace("[auth]", &format!("client_ca = \"{}\"\nclient_auth = \"{mode}\"\n[auth]", clients_ca.display()));
        std::fs::write(&cfg, text).unwrap();
        let mg = start(&cfg);
        let (_, status) = tls_request(mg.addr, &fx.ca, "localhost", all, Some(&bot), private, None).unwrap();
        assert!(status.contains("200"), "{mode}: the bot reads private modules: {status}");
        let (_, status) = tls_request(mg.addr, &fx.ca, "localhost", all, Some(&stranger), private, None).unwrap();
        assert!(status.contains("403"), "{mode}: a stranger does not: {status}");
        let (_, status) =
            tls_request(mg.addr, &fx.ca, "localhost", all, Some(&stranger), "/example.com/public/@v/list", None)
                .unwrap();
        assert!(status.contains("200"), "{mode}: but reads public ones as \"*\": {status}");
        // A warm `.mod`, answered by the hot path after its first read: the certificate still
        // decides, on the same TLS connection model.
        let warm = "/corp.example/private/@v/v1.0.0.mod";
        for _ in 0..3 {
            let (_, status) = tls_request(mg.addr, &fx.ca, "localhost", all, Some(&bot), warm, None).unwrap();
            assert!(status.contains("200"), "{mode}: the bot reads the warm mod: {status}");
        }
        let (_, status) = tls_request(mg.addr, &fx.ca, "localhost", all, Some(&stranger), warm, None).unwrap();
        assert!(status.contains("403"), "{mode}: a stranger does not, warm or not: {status}");
        if mode == "optional" {
            let (_, status) = tls_request(mg.addr, &fx.ca, "localhost", all, None, warm, None).unwrap();
            assert!(status.contains("401"), "no certificate on a warm object: {status}");
        }
        let without = tls_request(mg.addr, &fx.ca, "localhost", all, None, private, None);
        match mode {
            "optional" => assert!(without.unwrap().1.contains("401"), "no certificate, no key: 401"),
            _ => assert!(without.is_err(), "a certificate is required: {without:?}"),
        }
        // A certificate from another CA never gets through the handshake.
        let rogue_ca = TestCa::new("rogue").unwrap();
        let rogue = rogue_ca.client("ci-bot", "Corp", fx.tmp.path(), "rogue").unwrap();
        assert!(tls_request(mg.addr, &fx.ca, "localhost", all, Some(&rogue), private, None).is_err());
        let audit = std::fs::read_to_string(&fx.audit).unwrap();
        assert!(audit.contains("cert:CN=ci-bot, O=Corp"), "{audit}");
    }
}

#[test]
fn a_plain_listener_redirects_to_https() {
    let fx = fixture();
    let base = std::fs::read_to_string(fx.tmp.path().join("modgate.toml")).unwrap();
    let cfg = fx.tmp.path().join("redirect.toml");
    std::fs::write(&cfg, base.replace("[auth]", "plain_listen = \"127.0.0.1:0\"\n[auth]")).unwrap();
    let mg = start(&cfg);
    let mut plain = None;
    wait_until(std::time::Duration::from_secs(10), "the plain listener", || {
        plain = mg.logs().iter().find(|l| l.contains("plain HTTP listener")).and_then(|l| {
            l.split_whitespace()
                .find_map(|w| w.strip_prefix("addr="))
                .and_then(|a| a.parse::<std::net::SocketAddr>().ok())
        });
        plain.is_some()
    });
    let plain = plain.unwrap();
    let r = get(plain, "/corp.example/private/@v/list", &[]);
    assert_eq!(r.status, 308);
    let want = format!("https://127.0.0.1:{}/corp.example/private/@v/list", mg.addr.port());
    assert_eq!(r.header("location"), Some(want.as_str()));
    assert!(!r.text().contains("v1.0.0"));
    // Health checks answer over plain HTTP; a hostile Host header gets no redirect.
    assert_eq!(get(plain, "/healthz", &[]).status, 200);
    let r = raw(plain, b"GET /x HTTP/1.1\r\nHost: evil.example/path@x\r\nConnection: close\r\n\r\n").unwrap();
    assert_eq!(r.status, 400);
    let r = raw(plain, b"GET /x HTTP/1.1\r\nHost: user@evil.example\r\nConnection: close\r\n\r\n").unwrap();
    assert_eq!(r.status, 400);
}

#[test]
fn admin_endpoints_and_hidden_denials() {
    let fx = fixture();
    let ops = add_key(&fx.keys_file, "oncall", "ops");
    let mg = start(&plain_config(&fx, "hidden.toml", "", "hide_denied = true\n"));
    let status = get(mg.addr, "/-/admin/status", &[("Authorization", &format!("Bearer {ops}"))]);
    assert_eq!(status.status, 200, "{}", status.text());
    let v: serde_json::Value = serde_json::from_slice(&status.body).unwrap();
    assert!(v["upstream"].as_str().unwrap().starts_with("http://127.0.0.1"), "{v}");
    assert!(v["tasks"].as_u64().is_some_and(|n| n > 0), "the runtime's live tasks: {v}");
    let dev = format!("Bearer {}", fx.dev_key);
    assert_eq!(get(mg.addr, "/-/admin/status", &[("Authorization", &dev)]).status, 404, "hidden like the rest");
    // hide_denied: a refused module looks like one that does not exist.
    let outsider = format!("Bearer {}", fx.outsider_key);
    let r = get(mg.addr, "/corp.example/private/@v/list", &[("Authorization", &outsider)]);
    assert_eq!(r.status, 404);
    assert!(!r.text().contains("may not"), "{}", r.text());
    assert_eq!(get(mg.addr, "/corp.example/private/@v/list", &[("Authorization", &dev)]).status, 200);
}

#[test]
fn the_cipher_suite_list_is_enforced() {
    let tmp = tempfile::tempdir().unwrap();
    let ca = TestCa::new("modgate test CA").unwrap();
    let ca_path = ca.write(&tmp.path().join("ca.pem")).unwrap();
    let a = ca.server(&["a.example"], tmp.path(), "a").unwrap();
    let cfg = tmp.path().join("modgate.toml");
    std::fs::write(
        &cfg,
        format!(
            "upstream = \"off\"\ndata_dir = \"{}\"\n[tls]\ncert = \"{}\"\nkey = \"{}\"\n\
             cipher_suites = [\"TLS13_CHACHA20_POLY1305_SHA256\", \"TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256\"]\n",
            tmp.path().join("data").display(),
            a.cert.display(),
            a.key.display()
        ),
    )
    .unwrap();
    let mg = start(&cfg);
    let all = &[&rustls::version::TLS13, &rustls::version::TLS12][..];
    let ok =
        tls_request(mg.addr, &ca_path, "a.example", all, None, "/healthz", Some(&["TLS13_CHACHA20_POLY1305_SHA256"]));
    assert!(ok.is_ok_and(|(_, s)| s.contains("200")));
    let aes = ["TLS13_AES_128_GCM_SHA256", "TLS13_AES_256_GCM_SHA384", "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256"];
    assert!(tls_request(mg.addr, &ca_path, "a.example", all, None, "/healthz", Some(&aes)).is_err());
    // An unknown suite name is a configuration error naming the key.
    std::fs::write(
        &cfg,
        std::fs::read_to_string(&cfg).unwrap().replace("TLS13_CHACHA20_POLY1305_SHA256", "TLS_RSA_WITH_RC4"),
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_modgate")).args(["config", "check"]).arg(&cfg).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("tls.cipher_suites"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
