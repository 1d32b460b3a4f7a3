//! The web console in a real browser: `tests/ui/console.mjs` drives Debian's Chromium through
//! playwright-core (installed by `scripts/test.sh`: `npm ci` there, the chromium package)
//! against a server with modules cached, and keeps a screenshot of each page in
//! `target/console-screenshots/`. The server's state afterwards is checked here too.

mod common;
use common::*;
use std::path::PathBuf;
use std::process::Command;

#[test]
fn the_console_in_chromium() {
    let ui = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/ui");
    assert!(
        ui.join("node_modules/playwright-core").is_dir(),
        "playwright-core is missing: run `npm ci` in {} (scripts/test.sh does)",
        ui.display()
    );
    let fx = fixture(12);
    let data = tempfile::tempdir().unwrap();
    let mut cfg = test_config(&fx.upstream.url(), &data.path().join("data"));
    let (_, ops) = with_admin(&mut cfg, data.path());
    let mg = InProcess::start(cfg);

    // Half the modules cached; a go.sum of three others to warm from.
    let sums = fx.graph.expected_sums();
    let all: Vec<_> = sums.iter().collect();
    for ((m, v), _) in all.iter().step_by(2) {
        for ext in [".info", ".mod", ".zip"] {
            assert_eq!(get(mg.addr, &obj_path(m, v, ext), &[]).status, 200);
        }
    }
    let warm: Vec<_> = all.iter().skip(1).step_by(2).take(3).collect();
    let go_sum: String =
        warm.iter().map(|((m, v), (zip, gomod))| format!("{m} {v} {zip}\n{m} {v}/go.mod {gomod}\n")).collect();
    let sum_file = data.path().join("go.sum");
    std::fs::write(&sum_file, go_sum).unwrap();
    // An anonymous refusal for the dashboard's recent denials.
    assert_eq!(get(mg.addr, "/-/admin/status", &[]).status, 401);
    mg.settle();

    let ((module, version), _) = all[0];
    let out = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/console-screenshots");
    let _ = std::fs::remove_dir_all(&out);
    let run = Command::new("node")
        .arg("console.mjs")
        .args([&mg.url(), &ops, out.to_str().unwrap(), module, version, sum_file.to_str().unwrap()])
        .current_dir(&ui)
        .output()
        .expect("node");
    let said = format!("{}\n{}", String::from_utf8_lossy(&run.stdout), String::from_utf8_lossy(&run.stderr));
    assert!(run.status.success(), "the browser run failed:\n{said}");
    assert!(said.contains("all steps passed"), "{said}");
    for name in [
        "login",
        "dashboard",
        "catalog",
        "module",
        "module-quarantined",
        "quarantine",
        "warm",
        "audit",
        "phone-dashboard",
        "phone-catalog",
    ] {
        let png = std::fs::read(out.join(format!("{name}.png"))).unwrap_or_default();
        assert!(png.len() > 1000 && png.starts_with(b"\x89PNG"), "{name}.png");
    }

    // What the browser did, as the server saw it.
    assert!(mg.app().modules.quarantine_list().is_empty(), "quarantined, then released");
    for ((m, v), _) in &warm {
        let rel = obj_path(m, v, ".zip");
        assert_eq!(fx.upstream.count(&rel), 1, "{rel} fetched by the warm job");
    }
    let audit = mg.app().auth.clone().unwrap();
    let calls = audit.audit().recent(1000, |l| l["event"] == "admin" && l["who"] == "key:oncall");
    for call in ["quarantine", "warm", "catalog", "module", "stats"] {
        assert!(calls.iter().any(|l| l["call"] == call), "{call} audited");
    }
}
