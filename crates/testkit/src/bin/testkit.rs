//! Command-line access to the test kit, for benchmarks and manual experiments:
//! generate module graphs, serve them as a fake upstream, and drive a thundering herd.

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use sha2::{Digest, Sha256};
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use testkit::graph;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[derive(Parser)]
#[command(name = "testkit", about = "modgate's test kit")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Write a synthetic module graph in GOPROXY layout (and optionally a root module).
    Graph {
        #[arg(long)]
        modules: usize,
        #[arg(long, default_value_t = 42)]
        seed: u64,
        #[arg(long)]
        out: PathBuf,
        /// Also write a main module requiring every module here.
        #[arg(long)]
        root: Option<PathBuf>,
        /// With --root: require only the graph's roots, so `go` walks the graph.
        #[arg(long)]
        walk: bool,
        /// Write one line per cached object path to this file.
        #[arg(long)]
        paths: Option<PathBuf>,
        /// Write one line per module's list path to this file.
        #[arg(long)]
        lists: Option<PathBuf>,
        /// Skip zips (metadata-only benchmarks).
        #[arg(long)]
        no_zips: bool,
        /// Write the go.sum lines of every version to this file (for testkit-sumdb).
        #[arg(long)]
        sums: Option<PathBuf>,
    },
    /// Write a one-version module with a large incompressible zip.
    Big {
        #[arg(long)]
        module: String,
        #[arg(long, default_value = "v1.0.0")]
        version: String,
        #[arg(long)]
        size: usize,
        #[arg(long)]
        out: PathBuf,
        /// Also this many small source files (a toolchain-shaped zip: thousands of entries).
        #[arg(long, default_value_t = 0)]
        files: usize,
    },
    /// Serve a GOPROXY directory as a fake upstream until killed.
    Upstream {
        #[arg(long)]
        dir: PathBuf,
        #[arg(long, default_value = "127.0.0.1:0")]
        listen: std::net::SocketAddr,
        #[arg(long, default_value_t = 0)]
        latency_ms: u64,
        /// Every N-th request fails, in turn: 500, 503, a reset, a truncated body, a slow drip.
        #[arg(long, default_value_t = 0)]
        fault_every: usize,
    },
    /// Serve an S3-compatible bucket (s3s-fs, conditional writes atomic) until killed; the keys
    /// are testkit's (`testkit::s3::ACCESS_KEY`, `SECRET_KEY`).
    S3 {
        #[arg(long)]
        root: PathBuf,
        #[arg(long)]
        bucket: String,
    },
    /// Send N concurrent GETs for one URL path; report first-byte times and whether every body
    /// was identical and complete.
    Herd {
        #[arg(long)]
        addr: std::net::SocketAddr,
        #[arg(long)]
        path: String,
        #[arg(long, default_value_t = 500)]
        clients: usize,
    },
}

