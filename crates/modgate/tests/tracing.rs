//! OpenTelemetry traces (`[tracing]`): the real binary exports to a collector on loopback
//! (testkit's, which decodes OTLP/HTTP protobuf); spans for requests, fills, upstream calls,
//! git commands and checksum lookups; W3C `traceparent` continued from clients and passed on
//! to upstreams and backends; the trace id in the access log. Off by default: nothing added.

mod common;
use common::*;
use std::path::Path;
use std::time::Duration;
use testkit::gitrepo::Repo;
use testkit::otlp::{Collector, Span};
use testkit::sumdb::{generate_key, graph_sums, Options, SumDb};

const DB: &str = "sum.modgate-test.invalid";

fn start(cfg_text: &str, dir: &Path) -> Process {
    Process::start_config(cfg_text, dir)
}

/// modgate in front of the fixture's upstream (no prefetch), exporting to `endpoint`.
fn traced(fx: &Fixture, dir: &Path, endpoint: &str, export_delay: &str) -> String {
    format!(
        "upstream = \"{}\"\ndata_dir = \"{}\"\n[prefetch]\nenabled = false\n\
         [tracing]\nenabled = true\nendpoint = \"{endpoint}\"\nexport_delay = \"{export_delay}\"\n",
        fx.upstream.url(),
        dir.join("data").display(),
    )
}

/// `(trace id, parent span id, flags)` of a `traceparent` value.
fn parts(tp: &str) -> (String, String, String) {
    let p: Vec<&str> = tp.split('-').collect();
    assert_eq!(p.len(), 4, "traceparent {tp:?}");
    (p[1].to_string(), p[2].to_string(), p[3].to_string())
}

/// Whether `span` descends from the span with id `ancestor` within `trace`.
fn descends(trace: &[Span], span: &Span, ancestor: &str) -> bool {
    let mut at = span.parent_span_id.clone();
    for _ in 0..trace.len() {
        if at == ancestor {
            return true;
        }
        match trace.iter().find(|s| s.span_id == at) {
            Some(p) => at = p.parent_span_id.clone(),
            None => return false,
        }
    }
    false
}

/// The trace id written on the access-log line of `path`.
fn logged_trace_id(mg: &Process, path: &str) -> Option<String> {
    let logs = mg.logs();
    let line = logs.iter().find(|l| l.contains("request") && l.contains(&format!("path={path} ")))?;
    line.split_whitespace().find_map(|w| w.strip_prefix("trace_id=")).map(str::to_string)
}

fn wait_for(c: &Collector, trace_id: &str, what: &str, cond: impl Fn(&[Span]) -> bool) -> Vec<Span> {
    wait_until(Duration::from_secs(20), what, || cond(&c.trace(trace_id)));
    c.trace(trace_id)
}

