//! Immutable objects: one fill for many misses, routes, and the cache-only mode.

use super::fake::{publish_version, req, service, service_with, settings, FakeSource};
use crate::errors::ServeError;
use crate::proxy::{CacheStatus, Reply, Routes};
use crate::source::SharedSource;
use std::sync::Arc;

/// The bytes of an answer that is held whole (memory, mutable) or stored.
async fn bytes_of(reply: Reply) -> Vec<u8> {
    use futures::StreamExt;
    match reply {
        Reply::Memory { obj, .. } => obj.data.to_vec(),
        Reply::Mutable { data, .. } => data.to_vec(),
        Reply::Object { obj, .. } => {
            let len = obj.len;
            obj.body.range(0, len).map(|c| c.unwrap()).collect::<Vec<_>>().await.concat()
        }
        Reply::Stream { .. } => panic!("a streamed answer where a whole one was expected"),
    }
}

/// Runs `n` requests for `path` at once while the source is held: every one of them has
/// joined before the source may answer.
async fn herd(fx: &super::fake::Fx, path: &str, n: usize) -> Vec<Result<Reply, ServeError>> {
    fx.source.hold();
    let r = req(path);
    let all = futures::future::join_all((0..n).map(|_| fx.svc.serve(&r, false)));
    let release = async {
        // join_all polls every request once before this runs: all have joined.
        tokio::task::yield_now().await;
        fx.source.release();
    };
    tokio::join!(all, release).0
}

#[tokio::test]
async fn a_hundred_concurrent_misses_make_one_fill_of_each_kind() {
    let fx = service(settings());
    let zip = publish_version(&fx.source, "example.com/m", "v1.0.0", 100_000);
    fx.source.put("example.com/m/@v/list", "v1.0.0\n");
    for (path, want) in [
        ("/example.com/m/@v/v1.0.0.mod", None),
        ("/example.com/m/@v/v1.0.0.info", None),
        ("/example.com/m/@v/list", Some(b"v1.0.0\n".to_vec())),
        ("/example.com/m/@v/v1.0.0.zip", Some(zip.clone())),
    ] {
        let replies = herd(&fx, path, 100).await;
        let key = &path[1..];
        assert_eq!(fx.source.calls(key), 1, "{path}: one source request for 100 misses");
        for reply in replies {
            let reply = reply.unwrap_or_else(|e| panic!("{path}: {e}"));
            let got = bytes_of(reply).await;
            if let Some(w) = &want {
                assert_eq!(&got, w, "{path}");
            }
        }
    }
    // The zip's fill asked for the .mod once more only if it was not there: it was.
    assert_eq!(fx.source.calls("example.com/m/@v/v1.0.0.mod"), 1);
    assert!(fx.objects.contains("example.com/m/@v/v1.0.0.zip"));
    assert_eq!(fx.objects.staged_now(), 0, "nothing left half-written");
}

#[tokio::test]
async fn a_cold_zip_is_routed_once_and_fills_its_mod_from_the_same_source() {
    let fx = service(settings());
    publish_version(&fx.source, "example.com/m", "v1.0.0", 10_000);
    let r = req("/example.com/m/@v/v1.0.0.zip");
    let before = fx.svc.routes().lookups();
    let reply = fx.svc.serve(&r, false).await.unwrap();
    assert_eq!(reply.cache_status(), CacheStatus::Miss);
    assert_eq!(fx.svc.routes().lookups() - before, 1, "one route decision for the request and its fills");
    assert_eq!(fx.source.calls("example.com/m/@v/v1.0.0.mod"), 1);
    let again = fx.svc.serve(&r, false).await.unwrap();
    assert_eq!(again.cache_status(), CacheStatus::Hit);
    assert_eq!(fx.source.calls("example.com/m/@v/v1.0.0.zip"), 1);
}

