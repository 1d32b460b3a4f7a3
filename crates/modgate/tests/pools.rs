//! Upstream pools (`[[pool]]`, `pool:NAME`): the real go command through a pool of two
//! upstreams, one of them killed mid-run; a member answering 503 is ejected while every
//! request is still served by the other.

mod common;
use common::*;
use modgate::config::{self, Overrides};
use std::path::Path;
use std::time::Duration;
use testkit::gorun::{parse_download_json, GoEnv};
use testkit::upstream::{FakeUpstream, Fault};

fn pool_config(dir: &Path, members: &[String], extra: &str) -> config::Config {
    let members: Vec<String> = members.iter().map(|u| format!("{{ url = \"{u}\" }}")).collect();
    let text = format!(
        "upstream = \"pool:mirrors\"\n[[pool]]\nname = \"mirrors\"\nmembers = [{}]\n{extra}\n",
        members.join(", ")
    );
    let path = dir.join("modgate.toml");
    std::fs::write(&path, &text).unwrap();
    let over = Overrides {
        listen: Some("127.0.0.1:0".into()),
        data_dir: Some(dir.join("data").display().to_string()),
        upstream: None,
        log_level: Some("debug".into()),
        log_format: None,
    };
    config::load_text(Some((&path, &text)), &over, &config::Defaults::default()).expect("pool config")
}

/// `[auth]` with one group, `ops`, that may read everything and is the admin group; the
/// Authorization header of a key in it.
fn admin_key(cfg: &mut config::Config, dir: &Path) -> String {
    let keys = with_auth(cfg, dir, "admin = [\"ops\"]\n[[rule]]\nmodules = \"*\"\nread = [\"ops\"]\n");
    format!("Bearer {}", new_key(&keys, "oncall", "ops"))
}

#[test]
fn go_mod_download_all_survives_a_pool_member_killed_mid_run() {
    let fx = fixture(120);
    let second = FakeUpstream::start(fx.dir.path());
    let tmp = tempfile::tempdir().unwrap();
    let cfg = pool_config(tmp.path(), &[fx.upstream.url(), second.url()], "retries = 1\neject_after = 2");
    let mg = InProcess::start(cfg);

    // The second member dies once it has served a share of the run.
    let killer = std::thread::spawn(move || {
        wait_until(Duration::from_secs(120), "the second member served 20 requests", || second.total() >= 20);
        let served = second.total();
        second.stop();
        served
    });
    let go = GoEnv::new(&mg.url()).unwrap();
    fx.graph.write_root_module(&go.work(), "example.com/root").unwrap();
    let out = go.run(&go.work(), &["mod", "download", "-json", "all"]).unwrap();
    let served_by_second = killer.join().unwrap();
    let expected = fx.graph.expected_sums();
    let mut checked = 0;
    for d in parse_download_json(&out.stdout).unwrap() {
        if d.path == "example.com/root" {
            continue;
        }
        assert!(d.error.is_none(), "{}@{}: {:?}", d.path, d.version, d.error);
        let (zip_h1, mod_h1) = &expected[&(d.path.clone(), d.version.clone())];
        assert_eq!((&d.sum, &d.go_mod_sum), (zip_h1, mod_h1), "{}@{}", d.path, d.version);
        checked += 1;
    }
    assert!(checked >= 100, "only {checked} modules");
    // go.sum as the go command writes it: every line the graph's own hash.
    go.run(&go.work(), &["mod", "download", "all"]).unwrap();
    let sums = std::fs::read_to_string(go.work().join("go.sum")).unwrap_or_default();
    for line in sums.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        let (version, is_mod) = f[1].strip_suffix("/go.mod").map_or((f[1], false), |v| (v, true));
        let (zip_h1, mod_h1) = &expected[&(f[0].to_string(), version.to_string())];
        assert_eq!(f[2], if is_mod { mod_h1 } else { zip_h1 }, "{line}");
    }
    let first = fx.upstream.total();
    eprintln!("pool: {checked} modules; the killed member served {served_by_second}, the other {first}");
    assert!(served_by_second >= 20 && first > served_by_second, "both members worked: {served_by_second}, {first}");
}