#[test]
fn requests_fills_upstream_calls_git_and_checksum_lookups_are_traced() {
    let tmp = tempfile::tempdir().unwrap();
    let fx = fixture(8);
    let db = SumDb::start(&generate_key(DB).expect("testkit-sumdb key"), &graph_sums(&fx.graph), &Options::default())
        .unwrap();
    let mut repo = Repo::init(&tmp.path().join("repos/lib")).unwrap();
    repo.write("lib.go", b"package lib\n").unwrap();
    repo.commit("one").unwrap();
    repo.tag("v1.0.0").unwrap();
    let backend = testkit::backend::Backend::start();
    let collector = Collector::start().unwrap();
    let cfg = format!(
        "upstream = \"{}\"\ndata_dir = \"{}\"\n\
         [prefetch]\nenabled = false\n\
         [checksum_db]\ndatabase = \"{} {}\"\n\
         [[route]]\nmodules = \"corp.example/lib\"\nsource = \"direct\"\n\
         [[direct.repo]]\nprefix = \"corp.example/lib\"\nurl = \"{}\"\n\
         [[proxy]]\nname = \"web\"\npath = \"/app/\"\nto = \"{}\"\n\
         [tracing]\nenabled = true\nendpoint = \"{}\"\nexport_delay = \"50ms\"\nservice_name = \"modgate-test\"\n",
        fx.upstream.url(),
        tmp.path().join("data").display(),
        db.vkey,
        db.url(),
        repo.url(),
        backend.url(),
        collector.url()
    );
    let mg = start(&cfg, tmp.path());
    let m = &fx.graph.modules[0];
    let v = &m.versions[0].version;

    // A caller that does not sample: the context still travels, nothing is exported.
    let quiet_tid = "0af7651916cd43dd8448eb211c80319d";
    let info = obj_path(&m.path, v, ".info");
    let quiet = format!("00-{quiet_tid}-b7ad6b7169203331-00");
    assert_eq!(get(mg.addr, &info, &[("traceparent", &quiet)]).status, 200);
    let (tid, _, flags) = parts(&fx.upstream.traceparent(&info).expect("upstream got a traceparent"));
    assert_eq!((tid.as_str(), flags.as_str()), (quiet_tid, "00"));

    // A sampled caller: the .mod's fill, its upstream call and its checksum lookup are in
    // the caller's trace, under the request's span.
    let (tid, psid) = ("4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7");
    let mod_path = obj_path(&m.path, v, ".mod");
    let r = get(mg.addr, &mod_path, &[("traceparent", &format!("00-{tid}-{psid}-01"))]);
    assert_eq!(r.status, 200, "{}", r.text());
    let sent = fx.upstream.traceparent(&mod_path).expect("the upstream got a traceparent");
    let (up_tid, up_parent, up_flags) = parts(&sent);
    assert_eq!((up_tid.as_str(), up_flags.as_str()), (tid, "01"));
    assert_ne!(up_parent, psid, "the upstream's parent is modgate's span, not the caller's");
    let trace = wait_for(&collector, tid, "the .mod request's spans", |t| {
        let named = |n: &str| t.iter().any(|s| s.name == n);
        named("fill")
            && named("checksum lookup")
            && t.iter().any(|s| s.kind == 2)
            && t.iter().any(|s| s.span_id == up_parent)
    });
    let server = trace.iter().find(|s| s.kind == 2).expect("a server span");
    assert_eq!(server.name, "GET mod");
    assert_eq!(server.parent_span_id, psid, "the request continues the caller's span");
    assert_eq!(server.attributes.get("http.response.status_code").map(String::as_str), Some("200"));
    assert_eq!(server.service, "modgate-test");
    let object = mod_path.trim_start_matches('/');
    let fill = trace
        .iter()
        .find(|s| s.name == "fill" && s.attributes.get("modgate.object").map(String::as_str) == Some(object))
        .expect("the .mod's fill span");
    assert_eq!(fill.parent_span_id, server.span_id);
    let call = trace.iter().find(|s| s.span_id == up_parent).expect("the upstream call's span");
    assert_eq!((call.kind, call.name.as_str()), (3, "GET upstream"));
    assert!(descends(&trace, call, &server.span_id), "{trace:#?}");
    let lookup = trace.iter().find(|s| s.name == "checksum lookup").expect("a checksum lookup span");
    assert_eq!(lookup.attributes.get("modgate.module"), Some(&m.path));
    assert!(descends(&trace, lookup, &fill.span_id), "{trace:#?}");
    // The database is asked while the fill runs (the lookup waits for that answer).
    let asked = |t: &[Span]| {
        t.iter().any(|s| {
            s.kind == 3
                && s.attributes.get("url.full").is_some_and(|u| u.contains("/lookup/"))
                && descends(t, s, &fill.span_id)
        })
    };
    let trace = wait_for(&collector, tid, "the database call", asked);
    assert!(asked(&trace), "{trace:#?}");
    wait_until(Duration::from_secs(10), "the access-log line", || logged_trace_id(&mg, &mod_path).is_some());
    assert_eq!(logged_trace_id(&mg, &mod_path).as_deref(), Some(tid));
    assert!(collector.trace(quiet_tid).is_empty(), "an unsampled trace was exported");

    // Without a caller's context a request starts its own trace; git commands are in it.
    let list = "/corp.example/lib/@v/list";
    let r = get(mg.addr, list, &[]);
    assert_eq!((r.status, r.text().trim()), (200, "v1.0.0"));
    wait_until(Duration::from_secs(10), "the list's access-log line", || logged_trace_id(&mg, list).is_some());
    let own = logged_trace_id(&mg, list).unwrap_or_default();
    assert_eq!(own.len(), 32);
    let trace = wait_for(&collector, &own, "git spans", |t| {
        t.iter().any(|s| s.name.starts_with("git ")) && t.iter().any(|s| s.kind == 2)
    });
    let server = trace.iter().find(|s| s.kind == 2).expect("a server span");
    assert!(server.parent_span_id.is_empty(), "a root span: {server:?}");
    let git = trace.iter().find(|s| s.name.starts_with("git ")).unwrap();
    assert!(descends(&trace, git, &server.span_id), "{trace:#?}");

    // The reverse proxy passes the context on as the backend call's own.
    let (tid, psid) = ("5cf92f3577b34da6a3ce929d0e0e4799", "11f067aa0ba902c8");
    let r = get(mg.addr, "/app/hello", &[("traceparent", &format!("00-{tid}-{psid}-01"))]);
    assert_eq!(r.status, 200);
    let echoed: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    let tp = echoed["headers"]
        .as_array()
        .and_then(|h| h.iter().find(|p| p[0] == "traceparent"))
        .and_then(|p| p[1].as_str())
        .expect("the backend got a traceparent")
        .to_string();
    let (b_tid, b_parent, _) = parts(&tp);
    assert_eq!(b_tid, tid);
    let trace = wait_for(&collector, tid, "the proxied request's spans", |t| {
        t.iter().any(|s| s.span_id == b_parent) && t.iter().any(|s| s.kind == 2)
    });
    let server = trace.iter().find(|s| s.kind == 2).expect("a server span");
    assert_eq!((server.name.as_str(), server.parent_span_id.as_str()), ("GET proxy web", psid));
    let call = trace.iter().find(|s| s.span_id == b_parent).unwrap();
    assert_eq!(
        (call.kind, call.name.as_str(), call.parent_span_id.as_str()),
        (3, "proxy backend", server.span_id.as_str())
    );
}