#[tokio::test]
async fn routes_pick_the_source_and_deny_even_cached_modules() {
    let corp = FakeSource::new();
    publish_version(&corp, "corp.example/tools", "v1.0.0", 1000);
    let corp_source: SharedSource = corp.clone();
    let fx = service_with(settings(), move |default| {
        Routes::new(default).rule("corp.example/tools", Some(corp_source)).rule("evil.example", None)
    })
    .with_source(FakeSource::new());
    publish_version(&fx.source, "evil.example/x", "v1.0.0", 1000);
    let r = req("/corp.example/tools/@v/v1.0.0.mod");
    assert!(fx.svc.serve(&r, false).await.is_ok());
    assert_eq!((corp.calls(r.rel()), fx.source.calls(r.rel())), (1, 0), "the route's source, not the default");
    // A denied module is refused, and its source never asked.
    let evil = req("/evil.example/x/@v/v1.0.0.mod");
    let e = fx.svc.serve(&evil, false).await.err().unwrap();
    assert_eq!(e.status().as_u16(), 403, "{e}");
    assert_eq!(fx.source.calls(evil.rel()), 0);
    // Even when it is in the cache already.
    use crate::store::ObjectStore;
    fx.objects.put(evil.rel(), b"module evil.example/x\n").await.unwrap();
    assert_eq!(fx.svc.serve(&evil, false).await.err().map(|e| e.status().as_u16()), Some(403));
    assert_eq!(fx.svc.serve_cached(&evil).await.err().map(|e| e.status().as_u16()), Some(403));
}

#[tokio::test(start_paused = true)]
async fn disable_module_fetch_answers_from_the_cache_only() {
    let fx = service(settings());
    publish_version(&fx.source, "example.com/m", "v1.0.0", 1000);
    fx.source.put("example.com/m/@v/list", "v1.0.0\n");
    let m = req("/example.com/m/@v/v1.0.0.mod");
    let e = fx.svc.serve_cached(&m).await.err().unwrap();
    assert_eq!(e.status().as_u16(), 404);
    assert!(e.to_string().contains("Disable-Module-Fetch"), "{e}");
    assert_eq!(fx.source.total_calls(), 0, "nothing was fetched");
    fx.svc.serve(&m, false).await.unwrap();
    let hit = fx.svc.serve_cached(&m).await.unwrap();
    assert_eq!(hit.cache_status(), CacheStatus::Hit);
    // A mutable answer is served whatever its age, and nothing is asked.
    let list = req("/example.com/m/@v/list");
    fx.svc.serve(&list, false).await.unwrap();
    tokio::time::advance(settings().list_ttl * 10).await;
    let calls = fx.source.total_calls();
    let old = fx.svc.serve_cached(&list).await.unwrap();
    assert_eq!(old.cache_status(), CacheStatus::Stale);
    assert_eq!(bytes_of(old).await, b"v1.0.0\n");
    assert_eq!(fx.source.total_calls(), calls);
}

#[tokio::test]
async fn small_objects_move_into_memory_and_keep_their_validators() {
    let fx = service(settings());
    publish_version(&fx.source, "example.com/m", "v1.0.0", 1000);
    let r = req("/example.com/m/@v/v1.0.0.info");
    let Ok(Reply::Memory { obj: first, cache }) = fx.svc.serve(&r, false).await else { panic!("not from memory") };
    assert_eq!(cache, CacheStatus::Miss);
    let hit = fx.svc.memory_hit(r.rel()).expect("in memory");
    assert_eq!(hit.etag, first.etag);
    assert_eq!((&*hit.module, &*hit.version), ("example.com/m", "v1.0.0"));
    assert!(Arc::ptr_eq(&hit, &first));
}

#[tokio::test]
async fn a_small_object_is_answered_before_its_commit_ends_and_reaches_the_store_after() {
    let fx = service(settings());
    publish_version(&fx.source, "example.com/m", "v1.0.0", 1000);
    fx.objects.hold_commits();
    let key = "example.com/m/@v/v1.0.0.mod";
    let r = req(&format!("/{key}"));
    let first = fx.svc.serve(&r, false).await.expect("answered while the commit is held");
    assert_eq!(first.cache_status(), CacheStatus::Miss);
    assert!(bytes_of(first).await.starts_with(b"module example.com/m\n"));
    assert!(!fx.objects.contains(key), "the store has it only once the commit ends");
    // Readers see it meanwhile, from memory: no second fetch.
    let again = fx.svc.serve(&r, false).await.unwrap();
    assert_eq!(again.cache_status(), CacheStatus::Hit);
    assert_eq!(fx.source.calls(key), 1);
    fx.objects.release_commits();
    fx.svc.settle().await;
    assert!(fx.objects.contains(key));
}
