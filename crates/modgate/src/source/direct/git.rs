//! Running git the way the go command does: never prompting, the egress proxy's settings in
//! the environment, every run bounded by the configured timeout, and the process killed if the
//! request that started it goes away. Error messages are redacted (git may quote URLs).

use crate::net::redact_text;
use crate::obs::metrics::GitMetrics;
use crate::source::FetchError;
use std::path::Path;
use std::time::Duration;
use tokio::process::Command;
use tracing::Instrument;

/// The subcommand of a git command line (`fetch` in `-c k=v fetch origin`).
fn subcommand<'a>(args: &[&'a str]) -> &'a str {
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match *a {
            "-c" => {
                it.next();
            }
            a if a.starts_with('-') => {}
            a => return a,
        }
    }
    ""
}

#[derive(Clone)]
pub(super) struct Git {
    pub timeout: Duration,
    /// Proxy settings for git, when the config names an egress proxy.
    pub egress_env: Vec<(String, String)>,
    pub metrics: GitMetrics,
}

impl Git {
    pub async fn run(&self, dir: &Path, args: &[&str]) -> Result<Vec<u8>, FetchError> {
        self.run_env(dir, args, &[]).await
    }

    pub async fn run_env(&self, dir: &Path, args: &[&str], env: &[(String, String)]) -> Result<Vec<u8>, FetchError> {
        let out = self.status_env(dir, args, env, None).await?;
        match out {
            (true, stdout, _) => Ok(stdout),
            // git may quote the repository URL: never pass its credentials on.
            (false, _, stderr) => Err(FetchError::Failed(redact_text(&format!(
                "git {}: {}",
                args.first().unwrap_or(&""),
                String::from_utf8_lossy(&stderr).lines().find(|l| !l.trim().is_empty()).unwrap_or("failed")
            )))),
        }
    }

    /// Runs git in `dir` (never prompting), with the configured timeout.
    pub async fn status(&self, dir: &Path, args: &[&str]) -> Result<(bool, Vec<u8>, Vec<u8>), FetchError> {
        self.status_env(dir, args, &[], None).await
    }

    /// Runs git with extra environment (credentials for the network commands) and, when given,
    /// `input` on its standard input; the whole run is bounded by the timeout, and the process is
    /// killed if it is dropped.
    pub async fn status_env(
        &self,
        dir: &Path,
        args: &[&str],
        env: &[(String, String)],
        input: Option<&[u8]>,
    ) -> Result<(bool, Vec<u8>, Vec<u8>), FetchError> {
        use std::process::Stdio;
        use tokio::io::AsyncWriteExt;
        let mut cmd = Command::new("git");
        cmd.arg("-C").arg(dir).args(args).env("GIT_TERMINAL_PROMPT", "0").kill_on_drop(true);
        cmd.envs(self.egress_env.iter().chain(env).map(|(k, v)| (k.as_str(), v.as_str())));
        cmd.stdin(if input.is_some() { Stdio::piped() } else { Stdio::null() });
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        let run = async {
            let mut child = cmd.spawn()?;
            let stdin = child.stdin.take();
            // Feed stdin while the output is read, so neither pipe can fill up and stall git.
            let feed = async {
                if let (Some(mut w), Some(data)) = (stdin, input) {
                    w.write_all(data).await?;
                }
                Ok::<_, std::io::Error>(())
            };
            let (fed, out) = tokio::join!(feed, child.wait_with_output());
            fed?;
            out
        };
        let sub = subcommand(args);
        let span = crate::obs::trace::git_span(sub);
        let out = tokio::time::timeout(self.timeout, run).instrument(span.clone()).await;
        let result = match &out {
            Ok(Ok(o)) if o.status.success() => "ok",
            Ok(_) => "failed",
            Err(_) => "timeout",
        };
        if result != "ok" {
            crate::obs::trace::failed(&span, result);
        }
        self.metrics.ran(sub, result);
        let out = out
            .map_err(|_| {
                FetchError::Timeout(format!("git {} took longer than {:?}", args.first().unwrap_or(&""), self.timeout))
            })?
            .map_err(|e| FetchError::Failed(format!("running git: {e}")))?;
        Ok((out.status.success(), out.stdout, out.stderr))
    }
}
