//! The defaults the configuration may leave out, the way the go command on this machine
//! would choose them: `$GOPROXY` and `$GOSUMDB` first, else what `go env` reports (the go
//! command's defaults live inside it, not in the environment), and the verifier keys the go
//! command knows by name, read from its own source beside it.

use modgate::config::Defaults;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The go command to ask: `$MODGATE_GO`, else `go` on the PATH.
fn go_binary() -> String {
    std::env::var("MODGATE_GO").ok().filter(|s| !s.is_empty()).unwrap_or_else(|| "go".to_string())
}

fn env_var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|s| !s.trim().is_empty())
}

pub fn defaults() -> Defaults {
    let mut d = Defaults {
        goproxy: env_var("GOPROXY").map(|v| (v, "$GOPROXY".to_string())),
        gosumdb: env_var("GOSUMDB").map(|v| (v, "$GOSUMDB".to_string())),
        known_sumdb_keys: Vec::new(),
    };
    let asked = go_env(&["GOPROXY", "GOSUMDB", "GOROOT"]);
    if let Some(vals) = &asked {
        if d.goproxy.is_none() {
            d.goproxy = vals.first().filter(|v| !v.is_empty()).map(|v| (v.clone(), "go env GOPROXY".to_string()));
        }
        if d.gosumdb.is_none() {
            d.gosumdb = vals.get(1).filter(|v| !v.is_empty()).map(|v| (v.clone(), "go env GOSUMDB".to_string()));
        }
        if let Some(root) = vals.get(2).filter(|v| !v.is_empty()) {
            d.known_sumdb_keys = known_keys(std::path::Path::new(root));
        }
    }
    d
}

/// `go env NAME...`, one value per line; `None` when there is no go command or it fails or
/// takes longer than ten seconds.
fn go_env(names: &[&str]) -> Option<Vec<String>> {
    let mut child = Command::new(go_binary())
        .arg("env")
        .args(names)
        .env("GOTOOLCHAIN", "local")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let start = Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(status)) if status.success() => break,
            Ok(Some(_)) | Err(_) => return None,
            Ok(None) if start.elapsed() > Duration::from_secs(10) => {
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(5)),
        }
    }
    let mut out = String::new();
    std::io::Read::read_to_string(&mut child.stdout.take()?, &mut out).ok()?;
    Some(out.lines().map(|l| l.trim().to_string()).collect())
}

/// The verifier keys in the go command's table of known checksum databases
/// (`cmd/go/internal/modfetch/key.go`): every quoted `name+hash+key` string.
fn known_keys(goroot: &std::path::Path) -> Vec<String> {
    let file = goroot.join("src/cmd/go/internal/modfetch/key.go");
    let Ok(text) = std::fs::read_to_string(file) else { return Vec::new() };
    text.split('"')
        .skip(1)
        .step_by(2)
        .filter(|s| gomod::sumdb::note::Verifier::parse(s).is_ok())
        .map(str::to_string)
        .collect()
}
