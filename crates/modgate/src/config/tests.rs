//! Loading configurations: precedence, defaults, and errors that name the key and the line.

use super::*;
use std::io::Write;
use std::path::Path;

fn file(text: &str) -> tempfile::NamedTempFile {
    let mut f = tempfile::NamedTempFile::new().unwrap();
    f.write_all(text.as_bytes()).unwrap();
    f
}

#[test]
fn defaults() {
    let c = load(None, &Overrides::default(), &Defaults::default()).unwrap();
    assert_eq!(c.listen.to_string(), "127.0.0.1:8080");
    assert_eq!(c.data_dir, PathBuf::from("./modgate-data"));
    assert_eq!(c.upstream_raw, "direct");
    assert_eq!(c.list_ttl, Duration::from_secs(60));
    assert_eq!(c.negative_ttl, Duration::from_secs(30));
}

#[test]
fn precedence_flag_over_file_over_env_goproxy() {
    let f = file("listen = \"127.0.0.1:9000\"\nupstream = \"http://file.example\"\n[cache]\nlist_ttl = \"5m\"\n");
    let c =
        load(Some(f.path()), &Overrides::default(), &Defaults::goproxy_env(Some("http://env.example".into()))).unwrap();
    assert_eq!(c.listen.port(), 9000);
    assert_eq!(c.upstream_raw, "http://file.example");
    assert_eq!(c.list_ttl, Duration::from_secs(300));
    let over = Overrides { listen: Some("127.0.0.1:9100".into()), ..Default::default() };
    let c = load(Some(f.path()), &over, &Defaults::default()).unwrap();
    assert_eq!(c.listen.port(), 9100);
    let c = load(None, &Overrides::default(), &Defaults::goproxy_env(Some("http://env.example".into()))).unwrap();
    assert_eq!(c.upstream_raw, "http://env.example");
}

#[test]
fn errors_name_key_and_line() {
    let f = file("listen = \"127.0.0.1:9000\"\n\nlog_level = \"loud\"\n");
    let e = load(Some(f.path()), &Overrides::default(), &Defaults::default()).unwrap_err().0;
    assert!(e.contains(":3: log_level:"), "{e}");
    assert!(!e.contains('\n'));
    let f = file("listen = \"nowhere\"\n");
    let e = load(Some(f.path()), &Overrides::default(), &Defaults::default()).unwrap_err().0;
    assert!(e.contains(":1: listen:"), "{e}");
    let f = file("a = 1\nlistne = \"x\"\n");
    let e = load(Some(f.path()), &Overrides::default(), &Defaults::default()).unwrap_err().0;
    assert!(e.contains("unknown field") && e.contains(":1:") && !e.contains(": a:"), "{e}");
    // A value of the wrong type: the parser's message, with the key it was given for.
    let f = file("[[proxy]]  # the app\nto = \"http://127.0.0.1:3000\"\nvia = \"no\"\n");
    let e = load(Some(f.path()), &Overrides::default(), &Defaults::default()).unwrap_err().0;
    assert!(e.contains(":3: proxy.via: invalid type: string \"no\", expected a boolean"), "{e}");
    let f = file("[cache]\nlist_ttl = 5\n");
    let e = load(Some(f.path()), &Overrides::default(), &Defaults::default()).unwrap_err().0;
    assert!(e.contains(":2: cache.list_ttl: invalid type"), "{e}");
    let f = file("[cache]\nlist_ttl = \"soon\"\n");
    let e = load(Some(f.path()), &Overrides::default(), &Defaults::default()).unwrap_err().0;
    assert!(e.contains(":2: cache.list_ttl:"), "{e}");
    let over = Overrides { upstream: Some("ftp://x".into()), ..Default::default() };
    let e = load(None, &over, &Defaults::default()).unwrap_err().0;
    assert!(e.contains("--upstream or MODGATE_UPSTREAM"), "{e}");
    let f = file("[prefetch]\nenabled = false\nconcurrency = 0\n");
    let e = load(Some(f.path()), &Overrides::default(), &Defaults::default()).unwrap_err().0;
    assert!(e.contains(":3: prefetch.concurrency"), "{e}");
    let f = file("[prefetch]\nenabled = false\ndepth = 2\n");
    let c = load(Some(f.path()), &Overrides::default(), &Defaults::default()).unwrap();
    assert!(!c.prefetch.enabled);
    assert_eq!(c.prefetch.depth, 2);
    let f = file("[direct]\ntimeout = \"2m\"\n[[direct.repo]]\nprefix = \"corp.example/tools\"\nurl = \"https://git.corp.example/tools.git\"\n[[direct.repo]]\nprefix = \"corp.example\"\nurl = \"git@git.corp.example:all.git\"\n");
    let c = load(Some(f.path()), &Overrides::default(), &Defaults::default()).unwrap();
    assert_eq!(c.direct_repos[0].prefix, "corp.example/tools", "longest prefix first");
    assert_eq!(c.git_timeout, Duration::from_secs(120));
    assert_eq!(c.mirror_idle, Some(Duration::from_secs(30 * 86_400)), "mirrors idle for 30 days go by default");
    let c = load(Some(file("[direct]\nmirror_idle = \"off\"\n").path()), &Overrides::default(), &Defaults::default());
    assert_eq!(c.unwrap().mirror_idle, None);
    let f = file("[direct]\n\nmirror_idle = \"soon\"\n");
    let e = load(Some(f.path()), &Overrides::default(), &Defaults::default()).unwrap_err().0;
    assert!(e.contains(":3: direct.mirror_idle"), "{e}");
    let f = file("[[route]]\nmodules = \"corp.example/*\"\nsource = \"direct\"\n[[route]]\nmodules = \"evil.example\"\nsource = \"deny\"\n");
    let c = load(Some(f.path()), &Overrides::default(), &Defaults::default()).unwrap();
    assert_eq!(c.routes.len(), 2);
    assert_eq!(c.routes[1].source, RouteSource::Deny);
    let f = file("[[route]]\nmodules = \"x.example\"\nsource = \"gopher://x\"\n");
    let e = load(Some(f.path()), &Overrides::default(), &Defaults::default()).unwrap_err().0;
    assert!(e.contains(":1: route.source"), "{e}");
    let f = file("[[direct.repo]]\nprefix = \"corp.example/x\"\nurl = \"ftp://nope\"\n");
    let e = load(Some(f.path()), &Overrides::default(), &Defaults::default()).unwrap_err().0;
    assert!(e.contains(":1: direct.repo.url"), "{e}");
    let e =
        load(Some(Path::new("/nonexistent/modgate.toml")), &Overrides::default(), &Defaults::default()).unwrap_err().0;
    assert!(e.contains("cannot read"), "{e}");
}