#[test]
fn a_member_answering_503_is_ejected_and_nothing_fails() {
    let fx = fixture(20);
    let sick = FakeUpstream::start(fx.dir.path());
    sick.fault_every(1, vec![Fault::Status(503)]);
    let tmp = tempfile::tempdir().unwrap();
    let mut cfg = pool_config(
        tmp.path(),
        &[sick.url(), fx.upstream.url()],
        "eject_after = 2\neject_for = \"60s\"\n[prefetch]\nenabled = false",
    );
    let ops = admin_key(&mut cfg, tmp.path());
    let mg = InProcess::start(cfg);
    let mut asked = 0;
    for m in &fx.graph.modules {
        for v in &m.versions {
            let r = get(mg.addr, &obj_path(&m.path, &v.version, ".info"), &[("Authorization", &ops)]);
            assert_eq!(r.status, 200, "{}@{}: {}", m.path, v.version, r.text());
            asked += 1;
        }
    }
    assert!(asked >= 20);
    // Requests come one at a time (no prefetch): two failures in a row eject it, and it is not
    // asked again within the minute.
    assert_eq!(sick.total(), 2, "the sick member was asked {} times", sick.total());
    // The admin status shows each member's health.
    let status = get(mg.addr, "/-/admin/status", &[("Authorization", &ops)]);
    assert_eq!(status.status, 200, "{}", status.text());
    let v: serde_json::Value = serde_json::from_str(&status.text()).unwrap();
    let members = &v["pools"][0]["members"];
    assert_eq!(v["pools"][0]["name"], "mirrors");
    assert_eq!(members[0]["url"], sick.url().as_str());
    assert_eq!(members[0]["healthy"], false);
    assert_eq!(members[1]["healthy"], true);
}

#[test]
fn active_checks_take_a_member_out_and_bring_it_back() {
    let fx = fixture(10);
    let flaky = FakeUpstream::start(fx.dir.path());
    flaky.fault("/health-check", Fault::Status(503));
    let tmp = tempfile::tempdir().unwrap();
    let health =
        "[pool.health]\npath = \"/health-check\"\ninterval = \"100ms\"\ntimeout = \"1s\"\nhealthy = 2\nunhealthy = 2\n";
    let extra = format!("slow_start = \"0s\"\n{health}[prefetch]\nenabled = false");
    let mut cfg = pool_config(tmp.path(), &[flaky.url(), fx.upstream.url()], &extra);
    let ops = admin_key(&mut cfg, tmp.path());
    let mg = InProcess::start(cfg);
    let healthy = |i: usize| {
        let status = get(mg.addr, "/-/admin/status", &[("Authorization", &ops)]);
        let v: serde_json::Value = serde_json::from_str(&status.text()).unwrap();
        v["pools"][0]["members"][i]["healthy"] == true
    };
    wait_until(Duration::from_secs(10), "the failing member taken out", || !healthy(0));
    assert!(healthy(1));
    // `/metrics` says the same.
    let metrics = get(mg.addr, "/metrics", &[("Authorization", &ops)]).text();
    for (url, up) in [(flaky.url(), 0), (fx.upstream.url(), 1)] {
        let line = format!("modgate_pool_member_healthy{{group=\"mirrors\",member=\"{url}\"}} {up}");
        assert!(metrics.lines().any(|l| l == line), "{line} in\n{metrics}");
    }
    // While it is out, module requests go to the other member only.
    let before = flaky.total() - flaky.count("/health-check");
    for m in &fx.graph.modules {
        let v = &m.versions[0];
        let r = get(mg.addr, &obj_path(&m.path, &v.version, ".info"), &[("Authorization", &ops)]);
        assert_eq!(r.status, 200, "{}", r.text());
    }
    assert_eq!(flaky.total() - flaky.count("/health-check"), before, "no module request reached it");
    // Its checks pass again: it comes back.
    flaky.clear_faults();
    wait_until(Duration::from_secs(10), "the member back", || healthy(0));
}

