//! `modgate gc [--dry-run] --server URL`: asks a running modgate to collect garbage now (or,
//! with `--dry-run`, to say what would go) through its admin API, and prints the report. The
//! server does the work because it knows what is being served and when each object last was.

use serde_json::Value;

#[derive(clap::Args)]
pub struct GcArgs {
    /// Only list what would be evicted.
    #[arg(long)]
    dry_run: bool,
    /// The server's base URL.
    #[arg(long, env = "MODGATE_SERVER", default_value = "http://127.0.0.1:8080")]
    server: String,
    /// An API key of an admin group.
    #[arg(long, env = "MODGATE_KEY", hide_env_values = true)]
    key: Option<String>,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
}

pub fn run(a: GcArgs) -> Result<(), String> {
    let url = format!("{}/-/admin/gc?dry_run={}", a.server.trim_end_matches('/'), a.dry_run);
    let headers: Vec<(&str, String)> = a.key.iter().map(|k| ("authorization", format!("Bearer {k}"))).collect();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| e.to_string())?;
    let client = super::client(std::time::Duration::from_secs(600));
    let (status, body) = rt
        .block_on(client.call("POST", &url, bytes::Bytes::new(), &headers, 64 << 20))
        .map_err(|e| e.reason().to_string())?;
    if status != 200 {
        return Err(format!("{status}: {}", String::from_utf8_lossy(&body).trim()));
    }
    if a.json {
        println!("{}", String::from_utf8_lossy(&body).trim());
        return Ok(());
    }
    let r: Value = serde_json::from_slice(&body).map_err(|e| format!("not a report: {e}"))?;
    print!("{}", table(&r));
    Ok(())
}

/// The report for a terminal: one line per object, then the totals.
fn table(r: &Value) -> String {
    let n = |k: &str| r[k].as_u64().unwrap_or(0);
    let mut out = String::new();
    let evicted = r["evicted"].as_array().cloned().unwrap_or_default();
    for v in &evicted {
        out.push_str(&format!(
            "{:>12}  {:<20}  {}  ({})\n",
            v["size"].as_u64().unwrap_or(0),
            v["last_served"].as_str().unwrap_or("never served"),
            v["key"].as_str().unwrap_or(""),
            v["why"].as_str().unwrap_or("")
        ));
    }
    if (evicted.len() as u64) < n("evicted_objects") {
        out.push_str(&format!("... and {} more\n", n("evicted_objects") - evicted.len() as u64));
    }
    let verb = if r["dry_run"] == true { "would evict" } else { "evicted" };
    let limit = r["limit"].as_u64().map_or("none (no [cache] max_size)".to_string(), |l| l.to_string());
    out.push_str(&format!(
        "{verb} {} objects, {} bytes; upstream-cached bytes {} -> {}, limit {limit}; {} bytes published or private (never evicted)\n",
        n("evicted_objects"),
        n("evicted_bytes"),
        n("before"),
        n("after"),
        n("protected")
    ));
    for e in r["errors"].as_array().into_iter().flatten() {
        out.push_str(&format!("error: {}\n", e.as_str().unwrap_or("")));
    }
    out
}
