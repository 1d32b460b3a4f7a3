//! A real Redis for the tests: Debian's `redis-server` (`$REDIS_SERVER` names another), on a
//! loopback port, nothing saved to disk. It can be stopped and started again on the same port
//! (a restart during a load run).

use anyhow::{bail, Context, Result};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct RedisServer {
    child: Option<Child>,
    dir: PathBuf,
    pub port: u16,
}

/// The redis-server binary: `$REDIS_SERVER`, else `redis-server` on the PATH, else `/usr/bin/redis-server`.
pub fn binary() -> Option<PathBuf> {
    crate::nginx::find_binary("REDIS_SERVER", "redis-server", "/usr/bin/redis-server")
}

impl RedisServer {
    /// A Redis with its working directory in `dir`.
    pub fn start(dir: &Path) -> Result<Self> {
        std::fs::create_dir_all(dir)?;
        let port = crate::nginx::free_port()?;
        let mut me = Self { child: None, dir: dir.to_path_buf(), port };
        me.resume()?;
        Ok(me)
    }

    /// `redis://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// The `[coordination]` section for this server (a short lease, so that tests of a dead
    /// holder end quickly).
    pub fn coordination_toml(&self, lease: &str) -> String {
        format!("[coordination]\nredis = \"{}\"\nlease = \"{lease}\"\ntimeout = \"500ms\"\n", self.url())
    }

    /// The server's process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Kills the server (`SIGKILL`: connections drop at once).
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts the server (again) on its port; returns once it answers `PING`.
    pub fn resume(&mut self) -> Result<()> {
        self.stop();
        let bin = binary().context("redis-server not found: install redis-server (or set $REDIS_SERVER)")?;
        let child = Command::new(&bin)
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(&self.dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| format!("starting {}", bin.display()))?;
        self.child = Some(child);
        let addr = SocketAddr::from(([127, 0, 0, 1], self.port));
        let start = Instant::now();
        loop {
            if let Ok(mut s) = TcpStream::connect(addr) {
                use std::io::{Read, Write};
                let mut buf = [0u8; 16];
                let _ = s.set_read_timeout(Some(Duration::from_secs(1)));
                if s.write_all(b"PING\r\n").is_ok() && s.read(&mut buf).is_ok_and(|n| buf[..n].starts_with(b"+PONG")) {
                    return Ok(());
                }
            }
            if let Some(Ok(Some(status))) = self.child.as_mut().map(Child::try_wait) {
                bail!("redis-server exited ({status})");
            }
            if start.elapsed() > Duration::from_secs(20) {
                bail!("redis-server did not answer on {}", self.port);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Runs one command (inline protocol) and returns the raw reply.
    pub fn command(&self, line: &str) -> Result<String> {
        use std::io::{Read, Write};
        let mut s = TcpStream::connect(SocketAddr::from(([127, 0, 0, 1], self.port)))?;
        s.set_read_timeout(Some(Duration::from_secs(2)))?;
        s.write_all(format!("{line}\r\n").as_bytes())?;
        let mut buf = vec![0u8; 64 * 1024];
        let n = s.read(&mut buf)?;
        Ok(String::from_utf8_lossy(&buf[..n]).into_owned())
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}
