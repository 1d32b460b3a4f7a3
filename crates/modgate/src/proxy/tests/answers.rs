//! Mutable answers and not-found answers: stale serving, the negative cache and its TTL, and
//! the merge with published versions.

use super::fake::{publish_version, req, service, settings};
use crate::proxy::{CacheStatus, Reply};
use crate::store::{MetaStore, ObjectStore};
use std::time::Duration;

fn mutable(reply: Reply) -> (String, CacheStatus) {
    match reply {
        Reply::Mutable { data, cache } => (String::from_utf8_lossy(&data).into_owned(), cache),
        _ => panic!("not a mutable answer"),
    }
}

#[tokio::test(start_paused = true)]
async fn stale_answers_are_served_when_every_source_fails() {
    let fx = service(settings());
    fx.source.put("example.com/m/@v/list", "v1.0.0\n");
    fx.source.put("example.com/m/@latest", "{\"Version\":\"v1.0.0\"}\n");
    let (list, latest) = (req("/example.com/m/@v/list"), req("/example.com/m/@latest"));
    for r in [&list, &latest] {
        let (_, cache) = mutable(fx.svc.serve(r, false).await.unwrap());
        assert_eq!(cache, CacheStatus::Miss);
        let (_, cache) = mutable(fx.svc.serve(r, false).await.unwrap());
        assert_eq!(cache, CacheStatus::Hit, "fresh within the list TTL");
    }
    assert_eq!(fx.source.calls(list.rel()), 1);
    // The answers age past their TTL and the source dies: the old answers are served, marked.
    tokio::time::advance(settings().list_ttl + Duration::from_secs(1)).await;
    fx.source.fail(true);
    let (data, cache) = mutable(fx.svc.serve(&list, false).await.unwrap());
    assert_eq!((data.as_str(), cache), ("v1.0.0\n", CacheStatus::Stale));
    let (data, cache) = mutable(fx.svc.serve(&latest, false).await.unwrap());
    assert_eq!((data.as_str(), cache), ("{\"Version\":\"v1.0.0\"}\n", CacheStatus::Stale));
    assert_eq!(fx.source.calls(list.rel()), 2, "the source was asked first");
    // Without an old answer, the failure shows.
    let other = req("/example.com/other/@v/list");
    assert_eq!(fx.svc.serve(&other, false).await.err().map(|e| e.status().as_u16()), Some(502));
    // A source that says "gone" is believed, not papered over with the stale answer.
    fx.source.fail(false);
    fx.source.remove(list.rel());
    assert_eq!(fx.svc.serve(&list, false).await.err().map(|e| e.status().as_u16()), Some(404));
}

#[tokio::test(start_paused = true)]
async fn not_found_is_remembered_for_the_negative_ttl() {
    let fx = service(settings());
    for path in ["/example.com/late/@v/v1.0.0.mod", "/example.com/late/@v/list", "/example.com/late/@v/v1.0.0.zip"] {
        let r = req(path);
        for _ in 0..3 {
            let e = fx.svc.serve(&r, false).await.err().unwrap();
            assert_eq!(e.status().as_u16(), 404, "{path}: {e}");
        }
        assert_eq!(fx.source.calls(r.rel()), 1, "{path}: a miss is remembered");
    }
    // The module appears upstream; within the TTL it stays unknown, after it, it is served.
    publish_version(&fx.source, "example.com/late", "v1.0.0", 1000);
    fx.source.put("example.com/late/@v/list", "v1.0.0\n");
    tokio::time::advance(Duration::from_secs(10)).await;
    assert!(fx.svc.serve(&req("/example.com/late/@v/list"), false).await.is_err());
    tokio::time::advance(settings().negative_ttl).await;
    for path in ["/example.com/late/@v/v1.0.0.mod", "/example.com/late/@v/list", "/example.com/late/@v/v1.0.0.zip"] {
        let r = req(path);
        let before = fx.source.calls(r.rel());
        assert!(fx.svc.serve(&r, false).await.is_ok(), "{path}");
        assert_eq!(fx.source.calls(r.rel()), before + 1, "{path}: asked again once the TTL passed");
    }
    // 410 passes on as 410, and only 404/410 are remembered: a failure is asked again.
    fx.source.fail(true);
    let broken = req("/example.com/broken/@v/v1.0.0.info");
    for _ in 0..2 {
        assert_eq!(fx.svc.serve(&broken, false).await.err().map(|e| e.status().as_u16()), Some(502));
    }
    assert_eq!(fx.source.calls(broken.rel()), 2);
}

#[tokio::test]
async fn published_versions_merge_into_lists_and_latest() {
    let fx = service(settings());
    fx.source.put("corp.example/m/@v/list", "v1.0.0\nv1.1.0\n");
    fx.source.put("corp.example/m/@latest", "{\"Version\":\"v1.1.0\"}\n");
    fx.meta.add_published("corp.example/m", "v1.2.0").await.unwrap();
    fx.objects.put("corp.example/m/@v/v1.2.0.info", b"{\"Version\":\"v1.2.0\"}\n").await.unwrap();
    let (list, _) = mutable(fx.svc.serve(&req("/corp.example/m/@v/list"), false).await.unwrap());
    assert_eq!(list, "v1.0.0\nv1.1.0\nv1.2.0\n");
    let (latest, _) = mutable(fx.svc.serve(&req("/corp.example/m/@latest"), false).await.unwrap());
    assert_eq!(latest, "{\"Version\":\"v1.2.0\"}\n", "the published version is higher");
    // With every source down, the published versions still answer.
    fx.source.fail(true);
    let (list, _) = mutable(fx.svc.serve(&req("/corp.example/m/@v/list"), false).await.unwrap());
    assert!(list.contains("v1.2.0"), "{list}");
    // A module nobody upstream knows is served from what was published.
    fx.meta.add_published("corp.example/only", "v0.1.0").await.unwrap();
    fx.source.fail(false);
    let (list, _) = mutable(fx.svc.serve(&req("/corp.example/only/@v/list"), false).await.unwrap());
    assert_eq!(list, "v0.1.0\n");
}
