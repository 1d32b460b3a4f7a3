//! Several replicas sharing one bucket (a real S3-compatible server) and one Redis (Debian's
//! redis-server), each with its own disk: a cold object is fetched from the upstream once
//! however many replicas miss it, and Redis going away fails no request.

mod common;
use common::*;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use testkit::graph::{big_module, Graph};
use testkit::redis::RedisServer;
use testkit::s3::S3Server;
use testkit::upstream::FakeUpstream;

const BUCKET: &str = "replicas";

struct Shared {
    tmp: tempfile::TempDir,
    s3: S3Server,
    redis: RedisServer,
}

fn shared() -> Shared {
    let tmp = tempfile::tempdir().unwrap();
    let s3 = S3Server::start(&tmp.path().join("s3"), BUCKET).unwrap();
    let redis = RedisServer::start(&tmp.path().join("redis")).unwrap();
    Shared { tmp, s3, redis }
}

impl Shared {
    /// `n` replicas in this process, each with its own data directory.
    fn replicas(&self, n: usize, upstream: &str, extra: &str) -> Vec<InProcess> {
        (0..n)
            .map(|i| {
                let dir = self.tmp.path().join(format!("replica-{i}"));
                std::fs::create_dir_all(&dir).unwrap();
                // Limits for a loaded test machine (a herd of debug-built clients and servers on
                // two cores): a command or an upload that is merely slow must not count as an
                // outage here; outages are tested on purpose below.
                let storage = self.s3.storage_toml(BUCKET, "cache").replace("timeout = \"5s\"", "timeout = \"60s\"");
                let coordination = self.redis.coordination_toml("30s").replace("500ms", "5s");
                let text = format!("upstream = \"{upstream}\"\n{extra}\n{storage}{coordination}");
                InProcess::start(config_from_text(&dir, &text))
            })
            .collect()
    }
}

/// A GET whose body is compared with `want` as it arrives (300 clients of a 50 MB zip hold no
/// bodies): the status, how many bytes came, whether they all matched, and the head.
fn get_compare(addr: std::net::SocketAddr, path: &str, want: &[u8]) -> (u16, usize, bool, String) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).expect("connect");
    write!(s, "GET {path} HTTP/1.1\r\nHost: m\r\nConnection: close\r\n\r\n").expect("send");
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if s.read(&mut byte).expect("read the head") == 0 {
            return (0, 0, false, String::from_utf8_lossy(&head).into_owned());
        }
        head.push(byte[0]);
    }
    let status = String::from_utf8_lossy(&head[9..12]).parse().unwrap_or(0);
    let (mut len, mut same, mut buf) = (0, true, vec![0u8; 256 * 1024]);
    loop {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                same &= want.get(len..len + n) == Some(&buf[..n]);
                len += n;
            }
        }
    }
    (status, len, same, String::from_utf8_lossy(&head).into_owned())
}

#[test]
fn three_replicas_fetch_a_cold_zip_from_the_upstream_once() {
    let m = big_module("example.com/big/shared", "v1.0.0", 50 << 20, 5);
    let g = Graph { modules: vec![m] };
    let dir = tempfile::tempdir().unwrap();
    g.write_proxy_dir(dir.path()).unwrap();
    let zip = g.modules[0].versions[0].zip_bytes(&g.modules[0].path);
    let upstream = FakeUpstream::start(dir.path());
    // The herd arrives while the fill is under way; correctness does not depend on it.
    upstream.set_latency(Duration::from_millis(300));
    let sh = shared();
    let replicas = sh.replicas(3, &upstream.url(), "[prefetch]\nenabled = false");
    let path = obj_path("example.com/big/shared", "v1.0.0", ".zip");
    let zip = Arc::new(zip);
    let clients: Vec<_> = (0..300)
        .map(|i| {
            let (addr, p, want) = (replicas[i % 3].addr, path.clone(), zip.clone());
            std::thread::spawn(move || (i % 3, get_compare(addr, &p, &want)))
        })
        .collect();
    for c in clients {
        let (replica, (status, len, same, head)) = c.join().unwrap();
        assert_eq!((status, len), (200, zip.len()), "replica {replica}: {head}");
        assert!(same, "replica {replica}: the bytes are the upstream's");
    }
    assert_eq!(upstream.count(&path), 1, "upstream zip requests, over three replicas");
    assert_eq!(upstream.count(&obj_path("example.com/big/shared", "v1.0.0", ".mod")), 1, "upstream mod requests");
    let keys: Vec<String> = sh.s3.files(BUCKET).into_iter().filter(|f| f.starts_with("cache/")).collect();
    assert_eq!(
        keys,
        vec!["cache/example.com/big/shared/@v/v1.0.0.mod", "cache/example.com/big/shared/@v/v1.0.0.zip"],
        "the bucket holds the two objects and nothing else"
    );
}

