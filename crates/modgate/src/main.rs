use clap::{Parser, Subcommand};
use modgate::config::{self, Overrides};
use std::path::PathBuf;
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
    Serve(ServeArgs),
    /// Configuration tools.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
}

#[derive(Subcommand)]
enum ConfigCommand {
    /// Validate a configuration file and print the effective settings.
    Check { file: PathBuf },
}

#[derive(clap::Args)]
struct ServeArgs {
    /// TOML configuration file.
    #[arg(long, env = "MODGATE_CONFIG")]
    config: Option<PathBuf>,
    /// Address to listen on [default: 127.0.0.1:8080].
    #[arg(long, env = "MODGATE_LISTEN")]
    listen: Option<String>,
    /// Directory for the cache [default: ./modgate-data].
    #[arg(long, env = "MODGATE_DATA_DIR")]
    data_dir: Option<String>,
    /// Upstream list in GOPROXY syntax [default: $GOPROXY, else direct].
    #[arg(long, env = "MODGATE_UPSTREAM")]
    upstream: Option<String>,
    /// debug, info, warn or error [default: info].
    #[arg(long, env = "MODGATE_LOG_LEVEL")]
    log_level: Option<String>,
    /// text or json [default: text].
    #[arg(long, env = "MODGATE_LOG_FORMAT")]
    log_format: Option<String>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(a) => {
            let over = Overrides {
                listen: a.listen,
                data_dir: a.data_dir,
                upstream: a.upstream,
                log_level: a.log_level,
                log_format: a.log_format,
            };
            let cfg = match config::load(a.config.as_deref(), &over, std::env::var("GOPROXY").ok()) {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("modgate: {e}");
                    return ExitCode::from(2);
                }
            };
            modgate::init_logging(&cfg.log_level, cfg.log_format);
            let rt = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
                Ok(rt) => rt,
                Err(e) => {
                    eprintln!("modgate: cannot start the runtime: {e}");
                    return ExitCode::FAILURE;
                }
            };
            match rt.block_on(modgate::server::run(cfg)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    tracing::error!("{e:#}");
                    eprintln!("modgate: {e:#}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Config { command: ConfigCommand::Check { file } } => {
            match config::load(Some(&file), &Overrides::default(), std::env::var("GOPROXY").ok()) {
                Ok(c) => {
                    println!("{}: ok", file.display());
                    println!("listen = {}", c.listen);
                    println!("data_dir = {}", c.data_dir.display());
                    println!("upstream = {}", modgate::upstream::redact(&c.upstream_raw));
                    println!("log_level = {}, log_format = {:?}", c.log_level, c.log_format);
                    println!("cache.list_ttl = {:?}, cache.negative_ttl = {:?}", c.list_ttl, c.negative_ttl);
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("modgate: {e}");
                    ExitCode::from(2)
                }
            }
        }
    }
}
