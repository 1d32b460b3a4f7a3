//! Reloading the whole configuration while serving: SIGHUP and `POST /-/admin/reload` swap
//! upstreams, routes, limits and the log level; a request in flight finishes on what it
//! started with; a bad file changes nothing and says why; settings only a restart can change
//! are reported.

mod common;
use common::*;
use modgate::config::{self, Overrides};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use testkit::upstream::FakeUpstream;

fn json(r: &Resp) -> serde_json::Value {
    serde_json::from_slice(&r.body).unwrap_or_else(|e| panic!("{e}: {}", r.text()))
}

/// The objects of the graph's first modules: (module, version).
fn objects(fx: &Fixture) -> Vec<(String, String)> {
    fx.graph.modules.iter().map(|m| (m.path.clone(), m.versions[0].version.clone())).collect()
}

#[test]
fn sighup_swaps_upstreams_routes_and_the_log_level_and_reports_what_needs_a_restart() {
    let fx = fixture(4);
    let other = FakeUpstream::start(fx.dir.path());
    let tmp = tempfile::tempdir().unwrap();
    let conf = tmp.path().join("modgate.toml");
    let write = |text: &str| std::fs::write(&conf, text).unwrap();
    write(&format!("upstream = \"{}\"\nlog_level = \"info\"\n", fx.upstream.url()));
    let data = tmp.path().join("data");
    let mg = Process::start(&["--config", conf.to_str().unwrap(), "--data-dir", data.to_str().unwrap()]);
    let objs = objects(&fx);
    let (m0, v0) = &objs[0];
    assert_eq!(get(mg.addr, &obj_path(m0, v0, ".info"), &[]).status, 200);
    assert_eq!(other.total(), 0);
    let access_lines = || mg.logs().iter().filter(|l| l.contains("request_id=")).count();
    wait_until(Duration::from_secs(10), "info: the access line", || access_lines() == 1);

    // Another upstream, a route refusing a module, the access log off, and a setting that needs
    // a restart.
    let (m1, v1) = &objs[1];
    write(&format!(
        "upstream = \"{}\"\nlog_level = \"warn\"\nshutdown_timeout = \"5s\"\n[[route]]\nmodules = \"{}\"\nsource = \"deny\"\n",
        other.url(),
        objs[2].0
    ));
    mg.signal(libc::SIGHUP);
    // The log is read from the child's stderr as it comes: wait for both lines of the reload.
    wait_until(Duration::from_secs(20), "the reload and its restart warning", || {
        let logs = mg.logs();
        logs.iter().any(|l| l.contains("configuration reloaded"))
            && logs.iter().any(|l| l.contains("only after a restart") && l.contains("shutdown_timeout"))
    });
    let path = obj_path(m1, v1, ".info");
    assert_eq!(get(mg.addr, &path, &[]).status, 200);
    assert_eq!((fx.upstream.count(&path), other.count(&path)), (0, 1), "the new upstream is asked, not the old");
    assert_eq!(get(mg.addr, &format!("/{}/@v/list", gomod::path::escape_path(&objs[2].0).unwrap()), &[]).status, 403);
    // The logs are read from the child's stderr as they come: the refusal below is logged after
    // these requests, so once it is seen, any access line of theirs would have been too.
    let quiet_until_here = || access_lines() == 1;

    // A file that does not build changes nothing.
    write("upstream = \"pool:missing\"\n");
    mg.signal(libc::SIGHUP);
    wait_until(Duration::from_secs(20), "the refusal", || {
        mg.logs().iter().any(|l| l.contains("configuration refused"))
    });
    assert!(quiet_until_here(), "warn: no access lines after the reload");
    let (m3, v3) = &objs[3];
    let path = obj_path(m3, v3, ".info");
    assert_eq!(get(mg.addr, &path, &[]).status, 200);
    assert_eq!(other.count(&path), 1, "the upstream in force stays");
}

/// modgate in this process, reloadable from `conf` (with the overrides of `config_from_text`).
fn start_reloadable(conf: &Path, data: &Path) -> InProcess {
    let over = Overrides {
        listen: Some("127.0.0.1:0".into()),
        data_dir: Some(data.display().to_string()),
        log_level: Some("debug".into()),
        ..Overrides::default()
    };
    let load = {
        let (conf, over) = (conf.to_path_buf(), over.clone());
        move || -> Result<config::Config, String> {
            let text = std::fs::read_to_string(&conf).map_err(|e| e.to_string())?;
            config::load_text(Some((&conf, &text)), &over, &config::Defaults::default()).map_err(|e| e.to_string())
        }
    };
    let cfg = load().expect("configuration");
    InProcess::start_with(cfg, Some(Arc::new(load)))
}

fn auth_section(dir: &Path) -> (String, String) {
    std::fs::write(dir.join("policy.toml"), "admin = [\"ops\"]\n[[rule]]\nmodules = \"*\"\nread = [\"*\"]\n").unwrap();
    let keys = dir.join("keys.toml");
    let key = new_key(&keys, "ops-bot", "ops");
    let section = format!(
        "[auth]\nkeys_file = \"{}\"\npolicy_file = \"{}\"\n",
        keys.display(),
        dir.join("policy.toml").display()
    );
    (section, format!("Bearer {key}"))
}