#[test]
fn redis_restarted_under_load_fails_no_request() {
    let fx = fixture(60);
    let mut sh = shared();
    let replicas = sh.replicas(2, &fx.upstream.url(), "");
    let paths: Vec<String> = fx
        .graph
        .modules
        .iter()
        .flat_map(|m| {
            // Lists read their shared answer from Redis each time: the load keeps asking it.
            let objects =
                m.versions.iter().flat_map(|v| [".info", ".mod", ".zip"].map(|e| obj_path(&m.path, &v.version, e)));
            objects.chain([obj_path(&m.path, "list", "")]).collect::<Vec<_>>()
        })
        .collect();
    let paths = Arc::new(paths);
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicUsize::new(0));
    let clients: Vec<_> = (0..4)
        .map(|c| {
            let (paths, stop, done, addr) = (paths.clone(), stop.clone(), done.clone(), replicas[c % 2].addr);
            std::thread::spawn(move || {
                let mut failures = Vec::new();
                let mut i = c * 17;
                while !stop.load(Ordering::Relaxed) {
                    let p = &paths[i % paths.len()];
                    let r = get(addr, p, &[]);
                    if r.status != 200 {
                        failures.push(format!("{p}: {} {}", r.status, r.text()));
                    }
                    done.fetch_add(1, Ordering::Relaxed);
                    i += 1;
                }
                failures
            })
        })
        .collect();
    // Requests before, during and after the outage.
    let wait_for = |n: usize| {
        let start = std::time::Instant::now();
        while done.load(Ordering::Relaxed) < n {
            assert!(start.elapsed() < Duration::from_secs(60), "the load stalled at {}", done.load(Ordering::Relaxed));
            std::thread::sleep(Duration::from_millis(5));
        }
    };
    wait_for(100);
    sh.redis.stop();
    let at_stop = done.load(Ordering::Relaxed);
    wait_for(at_stop + 100);
    // A replica that needed Redis meanwhile found it down (one that did not, did not look).
    let metrics: Vec<String> = replicas.iter().map(|r| get(r.addr, "/metrics", &[]).text()).collect();
    let down = metrics.iter().filter(|m| m.contains("modgate_coordination_up 0")).count();
    assert!(down >= 1, "Redis shows as down while it is");
    assert!(metrics.iter().all(|m| !m.contains("modgate_coordination_outages_total 2")), "one outage is counted once");
    sh.redis.resume().unwrap();
    let at_resume = done.load(Ordering::Relaxed);
    wait_for(at_resume + 200);
    stop.store(true, Ordering::Relaxed);
    let failures: Vec<String> = clients.into_iter().flat_map(|c| c.join().unwrap()).collect();
    assert!(failures.is_empty(), "{} failed requests: {:?}", failures.len(), &failures[..failures.len().min(5)]);
    // Found again by the probe, and back in use: shared answers are written to Redis again.
    let start = std::time::Instant::now();
    while !replicas.iter().all(|r| get(r.addr, "/metrics", &[]).text().contains("modgate_coordination_up 1")) {
        assert!(start.elapsed() < Duration::from_secs(20), "Redis never showed as back");
        std::thread::sleep(Duration::from_millis(20));
    }
    loop {
        let keys = sh.redis.command("DBSIZE").unwrap();
        if keys.trim_start_matches(':').trim().parse::<u64>().unwrap_or(0) > 0 {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(20), "nothing written to Redis after its return");
        let m = &fx.graph.modules[start.elapsed().as_millis() as usize % fx.graph.modules.len()];
        get(replicas[0].addr, &format!("/{}/@v/list", m.path), &[]);
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_replica_killed_mid_fill_is_taken_over_and_nothing_partial_reaches_the_bucket() {
    let m = big_module("example.com/big/killed", "v1.0.0", 4 << 20, 9);
    let g = Graph { modules: vec![m] };
    let dir = tempfile::tempdir().unwrap();
    g.write_proxy_dir(dir.path()).unwrap();
    let zip = g.modules[0].versions[0].zip_bytes(&g.modules[0].path);
    let upstream = FakeUpstream::start(dir.path());
    // About two seconds for the zip, each time it is fetched.
    let drip = testkit::upstream::Fault::SlowDrip { chunk: 128 * 1024, every: Duration::from_millis(60) };
    upstream.fault(".zip", drip);
    let sh = shared();
    let config = |name: &str| {
        let d = sh.tmp.path().join(name);
        std::fs::create_dir_all(&d).unwrap();
        let text = format!(
            "upstream = \"{}\"\ndata_dir = \"{}\"\n[prefetch]\nenabled = false\n{}{}",
            upstream.url(),
            d.join("data").display(),
            sh.s3.storage_toml(BUCKET, "cache"),
            sh.redis.coordination_toml("2s")
        );
        (text, d)
    };
    let (a_text, a_dir) = config("a");
    let (b_text, b_dir) = config("b");
    let mut a = Process::start_config(&a_text, &a_dir);
    let b = Process::start_config(&b_text, &b_dir);
    let path = obj_path("example.com/big/killed", "v1.0.0", ".zip");
    let key = "cache/example.com/big/killed/@v/v1.0.0.zip".to_string();

    // The bucket, listed all along: the zip's key never shows anything but the whole zip.
    let watching = Arc::new(AtomicBool::new(true));
    let watcher = {
        let (watching, root, key, len) =
            (watching.clone(), sh.tmp.path().join("s3").join(BUCKET), key.clone(), zip.len());
        std::thread::spawn(move || {
            let mut seen = Vec::new();
            while watching.load(Ordering::Relaxed) {
                if let Ok(m) = std::fs::metadata(root.join(&key)) {
                    if m.len() as usize != len {
                        seen.push(m.len());
                    }
                }
                std::thread::sleep(Duration::from_millis(2));
            }
            seen
        })
    };

    let a_addr = a.addr;
    let first = std::thread::spawn({
        let p = path.clone();
        move || get(a_addr, &p, &[])
    });
    let start = std::time::Instant::now();
    while upstream.count(&path) == 0 {
        assert!(start.elapsed() < Duration::from_secs(20), "replica A never asked the upstream");
        std::thread::sleep(Duration::from_millis(5));
    }
    // B misses while A holds the lease: it waits instead of fetching.
    let b_addr = b.addr;
    let second = std::thread::spawn({
        let p = path.clone();
        move || get(b_addr, &p, &[])
    });
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(upstream.count(&path), 1, "B waits for A's fill");
    a.kill9();
    let killed = std::time::Instant::now();
    let _ = first.join();
    let r = second.join().unwrap();
    let took = killed.elapsed();
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.body == zip, "B's answer is the upstream's zip");
    assert_eq!(upstream.count(&path), 2, "B fetched once, after A's lease ran out");
    // The lease (2 s) plus one fetch (about 2 s), with room for a loaded machine.
    assert!(took < Duration::from_secs(12), "B took {took:?} after A died");
    watching.store(false, Ordering::Relaxed);
    let partial = watcher.join().unwrap();
    assert!(partial.is_empty(), "the bucket showed a partial zip: sizes {partial:?}");
    assert_eq!(std::fs::metadata(sh.tmp.path().join("s3").join(BUCKET).join(&key)).unwrap().len() as usize, zip.len());
    drop(b);
}

