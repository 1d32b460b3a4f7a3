//! The Go side: a long-running `oracle` process (crates/gomod-diff/oracle, built on
//! golang.org/x/mod) that answers one hex-encoded request line with one hex-encoded answer.

use anyhow::{anyhow, bail, Context, Result};
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

/// One question: an operation and its arguments (arbitrary bytes).
#[derive(Debug, Clone)]
pub struct Request {
    pub op: &'static str,
    pub args: Vec<Vec<u8>>,
}

impl Request {
    pub fn new(op: &'static str, args: &[&[u8]]) -> Self {
        Request { op, args: args.iter().map(|a| a.to_vec()).collect() }
    }

    fn line(&self) -> String {
        let mut s = String::from(self.op);
        for a in &self.args {
            s.push('\t');
            s.push_str(&hex::encode(a));
        }
        s.push('\n');
        s
    }
}

/// The running oracle.
pub struct Oracle {
    child: Child,
    stdin: Option<BufWriter<ChildStdin>>,
    stdout: BufReader<ChildStdout>,
}

/// Where the oracle binary is: `$GOMOD_ORACLE`, else `target/gomod-oracle` of this workspace
/// (built by `scripts/oracle.sh`).
pub fn default_path() -> PathBuf {
    if let Some(p) = std::env::var_os("GOMOD_ORACLE") {
        return PathBuf::from(p);
    }
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/gomod-oracle")
}

impl Oracle {
    pub fn start(path: &Path) -> Result<Oracle> {
        if !path.exists() {
            bail!("no oracle at {} (build it with scripts/oracle.sh)", path.display());
        }
        let mut child = Command::new(path)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .with_context(|| format!("starting {}", path.display()))?;
        let stdin = child.stdin.take().map(BufWriter::new);
        let stdout = BufReader::new(child.stdout.take().ok_or_else(|| anyhow!("no stdout"))?);
        Ok(Oracle { child, stdin, stdout })
    }

    /// Asks every request, in order, and returns the answers.
    pub fn ask(&mut self, reqs: &[Request]) -> Result<Vec<Vec<u8>>> {
        let stdin = self.stdin.as_mut().ok_or_else(|| anyhow!("oracle closed"))?;
        let stdout = &mut self.stdout;
        std::thread::scope(|s| {
            let writer = s.spawn(move || -> Result<()> {
                for r in reqs {
                    stdin.write_all(r.line().as_bytes())?;
                }
                stdin.flush()?;
                Ok(())
            });
            let mut out = Vec::with_capacity(reqs.len());
            let mut line = String::new();
            for _ in reqs {
                line.clear();
                if stdout.read_line(&mut line)? == 0 {
                    bail!("the oracle ended early");
                }
                out.push(hex::decode(line.trim_end()).context("oracle answer is not hex")?);
            }
            writer.join().map_err(|_| anyhow!("writer panicked"))??;
            Ok(out)
        })
    }
}

impl Drop for Oracle {
    fn drop(&mut self) {
        self.stdin = None;
        let _ = self.child.wait();
    }
}