#[test]
fn a_member_slower_than_the_pool_timeout_is_passed_over() {
    let fx = fixture(10);
    let slow = FakeUpstream::start(fx.dir.path());
    slow.set_latency(Duration::from_secs(5));
    let tmp = tempfile::tempdir().unwrap();
    let extra = "timeout = \"300ms\"\nretries = 1\neject_after = 1\neject_for = \"60s\"\n[prefetch]\nenabled = false";
    let mg = InProcess::start(pool_config(tmp.path(), &[slow.url(), fx.upstream.url()], extra));
    let start = std::time::Instant::now();
    for m in &fx.graph.modules {
        let r = get(mg.addr, &obj_path(&m.path, &m.versions[0].version, ".info"), &[]);
        assert_eq!(r.status, 200, "{}", r.text());
    }
    // One request waited out the timeout, which ejected the slow member; the rest went by it.
    let took = start.elapsed();
    assert_eq!(slow.total(), 1, "the slow member was asked {} times", slow.total());
    assert!(took < Duration::from_secs(4), "no request waited for the slow member: {took:?}");
}

#[test]
fn a_zip_cut_off_by_one_member_is_finished_by_another() {
    let (whole, failures, cut) = cut_zips(10, None, false);
    assert!(failures.is_empty(), "{failures:?}");
    eprintln!("{whole} zips, {cut} of them cut off after 100 bytes and finished by the other member");
    assert!(cut >= 3, "round robin sent the cutting member some zips: {cut}");
}

/// Every zip of an `n`-module graph through a pool of a member that cuts zips off after 100
/// bytes and a good one (each sending the given ETag, if any; the good one, with `other_bytes`,
/// holding zips of the same length with a byte changed): how many came back whole (each
/// checked against its hash), which failed, and how many the cutting member was asked for.
fn cut_zips(n: usize, etags: Option<(&str, &str)>, other_bytes: bool) -> (usize, Vec<String>, usize) {
    let fx = fixture(n);
    let cutting = FakeUpstream::start(fx.dir.path());
    cutting.fault(".zip", Fault::Truncate(100));
    if let Some((first, second)) = etags {
        cutting.set_etag(first);
        fx.upstream.set_etag(second);
    }
    if other_bytes {
        // The other member holds zips of the same length with one byte changed, early enough
        // that the cut-off part already holds it.
        for m in &fx.graph.modules {
            for v in &m.versions {
                let path = obj_path(&m.path, &v.version, ".zip");
                let mut bytes = std::fs::read(fx.dir.path().join(&path[1..])).unwrap();
                bytes[40] ^= 0x20;
                fx.upstream.fault(&path, Fault::Body(bytes));
            }
        }
    }
    let tmp = tempfile::tempdir().unwrap();
    let extra = "eject_after = 100\n[prefetch]\nenabled = false";
    let mg = InProcess::start(pool_config(tmp.path(), &[cutting.url(), fx.upstream.url()], extra));
    let expected = fx.graph.expected_sums();
    let (mut whole, mut failures) = (0, Vec::new());
    for m in &fx.graph.modules {
        for v in &m.versions {
            let r = get(mg.addr, &obj_path(&m.path, &v.version, ".zip"), &[]);
            if r.status != 200 {
                failures.push(format!("{}@{}: {} {}", m.path, v.version, r.status, r.text()));
                continue;
            }
            let h1 = gomod::dirhash::hash_zip(std::io::Cursor::new(&r.body)).unwrap();
            assert_eq!(h1, expected[&(m.path.clone(), v.version.clone())].0, "{}@{}", m.path, v.version);
            whole += 1;
        }
    }
    (whole, failures, cutting.count_suffix(".zip"))
}

