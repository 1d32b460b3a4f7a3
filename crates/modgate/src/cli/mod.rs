//! The command line: `serve`, `config check`, `keys add|list|revoke`, `publish`, `sumdb key`, `gc`, `mirror export|import`. Exit status 2
//! for a configuration or usage problem, 1 for a failure while running.

mod config_check;
mod gc;
mod goenv;
mod keys;
mod mirror;
mod probe;
mod publish;
mod serve;
mod sumdb;

use clap::{Parser, Subcommand};
use modgate::config::{Config, ConfigError, Overrides};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Parser)]
#[command(name = "modgate", version, about = "An enterprise Go module proxy")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the GOPROXY protocol from the cache and the configured upstreams.
    Serve(serve::ServeArgs),
    /// Configuration tools.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
    /// Build a module zip from a directory (the go command's rules) and publish it to a server.
    Publish(publish::PublishArgs),
    /// Manage API keys (the keys file stores only their hashes; a running server reloads it).
    Keys {
        #[command(subcommand)]
        command: keys::KeysCommand,
    },
    /// Ask a running modgate for /healthz (a container health check without curl).
    Probe(probe::ProbeArgs),
    /// Carry modules into an air-gapped network: export a bundle, import it.
    Mirror {
        #[command(subcommand)]
        command: mirror::MirrorCommand,
    },
    /// Collect garbage on a running server now (`--dry-run`: list what would go).
    Gc(gc::GcArgs),
    /// modgate's own checksum database.
    Sumdb {
        #[command(subcommand)]
        command: sumdb::SumdbCommand,
    },
}

#[derive(Subcommand)]
enum ConfigCommand {
    /// Validate a configuration file and print the effective settings.
    Check { file: PathBuf },
}

/// The configuration from a file (if any), the overrides and `$GOPROXY`, with the files it
/// names checked as a start would load them.
fn load_checked(file: Option<&Path>, over: &Overrides) -> Result<Config, ConfigError> {
    let cfg = modgate::config::load(file, over, &goenv::defaults())?;
    modgate::server::check(&cfg)?;
    Ok(cfg)
}

/// An outbound client for a command that talks to a server (direct, no egress proxy), whose
/// requests may take `timeout`; call it inside the runtime that will drive it.
fn client(timeout: std::time::Duration) -> modgate::net::HttpClient {
    modgate::net::HttpClient::new(
        &modgate::config::Egress::default(),
        timeout,
        std::time::Duration::from_secs(60),
        modgate::rt::Spawner::current(),
    )
}

pub fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Serve(args) => serve::run(args),
        Command::Config { command: ConfigCommand::Check { file } } => config_check::run(&file),
        Command::Publish(args) => match publish::run(args) {
            Ok(msg) => {
                println!("{msg}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("modgate: publish: {e}");
                ExitCode::FAILURE
            }
        },
        Command::Probe(args) => probe::run(args),
        Command::Mirror { command } => match mirror::run(command) {
            Ok(msg) => {
                println!("{msg}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("modgate: mirror: {e}");
                ExitCode::FAILURE
            }
        },
        Command::Gc(args) => match gc::run(args) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("modgate: gc: {e}");
                ExitCode::FAILURE
            }
        },
        Command::Sumdb { command } => match sumdb::run(command) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("modgate: sumdb: {e}");
                ExitCode::from(2)
            }
        },
        Command::Keys { command } => match keys::run(command) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("modgate: keys: {e}");
                ExitCode::from(2)
            }
        },
    }
}