fn main() -> Result<()> {
    match Cli::parse().cmd {
        Cmd::Graph { modules, seed, out, root, walk, paths, lists, no_zips, sums } => {
            let g = graph::generate(modules, seed);
            g.write_proxy_dir_with(&out, !no_zips)?;
            if let Some(p) = sums {
                std::fs::write(p, testkit::sumdb::graph_sums(&g))?;
            }
            if let Some(p) = lists {
                let mut lines = String::new();
                for m in &g.modules {
                    lines.push_str(&format!("/{}/@v/list\n", gomod::path::escape_path(&m.path)?));
                }
                std::fs::write(p, lines)?;
            }
            if let Some(r) = root {
                if walk {
                    g.write_root_module_walking(&r, "example.com/root")?;
                } else {
                    g.write_root_module(&r, "example.com/root")?;
                }
            }
            if let Some(p) = paths {
                let mut lines = String::new();
                for m in &g.modules {
                    let em = gomod::path::escape_path(&m.path)?;
                    for v in &m.versions {
                        let ev = gomod::path::escape_version(&v.version)?;
                        for ext in ["info", "mod"] {
                            lines.push_str(&format!("/{em}/@v/{ev}.{ext}\n"));
                        }
                    }
                }
                std::fs::write(p, lines)?;
            }
            let versions: usize = g.modules.iter().map(|m| m.versions.len()).sum();
            println!("{} modules, {versions} versions", g.modules.len());
        }
        Cmd::Big { module, version, size, out, files } => {
            let mut m = graph::big_module(&module, &version, size, 7);
            graph::add_small_files(&mut m.versions[0], files, 11);
            let v = &m.versions[0];
            let g = graph::Graph { modules: vec![m.clone()] };
            g.write_proxy_dir(&out)?;
            let zip = v.zip_bytes(&module);
            println!("{} {} bytes sha256={}", v.zip_hash(&module), zip.len(), hex::encode(Sha256::digest(&zip)));
        }
        Cmd::Upstream { dir, listen, latency_ms, fault_every } => {
            use testkit::upstream::Fault;
            let up = testkit::upstream::FakeUpstream::start_on(dir, listen);
            up.set_latency(Duration::from_millis(latency_ms));
            if fault_every > 0 {
                let drip = Fault::SlowDrip { chunk: 4096, every: Duration::from_millis(20) };
                up.fault_every(
                    fault_every,
                    vec![Fault::Status(500), Fault::Status(503), Fault::Reset, Fault::Truncate(100), drip],
                );
            }
            println!("listening {}", up.addr());
            loop {
                std::thread::park();
            }
        }
        Cmd::S3 { root, bucket } => {
            let s3 = testkit::s3::S3Server::start(&root, &bucket)?;
            println!("listening 127.0.0.1:{}", s3.port);
            loop {
                std::thread::park();
            }
        }
        Cmd::Herd { addr, path, clients } => {
            let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
            rt.block_on(herd(addr, path, clients))?;
        }
    }
    Ok(())
}

fn now_us() -> u128 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_micros()).unwrap_or(0)
}

/// One client: status, when its first body byte arrived, and the SHA-256 of its body (hashed as
/// it streams in, so 500 clients of a large zip stay small).
async fn one(addr: std::net::SocketAddr, path: String) -> Result<(u16, u128, String)> {
    let mut s = tokio::net::TcpStream::connect(addr).await?;
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").as_bytes()).await?;
    let mut head = Vec::new();
    let mut sha = Sha256::new();
    let mut first_body = 0u128;
    let mut status = None;
    let mut chunk = vec![0u8; 256 * 1024];
    loop {
        let n = s.read(&mut chunk).await?;
        if n == 0 {
            break;
        }
        let mut data = &chunk[..n];
        if status.is_none() {
            head.extend_from_slice(data);
            let Some(end) = head.windows(4).position(|w| w == b"\r\n\r\n").map(|i| i + 4) else { continue };
            let line = std::str::from_utf8(&head[..end])?.split_whitespace().nth(1).unwrap_or("0").to_string();
            status = Some(line.parse::<u16>()?);
            let body_start = end - (head.len() - n);
            data = &chunk[body_start..n];
        }
        if !data.is_empty() {
            if first_body == 0 {
                first_body = now_us();
            }
            sha.update(data);
        }
    }
    let status = status.context("no response head")?;
    Ok((status, first_body, hex::encode(sha.finalize())))
}

async fn herd(addr: std::net::SocketAddr, path: String, clients: usize) -> Result<()> {
    let start = Instant::now();
    let started_us = now_us();
    let tasks: Vec<_> = (0..clients).map(|_| tokio::spawn(one(addr, path.clone()))).collect();
    let mut firsts = Vec::new();
    let mut digests = std::collections::BTreeMap::<String, usize>::new();
    let mut failures = 0;
    for t in tasks {
        match t.await? {
            Ok((200, fb, digest)) => {
                firsts.push(fb);
                *digests.entry(digest).or_default() += 1;
            }
            Ok((status, _, _)) => {
                failures += 1;
                eprintln!("status {status}");
            }
            Err(e) => {
                failures += 1;
                eprintln!("error: {e}");
            }
        }
    }
    firsts.sort();
    let out = serde_json::json!({
        "clients": clients,
        "ok": clients - failures,
        "failures": failures,
        "distinct_bodies": digests.len(),
        "digests": digests,
        "started_us": started_us as u64,
        "first_body_byte_us": firsts.first().copied().unwrap_or(0) as u64,
        "last_first_body_byte_us": firsts.last().copied().unwrap_or(0) as u64,
        "wall_ms": start.elapsed().as_millis() as u64,
    });
    println!("{out}");
    Ok(())
}