#[test]
fn with_tracing_off_nothing_is_added_and_a_callers_context_passes_the_proxy_untouched() {
    let tmp = tempfile::tempdir().unwrap();
    let fx = fixture(4);
    let backend = testkit::backend::Backend::start();
    let cfg = format!(
        "upstream = \"{}\"\ndata_dir = \"{}\"\n[prefetch]\nenabled = false\n\
         [[proxy]]\nname = \"web\"\npath = \"/app/\"\nto = \"{}\"\n",
        fx.upstream.url(),
        tmp.path().join("data").display(),
        backend.url()
    );
    let mg = start(&cfg, tmp.path());
    let m = &fx.graph.modules[0];
    let tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let info = obj_path(&m.path, &m.versions[0].version, ".info");
    assert_eq!(get(mg.addr, &info, &[("traceparent", tp)]).status, 200);
    assert_eq!(fx.upstream.count(&info), 1);
    assert_eq!(fx.upstream.traceparent(&info), None, "modgate sent a traceparent with tracing off");

    let r = get(mg.addr, "/app/x", &[("traceparent", tp)]);
    let echoed: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    let got = echoed["headers"].as_array().and_then(|h| h.iter().find(|p| p[0] == "traceparent")).map(|p| p[1].clone());
    assert_eq!(got, Some(serde_json::json!(tp)), "the caller's context reaches the backend as sent");

    wait_until(Duration::from_secs(10), "the access-log lines", || logged_line_count(&mg) >= 2);
    assert!(mg.logs().iter().all(|l| !l.contains("trace_id")), "{:#?}", mg.logs());
}

fn logged_line_count(mg: &Process) -> usize {
    mg.logs().iter().filter(|l| l.contains("access") && l.contains("status=")).count()
}

#[test]
fn spans_still_waiting_are_sent_at_shutdown() {
    let tmp = tempfile::tempdir().unwrap();
    let fx = fixture(4);
    let collector = Collector::start().unwrap();
    // Spans would wait an hour to be sent: only the shutdown sends them.
    let mut mg = start(&traced(&fx, tmp.path(), &format!("{}/v1/traces", collector.url()), "1h"), tmp.path());
    let m = &fx.graph.modules[0];
    let tid = "6cf92f3577b34da6a3ce929d0e0e4711";
    let tp = format!("00-{tid}-21f067aa0ba902c8-01");
    assert_eq!(get(mg.addr, &obj_path(&m.path, &m.versions[0].version, ".info"), &[("traceparent", &tp)]).status, 200);
    assert!(collector.trace(tid).is_empty());
    mg.signal(libc::SIGTERM);
    let status = mg.child.wait().unwrap();
    assert!(status.success(), "{status:?}");
    let trace = collector.trace(tid);
    assert!(trace.iter().any(|s| s.kind == 2 && s.name == "GET info"), "{trace:#?}");
    assert!(trace.iter().any(|s| s.kind == 3), "{trace:#?}");
}

#[test]
fn a_request_that_joins_a_running_fill_says_so_in_its_trace() {
    let tmp = tempfile::tempdir().unwrap();
    let fx = fixture(4);
    // The upstream is slow enough for the second request to arrive while the first one's fill runs.
    fx.upstream.set_latency(Duration::from_millis(400));
    let collector = Collector::start().unwrap();
    let mg = start(&traced(&fx, tmp.path(), &collector.url(), "50ms"), tmp.path());
    let m = &fx.graph.modules[0];
    let zip = obj_path(&m.path, &m.versions[0].version, ".zip");
    let tids = ["7af7651916cd43dd8448eb211c803101", "7af7651916cd43dd8448eb211c803102"];
    let handles: Vec<_> = tids
        .iter()
        .map(|tid| {
            let (zip, addr, tp) = (zip.clone(), mg.addr, format!("00-{tid}-31f067aa0ba902c8-01"));
            std::thread::spawn(move || get(addr, &zip, &[("traceparent", &tp)]).status)
        })
        .collect();
    for h in handles {
        assert_eq!(h.join().unwrap(), 200);
    }
    assert_eq!(fx.upstream.count(&zip), 1, "one fill for both");
    let server = |tid: &str| {
        let t = wait_for(&collector, tid, "the server span", |t| t.iter().any(|s| s.kind == 2));
        t.into_iter().find(|s| s.kind == 2).unwrap()
    };
    let (a, b) = (server(tids[0]), server(tids[1]));
    let joined = |s: &Span| s.events.iter().any(|e| e == "joined a fill in flight");
    assert!(joined(&a) != joined(&b), "exactly one request joined: {a:#?} {b:#?}");
    let filler = if joined(&a) { tids[1] } else { tids[0] };
    let t = wait_for(&collector, filler, "the fill's span", |t| t.iter().any(|s| s.name == "fill"));
    assert!(t
        .iter()
        .any(|s| s.name == "fill" && s.attributes.get("modgate.object").is_some_and(|o| o.ends_with(".zip"))));
}
