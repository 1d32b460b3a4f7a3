//! `modgate probe`: a container health check that needs no curl. It asks a modgate for
//! `/healthz` (or another path) over plain HTTP on a loopback or cluster address and exits 0 on
//! a 2xx answer, 1 otherwise.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::process::ExitCode;
use std::time::Duration;

#[derive(clap::Args)]
pub struct ProbeArgs {
    /// Address of a plain-HTTP listener [default: $MODGATE_LISTEN, else 127.0.0.1:8080].
    #[arg(long, env = "MODGATE_LISTEN")]
    addr: Option<String>,
    /// Path to ask for.
    #[arg(long, default_value = "/healthz")]
    path: String,
    /// Give up after this many seconds.
    #[arg(long, default_value_t = 5)]
    timeout: u64,
}

/// The address to connect to: a wildcard listen address means this host.
fn target(addr: &str) -> Option<SocketAddr> {
    let mut a = addr.to_socket_addrs().ok()?.next()?;
    if a.ip().is_unspecified() {
        a.set_ip(if a.is_ipv4() { [127, 0, 0, 1].into() } else { std::net::Ipv6Addr::LOCALHOST.into() });
    }
    Some(a)
}

/// The status of `GET path` at `addr`.
fn status(addr: SocketAddr, path: &str, timeout: Duration) -> std::io::Result<u16> {
    let mut s = TcpStream::connect_timeout(&addr, timeout)?;
    s.set_read_timeout(Some(timeout))?;
    s.set_write_timeout(Some(timeout))?;
    write!(s, "GET {path} HTTP/1.1\r\nHost: {addr}\r\nUser-Agent: modgate-probe\r\nConnection: close\r\n\r\n")?;
    let mut head = [0u8; 32];
    let n = s.read(&mut head)?;
    let line = String::from_utf8_lossy(&head[..n]);
    line.split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("not an HTTP answer: {line:?}")))
}

pub fn run(a: ProbeArgs) -> ExitCode {
    let addr = a.addr.unwrap_or_else(|| "127.0.0.1:8080".into());
    let Some(at) = target(&addr) else {
        eprintln!("modgate: probe: cannot resolve {addr:?}");
        return ExitCode::FAILURE;
    };
    match status(at, &a.path, Duration::from_secs(a.timeout.max(1))) {
        Ok(s) if (200..300).contains(&s) => ExitCode::SUCCESS,
        Ok(s) => {
            eprintln!("modgate: probe: {at}{}: {s}", a.path);
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("modgate: probe: {at}{}: {e}", a.path);
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::target;

    #[test]
    fn a_wildcard_listen_address_is_probed_on_loopback() {
        assert_eq!(target("0.0.0.0:8080"), Some("127.0.0.1:8080".parse().unwrap()));
        assert_eq!(target("[::]:80"), Some("[::1]:80".parse().unwrap()));
        assert_eq!(target("10.1.2.3:9"), Some("10.1.2.3:9".parse().unwrap()));
        assert_eq!(target("nonsense"), None);
    }
}
