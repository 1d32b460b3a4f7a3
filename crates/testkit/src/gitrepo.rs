//! Synthetic git repositories for direct-mode tests, built with the `git` CLI: files, commits
//! at fixed times, tags, branches. Everything is deterministic, so commit hashes repeat.

use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::Command;

/// A work tree with its repository.
pub struct Repo {
    pub dir: PathBuf,
    clock: i64,
}

impl Repo {
    /// `git init` in `dir` (created), on branch `main`.
    pub fn init(dir: &Path) -> Result<Self> {
        std::fs::create_dir_all(dir)?;
        let r = Self { dir: dir.to_path_buf(), clock: 1_700_000_000 };
        r.git(&["init", "-q", "-b", "main"])?;
        r.git(&["config", "user.email", "test@modgate.test"])?;
        r.git(&["config", "user.name", "modgate test"])?;
        r.git(&["config", "commit.gpgsign", "false"])?;
        r.git(&["config", "tag.gpgsign", "false"])?;
        Ok(r)
    }

    /// Runs git in the work tree with a fixed identity and a hermetic configuration.
    pub fn git(&self, args: &[&str]) -> Result<String> {
        let out = Command::new("git")
            .args(args)
            .current_dir(&self.dir)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_TERMINAL_PROMPT", "0")
            .env("GIT_AUTHOR_DATE", format!("@{} +0000", self.clock))
            .env("GIT_COMMITTER_DATE", format!("@{} +0000", self.clock))
            .output()
            .with_context(|| format!("running git {args:?}"))?;
        if !out.status.success() {
            bail!("git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        }
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    }

    /// Writes a file (creating directories).
    pub fn write(&self, path: &str, data: &[u8]) -> Result<()> {
        let p = self.dir.join(path);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(p, data)?;
        Ok(())
    }

    pub fn remove(&self, path: &str) -> Result<()> {
        self.git(&["rm", "-q", "-r", path]).map(|_| ())
    }

    /// Commits everything; each commit is one hour after the previous. Returns the hash.
    pub fn commit(&mut self, msg: &str) -> Result<String> {
        self.clock += 3600;
        self.git(&["add", "-A"])?;
        self.git(&["commit", "-q", "--allow-empty", "-m", msg])?;
        self.git(&["rev-parse", "HEAD"])
    }

    /// A lightweight tag on HEAD.
    pub fn tag(&self, name: &str) -> Result<()> {
        self.git(&["tag", name]).map(|_| ())
    }

    /// The commit time of HEAD as RFC 3339 UTC.
    pub fn head_time(&self) -> Result<String> {
        self.git(&["log", "-1", "--format=%cd", "--date=format-local:%Y-%m-%dT%H:%M:%SZ"])
    }

    /// A commit's time as a pseudo-version timestamp (`yyyymmddhhmmss`, UTC).
    pub fn stamp(&self, rev: &str) -> Result<String> {
        self.git(&["log", "-1", "--format=%cd", "--date=format:%Y%m%d%H%M%S", rev])
    }

    /// `file://` URL of the repository.
    pub fn url(&self) -> String {
        format!("file://{}", self.dir.display())
    }
}

/// A git configuration file that redirects `https://<host>/` to local repositories under
/// `root` (`url.<file-url>.insteadOf`), so the go command's direct mode and modgate both reach
/// them. Point `GIT_CONFIG_GLOBAL` at the returned path.
pub fn insteadof_config(dir: &Path, host: &str, root: &Path) -> Result<PathBuf> {
    let p = dir.join("gitconfig");
    let text = format!(
        "[url \"file://{}/\"]\n\tinsteadOf = https://{host}/\n[protocol \"file\"]\n\tallow = always\n[safe]\n\tdirectory = *\n",
        root.display()
    );
    std::fs::write(&p, text)?;
    Ok(p)
}

/// A bare repository with a long history, made in one `git fast-import`: a module whose first
/// commit adds a large incompressible file that the second removes, then `commits` small
/// commits, with a release tag every `commits / 4` commits and on the last one. Returns the
/// tags, oldest first, with their commits. Deterministic: the same arguments give the same
/// hashes.
pub fn long_history(dir: &Path, module: &str, commits: usize, big_file: usize) -> Result<Vec<(String, String)>> {
    use std::io::Write as _;
    std::fs::create_dir_all(dir)?;
    let git = |args: &[&str], input: Option<&[u8]>| -> Result<Vec<u8>> {
        let mut child = Command::new("git")
            .args(args)
            .current_dir(dir)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()?;
        let mut stdin = child.stdin.take().context("stdin")?;
        let data = input.unwrap_or_default().to_vec();
        let feeder = std::thread::spawn(move || stdin.write_all(&data));
        let out = child.wait_with_output()?;
        feeder.join().map_err(|_| anyhow::anyhow!("feeding git"))??;
        if !out.status.success() {
            bail!("git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        }
        Ok(out.stdout)
    };
    git(&["init", "-q", "--bare", "-b", "main"], None)?;
    let every = (commits / 4).max(1);
    let mut stream = Vec::with_capacity(big_file + commits * 200);
    let mut tags = Vec::new();
    // xorshift: incompressible, and the same every time.
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut big = Vec::with_capacity(big_file);
    while big.len() < big_file {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        big.extend_from_slice(&x.to_le_bytes());
    }
    big.truncate(big_file);
    let go_mod = format!("module {module}\n\ngo 1.21\n");
    for n in 1..=commits + 2 {
        let t = 1_700_000_000 + n as i64 * 60;
        write!(stream, "commit refs/heads/main\nmark :{n}\ncommitter modgate test <test@modgate.test> {t} +0000\n")?;
        let msg = format!("change {n}\n");
        write!(stream, "data {}\n{msg}", msg.len())?;
        if n > 1 {
            writeln!(stream, "from :{}", n - 1)?;
        }
        match n {
            1 => {
                write!(stream, "M 100644 inline go.mod\ndata {}\n{go_mod}\n", go_mod.len())?;
                write!(stream, "M 100644 inline blob.bin\ndata {}\n", big.len())?;
                stream.extend_from_slice(&big);
                stream.push(b'\n');
            }
            2 => stream.extend_from_slice(b"D blob.bin\n"),
            _ => {
                let body = format!("package big\n\nconst N{} = {n}\n", n % 97);
                write!(stream, "M 100644 inline f{}.go\ndata {}\n{body}\n", n % 97, body.len())?;
            }
        }
        let k = n.saturating_sub(2);
        if n > 2 && (k % every == 0 || n == commits + 2) {
            let tag = format!("v1.{}.0", tags.len());
            write!(stream, "reset refs/tags/{tag}\nfrom :{n}\n\n")?;
            tags.push((tag, n));
        }
    }
    git(&["fast-import", "--quiet"], Some(&stream))?;
    let mut out = Vec::new();
    for (tag, _) in tags {
        let hash = String::from_utf8_lossy(&git(&["rev-parse", &tag], None)?).trim().to_string();
        out.push((tag, hash));
    }
    Ok(out)
}