const VKEY: &str = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";

#[test]
fn checksum_databases_in_gosumdb_syntax() {
    let known = vec![VKEY.to_string()];
    // A bare name the go command knows gets its key; one it does not know is proxied only.
    let db = parse_spec("PeterNeumann", &known).unwrap().unwrap();
    assert_eq!((db.name.as_str(), db.key.as_deref(), db.url), ("PeterNeumann", Some(VKEY), None));
    assert_eq!(parse_spec("sum.corp.example", &known).unwrap().unwrap().key, None);
    let db = parse_spec(&format!("{VKEY} https://sum.corp.example/db/"), &[]).unwrap().unwrap();
    assert_eq!(db.url.as_deref(), Some("https://sum.corp.example/db"));
    assert_eq!(parse_spec("off", &known).unwrap(), None);
    for bad in ["", "a b c", "sum.corp.example ftp://x", "bad+key", "sum.corp.example/../x", "/x", "a//b"] {
        assert!(parse_spec(bad, &known).is_err(), "{bad:?}");
    }

    // Where the database came from, and file errors naming the line.
    let defaults = Defaults { gosumdb: Some((VKEY.into(), "go env GOSUMDB".into())), ..Default::default() };
    let c = load(None, &Overrides::default(), &defaults).unwrap();
    assert_eq!((c.checksum_db.origin.as_str(), c.checksum_db.verify), ("go env GOSUMDB", true));
    let f = file("[checksum_db]\ndatabase = \"off\"\nown = \"sum.own.example\"\nfresh = \"1m\"\n");
    let c = load(Some(f.path()), &Overrides::default(), &defaults).unwrap();
    assert_eq!((c.checksum_db.database.clone(), c.checksum_db.own.as_deref()), (None, Some("sum.own.example")));
    assert_eq!(c.checksum_db.fresh, Duration::from_secs(60));
    let f = file("[checksum_db]\nproxied = [\"off\"]\n");
    let e = load(Some(f.path()), &Overrides::default(), &Defaults::default()).unwrap_err().0;
    assert!(e.contains(":2: checksum_db.proxied"), "{e}");
    let f = file(&format!("[checksum_db]\ndatabase = \"{VKEY}\"\nown = \"PeterNeumann\"\n"));
    let e = load(Some(f.path()), &Overrides::default(), &Defaults::default()).unwrap_err().0;
    assert!(e.contains("configured twice"), "{e}");
}

