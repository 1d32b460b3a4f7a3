//! `modgate keys add|list|revoke`: the keys file holds only hashes; a key is shown once.

use modgate::auth::KeysFile;
use std::path::PathBuf;

#[derive(clap::Subcommand)]
pub enum KeysCommand {
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

pub fn run(command: KeysCommand) -> Result<(), String> {
    match command {
        KeysCommand::Add { file, name, groups } => {
            let mut f = KeysFile::load(&file)?;
            let groups: Vec<String> =
                groups.split(',').map(str::trim).filter(|g| !g.is_empty()).map(String::from).collect();
            let key = f.add_checked(&name, groups).map_err(|e| format!("--name {name:?}: {e}"))?;
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
