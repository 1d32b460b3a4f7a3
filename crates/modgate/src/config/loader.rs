//! Picking each value from the flags, the file or the default, and turning a bad one into an
//! error that names its key and, for the file, its line.

use super::ConfigError;
use std::path::Path;
use std::time::Duration;
use toml::Spanned;

/// Where a value came from, for error messages.
#[derive(Clone, Copy)]
pub(super) enum Origin<'a> {
    Default,
    Flag,
    File { path: &'a Path, line: usize },
}

pub(super) fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].bytes().filter(|&b| b == b'\n').count() + 1
}

pub(super) fn fail(key: &str, origin: Origin<'_>, reason: impl std::fmt::Display) -> ConfigError {
    match origin {
        Origin::Default => ConfigError(format!("config: {key}: {reason}")),
        Origin::Flag => ConfigError(format!(
            "config: {key} (from --{} or MODGATE_{}): {reason}",
            key.replace('_', "-"),
            key.to_ascii_uppercase()
        )),
        Origin::File { path, line } => ConfigError(format!("config: {}:{line}: {key}: {reason}", path.display())),
    }
}

pub(super) fn duration(key: &str, (v, origin): (&str, Origin<'_>)) -> Result<Duration, ConfigError> {
    humantime::parse_duration(v)
        .map_err(|e| fail(key, origin, format!("{v:?} is not a duration ({e}); write e.g. \"60s\" or \"5m\"")))
}

/// A duration above zero (a limit of zero would fail everything at once).
pub(super) fn positive(key: &str, (v, origin): (&str, Origin<'_>)) -> Result<Duration, ConfigError> {
    match duration(key, (v, origin))? {
        d if d.is_zero() => Err(fail(key, origin, format!("{v:?}: must be above zero; write e.g. \"60s\""))),
        d => Ok(d),
    }
}

/// A size: `off`, or a number of bytes with an optional unit (`B`, `KB`, `MB`, `GB`, `TB` in
/// powers of 1000; `KiB`, `MiB`, `GiB`, `TiB` in powers of 1024).
pub(super) fn size(key: &str, (v, origin): (&str, Origin<'_>)) -> Result<Option<u64>, ConfigError> {
    let t = v.trim();
    if t == "off" {
        return Ok(None);
    }
    let split = t.find(|c: char| !c.is_ascii_digit() && c != '.').unwrap_or(t.len());
    let (num, unit) = (t[..split].trim(), t[split..].trim());
    let scale: f64 = match unit.to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "kb" => 1e3,
        "mb" => 1e6,
        "gb" => 1e9,
        "tb" => 1e12,
        "kib" => 1024.0,
        "mib" => 1024f64.powi(2),
        "gib" => 1024f64.powi(3),
        "tib" => 1024f64.powi(4),
        _ => return Err(fail(key, origin, format!("{v:?}: unknown unit {unit:?}; write e.g. \"50GB\" or \"off\""))),
    };
    match num.parse::<f64>() {
        Ok(n) if n > 0.0 && (n * scale) < 1.8e19 => Ok(Some((n * scale) as u64)),
        _ => Err(fail(key, origin, format!("{v:?} is not a size above zero; write e.g. \"50GB\" or \"off\""))),
    }
}

/// The file being loaded (empty when there is none).
pub(super) struct Loader<'a> {
    pub file_path: Option<&'a Path>,
    pub file_text: String,
}

impl Loader<'_> {
    /// A flag's value, else the file's, else the default, with where it came from.
    pub fn pick<'v>(
        &'v self,
        flag: &'v Option<String>,
        file: &'v Option<Spanned<String>>,
        default: &'v str,
    ) -> (&'v str, Origin<'v>) {
        if let Some(v) = flag {
            return (v, Origin::Flag);
        }
        if let (Some(v), Some(p)) = (file, self.file_path) {
            return (v.get_ref(), Origin::File { path: p, line: line_of(&self.file_text, v.span().start) });
        }
        (default, Origin::Default)
    }

    pub fn pick_file<'v>(&'v self, file: &'v Option<Spanned<String>>, default: &'v str) -> (&'v str, Origin<'v>) {
        self.pick(&None, file, default)
    }

    /// The file position of a value that starts at byte `offset` of the file.
    pub fn at(&self, offset: usize) -> Origin<'_> {
        Origin::File { path: self.file_path.unwrap_or(Path::new("")), line: line_of(&self.file_text, offset) }
    }

    /// The line of byte `offset` of the file.
    pub fn line(&self, offset: usize) -> usize {
        line_of(&self.file_text, offset)
    }

    /// A whole number from the file within `lo..=hi`, or `default`.
    pub fn int(&self, key: &str, v: &Option<Spanned<i64>>, default: i64, lo: i64, hi: i64) -> Result<i64, ConfigError> {
        match v {
            None => Ok(default),
            Some(s) if (lo..=hi).contains(s.get_ref()) => Ok(*s.get_ref()),
            Some(s) => {
                let line = line_of(&self.file_text, s.span().start);
                let path = self.file_path.map(|p| p.display().to_string()).unwrap_or_default();
                Err(ConfigError(format!("config: {path}:{line}: {key}: {} is outside {lo}..={hi}", s.get_ref())))
            }
        }
    }
}
