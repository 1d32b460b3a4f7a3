//! An independent checksum database for tests: `testkit-sumdb`, a small Go program on
//! `golang.org/x/mod/sumdb` (the code the public database runs on), built by
//! `scripts/oracle.sh` into `target/testkit-sumdb` (or `$TESTKIT_SUMDB`). It logs the go.sum
//! lines it is given as they are looked up and serves the protocol on loopback.

use anyhow::{bail, Context, Result};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

/// The testkit-sumdb binary.
pub fn binary() -> PathBuf {
    if let Some(p) = std::env::var_os("TESTKIT_SUMDB") {
        return PathBuf::from(p);
    }
    // crates/testkit -> the workspace's target directory.
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/testkit-sumdb")
}

/// A new key pair for a database `name`: (signer key, verifier key).
pub fn generate_key(name: &str) -> Result<(String, String)> {
    let out = Command::new(binary()).args(["-genkey", name]).output().context("running testkit-sumdb")?;
    if !out.status.success() {
        bail!("testkit-sumdb -genkey: {}", String::from_utf8_lossy(&out.stderr));
    }
    let text = String::from_utf8(out.stdout)?;
    let mut lines = text.lines();
    match (lines.next(), lines.next()) {
        (Some(s), Some(v)) => Ok((s.to_string(), v.to_string())),
        _ => bail!("testkit-sumdb -genkey printed {text:?}"),
    }
}

/// Options beyond the records.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Flip a bit in every hash tile served (inclusion proofs then fail).
    pub corrupt_tiles: bool,
    /// Log every record at start, in the order given.
    pub preload: bool,
}

/// A running database.
pub struct SumDb {
    child: Child,
    pub addr: String,
    pub name: String,
    pub vkey: String,
    pub skey: String,
    _dir: tempfile::TempDir,
}

impl SumDb {
    /// Serves `sums` (go.sum lines, the zip line before the go.mod line of each version),
    /// signed with `keys` (from [`generate_key`]).
    pub fn start(keys: &(String, String), sums: &str, opts: &Options) -> Result<SumDb> {
        let dir = tempfile::tempdir()?;
        let file = dir.path().join("go.sum");
        std::fs::write(&file, sums)?;
        let mut cmd = Command::new(binary());
        cmd.args(["-key", &keys.0, "-sums"]).arg(&file);
        if opts.corrupt_tiles {
            cmd.arg("-corrupt-tiles");
        }
        if opts.preload {
            cmd.arg("-preload");
        }
        let mut child =
            cmd.stdout(Stdio::piped()).stderr(Stdio::inherit()).spawn().context("starting testkit-sumdb")?;
        let mut line = String::new();
        BufReader::new(child.stdout.take().context("stdout")?).read_line(&mut line)?;
        let addr = line.trim().strip_prefix("listening ").context("testkit-sumdb did not start")?.to_string();
        let name = keys.1.split('+').next().unwrap_or_default().to_string();
        Ok(SumDb { child, addr, name, vkey: keys.1.clone(), skey: keys.0.clone(), _dir: dir })
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Every path asked so far.
    pub fn requests(&self) -> Result<Vec<String>> {
        let mut s = TcpStream::connect(&self.addr)?;
        write!(s, "GET /-/requests HTTP/1.0\r\nHost: {}\r\n\r\n", self.addr)?;
        let mut out = String::new();
        s.read_to_string(&mut out)?;
        let body = out.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or_default();
        Ok(body.lines().map(str::to_string).collect())
    }
}

impl Drop for SumDb {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The go.sum lines of every version of a graph, zip line first.
pub fn graph_sums(g: &crate::graph::Graph) -> String {
    g.expected_sums().iter().map(|((m, v), (zip, md))| format!("{m} {v} {zip}\n{m} {v}/go.mod {md}\n")).collect()
}
