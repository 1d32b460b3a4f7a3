//! Turning a request target into what it asks for, once per request: a module request (with
//! the path percent-decoded exactly once, `!` unescaped, path and version validated), a
//! publish, a checksum-database path, an admin or health endpoint. Everything that can't be a
//! GOPROXY request is refused here, before any source is asked.

use crate::errors::ServeError;
use gomod::path;

/// Longest request path accepted; real module requests are far shorter.
pub const MAX_PATH: usize = 2048;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    List,
    Info,
    Mod,
    Zip,
    Latest,
}

impl Endpoint {
    pub fn content_type(self) -> &'static str {
        match self {
            Endpoint::List | Endpoint::Mod => "text/plain; charset=utf-8",
            Endpoint::Info | Endpoint::Latest => "application/json",
            Endpoint::Zip => "application/zip",
        }
    }

    fn ext(self) -> &'static str {
        match self {
            Endpoint::Info => ".info",
            Endpoint::Mod => ".mod",
            Endpoint::Zip => ".zip",
            Endpoint::List | Endpoint::Latest => "",
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Endpoint::List => "list",
            Endpoint::Info => "info",
            Endpoint::Mod => "mod",
            Endpoint::Zip => "zip",
            Endpoint::Latest => "latest",
        }
    }
}

/// A validated module request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModuleRequest {
    /// The module path, unescaped (real case).
    pub module: String,
    pub endpoint: Endpoint,
    /// The version or query, unescaped; `None` for `list` and `@latest`.
    pub version: Option<String>,
    escaped_module: String,
    escaped_version: Option<String>,
    /// The escaped path relative to a proxy base (and storage key), computed once.
    key: String,
}

impl ModuleRequest {
    /// True when this names one immutable object: `.mod`, `.zip`, or `.info` of a canonical
    /// version that fits the module path.
    pub fn is_immutable(&self) -> bool {
        match (self.endpoint, &self.version) {
            (Endpoint::Mod | Endpoint::Zip, _) => true,
            (Endpoint::Info, Some(v)) => path::check_canonical(&self.module, v).is_ok(),
            _ => false,
        }
    }

    /// The escaped path relative to a proxy base, also the storage key.
    pub fn rel(&self) -> &str {
        &self.key
    }

    fn make_key(endpoint: Endpoint, escaped_module: &str, escaped_version: Option<&str>) -> String {
        match (endpoint, escaped_version) {
            (Endpoint::Latest, _) => format!("{escaped_module}/@latest"),
            (Endpoint::List, _) | (_, None) => format!("{escaped_module}/@v/list"),
            (e, Some(v)) => format!("{escaped_module}/@v/{v}{}", e.ext()),
        }
    }

    fn new(
        module: String,
        endpoint: Endpoint,
        version: Option<String>,
        escaped_module: String,
        escaped_version: Option<String>,
    ) -> Self {
        let key = Self::make_key(endpoint, &escaped_module, escaped_version.as_deref());
        Self { module, endpoint, version, escaped_module, escaped_version, key }
    }

    /// A request for a canonical version's `.info`, `.mod` or `.zip`, built from unescaped parts
    /// (as found in a go.mod); `None` if the path or version is not valid together.
    pub fn for_version(module: &str, version: &str, endpoint: Endpoint) -> Option<Self> {
        path::check_canonical(module, version).ok()?;
        Some(Self::new(
            module.to_string(),
            endpoint,
            Some(version.to_string()),
            path::escape_path(module).ok()?,
            Some(path::escape_version(version).ok()?),
        ))
    }

    /// The module path, `!`-escaped.
    pub fn escaped_module(&self) -> &str {
        &self.escaped_module
    }

    /// The request for another endpoint of the same module and version.
    pub fn with_endpoint(&self, endpoint: Endpoint) -> Self {
        Self::new(
            self.module.clone(),
            endpoint,
            self.version.clone(),
            self.escaped_module.clone(),
            self.escaped_version.clone(),
        )
    }

    /// `module@version` for messages.
    pub fn display(&self) -> String {
        match &self.version {
            Some(v) => format!("{}@{v}", self.module),
            None => self.module.clone(),
        }
    }
}