#[test]
fn tracing_and_the_metrics_listener() {
    let c = load(None, &Overrides::default(), &Defaults::default()).unwrap();
    assert!(!c.tracing.enabled, "tracing is off unless asked for");
    assert_eq!(c.metrics.listen, None);
    let f = file(
        "[metrics]\nlisten = \"127.0.0.1:9464\"\n[tracing]\nenabled = true\nendpoint = \"http://127.0.0.1:4318\"\n\
         sample_ratio = 0.25\nheaders = { authorization = \"Bearer t\" }\n",
    );
    let c = load(Some(f.path()), &Overrides::default(), &Defaults::default()).unwrap();
    assert_eq!(c.metrics.listen.map(|a| a.port()), Some(9464));
    assert_eq!(c.tracing.endpoint, "http://127.0.0.1:4318/v1/traces");
    assert_eq!(c.tracing.sample_ratio, 0.25);
    assert_eq!(c.tracing.headers, vec![("authorization".to_string(), "Bearer t".to_string())]);
    for (text, want) in [
        ("[tracing]\n\nsample_ratio = 2.0\n", ":3: tracing.sample_ratio: must be within 0.0..=1.0"),
        (
            "[tracing]\nendpoint = \"grpc://collector:4317\"\n",
            ":2: tracing.endpoint: \"grpc://collector:4317\" is not an http",
        ),
        ("[tracing]\nexport_delay = \"soon\"\n", "tracing.export_delay: \"soon\" is not a duration"),
        ("[tracing]\nservice = \"x\"\n", "unknown field `service`"),
        ("[metrics]\nlisten = \"localhost\"\n", ":2: metrics.listen: \"localhost\" is not an address"),
        ("[metrics]\nenabled = false\nlisten = \"127.0.0.1:9464\"\n", ":3: metrics.listen: metrics are off"),
    ] {
        let f = file(text);
        let e = load(Some(f.path()), &Overrides::default(), &Defaults::default()).unwrap_err().to_string();
        assert!(e.contains(want), "{text:?}: {e}");
    }
}

