//! A real nginx (Debian's `nginx-light` or `nginx`) started from a generated configuration in
//! a temporary directory, as a backend for reverse-proxy tests: its own access log shows what
//! reached it.

use anyhow::{bail, Context, Result};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Nginx {
    child: Child,
    dir: PathBuf,
}

/// The nginx binary: `$NGINX`, else `nginx` on the PATH, else `/usr/sbin/nginx`.
pub fn binary() -> Option<PathBuf> {
    find_binary("NGINX", "nginx", "/usr/sbin/nginx")
}

/// A program: the path in `$env`, else `name` on the PATH, else `fallback` if it exists.
pub fn find_binary(env: &str, name: &str, fallback: &str) -> Option<PathBuf> {
    if let Some(p) = std::env::var_os(env) {
        return Some(PathBuf::from(p));
    }
    let on_path = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|d| d.join(name))
        .find(|p| p.is_file());
    on_path.or_else(|| Some(PathBuf::from(fallback)).filter(|p| p.is_file()))
}

/// A free loopback port (bound and released; nginx takes it right after).
pub fn free_port() -> Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

impl Nginx {
    /// nginx in `dir` with `servers` (one or more `server { ... }` blocks, `@DIR@` standing for
    /// `dir`) inside its `http` block; returns once every port in `ports` accepts connections.
    pub fn start(dir: &Path, servers: &str, ports: &[u16]) -> Result<Self> {
        let bin = binary().context("nginx not found: install nginx-light (or set $NGINX)")?;
        std::fs::create_dir_all(dir.join("tmp"))?;
        let d = dir.display().to_string();
        let conf = format!(
            "daemon off;\nworker_processes 1;\npid {d}/nginx.pid;\nerror_log {d}/error.log info;\n\
             events {{ worker_connections 1024; }}\n\
             http {{\n  log_format plain '$request_method $request_uri $server_protocol $status \"$ssl_client_s_dn\"';\n\
               client_body_temp_path {d}/tmp;\n  proxy_temp_path {d}/tmp;\n  fastcgi_temp_path {d}/tmp;\n\
               uwsgi_temp_path {d}/tmp;\n  scgi_temp_path {d}/tmp;\n  access_log {d}/access.log plain;\n\
               {}\n}}\n",
            servers.replace("@DIR@", &d)
        );
        let path = dir.join("nginx.conf");
        std::fs::write(&path, conf)?;
        let child = Command::new(&bin)
            .args(["-p", &d, "-e", &format!("{d}/error.log"), "-c"])
            .arg(&path)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            // A group of its own: the workers are stopped with the master (a killed master
            // leaves its workers running, and listening).
            .process_group(0)
            .spawn()
            .with_context(|| format!("starting {}", bin.display()))?;
        let mut me = Self { child, dir: dir.to_path_buf() };
        let start = Instant::now();
        for &port in ports {
            let addr = SocketAddr::from(([127, 0, 0, 1], port));
            while TcpStream::connect(addr).is_err() {
                if let Ok(Some(status)) = me.child.try_wait() {
                    bail!("nginx exited ({status}): {}", me.errors());
                }
                if start.elapsed() > Duration::from_secs(20) {
                    bail!("nginx did not listen on {port}: {}", me.errors());
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        Ok(me)
    }

    /// The lines of its access log (`METHOD uri protocol status "client subject"`).
    pub fn access_log(&self) -> Vec<String> {
        std::fs::read_to_string(self.dir.join("access.log")).unwrap_or_default().lines().map(str::to_string).collect()
    }

    pub fn errors(&self) -> String {
        std::fs::read_to_string(self.dir.join("error.log")).unwrap_or_default()
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        // The whole group: the master and its workers. SAFETY: killpg takes two integers and
        // touches no memory of ours; the group id is the child's pid (process_group(0) above).
        unsafe { libc::killpg(self.child.id() as i32, libc::SIGKILL) };
        let _ = self.child.wait();
    }
}
