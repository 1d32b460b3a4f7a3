//! `modgate publish DIR --module M --version V --server URL`: build the module zip from a
//! directory by the go command's rules and PUT it to a server's publish endpoint.

use std::path::PathBuf;

#[derive(clap::Args)]
pub struct PublishArgs {
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
}

pub fn run(a: PublishArgs) -> Result<String, String> {
    let (module, version) = (&a.module, &a.version);
    let zip = gomod::zipcreate::create_from_dir(&a.dir, module, version, std::io::Cursor::new(Vec::new()))
        .map_err(|e| format!("{module}@{version}: {e}"))?
        .into_inner();
    let escaped_module = gomod::path::escape_path(module).map_err(|e| e.to_string())?;
    let escaped_version = gomod::path::escape_version(version).map_err(|e| e.to_string())?;
    let url = format!("{}/-/publish/{escaped_module}/@v/{escaped_version}", a.server.trim_end_matches('/'));
    let mut headers = Vec::new();
    if let Some(k) = a.key {
        headers.push(("authorization", format!("Bearer {k}")));
    }
    if let Some(t) = a.time {
        headers.push(("x-module-time", t));
    }
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| e.to_string())?;
    let client = super::client(std::time::Duration::from_secs(300));
    let (status, body) =
        rt.block_on(client.put(&url, bytes::Bytes::from(zip), &headers)).map_err(|e| e.reason().to_string())?;
    let text = String::from_utf8_lossy(&body).trim().to_string();
    if status == 201 {
        Ok(text)
    } else {
        Err(format!("{status}: {text}"))
    }
}