#[test]
fn admin_reload_applies_refuses_and_reports_and_requests_in_flight_finish_on_the_old_upstream() {
    let fx = fixture(3);
    let slow = FakeUpstream::start(fx.dir.path());
    slow.set_latency(Duration::from_millis(1500));
    let tmp = tempfile::tempdir().unwrap();
    let (auth, ops) = auth_section(tmp.path());
    let conf: PathBuf = tmp.path().join("modgate.toml");
    let data = tmp.path().join("data");
    std::fs::write(&conf, format!("upstream = \"{}\"\n{auth}", slow.url())).unwrap();
    let mg = start_reloadable(&conf, &data);
    let objs = objects(&fx);
    let (m0, v0) = objs[0].clone();

    // A request waits on the slow upstream while the configuration moves to the fast one.
    let addr = mg.addr;
    let key = ops.clone();
    let in_flight =
        std::thread::spawn(move || get(addr, &obj_path(&m0, &v0, ".info"), &[("Authorization", key.as_str())]));
    wait_until(Duration::from_secs(10), "the request reaches the slow upstream", || slow.total() > 0);
    std::fs::write(&conf, format!("upstream = \"{}\"\n{auth}", fx.upstream.url())).unwrap();
    let r = request(mg.addr, "POST", "/-/admin/reload", &[("Authorization", &ops)]);
    assert_eq!(r.status, 200, "{}", r.text());
    let report = json(&r);
    assert_eq!(report["applied"], true);
    assert_eq!(report["trigger"], "admin");
    assert_eq!(report["restart_needed"], serde_json::json!([]));
    let done = in_flight.join().unwrap();
    assert_eq!(done.status, 200, "the request in flight finished on the upstream it started with");
    let (m1, v1) = &objs[1];
    let path = obj_path(m1, v1, ".info");
    assert_eq!(get(mg.addr, &path, &[("Authorization", &ops)]).status, 200);
    assert_eq!((slow.count(&path), fx.upstream.count(&path)), (0, 1), "new requests go to the new upstream");

    // Refused: the reason is answered, logged and shown; the configuration in force stays.
    std::fs::write(&conf, format!("upstream = \"pool:nowhere\"\n{auth}")).unwrap();
    let r = request(mg.addr, "POST", "/-/admin/reload", &[("Authorization", &ops)]);
    assert_eq!(r.status, 400, "{}", r.text());
    let report = json(&r);
    assert_eq!(report["applied"], false);
    assert!(report["error"].as_str().unwrap().contains("nowhere"), "{report}");
    let status = json(&get(mg.addr, "/-/admin/status", &[("Authorization", &ops)]));
    assert_eq!(status["reload"]["applied"], false);
    assert!(status["upstream"].as_str().unwrap().contains(&fx.upstream.url()), "{status}");
    let (m2, v2) = &objs[2];
    assert_eq!(get(mg.addr, &obj_path(m2, v2, ".info"), &[("Authorization", &ops)]).status, 200);

    // What only a restart changes is reported, and the rest applied.
    std::fs::write(
        &conf,
        format!("upstream = \"{}\"\nlisten = \"127.0.0.1:1\"\n{auth}[cache]\nmemory_mb = 7\n", fx.upstream.url()),
    )
    .unwrap();
    let r = request(mg.addr, "POST", "/-/admin/reload", &[("Authorization", &ops)]);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(json(&r)["restart_needed"], serde_json::json!(["cache.memory_mb"]), "listen is overridden by the flag");

    // Only POST, and only for the admin groups.
    assert_eq!(get(mg.addr, "/-/admin/reload", &[("Authorization", &ops)]).status, 405);
    assert_eq!(request(mg.addr, "POST", "/-/admin/reload", &[]).status, 401);
    assert_eq!(request(mg.addr, "POST", "/-/admin/status", &[("Authorization", &ops)]).status, 405);
}

#[test]
fn a_reload_starts_new_pools_with_their_health_checks() {
    let fx = fixture(2);
    let second = FakeUpstream::start(fx.dir.path());
    let tmp = tempfile::tempdir().unwrap();
    let (auth, ops) = auth_section(tmp.path());
    let conf = tmp.path().join("modgate.toml");
    std::fs::write(&conf, format!("upstream = \"{}\"\n{auth}", fx.upstream.url())).unwrap();
    let mg = start_reloadable(&conf, &tmp.path().join("data"));
    let pool = format!(
        "upstream = \"pool:mirrors\"\n{auth}[[pool]]\nname = \"mirrors\"\nmembers = [{{ url = \"{}\" }}, {{ url = \"{}\" }}]\n\
         [pool.health]\npath = \"/health-check\"\ninterval = \"100ms\"\nunhealthy = 1\n",
        fx.upstream.url(),
        second.url()
    );
    std::fs::write(&conf, pool).unwrap();
    second.fault("/health-check", testkit::upstream::Fault::Status(503));
    let r = request(mg.addr, "POST", "/-/admin/reload", &[("Authorization", &ops)]);
    assert_eq!(r.status, 200, "{}", r.text());
    // The new pool's checks run (on the server's runtime, started from the reload's thread).
    wait_until(Duration::from_secs(10), "the failing member taken out", || {
        let status = json(&get(mg.addr, "/-/admin/status", &[("Authorization", &ops)]));
        status["pools"][0]["members"][1]["healthy"] == false && status["pools"][0]["members"][0]["healthy"] == true
    });
    let objs = objects(&fx);
    let path = obj_path(&objs[0].0, &objs[0].1, ".info");
    assert_eq!(get(mg.addr, &path, &[("Authorization", &ops)]).status, 200);
    assert_eq!((fx.upstream.count(&path), second.count(&path)), (1, 0), "served by the healthy member");
}