#[test]
fn storage_on_a_bucket() {
    let c = load(None, &Overrides::default(), &Defaults::default()).unwrap();
    assert_eq!(c.storage, Storage::Local, "the local disk unless a bucket is named");
    let f = file(
        "[storage]\nkind = \"s3\"\nbucket = \"go-cache\"\nprefix = \"/modgate/\"\nendpoint = \"http://127.0.0.1:9000/\"\n\
         region = \"eu-west-1\"\naccess_key_id = \"id\"\nsecret_access_key = \"hunter2\"\n",
    );
    let c = load(Some(f.path()), &Overrides::default(), &Defaults::default()).unwrap();
    let Storage::S3(s) = &c.storage else { panic!("{:?}", c.storage) };
    assert_eq!((s.bucket.as_str(), s.prefix.as_str()), ("go-cache", "modgate"));
    assert_eq!(s.endpoint.as_deref(), Some("http://127.0.0.1:9000"));
    assert!(s.path_style, "a custom endpoint is addressed path-style unless told otherwise");
    assert_eq!((s.region.as_str(), s.part_bytes, s.copy_if_not_exists.as_str()), ("eu-west-1", 8 << 20, "multipart"));
    assert!(!format!("{c:?}").contains("hunter2"), "the secret never reaches a Debug print");
    let f = file("[coordination]\nredis = \"redis://:hunter2@127.0.0.1:6379/2\"\nlease = \"10s\"\n");
    let c = load(Some(f.path()), &Overrides::default(), &Defaults::default()).unwrap();
    let co = c.coordination.as_ref().unwrap();
    assert_eq!(
        (co.prefix.as_str(), co.lease, co.timeout),
        ("modgate", Duration::from_secs(10), Duration::from_secs(1))
    );
    assert!(!format!("{c:?}").contains("hunter2") && format!("{c:?}").contains("127.0.0.1:6379/2"), "{c:?}");
    for (text, want) in [
        ("[coordination]\nlease = \"10s\"\n", ":1: coordination.redis: a [coordination] section needs redis"),
        ("[coordination]\nredis = \"http://x\"\n", ":2: coordination.redis: \"http://x\" is not a Redis URL"),
        ("[coordination]\nredis = \"redis://h\"\nlease = \"10ms\"\n", ":3: coordination.lease: must be at least 1s"),
    ] {
        let f = file(text);
        let e = load(Some(f.path()), &Overrides::default(), &Defaults::default()).unwrap_err().to_string();
        assert!(e.contains(want), "{text:?}: {e}");
    }
    for (text, want) in [
        ("[storage]\nkind = \"s3\"\n", ":1: storage.bucket: kind = \"s3\" needs a bucket"),
        ("[storage]\nkind = \"gcs\"\n", ":2: storage.kind: \"gcs\" is not a storage kind"),
        ("[storage]\nkind = \"s3\"\nbucket = \"Go_Cache\"\n", ":3: storage.bucket: \"Go_Cache\" is not a bucket name"),
        ("[storage]\nbucket = \"go-cache\"\n", ":2: storage.bucket: a bucket needs kind = \"s3\""),
        ("[storage]\nkind = \"s3\"\nbucket = \"b-1\"\nendpoint = \"s3.local\"\n", ":4: storage.endpoint:"),
        ("[storage]\nkind = \"s3\"\nbucket = \"b-1\"\nprefix = \"a//b\"\n", ":4: storage.prefix:"),
        ("[storage]\nkind = \"s3\"\nbucket = \"b-1\"\npart_mb = 1\n", ":4: storage.part_mb: 1 is outside 5..=1024"),
        (
            "[storage]\nkind = \"s3\"\nbucket = \"b-1\"\ncopy_if_not_exists = \"yes\"\n",
            ":4: storage.copy_if_not_exists",
        ),
        ("[storage]\nkind = \"s3\"\nbucket = \"b-1\"\nsecret = \"x\"\n", "unknown field `secret`"),
    ] {
        let f = file(text);
        let e = load(Some(f.path()), &Overrides::default(), &Defaults::default()).unwrap_err().to_string();
        assert!(e.contains(want), "{text:?}: {e}");
    }
}

#[test]
fn cache_max_size_takes_units_and_refuses_nonsense() {
    let c = load(None, &Overrides::default(), &Defaults::default()).unwrap();
    assert_eq!(c.cache_max_bytes, None, "no limit by default");
    for (text, want) in [
        ("50GB", 50_000_000_000),
        ("1.5 GiB", 1_610_612_736),
        ("800MB", 800_000_000),
        ("4096", 4096),
        ("2TiB", 2 << 40),
    ] {
        let f = file(&format!("[cache]\nmax_size = \"{text}\"\n"));
        let c = load(Some(f.path()), &Overrides::default(), &Defaults::default()).unwrap();
        assert_eq!(c.cache_max_bytes, Some(want), "{text}");
    }
    let f = file("[cache]\nmax_size = \"off\"\n");
    assert_eq!(load(Some(f.path()), &Overrides::default(), &Defaults::default()).unwrap().cache_max_bytes, None);
    for text in ["50 parsecs", "-1GB", "0", "GB", "1e30"] {
        let f = file(&format!("[cache]\nlist_ttl = \"1m\"\nmax_size = \"{text}\"\n"));
        let e = load(Some(f.path()), &Overrides::default(), &Defaults::default()).unwrap_err().to_string();
        assert!(e.contains(":3: cache.max_size:"), "{text}: {e}");
    }
}

#[test]
fn the_send_limit_is_a_duration_above_zero() {
    assert_eq!(
        load(None, &Overrides::default(), &Defaults::default()).unwrap().limits.send_timeout,
        Duration::from_secs(60)
    );
    let f = file("[limits]\nsend_timeout = \"90s\"\n");
    let c = load(Some(f.path()), &Overrides::default(), &Defaults::default()).unwrap();
    assert_eq!(c.limits.send_timeout, Duration::from_secs(90));
    for bad in ["0s", "soon"] {
        let f = file(&format!("[limits]\n\nsend_timeout = \"{bad}\"\n"));
        let e = load(Some(f.path()), &Overrides::default(), &Defaults::default()).unwrap_err().0;
        assert!(e.contains(":3: limits.send_timeout:"), "{e}");
    }
}
