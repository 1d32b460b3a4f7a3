//! Nothing unverified is ever committed: bad `.info` answers, bad zips, zips whose go.mod
//! disagrees with the `.mod`, and objects the checksum hook refuses.

use super::fake::{publish_version, req, service, settings};
use crate::errors::ServeError;

/// Serves `path` expecting a gateway error whose reason contains `why`, and checks nothing was
/// committed under its key and nothing is left half-written.
async fn refused(fx: &super::fake::Fx, path: &str, why: &str) {
    let r = req(path);
    let e = fx.svc.serve(&r, false).await.err().unwrap_or_else(|| panic!("{path} was served"));
    assert!(matches!(e, ServeError::BadGateway(_)), "{path}: {e:?}");
    assert!(e.to_string().contains(why), "{path}: {e}");
    assert!(!fx.objects.contains(r.rel()), "{path} was committed");
    assert_eq!(fx.objects.staged_now(), 0, "{path} left a staged object");
}

#[tokio::test]
async fn nothing_is_committed_when_verification_fails() {
    let fx = service(settings());
    let zip = publish_version(&fx.source, "example.com/m", "v1.0.0", 5000);
    let (zip_key, mod_key) = ("example.com/m/@v/v1.0.0.zip", "example.com/m/@v/v1.0.0.mod");

    fx.source.put("example.com/m/@v/v1.0.0.info", "{\"Version\":\"v1.0.1\"}\n");
    refused(&fx, "/example.com/m/@v/v1.0.0.info", "instead of the requested version").await;

    fx.source.put(zip_key, "this is not a zip");
    refused(&fx, "/example.com/m/@v/v1.0.0.zip", "invalid zip").await;

    let other = testkit::graph::big_module("example.com/other", "v1.0.0", 1000, 3);
    fx.source.put(zip_key, other.versions[0].zip_bytes("example.com/other"));
    refused(&fx, "/example.com/m/@v/v1.0.0.zip", "invalid zip").await;

    let mut mismatch = testkit::graph::big_module("example.com/m", "v1.0.0", 1000, 5);
    mismatch.versions[0].files[0].1 = b"module example.com/m\n\ngo 1.22\n".to_vec();
    fx.source.put(zip_key, mismatch.versions[0].zip_bytes("example.com/m"));
    refused(&fx, "/example.com/m/@v/v1.0.0.zip", "go.mod differs").await;

    // The checksum hook refuses the zip: checked after every other rule, before the commit.
    fx.source.put(zip_key, zip.clone());
    fx.hook.refuse("example.com/m@v1.0.0");
    refused(&fx, "/example.com/m/@v/v1.0.0.zip", "checksum verification failed").await;
    assert!(fx.hook.seen.lock().unwrap().contains(&"example.com/m@v1.0.0".to_string()));
    assert!(fx.objects.contains(mod_key), "the .mod passed its own check");

    // And a go.mod it refuses is not committed either.
    publish_version(&fx.source, "example.com/n", "v1.0.0", 1000);
    fx.hook.refuse("example.com/n@v1.0.0/go.mod");
    refused(&fx, "/example.com/n/@v/v1.0.0.mod", "checksum verification failed").await;

    // The same objects, good this time, are committed.
    let fx = service(settings());
    publish_version(&fx.source, "example.com/m", "v1.0.0", 5000);
    let reply = fx.svc.serve(&req("/example.com/m/@v/v1.0.0.zip"), false).await;
    assert!(reply.is_ok(), "{:?}", reply.err());
    assert!(fx.objects.contains(zip_key));
    let seen = fx.hook.seen.lock().unwrap().clone();
    assert_eq!(seen, ["example.com/m@v1.0.0/go.mod", "example.com/m@v1.0.0"], "the hook saw both objects");
}
