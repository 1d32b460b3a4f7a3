//! The reverse proxy under load: one of three backends killed during a 10 s run (no failed
//! idempotent request, ejected within a check interval, back with slow start when it
//! returns); the weighted split over 10,000 requests; and a 1 GB upload and download through a
//! modgate process whose resident memory stays under 64 MB.

mod common;
use common::*;
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use testkit::backend::Backend;

/// At log level info: a line per request, not the debug chatter of a load run.
fn quiet(text: String) -> String {
    format!("upstream = \"off\"\nlog_level = \"info\"\n{text}")
}

fn pool_text(members: &[(String, u32)], extra: &str) -> String {
    let m: Vec<String> = members.iter().map(|(u, w)| format!("{{ url = \"{u}\", weight = {w} }}")).collect();
    format!("[[pool]]\nname = \"web\"\nmembers = [{}]\n{extra}\n[[proxy]]\nto = \"pool:web\"\n", m.join(", "))
}

/// Each member's health as the route sees it.
fn health(app: &modgate::app::App) -> Vec<bool> {
    let table = app.revproxy.get().expect("routes");
    table.routes()[0].members.health().into_iter().map(|(_, up)| up).collect()
}

struct Load {
    ok: AtomicU64,
    failed: AtomicU64,
    stop: AtomicBool,
    errors: std::sync::Mutex<Vec<String>>,
}

/// `workers` keep-alive clients sending GETs until told to stop.
async fn load(url: String, workers: usize, state: Arc<Load>) {
    let client: Client<_, Empty<bytes::Bytes>> = Client::builder(TokioExecutor::new()).build_http();
    let tasks: Vec<_> = (0..workers)
        .map(|w| {
            let (client, state, url) = (client.clone(), Arc::clone(&state), url.clone());
            tokio::spawn(async move {
                let mut i = 0u64;
                while !state.stop.load(Ordering::Relaxed) {
                    i += 1;
                    let uri: hyper::Uri = format!("{url}/item/{w}/{i}").parse().unwrap();
                    let outcome = match client.get(uri).await {
                        Ok(resp) if resp.status() == 200 => {
                            resp.into_body().collect().await.map(|_| ()).map_err(|e| e.to_string())
                        }
                        Ok(resp) => Err(format!("status {}", resp.status())),
                        Err(e) => Err(e.to_string()),
                    };
                    match outcome {
                        Ok(()) => state.ok.fetch_add(1, Ordering::Relaxed),
                        Err(e) => {
                            state.errors.lock().unwrap().push(e);
                            state.failed.fetch_add(1, Ordering::Relaxed)
                        }
                    };
                }
            })
        })
        .collect();
    for t in tasks {
        let _ = t.await;
    }
}

#[test]
fn a_backend_killed_under_load_costs_no_idempotent_request() {
    let backends: Vec<Backend> = (0..3).map(|_| Backend::start()).collect();
    let victim_addr = backends[2].addr();
    let members: Vec<(String, u32)> = backends.iter().map(|b| (b.url(), 1)).collect();
    let extra = "balance = \"weighted\"\nretries = 2\neject_after = 1\neject_for = \"2s\"\nslow_start = \"4s\"\n\
                 [pool.health]\npath = \"/health\"\ninterval = \"1s\"\ntimeout = \"500ms\"\nhealthy = 1\nunhealthy = 1\n";
    let tmp = tempfile::tempdir().unwrap();
    let mg = InProcess::start(config_from_text(tmp.path(), &quiet(pool_text(&members, extra))));
    let app = mg.app();
    let state = Arc::new(Load { ok: 0.into(), failed: 0.into(), stop: false.into(), errors: Default::default() });
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let run = rt.spawn(load(mg.url(), 16, Arc::clone(&state)));
    let start = Instant::now();

    let mut backends = backends;
    std::thread::sleep(Duration::from_secs(3));
    let victim = backends.pop().unwrap();
    let served_before = victim.count();
    victim.stop();
    let killed = Instant::now();
    wait_until(Duration::from_secs(5), "the killed member is out", || !health(&app)[2]);
    let ejected_in = killed.elapsed();

    std::thread::sleep(Duration::from_secs(2));
    let back = Backend::start_on(victim_addr);
    let returned = Instant::now();
    wait_until(Duration::from_secs(5), "the member is back", || health(&app)[2]);
    let back_in = returned.elapsed();
    // Slow start: in its first second back it takes well under a third of the requests.
    let (b0, o0) = (back.count(), backends.iter().map(Backend::count).sum::<usize>());
    std::thread::sleep(Duration::from_secs(1));
    let (b1, o1) = (back.count(), backends.iter().map(Backend::count).sum::<usize>());
    let early_share = (b1 - b0) as f64 / ((b1 - b0) + (o1 - o0)).max(1) as f64;

    std::thread::sleep(Duration::from_secs(10).saturating_sub(start.elapsed()));
    state.stop.store(true, Ordering::Relaxed);
    rt.block_on(run).unwrap();
    let (ok, failed) = (state.ok.load(Ordering::Relaxed), state.failed.load(Ordering::Relaxed));
    eprintln!(
        "load: {ok} ok, {failed} failed in {:?}; victim served {served_before} before dying, ejected in {ejected_in:?}, \
         back in {back_in:?}, early share {:.1}%, {} after return",
        start.elapsed(),
        early_share * 100.0,
        back.count()
    );
    assert_eq!(failed, 0, "failed requests: {:?}", &state.errors.lock().unwrap()[..failed.min(5) as usize]);
    assert!(ok > 1000, "only {ok} requests in the run");
    assert!(served_before > 100, "the victim took part before it died ({served_before})");
    assert!(ejected_in < Duration::from_secs(1), "ejected in {ejected_in:?}, over one check interval");
    assert!(back_in < Duration::from_secs(3), "back in {back_in:?}");
    assert!(early_share < 0.25, "slow start: {:.1}% in its first second back", early_share * 100.0);
    assert!(back.count() > 50, "the returned member serves again ({})", back.count());
}

