//! `modgate sumdb key`: the verifier key of modgate's own checksum log, for clients'
//! `GOSUMDB="<key> https://modgate.example/sumdb/<name>"`. The log (and its key) is created
//! under the data directory if it does not exist yet, exactly as the first start would.

use std::path::PathBuf;

#[derive(clap::Subcommand)]
pub enum SumdbCommand {
    /// Print the own checksum log's verifier key (creating the log if need be).
    Key {
        /// The configuration file, for `data_dir` and `[checksum_db] own`.
        #[arg(long)]
        config: Option<PathBuf>,
        /// The data directory (else the configuration's).
        #[arg(long)]
        data_dir: Option<String>,
        /// The log's name (else the configuration's `[checksum_db] own`).
        #[arg(long)]
        name: Option<String>,
    },
}

pub fn run(command: SumdbCommand) -> Result<(), String> {
    let SumdbCommand::Key { config, data_dir, name } = command;
    let over = modgate::config::Overrides { data_dir, ..Default::default() };
    let cfg = modgate::config::load(config.as_deref(), &over, &Default::default()).map_err(|e| e.0)?;
    let name = name
        .or(cfg.checksum_db.own.clone())
        .ok_or("no log name: pass --name or set [checksum_db] own = \"<name>\" in the configuration (--config)")?;
    let log = modgate::sumdb::OwnLog::open(&cfg.data_dir.join("sumdb-own"), &name)?;
    println!("{}", log.verifier.encode());
    eprintln!(
        "modgate: clients verify with GOSUMDB=\"{} <modgate URL>/sumdb/{name}\" ({} records so far)",
        log.verifier.encode(),
        log.size()
    );
    Ok(())
}