fn bad(reason: impl Into<String>) -> ServeError {
    ServeError::BadRequest(reason.into())
}

fn hex(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

/// True when `raw` needs no decoding and holds nothing `decode_path` refuses: then the decoded
/// path is `raw` itself.
pub fn is_plain(raw: &str) -> bool {
    raw.bytes().all(|c| c != b'%' && c >= 0x20 && c != 0x7f && c != b'\\')
}

/// Percent-decodes once, refusing encoded slashes, NUL and control characters, backslashes,
/// malformed escapes and invalid UTF-8.
pub fn decode_path(raw: &str) -> Result<std::borrow::Cow<'_, str>, ServeError> {
    let b = raw.as_bytes();
    if is_plain(raw) {
        // Nothing to decode (the common case): no copy.
        return Ok(std::borrow::Cow::Borrowed(raw));
    }
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c == b'%' {
            let (h, l) = match (b.get(i + 1).copied().and_then(hex), b.get(i + 2).copied().and_then(hex)) {
                (Some(h), Some(l)) => (h, l),
                _ => return Err(bad("malformed percent-encoding in path")),
            };
            let d = h * 16 + l;
            if d == b'/' {
                return Err(bad("encoded slash (%2F) in path"));
            }
            out.push(d);
            i += 3;
        } else {
            out.push(c);
            i += 1;
        }
    }
    if let Some(&c) = out.iter().find(|&&c| c < 0x20 || c == 0x7f) {
        return Err(bad(if c == 0 { "NUL byte in path".to_string() } else { "control character in path".to_string() }));
    }
    if out.contains(&b'\\') {
        return Err(bad("backslash in path"));
    }
    String::from_utf8(out).map(std::borrow::Cow::Owned).map_err(|_| bad("path is not valid UTF-8"))
}

/// The prefix of publish targets: `PUT /-/publish/{module}/@v/{version}`.
pub const PUBLISH_PREFIX: &str = "/-/publish/";

/// A publish target, decoded by the same rules as every module path, naming the version's zip.
/// Only canonical versions can be published.
pub fn parse_publish(raw_path: &str, query: Option<&str>) -> Result<ModuleRequest, ServeError> {
    let rest = raw_path.strip_prefix(PUBLISH_PREFIX).ok_or_else(|| bad("not a publish path"))?;
    let req = parse(&format!("/{rest}.zip"), query)?;
    let version = req.version.clone().unwrap_or_default();
    if req.endpoint != Endpoint::Zip || !gomod::path::is_canonical_version(&version) {
        return Err(bad(format!("publish: {version:?} is not a canonical version")));
    }
    gomod::path::check_canonical(&req.module, &version).map_err(|e| bad(format!("publish: {e}")))?;
    Ok(req)
}

