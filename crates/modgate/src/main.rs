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
    /// Build a module zip from a directory (the go command's rules) and publish it to a server.
    Publish {
        /// The module's root directory.
        dir: PathBuf,
        /// The module path.
        #[arg(long)]
        module: String,
        /// A canonical version, e.g. v1.2.3.
        #[arg(long)]
        version: String,
        /// The server's base URL, e.g. https://modgate.corp.example.
        #[arg(long)]
        server: String,
        /// An API key with write permission.
        #[arg(long, env = "MODGATE_KEY", hide_env_values = true)]
        key: Option<String>,
        /// The version's time (RFC 3339) [default: now].
        #[arg(long)]
        time: Option<String>,
    },
    /// Manage API keys (the keys file stores only their hashes; a running server reloads it).
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Create a key and print it once.
    Add {
        /// The keys file (created if missing).
        #[arg(long)]
        file: PathBuf,
        /// A name for the key's holder (shown in the audit log).
        #[arg(long)]
        name: String,
        /// Comma-separated groups the key belongs to.
        #[arg(long, default_value = "")]
        groups: String,
    },
    /// List keys: id, name, groups, created, revoked.
    List {
        #[arg(long)]
        file: PathBuf,
    },
    /// Revoke a key by id or name.
    Revoke {
        #[arg(long)]
        file: PathBuf,
        key: String,
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
        Command::Publish { dir, module, version, server, key, time } => {
            match publish(&dir, &module, &version, &server, key, time) {
                Ok(msg) => {
                    println!("{msg}");
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("modgate: publish: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Keys { command } => match keys(command) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("modgate: keys: {e}");
                ExitCode::from(2)
            }
        },
        Command::Config { command: ConfigCommand::Check { file } } => {
            match config::load(Some(&file), &Overrides::default(), std::env::var("GOPROXY").ok()) {
                Ok(c) => {
                    println!("{}: ok", file.display());
                    println!("listen = {}", c.listen);
                    println!("data_dir = {}", c.data_dir.display());
                    println!("upstream = {}", modgate::upstream::redact(&c.upstream_raw));
                    println!("log_level = {}, log_format = {:?}", c.log_level, c.log_format);
                    println!("cache.list_ttl = {:?}, cache.negative_ttl = {:?}", c.list_ttl, c.negative_ttl);
                    match &c.tls {
                        Some(t) => println!(
                            "tls = on ({} certificate(s), min {}, client certificates {})",
                            t.certificates.len(),
                            t.min_version,
                            match &t.client_ca {
                                None => "off".to_string(),
                                Some((_, mode)) => format!("{mode:?}").to_lowercase(),
                            }
                        ),
                        None => println!("tls = off"),
                    }
                    match &c.auth {
                        Some(a) => println!(
                            "auth = on (keys {}, policy {}, anonymous {})",
                            a.keys_file.display(),
                            a.policy_file.display(),
                            a.anonymous_group.as_deref().unwrap_or("refused")
                        ),
                        None => println!("auth = off (everyone may read; publishing is refused)"),
                    }
                    println!("routes = {}, direct mappings = {}", c.routes.len(), c.direct_repos.len());
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

fn keys(command: KeysCommand) -> Result<(), String> {
    use modgate::auth::KeysFile;
    match command {
        KeysCommand::Add { file, name, groups } => {
            if name.trim().is_empty() || name.chars().any(char::is_control) {
                return Err("--name must be a printable, non-empty name".into());
            }
            let mut f = KeysFile::load(&file)?;
            if f.keys.iter().any(|k| k.name == name && !k.revoked) {
                return Err(format!("a key named {name:?} exists; revoke it first or pick another name"));
            }
            let groups: Vec<String> =
                groups.split(',').map(str::trim).filter(|g| !g.is_empty()).map(String::from).collect();
            let key = f.add(&name, groups);
            f.save(&file)?;
            eprintln!("modgate: key added for {name}; it is shown once, store it now:");
            println!("{key}");
            Ok(())
        }
        KeysCommand::List { file } => {
            let f = KeysFile::load(&file)?;
            println!("{:<14} {:<24} {:<30} {:<31} revoked", "id", "name", "groups", "created");
            for k in &f.keys {
                println!("{:<14} {:<24} {:<30} {:<31} {}", k.id, k.name, k.groups.join(","), k.created, k.revoked);
            }
            Ok(())
        }
        KeysCommand::Revoke { file, key } => {
            let mut f = KeysFile::load(&file)?;
            if !f.revoke(&key) {
                return Err(format!("no key with id or name {key:?}"));
            }
            f.save(&file)?;
            eprintln!("modgate: revoked {key}");
            Ok(())
        }
    }
}

fn publish(
    dir: &std::path::Path,
    module: &str,
    version: &str,
    server: &str,
    key: Option<String>,
    time: Option<String>,
) -> Result<String, String> {
    let zip = gomod::zipcreate::create_from_dir(dir, module, version, std::io::Cursor::new(Vec::new()))
        .map_err(|e| format!("{module}@{version}: {e}"))?
        .into_inner();
    let escaped_module = gomod::path::escape_path(module).map_err(|e| e.to_string())?;
    let escaped_version = gomod::path::escape_version(version).map_err(|e| e.to_string())?;
    let url = format!("{}/-/publish/{escaped_module}/@v/{escaped_version}", server.trim_end_matches('/'));
    let mut headers = Vec::new();
    if let Some(k) = key {
        headers.push(("authorization", format!("Bearer {k}")));
    }
    if let Some(t) = time {
        headers.push(("x-module-time", t));
    }
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| e.to_string())?;
    let client = modgate::httpclient::HttpClient::new(
        &modgate::httpclient::Egress::default(),
        std::time::Duration::from_secs(300),
        std::time::Duration::from_secs(60),
        modgate::fillrt::Spawner::current(),
    );
    let (status, body) =
        rt.block_on(client.put(&url, bytes::Bytes::from(zip), &headers)).map_err(|e| e.reason().to_string())?;
    let text = String::from_utf8_lossy(&body).trim().to_string();
    if status == 201 {
        Ok(text)
    } else {
        Err(format!("{status}: {text}"))
    }
}
