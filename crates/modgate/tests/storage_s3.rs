//! `[storage] kind = "s3"` against a real S3-compatible server (s3s-fs, started here): the
//! store's own promises (create-only commits, nothing under a final key before its commit,
//! ranged reads, large objects in parts), and the real go command through two replicas that
//! share one bucket.

mod common;
use common::*;
use futures::StreamExt;
use modgate::config::{S3Settings, Storage};
use modgate::store::s3::S3Objects;
use modgate::store::{Commit, ObjectStore};
use std::sync::Arc;
use testkit::gorun::GoEnv;
use testkit::s3::S3Server;

const BUCKET: &str = "modgate-test";

fn settings(s3: &S3Server, dir: &std::path::Path, prefix: &str) -> S3Settings {
    let cfg = config_from_text(dir, &s3.storage_toml(BUCKET, prefix));
    match cfg.storage {
        Storage::S3(s) => S3Settings { part_bytes: 5 << 20, ..*s },
        Storage::Local => panic!("the configuration names a bucket"),
    }
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap()
}

async fn read(store: &S3Objects, key: &str) -> Vec<u8> {
    let obj = store.open(key).await.unwrap().unwrap_or_else(|| panic!("{key} is committed"));
    let len = obj.len;
    let mut body = obj.body.range(0, len);
    let mut out = Vec::new();
    while let Some(chunk) = body.next().await {
        out.extend_from_slice(&chunk.unwrap());
    }
    out
}

async fn commit(store: &S3Objects, key: &str, data: &[u8]) -> Commit {
    let mut staged = store.stage().await.unwrap();
    for piece in data.chunks(1 << 20) {
        staged.write(piece).await.unwrap();
    }
    staged.commit(key).await.unwrap()
}

/// Bytes that differ from one `seed` to the next all along their length.
fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed) ^ (i >> 13) as u8).collect()
}