/// Parses a request path (still percent-encoded) and query into a module request.
pub fn parse(raw_path: &str, query: Option<&str>) -> Result<ModuleRequest, ServeError> {
    if raw_path.len() > MAX_PATH {
        return Err(ServeError::TooLong(format!("request path longer than {MAX_PATH} bytes")));
    }
    if query.is_some() {
        return Err(bad("query strings are not part of the GOPROXY protocol"));
    }
    let decoded = decode_path(raw_path)?;
    let p = decoded.strip_prefix('/').ok_or_else(|| bad("path must start with /"))?;
    let (escaped_module, endpoint, escaped_version) = if let Some(m) = p.strip_suffix("/@latest") {
        (m, Endpoint::Latest, None)
    } else if let Some(i) = p.find("/@v/") {
        let (m, rest) = (&p[..i], &p[i + 4..]);
        if rest == "list" {
            (m, Endpoint::List, None)
        } else {
            let (v, e) = if let Some(v) = rest.strip_suffix(".info") {
                (v, Endpoint::Info)
            } else if let Some(v) = rest.strip_suffix(".mod") {
                (v, Endpoint::Mod)
            } else if let Some(v) = rest.strip_suffix(".zip") {
                (v, Endpoint::Zip)
            } else {
                return Err(ServeError::not_found(format!(
                    "unknown module endpoint {rest:?}: want list, .info, .mod or .zip"
                )));
            };
            if v.is_empty() {
                return Err(bad("empty version"));
            }
            (m, e, Some(v))
        }
    } else {
        return Err(ServeError::not_found("not a module request: want /{module}/@v/... or /{module}/@latest"));
    };
    if escaped_module.is_empty() {
        return Err(bad("empty module path"));
    }
    let module = path::unescape_path(escaped_module).map_err(|e| bad(e.to_string()))?;
    let version = match escaped_version {
        None => None,
        Some(ev) => Some(path::unescape_version(ev).map_err(|e| bad(e.to_string()))?),
    };
    if let (Endpoint::Mod | Endpoint::Zip, Some(v)) = (endpoint, &version) {
        if !path::is_canonical_version(v) {
            return Err(bad(format!(
                "{module}@{v}: version is not canonical; .mod and .zip need a canonical version (resolve queries with .info)"
            )));
        }
        if let Err(e) = path::check_canonical(&module, v) {
            return Err(ServeError::not_found(e.to_string()));
        }
    }
    // Unescaping is strict (no raw uppercase, `!` only before a-z), so the escaped spellings
    // are already the one canonical spelling: keys need no re-escaping.
    Ok(ModuleRequest::new(module, endpoint, version, escaped_module.to_string(), escaped_version.map(str::to_string)))
}

/// The prefix of admin endpoints; a first path element without a dot is never a module path.
pub const ADMIN_PREFIX: &str = "/-/admin/";

/// The prefix of the web console's files (served to anyone; what they show comes from the
/// admin API, with the key the operator logs in with).
pub const UI_PREFIX: &str = "/-/ui/";

/// What a request target asks for: decided once per request (`http::layer::parse`) and
/// carried in the request's extensions to the access decision and the handler.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// `/healthz`: the process is alive.
    Health,
    /// `/readyz`: the cache storage can be written and read.
    Ready,
    /// `/metrics`: the Prometheus exposition.
    Metrics,
    /// Anything under `/-/admin/`.
    Admin,
    /// A file of the web console: the path after `/-/ui/` (`/-/ui` alone is its index too).
    Ui(String),
    /// `PUT /-/publish/{module}/@v/{version}`, naming the version's zip.
    Publish(ModuleRequest),
    /// A checksum-database request: `/sumdb/<db>/<path>`. Lookups name a module; tiles,
    /// signed heads and `supported` name none.
    Sumdb { db: String, path: SumdbPath },
    /// A GOPROXY request.
    Module(ModuleRequest),
}

impl Target {
    /// Classifies a request target (path still percent-encoded). Malformed module, publish and
    /// lookup targets are errors; health and admin paths ignore the query.
    pub fn classify(raw_path: &str, query: Option<&str>) -> Result<Target, ServeError> {
        match raw_path {
            "/healthz" => return Ok(Target::Health),
            "/readyz" => return Ok(Target::Ready),
            "/metrics" => return Ok(Target::Metrics),
            _ => {}
        }
        if raw_path.starts_with(ADMIN_PREFIX) {
            return Ok(Target::Admin);
        }
        if raw_path == "/-/ui" {
            return Ok(Target::Ui(String::new()));
        }
        if let Some(file) = raw_path.strip_prefix(UI_PREFIX) {
            return Ok(Target::Ui(file.to_string()));
        }
        if raw_path.starts_with(PUBLISH_PREFIX) {
            return parse_publish(raw_path, query).map(Target::Publish);
        }
        if let Some(rest) = raw_path.strip_prefix("/sumdb/") {
            return sumdb_target(rest);
        }
        parse(raw_path, query).map(Target::Module)
    }
}

/// What a checksum-database request asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SumdbPath {
    /// `supported`: whether modgate proxies this database.
    Supported,
    /// `latest`: the signed tree head.
    Latest,
    /// `lookup/<module>@<version>`, with the path as the client wrote it (`rel`).
    Lookup { module: String, version: String, rel: String },
    /// `tile/H/L/NNN[.p/W]` or `tile/H/data/...`.
    Tile(gomod::sumdb::tile::Tile),
}

