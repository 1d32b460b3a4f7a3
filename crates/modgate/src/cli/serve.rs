//! `modgate serve`: load and check the configuration, then run until a signal.

use modgate::config::Overrides;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct ServeArgs {
    /// TOML configuration file.
    #[arg(long, env = "MODGATE_CONFIG")]
    config: Option<PathBuf>,
    /// Address to listen on [default: 127.0.0.1:8080].
    #[arg(long, env = "MODGATE_LISTEN")]
    listen: Option<String>,
    /// Directory for the cache [default: ./modgate-data].
    #[arg(long, env = "MODGATE_DATA_DIR")]
    data_dir: Option<String>,
    /// Upstream list in GOPROXY syntax [default: $GOPROXY, else `go env GOPROXY`, else direct].
    #[arg(long, env = "MODGATE_UPSTREAM")]
    upstream: Option<String>,
    /// debug, info, warn or error [default: info].
    #[arg(long, env = "MODGATE_LOG_LEVEL")]
    log_level: Option<String>,
    /// text or json [default: text].
    #[arg(long, env = "MODGATE_LOG_FORMAT")]
    log_format: Option<String>,
}

impl ServeArgs {
    fn overrides(&self) -> Overrides {
        Overrides {
            listen: self.listen.clone(),
            data_dir: self.data_dir.clone(),
            upstream: self.upstream.clone(),
            log_level: self.log_level.clone(),
            log_format: self.log_format.clone(),
        }
    }

    /// The configuration these flags, the file and the environment give (checked).
    pub fn load(&self) -> Result<modgate::config::Config, String> {
        super::load_checked(self.config.as_deref(), &self.overrides()).map_err(|e| e.to_string())
    }
}

pub fn run(a: ServeArgs) -> ExitCode {
    let over = a.overrides();
    let cfg = match super::load_checked(a.config.as_deref(), &over) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("modgate: {e}");
            return ExitCode::from(2);
        }
    };
    let rt = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("modgate: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let traces = match modgate::init_logging(&cfg.log_level, cfg.log_format, Some((&cfg.tracing, rt.handle().clone())))
    {
        Ok(t) => t,
        Err(e) => {
            eprintln!("modgate: {e}");
            return ExitCode::from(2);
        }
    };
    let (file, again) = (a.config.clone(), over.clone());
    let source: modgate::server::ConfigSource =
        std::sync::Arc::new(move || super::load_checked(file.as_deref(), &again).map_err(|e| e.to_string()));
    let ran = rt.block_on(modgate::server::run(cfg, Some(source)));
    // The runtime's workers still run the export's requests while the last spans are sent.
    if let Some(t) = traces {
        t.shutdown();
    }
    match ran {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            eprintln!("modgate: {e:#}");
            ExitCode::FAILURE
        }
    }
}