#[test]
fn the_bucket_store_commits_create_only_and_reads_ranges() {
    let tmp = tempfile::tempdir().unwrap();
    let s3 = S3Server::start(&tmp.path().join("s3"), BUCKET).unwrap();
    let store =
        S3Objects::open(&settings(&s3, tmp.path(), "cache"), &tmp.path().join("data"), &Default::default()).unwrap();
    rt().block_on(async {
        store.check_ready().await.expect("the bucket is ready");
        let key = "example.com/!a/@v/v1.0.0.info";
        assert!(store.open(key).await.unwrap().is_none());

        // Staged bytes are readable to the filler, and nowhere in the bucket until the commit.
        let mut staged = store.stage().await.unwrap();
        staged.write(br#"{"Version":"v1.0.0"}"#).await.unwrap();
        staged.flush().await.unwrap();
        let mut head = [0u8; 11];
        staged.reader().unwrap().read_at(&mut head, 0).unwrap();
        assert_eq!(&head, br#"{"Version":"#);
        assert!(store.list("").await.unwrap().is_empty());
        assert!(s3.files(BUCKET).iter().all(|f| !f.contains("v1.0.0")), "{:?}", s3.files(BUCKET));
        assert_eq!(staged.commit(key).await.unwrap(), Commit::Created);
        assert_eq!(s3.files(BUCKET), vec![format!("cache/{key}")], "only the object, under its prefix");

        // A second writer loses, and the first object stands.
        assert_eq!(commit(&store, key, b"other bytes").await, Commit::AlreadyExists);
        assert_eq!(read(&store, key).await, br#"{"Version":"v1.0.0"}"#);
        let obj = store.open(key).await.unwrap().unwrap();
        assert!(obj.etag.starts_with('"') && obj.etag.ends_with('"'), "{}", obj.etag);
        let part: Vec<u8> = obj.body.range(2, 7).map(|c| c.unwrap().to_vec()).concat().await;
        assert_eq!(part, b"Version");

        // Listing by prefix, on and off a segment boundary.
        commit(&store, "example.com/!a/@v/v1.1.0.mod", b"module example.com/A\n").await;
        commit(&store, "example.com/b/@v/v0.1.0.mod", b"module example.com/b\n").await;
        let mut keys = store.list("example.com/!a/@v/").await.unwrap();
        keys.sort();
        assert_eq!(keys, vec!["example.com/!a/@v/v1.0.0.info", "example.com/!a/@v/v1.1.0.mod"]);
        assert_eq!(store.list("example.com/b").await.unwrap(), vec!["example.com/b/@v/v0.1.0.mod"]);
    });
}

#[test]
fn large_objects_go_up_in_parts_and_stay_create_only() {
    let tmp = tempfile::tempdir().unwrap();
    let s3 = S3Server::start(&tmp.path().join("s3"), BUCKET).unwrap();
    let store = S3Objects::open(&settings(&s3, tmp.path(), ""), &tmp.path().join("data"), &Default::default()).unwrap();
    let store = Arc::new(store);
    rt().block_on(async {
        // 12 MiB with 5 MiB parts: three parts, then the conditional copy.
        let key = "example.com/big/@v/v1.0.0.zip";
        let (first, second) = (pattern(12 << 20, 1), pattern(12 << 20, 2));
        assert_eq!(commit(&store, key, &first).await, Commit::Created);
        assert_eq!(read(&store, key).await, first);
        assert_eq!(commit(&store, key, &second).await, Commit::AlreadyExists);
        assert_eq!(read(&store, key).await, first, "the first object stands");
        assert_eq!(s3.files(BUCKET), vec![key.to_string()], "no staging object is left behind");

        // Two writers at once, small and large: exactly one wins each race, and both see its bytes.
        for (key, len) in [("example.com/race/@v/v1.0.0.mod", 300), ("example.com/race/@v/v1.0.0.zip", 11 << 20)] {
            let (a, b) = (pattern(len, 3), pattern(len, 4));
            let (ra, rb) = tokio::join!(commit(&store, key, &a), commit(&store, key, &b));
            let created = [&ra, &rb].iter().filter(|r| ***r == Commit::Created).count();
            assert_eq!(created, 1, "{key}: {ra:?} {rb:?}");
            let winner = if ra == Commit::Created { &a } else { &b };
            assert_eq!(&read(&store, key).await, winner, "{key}");
        }
    });
}

#[test]
fn two_replicas_on_one_bucket_serve_the_go_command_from_it() {
    let fx = fixture(40);
    let tmp = tempfile::tempdir().unwrap();
    let s3 = S3Server::start(&tmp.path().join("s3"), BUCKET).unwrap();
    let storage = s3.storage_toml(BUCKET, "proxy");
    let (a_dir, b_dir) = (tmp.path().join("a"), tmp.path().join("b"));
    std::fs::create_dir_all(&a_dir).unwrap();
    std::fs::create_dir_all(&b_dir).unwrap();
    let a_text = format!("upstream = \"{}\"\n[prefetch]\nenabled = false\n{storage}", fx.upstream.url());
    let a = InProcess::start(config_from_text(&a_dir, &a_text));
    let go = GoEnv::new(&a.url()).unwrap();
    fx.graph.write_root_module(&go.work(), "example.com/root").unwrap();
    go.run(&go.work(), &["mod", "download", "all"]).unwrap();
    let sums = std::fs::read_to_string(go.work().join("go.sum")).unwrap();
    let expected = fx.graph.expected_sums();
    for line in sums.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        let (version, is_mod) = f[1].strip_suffix("/go.mod").map_or((f[1], false), |v| (v, true));
        let (zip_h1, mod_h1) = &expected[&(f[0].to_string(), version.to_string())];
        assert_eq!(f[2], if is_mod { mod_h1 } else { zip_h1 }, "{line}");
    }
    assert!(sums.lines().count() >= 40, "{sums}");
    let zips = s3.files(BUCKET).iter().filter(|f| f.starts_with("proxy/") && f.ends_with(".zip")).count();
    assert!(zips >= 20, "the zips are in the bucket ({zips})");

    // Another replica, its own disk, no upstream at all: everything comes from the bucket.
    let b = InProcess::start(config_from_text(&b_dir, &format!("upstream = \"off\"\n{storage}")));
    let go2 = GoEnv::new(&b.url()).unwrap();
    fx.graph.write_root_module(&go2.work(), "example.com/root").unwrap();
    go2.run(&go2.work(), &["mod", "download", "all"]).unwrap();
    assert_eq!(std::fs::read_to_string(go2.work().join("go.sum")).unwrap(), sums, "the same go.sum");
}

#[test]
fn with_the_bucket_down_the_local_cache_still_serves_and_the_rest_is_a_clean_503() {
    let fx = fixture(6);
    let tmp = tempfile::tempdir().unwrap();
    let mut s3 = S3Server::start(&tmp.path().join("s3"), BUCKET).unwrap();
    let text =
        format!("upstream = \"{}\"\n[prefetch]\nenabled = false\n{}", fx.upstream.url(), s3.storage_toml(BUCKET, ""));
    let mg = InProcess::start(config_from_text(tmp.path(), &text));
    let versions: Vec<(String, String)> =
        fx.graph.modules.iter().flat_map(|m| m.versions.iter().map(|v| (m.path.clone(), v.version.clone()))).collect();
    let ((m1, v1), (m2, v2)) = (&versions[0], &versions[1]);
    let zip = obj_path(m1, v1, ".zip");
    assert_eq!(get(mg.addr, &zip, &[]).status, 200);
    // The committed zip is copied to the local cache beside the commit.
    let copy = tmp.path().join("data/bucket-cache/cache").join(&zip[1..]);
    let start = std::time::Instant::now();
    while !copy.exists() {
        assert!(start.elapsed() < std::time::Duration::from_secs(20), "{} was never cached locally", copy.display());
        std::thread::sleep(std::time::Duration::from_millis(10));
    }

    s3.stop();
    let r = get(mg.addr, &zip, &[]);
    assert_eq!(r.status, 200, "a cached zip serves without the bucket: {}", r.text());
    assert_eq!(
        gomod::dirhash::hash_zip(std::io::Cursor::new(&r.body)).unwrap(),
        fx.graph.expected_sums()[&(m1.clone(), v1.clone())].0
    );
    let other = obj_path(m2, v2, ".zip");
    let r = get(mg.addr, &other, &[]);
    assert_eq!(r.status, 503, "an object the cache does not hold: {}", r.text());

    s3.resume().unwrap();
    let r = get(mg.addr, &other, &[]);
    assert_eq!(r.status, 200, "service resumes with the bucket: {}", r.text());
}