/// Eight clients asking for every `.info` of a 120-module graph at once through a pool of a
/// fast member and one with ten times its latency: the share of requests the slow one got.
fn slow_share(balance: &str) -> f64 {
    let fx = fixture(120);
    let slow = FakeUpstream::start(fx.dir.path());
    // Latencies well above a debug build's own time per request, even on a busy machine (tests
    // run side by side on two cores, and a loaded CI machine stretched 10 ms into ties that
    // least_conn breaks in turn), so that the tenfold difference is what the balancer sees.
    fx.upstream.set_latency(Duration::from_millis(40));
    slow.set_latency(Duration::from_millis(400));
    let tmp = tempfile::tempdir().unwrap();
    let extra = format!("balance = \"{balance}\"\n[prefetch]\nenabled = false");
    let mg = InProcess::start(pool_config(tmp.path(), &[slow.url(), fx.upstream.url()], &extra));
    let paths: Vec<String> = fx
        .graph
        .modules
        .iter()
        .flat_map(|m| m.versions.iter().map(|v| obj_path(&m.path, &v.version, ".info")))
        .collect();
    let addr = mg.addr;
    let clients: Vec<_> = paths
        .chunks(paths.len().div_ceil(8))
        .map(|chunk| {
            let chunk = chunk.to_vec();
            std::thread::spawn(move || {
                for p in chunk {
                    assert_eq!(get(addr, &p, &[]).status, 200, "{p}");
                }
            })
        })
        .collect();
    for c in clients {
        c.join().unwrap();
    }
    let (s, f) = (slow.total() as f64, fx.upstream.total() as f64);
    eprintln!("{balance}: slow member {s}, fast member {f} of {} requests", paths.len());
    s / (s + f)
}

#[test]
fn least_conn_and_p2c_spare_a_member_ten_times_slower() {
    // Round robin would give it half. Least connections: the slow member holds its requests
    // ten times longer, so it is the busier one most of the time: at most a third.
    let lc = slow_share("least_conn");
    assert!(lc <= 1.0 / 3.0, "least_conn gave the slow member {:.0}%", lc * 100.0);
    // p2c weighs the latency EWMA too: at most a sixth.
    let p2c = slow_share("p2c");
    assert!(p2c <= 1.0 / 6.0, "p2c gave the slow member {:.0}%", p2c * 100.0);
}

#[test]
fn a_member_that_keeps_breaking_off_zips_is_ejected() {
    let fx = fixture(10);
    let cutting = FakeUpstream::start(fx.dir.path());
    cutting.fault(".zip", Fault::Truncate(100));
    let tmp = tempfile::tempdir().unwrap();
    let extra = "eject_after = 2\neject_for = \"60s\"\n[prefetch]\nenabled = false";
    let mg = InProcess::start(pool_config(tmp.path(), &[cutting.url(), fx.upstream.url()], extra));
    let versions: Vec<(String, String)> =
        fx.graph.modules.iter().flat_map(|m| m.versions.iter().map(|v| (m.path.clone(), v.version.clone()))).collect();
    // go.mod files first (the cutting member serves those whole), then the zips alone.
    for (m, v) in &versions {
        assert_eq!(get(mg.addr, &obj_path(m, v, ".mod"), &[]).status, 200);
    }
    for (m, v) in &versions {
        let r = get(mg.addr, &obj_path(m, v, ".zip"), &[]);
        assert_eq!(r.status, 200, "{m}@{v}: {}", r.text());
    }
    // Two bodies broken off in a row count as two failures: ejected, it gets no more zips.
    assert_eq!(cutting.count_suffix(".zip"), 2, "zips asked of the cutting member");
}

#[test]
fn a_cut_zip_is_resumed_or_restarted_but_never_spliced_from_other_bytes() {
    // The same validators: the rest is taken with a range.
    let (_, failures, cut) = cut_zips(6, Some(("\"same\"", "\"same\"")), false);
    assert!(cut >= 2, "the cutting member got zips");
    assert!(failures.is_empty(), "agreeing members finish each other's zips: {failures:?}");
    // Other validators over the same bytes: the other member's whole answer is read again, its
    // start compared with what went out, and the zip completed.
    let (_, failures, cut) = cut_zips(6, Some(("\"v1\"", "\"v2\"")), false);
    assert!(cut >= 2, "the cutting member got zips");
    assert!(failures.is_empty(), "the same bytes under other validators restart the zip: {failures:?}");
    // Other bytes (a changed byte in a zip header, which the module's hash does not cover): a
    // zip the other member serves from its start is whole, but one the cutting member began is
    // never finished from it (every 200 is checked against go's hash too).
    let (whole, failures, cut) = cut_zips(6, Some(("\"v1\"", "\"v2\"")), true);
    assert!(cut >= 2, "the cutting member got zips");
    assert_eq!(failures.len(), cut, "each zip begun elsewhere fails ({whole} whole): {failures:?}");
}