impl SumdbPath {
    /// The path below `/sumdb/<db>/`, as an upstream is asked for it.
    pub fn rel(&self) -> String {
        match self {
            SumdbPath::Supported => "supported".into(),
            SumdbPath::Latest => "latest".into(),
            SumdbPath::Lookup { rel, .. } => rel.clone(),
            SumdbPath::Tile(t) => t.path(),
        }
    }
}

/// `/sumdb/<db>/<path>`: the database name is everything before the first part the protocol
/// defines (names may have a path: `host[/path]`).
fn sumdb_target(rest: &str) -> Result<Target, ServeError> {
    let not_found = || ServeError::not_found("not a checksum-database path");
    let (db, path) = if let Some(db) = rest.strip_suffix("/supported") {
        (db, SumdbPath::Supported)
    } else if let Some(db) = rest.strip_suffix("/latest") {
        (db, SumdbPath::Latest)
    } else if let Some((db, target)) = rest.split_once("/lookup/") {
        (db, sumdb_lookup(target)?)
    } else if let Some((db, tile)) = rest.split_once("/tile/") {
        let t = gomod::sumdb::tile::Tile::parse(&format!("tile/{tile}"))
            .map_err(|_| bad("invalid checksum-database tile path"))?;
        (db, SumdbPath::Tile(t))
    } else {
        return Err(not_found());
    };
    if db.is_empty() || db.contains('%') || db.split('/').any(|s| s.is_empty() || s == "." || s == "..") {
        return Err(not_found());
    }
    Ok(Target::Sumdb { db: db.to_string(), path })
}

/// A lookup target: `<module>@<version>`, both `!`-escaped, in the database's own syntax
/// (`^[^@]+@v[0-9]+\.[0-9]+\.[0-9]+(-[^@]*)?(\+incompatible)?$`).
fn sumdb_lookup(target: &str) -> Result<SumdbPath, ServeError> {
    let invalid = || bad("invalid module@version syntax");
    if target.contains('%') {
        return Err(invalid());
    }
    let (m, v) = target.split_once('@').ok_or_else(invalid)?;
    if m.is_empty() || v.contains('@') || !lookup_version_syntax(v) {
        return Err(invalid());
    }
    let module = path::unescape_path(m).map_err(|_| invalid())?;
    let version = path::unescape_version(v).map_err(|_| invalid())?;
    Ok(SumdbPath::Lookup { module, version, rel: format!("lookup/{target}") })
}

/// `v<n>.<n>.<n>`, then an optional `-...`, then an optional `+incompatible`.
fn lookup_version_syntax(v: &str) -> bool {
    let Some(rest) = v.strip_prefix('v') else { return false };
    let mut parts = rest.splitn(3, '.');
    let (Some(a), Some(b), Some(c)) = (parts.next(), parts.next(), parts.next()) else { return false };
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let end = c.find(|ch: char| !ch.is_ascii_digit()).unwrap_or(c.len());
    let (patch, tail) = c.split_at(end);
    let tail = tail.strip_suffix("+incompatible").unwrap_or(tail);
    digits(a) && digits(b) && digits(patch) && (tail.is_empty() || tail.starts_with('-'))
}

/// Whether `path` (a checked path) is under `prefix`, segment-wise: `/app` takes `/app` and
/// `/app/x`, not `/apple` (proxy routes and the policy's path rules).
pub fn under(path: &str, prefix: &str) -> bool {
    prefix == "/" || path.strip_prefix(prefix).is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

/// Whether a host pattern (`None`: any host) takes `host`.
pub fn host_matches(pattern: Option<&str>, host: Option<&str>) -> bool {
    match (pattern, host) {
        (None, _) => true,
        (Some(_), None) => false,
        (Some(p), Some(h)) => match p.strip_prefix("*.") {
            Some(domain) => {
                h.len() > domain.len() + 1 && h.ends_with(domain) && h[..h.len() - domain.len()].ends_with('.')
            }
            None => p == h,
        },
    }
}

#[cfg(test)]
mod tests;
