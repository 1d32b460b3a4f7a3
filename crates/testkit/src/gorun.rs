//! Running the real `go` command hermetically: every variable that could let the machine's own
//! configuration leak in is set to a temporary value.

use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The go binary: `$MODGATE_TEST_GO`, else `go` on the PATH.
pub fn go_binary() -> PathBuf {
    std::env::var_os("MODGATE_TEST_GO").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("go"))
}

/// A throw-away Go environment: its own HOME, GOPATH, module cache and build cache.
pub struct GoEnv {
    dir: tempfile::TempDir,
    pub goproxy: String,
    pub extra: Vec<(String, String)>,
}

impl GoEnv {
    pub fn new(goproxy: &str) -> Result<Self> {
        let dir = tempfile::tempdir()?;
        for d in ["home", "gopath", "gocache", "work"] {
            std::fs::create_dir_all(dir.path().join(d))?;
        }
        Ok(Self { dir, goproxy: goproxy.to_string(), extra: Vec::new() })
    }

    /// A client for direct-mode comparisons: git reads only `gitconfig` (which points module
    /// hosts at local servers), and a main module waits in `work()`. No GOPRIVATE/GONOPROXY, so
    /// with a proxy the client really asks it.
    pub fn with_git_config(goproxy: &str, gitconfig: &Path) -> Result<Self> {
        let mut g = Self::new(goproxy)?;
        g.extra.push(("GIT_CONFIG_GLOBAL".into(), gitconfig.display().to_string()));
        g.extra.push(("GIT_CONFIG_NOSYSTEM".into(), "1".into()));
        std::fs::write(g.work().join("go.mod"), "module example.com/client\n\ngo 1.21\n")?;
        Ok(g)
    }

    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    /// A directory for a main module.
    pub fn work(&self) -> PathBuf {
        self.dir.path().join("work")
    }

    pub fn modcache(&self) -> PathBuf {
        self.dir.path().join("gopath/pkg/mod")
    }

    /// A `go` command with a clean environment, run in `cwd`.
    pub fn command(&self, cwd: &Path, args: &[&str]) -> Command {
        let mut c = Command::new(go_binary());
        c.args(args).current_dir(cwd).env_clear();
        if let Some(p) = std::env::var_os("PATH") {
            c.env("PATH", p);
        }
        let r = self.dir.path();
        c.env("HOME", r.join("home"))
            .env("GOPATH", r.join("gopath"))
            .env("GOMODCACHE", self.modcache())
            .env("GOCACHE", r.join("gocache"))
            .env("GOENV", "off")
            .env("GOPROXY", &self.goproxy)
            .env("GOSUMDB", "off")
            .env("GONOSUMDB", "")
            .env("GOPRIVATE", "")
            .env("GONOPROXY", "")
            .env("GOINSECURE", "")
            .env("GOFLAGS", "-mod=mod")
            .env("GOTOOLCHAIN", "local")
            .env("GOTELEMETRY", "off")
            .env("GO111MODULE", "on")
            .env("CGO_ENABLED", "0");
        for (k, v) in &self.extra {
            c.env(k, v);
        }
        c
    }

    /// Runs `go` and returns its output, failing with both streams when it fails.
    pub fn run(&self, cwd: &Path, args: &[&str]) -> Result<Output> {
        let out = self.command(cwd, args).output().with_context(|| format!("running go {args:?}"))?;
        if !out.status.success() {
            bail!(
                "go {args:?} failed ({}):\nstdout: {}\nstderr: {}",
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(out)
    }

    /// Runs `go` expecting failure; returns stderr.
    pub fn run_fail(&self, cwd: &Path, args: &[&str]) -> Result<String> {
        let out = self.command(cwd, args).output().with_context(|| format!("running go {args:?}"))?;
        if out.status.success() {
            bail!("go {args:?} succeeded but was expected to fail:\n{}", String::from_utf8_lossy(&out.stdout));
        }
        Ok(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

impl Drop for GoEnv {
    fn drop(&mut self) {
        // The module cache is read-only; make it writable so the directory can be removed.
        make_writable(self.dir.path());
    }
}

fn make_writable(p: &Path) {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(meta) = std::fs::symlink_metadata(p) {
        if meta.is_dir() {
            let _ = std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o755));
            if let Ok(rd) = std::fs::read_dir(p) {
                for e in rd.flatten() {
                    make_writable(&e.path());
                }
            }
        } else if meta.is_file() {
            let _ = std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o644));
        }
    }
}

/// One line of `go mod download -json` output.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct Downloaded {
    #[serde(rename = "Path")]
    pub path: String,
    #[serde(rename = "Version")]
    pub version: String,
    #[serde(rename = "Sum", default)]
    pub sum: String,
    #[serde(rename = "GoModSum", default)]
    pub go_mod_sum: String,
    #[serde(rename = "Error", default)]
    pub error: Option<String>,
}

/// Parses the stream of JSON objects `go mod download -json` prints.
pub fn parse_download_json(out: &[u8]) -> Result<Vec<Downloaded>> {
    let mut v = Vec::new();
    for item in serde_json::Deserializer::from_slice(out).into_iter::<Downloaded>() {
        v.push(item?);
    }
    Ok(v)
}