#[test]
fn two_replicas_publishing_one_version_make_exactly_one() {
    let sh = shared();
    let policy = "[[rule]]\nmodules = \"*\"\nread = [\"ci\"]\nwrite = [\"ci\"]\n";
    let auth_dir = sh.tmp.path().join("auth");
    std::fs::create_dir_all(&auth_dir).unwrap();
    let mut key = String::new();
    let replicas: Vec<InProcess> = (0..2)
        .map(|i| {
            let dir = sh.tmp.path().join(format!("publisher-{i}"));
            std::fs::create_dir_all(&dir).unwrap();
            let text = format!(
                "upstream = \"off\"\n{}{}",
                sh.s3.storage_toml(BUCKET, "cache"),
                sh.redis.coordination_toml("5s")
            );
            let mut cfg = config_from_text(&dir, &text);
            let keys = with_auth(&mut cfg, &auth_dir, policy);
            if key.is_empty() {
                key = new_key(&keys, "ci", "ci");
            }
            InProcess::start(cfg)
        })
        .collect();
    let path = "/-/publish/corp.example/race/@v/v1.0.0";
    let zips: Vec<Vec<u8>> = (0..6)
        .map(|i| module_zip(&sh.tmp.path().join(format!("zip{i}")), "corp.example/race", "v1.0.0", &format!("zip {i}")))
        .collect();
    let barrier = Arc::new(std::sync::Barrier::new(zips.len()));
    let handles: Vec<_> = zips
        .iter()
        .cloned()
        .enumerate()
        .map(|(i, z)| {
            let (b, key, addr) = (barrier.clone(), key.clone(), replicas[i % 2].addr);
            std::thread::spawn(move || {
                b.wait();
                put(addr, path, &key, &z).status
            })
        })
        .collect();
    let statuses: Vec<u16> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    assert_eq!(statuses.iter().filter(|s| **s == 201).count(), 1, "{statuses:?}");
    assert_eq!(statuses.iter().filter(|s| **s == 409).count(), zips.len() - 1, "{statuses:?}");
    // Both replicas serve the winner's bytes, and both list the version.
    let auth = format!("Bearer {key}");
    let a = get(replicas[0].addr, "/corp.example/race/@v/v1.0.0.zip", &[("Authorization", &auth)]);
    let b = get(replicas[1].addr, "/corp.example/race/@v/v1.0.0.zip", &[("Authorization", &auth)]);
    assert_eq!((a.status, b.status), (200, 200));
    assert!(a.body == b.body && zips.contains(&a.body), "one publisher's zip, whole, on both replicas");
    for r in &replicas {
        assert_eq!(get(r.addr, "/corp.example/race/@v/list", &[("Authorization", &auth)]).text(), "v1.0.0\n");
    }
}

#[test]
fn a_version_the_upstream_does_not_have_is_asked_for_once_over_two_replicas() {
    let fx = fixture(4);
    // Both replicas miss at once, while the first one's question is still out.
    fx.upstream.set_latency(Duration::from_millis(300));
    let sh = shared();
    let replicas = sh.replicas(2, &fx.upstream.url(), "[prefetch]\nenabled = false");
    let path = obj_path(&fx.graph.modules[0].path, "v1.99.0", ".mod");
    let askers: Vec<_> = replicas
        .iter()
        .map(|r| {
            let (addr, p) = (r.addr, path.clone());
            std::thread::spawn(move || get(addr, &p, &[]).status)
        })
        .collect();
    let statuses: Vec<u16> = askers.into_iter().map(|a| a.join().unwrap()).collect();
    assert_eq!(statuses, vec![404, 404]);
    assert_eq!(fx.upstream.count(&path), 1, "the second replica took the first one's not-found answer");
}
