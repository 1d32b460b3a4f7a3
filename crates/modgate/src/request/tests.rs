use super::*;

#[test]
fn parses_endpoints() {
    let r = parse("/github.com/%21azure/go-autorest/@v/v14.2.0+incompatible.info", None).unwrap();
    assert_eq!(r.module, "github.com/Azure/go-autorest");
    assert_eq!(r.version.as_deref(), Some("v14.2.0+incompatible"));
    assert_eq!(r.endpoint, Endpoint::Info);
    assert!(r.is_immutable());
    assert_eq!(r.rel(), "github.com/!azure/go-autorest/@v/v14.2.0+incompatible.info");
    // %21 and a literal ! give the same key.
    let lit = parse("/github.com/!azure/go-autorest/@v/v14.2.0+incompatible.info", None).unwrap();
    assert_eq!(lit.rel(), r.rel());
    let r = parse("/example.com/m/@v/list", None).unwrap();
    assert_eq!((r.endpoint, r.rel()), (Endpoint::List, "example.com/m/@v/list"));
    let r = parse("/example.com/m/@latest", None).unwrap();
    assert_eq!(r.endpoint, Endpoint::Latest);
    let r = parse("/example.com/m/@v/!master.info", None).unwrap();
    assert_eq!(r.version.as_deref(), Some("Master"));
    assert!(!r.is_immutable());
    let r = parse("/example.com/m/@v/v2.0.0.info", None).unwrap();
    assert!(!r.is_immutable(), "v2.0.0 does not fit a path without /v2: a query");
}

#[test]
fn refusals() {
    let cases = [
        ("/example.com/m/@v/v1.0.zip", 400),
        ("/example.com/m/@v/master.mod", 400),
        ("/example.com/m/@v/v2.0.0.mod", 404),
        ("/example.com/m/@v/v1.0.0.tar", 404),
        ("/example.com/m%2F@v/list", 400),
        ("/example.com/%2e%2e/@v/list", 400),
        ("/Example.com/m/@v/list", 400),
        ("/example.com/m/@v/.info", 400),
        ("/example.com/m/@v/v1.0.0%00.info", 400),
        ("/example.com/m/@v/v1!.info", 400),
        ("/", 404),
        ("/@v/list", 404),
    ];
    for (p, want) in cases {
        let got = parse(p, None).unwrap_err().status().as_u16();
        assert_eq!(got, want, "{p}");
    }
    assert_eq!(parse("/example.com/m/@v/list", Some("go-get=1")).unwrap_err().status().as_u16(), 400);
}

#[test]
fn classification() {
    assert_eq!(Target::classify("/healthz", Some("x")), Ok(Target::Health));
    assert_eq!(Target::classify("/readyz", None), Ok(Target::Ready));
    assert_eq!(Target::classify("/-/admin/status", Some("q=1")), Ok(Target::Admin));
    assert_eq!(Target::classify("/-/ui", None), Ok(Target::Ui(String::new())));
    assert_eq!(Target::classify("/-/ui/", None), Ok(Target::Ui(String::new())));
    assert_eq!(Target::classify("/-/ui/app.js", None), Ok(Target::Ui("app.js".into())));
    assert_eq!(
        Target::classify("/sumdb/sum.example/latest", None),
        Ok(Target::Sumdb { db: "sum.example".into(), path: SumdbPath::Latest })
    );
    assert_eq!(
        Target::classify("/sumdb/sum.example/db/supported", None),
        Ok(Target::Sumdb { db: "sum.example/db".into(), path: SumdbPath::Supported })
    );
    assert_eq!(
        Target::classify("/sumdb/sum.example/lookup/corp.example/!x@v1.0.0-!r+incompatible", None),
        Ok(Target::Sumdb {
            db: "sum.example".into(),
            path: SumdbPath::Lookup {
                module: "corp.example/X".into(),
                version: "v1.0.0-R+incompatible".into(),
                rel: "lookup/corp.example/!x@v1.0.0-!r+incompatible".into()
            }
        })
    );
    let t = Target::classify("/sumdb/sum.example/tile/8/0/x001/234.p/7", None).unwrap();
    assert!(matches!(t, Target::Sumdb { path: SumdbPath::Tile(t), .. } if t.n == 1234 && t.w == 7));
    for bad in [
        "/sumdb/s/lookup/corp.example/x",
        "/sumdb/s/lookup/corp.example/x@v1.0",
        "/sumdb/s/lookup/corp.example/x@latest",
        "/sumdb/s/lookup/corp.example%2Fx@v1.0.0",
        "/sumdb/s/lookup/corp.example/x@v1.0.0@v1.0.0",
        "/sumdb/s/tile/8/0/1",
        "/sumdb/s/tile/8/0/001.p/256",
    ] {
        assert_eq!(Target::classify(bad, None).unwrap_err().status().as_u16(), 400, "{bad}");
    }
    for missing in ["/sumdb/s/other", "/sumdb//latest", "/sumdb/../latest", "/sumdb/a%2fb/latest"] {
        assert_eq!(Target::classify(missing, None).unwrap_err().status().as_u16(), 404, "{missing}");
    }
    let Ok(Target::Publish(p)) = Target::classify("/-/publish/corp.example/x/@v/v1.0.0", None) else {
        panic!("a publish target")
    };
    assert_eq!((p.endpoint, p.rel()), (Endpoint::Zip, "corp.example/x/@v/v1.0.0.zip"));
    assert_eq!(Target::classify("/-/publish/corp.example/x/@v/master", None).unwrap_err().status().as_u16(), 400);
    assert!(matches!(Target::classify("/example.com/m/@v/list", None), Ok(Target::Module(_))));
    assert_eq!(Target::classify("/-/publish", None).unwrap_err().status().as_u16(), 404);
}