#[test]
fn the_weighted_split_is_within_five_percent_of_the_weights() {
    let backends: Vec<Backend> = (0..3).map(|_| Backend::start()).collect();
    let weights = [5u32, 3, 2];
    let members: Vec<(String, u32)> = backends.iter().zip(weights).map(|(b, w)| (b.url(), w)).collect();
    let tmp = tempfile::tempdir().unwrap();
    let mg = InProcess::start(config_from_text(tmp.path(), &quiet(pool_text(&members, "balance = \"weighted\""))));
    let state = Arc::new(Load { ok: 0.into(), failed: 0.into(), stop: false.into(), errors: Default::default() });
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let run = rt.spawn(load(mg.url(), 8, Arc::clone(&state)));
    wait_until(Duration::from_secs(120), "10,000 requests", || state.ok.load(Ordering::Relaxed) >= 10_000);
    state.stop.store(true, Ordering::Relaxed);
    rt.block_on(run).unwrap();
    let counts: Vec<usize> = backends.iter().map(Backend::count).collect();
    let total: usize = counts.iter().sum();
    for (i, w) in weights.iter().enumerate() {
        let want = total as f64 * *w as f64 / 10.0;
        let got = counts[i] as f64;
        assert!((got - want).abs() <= want * 0.05, "member {i}: {got} of {total}, weight says {want}");
    }
    assert_eq!(state.failed.load(Ordering::Relaxed), 0);
}

/// Peak resident memory of a process, in bytes (`VmHWM`).
fn peak_rss(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse::<u64>().unwrap() * 1024
}

#[test]
fn a_gigabyte_each_way_passes_in_bounded_memory() {
    const GB: u64 = 1 << 30;
    let b = Backend::start();
    let tmp = tempfile::tempdir().unwrap();
    let conf = tmp.path().join("modgate.toml");
    std::fs::write(&conf, format!("upstream = \"off\"\n[[proxy]]\nto = \"{}\"\n", b.url())).unwrap();
    let data = tmp.path().join("data");
    let mut mg = Process::start(&["--config", conf.to_str().unwrap(), "--data-dir", data.to_str().unwrap()]);
    let addr = mg.addr;
    let up = std::thread::spawn(move || {
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        let head = format!("PUT /upload HTTP/1.1\r\nHost: x\r\nContent-Length: {GB}\r\nConnection: close\r\n\r\n");
        std::io::Write::write_all(&mut s, head.as_bytes()).unwrap();
        let chunk = vec![7u8; 1 << 20];
        for _ in 0..GB / (1 << 20) {
            std::io::Write::write_all(&mut s, &chunk).unwrap();
        }
        let mut answer = String::new();
        std::io::Read::read_to_string(&mut s, &mut answer).unwrap();
        answer
    });
    let down = std::thread::spawn(move || {
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        let head = format!("GET /bytes/{GB} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        std::io::Write::write_all(&mut s, head.as_bytes()).unwrap();
        let mut buf = vec![0u8; 1 << 20];
        let mut total = 0u64;
        loop {
            let n = std::io::Read::read(&mut s, &mut buf).unwrap();
            if n == 0 {
                break total;
            }
            total += n as u64;
        }
    });
    let answer = up.join().unwrap();
    let received = down.join().unwrap();
    let peak = peak_rss(mg.child.id());
    mg.kill9();
    assert!(answer.ends_with(&format!("\r\n\r\n{GB}")), "upload answer: {answer}");
    assert!(received > GB, "downloaded {received} bytes with the head");
    assert_eq!(b.body_bytes(), GB);
    eprintln!("1 GiB up and 1 GiB down at once: modgate's peak RSS {:.1} MB", peak as f64 / 1e6);
    assert!(peak < 64 << 20, "peak RSS {peak} bytes");
}
