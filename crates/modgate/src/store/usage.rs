//! What a store holds — objects and bytes — kept as it changes, for `/metrics`. The local store
//! counts what is on disk once at start (on a thread of its own, so a large cache does not delay
//! serving) and adds each object it creates after that.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::SystemTime;

/// A store's contents and the room left where it lives.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StoreUsage {
    pub objects: u64,
    pub bytes: u64,
    /// Whether the first count has finished (until then the figures are partial).
    pub counted: bool,
    /// Bytes free and in all on the filesystem, where the store knows them.
    pub disk_free: Option<u64>,
    pub disk_size: Option<u64>,
}

#[derive(Default)]
pub struct Usage {
    objects: AtomicU64,
    bytes: AtomicU64,
    counted: AtomicBool,
}

impl Usage {
    pub fn added(&self, bytes: u64) {
        self.objects.fetch_add(1, Ordering::Relaxed);
        self.bytes.fetch_add(bytes, Ordering::Relaxed);
    }

    pub fn removed(&self, bytes: u64) {
        let _ = self.objects.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| Some(n.saturating_sub(1)));
        let _ = self.bytes.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| Some(n.saturating_sub(bytes)));
    }

    pub fn read(&self) -> StoreUsage {
        StoreUsage {
            objects: self.objects.load(Ordering::Relaxed),
            bytes: self.bytes.load(Ordering::Relaxed),
            counted: self.counted.load(Ordering::Relaxed),
            disk_free: None,
            disk_size: None,
        }
    }

    /// Counts the files under `root` that existed before now, on a thread of its own; objects
    /// created meanwhile are counted by `added`, not twice.
    pub fn count_in_background(self: &Arc<Self>, root: PathBuf) {
        let (this, since) = (Arc::clone(self), SystemTime::now());
        let spawned = std::thread::Builder::new().name("modgate-usage".into()).spawn(move || {
            let (n, bytes) = count(&root, since);
            this.objects.fetch_add(n, Ordering::Relaxed);
            this.bytes.fetch_add(bytes, Ordering::Relaxed);
            this.counted.store(true, Ordering::Relaxed);
        });
        if let Err(e) = spawned {
            tracing::warn!(error = %e, "could not count the cache's objects");
        }
    }
}

/// Files under `root` last modified before `since`, and their bytes.
fn count(root: &Path, since: SystemTime) -> (u64, u64) {
    let (mut n, mut bytes) = (0, 0);
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        for entry in entries.flatten() {
            let Ok(meta) = entry.metadata() else { continue };
            if meta.is_dir() {
                stack.push(entry.path());
            } else if meta.modified().is_ok_and(|m| m < since) {
                n += 1;
                bytes += meta.len();
            }
        }
    }
    (n, bytes)
}

/// Free and total bytes of the filesystem holding `path`.
pub fn disk_space(path: &Path) -> Option<(u64, u64)> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes()).ok()?;
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: `c` is a valid NUL-terminated path and `st` a writable statvfs.
    if unsafe { libc::statvfs(c.as_ptr(), &mut st) } != 0 {
        return None;
    }
    let unit = st.f_frsize as u64;
    Some((st.f_bavail as u64 * unit, st.f_blocks as u64 * unit))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_what_was_there_and_what_is_added() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("a/b")).unwrap();
        let old = SystemTime::now() - std::time::Duration::from_secs(60);
        for (name, data) in [("a/b/x", &b"12345"[..]), ("a/y", &b"123"[..])] {
            std::fs::write(dir.path().join(name), data).unwrap();
            std::fs::File::options().write(true).open(dir.path().join(name)).unwrap().set_modified(old).unwrap();
        }
        let u = Arc::new(Usage::default());
        u.count_in_background(dir.path().to_path_buf());
        u.added(10);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while !u.read().counted && std::time::Instant::now() < deadline {
            std::thread::yield_now();
        }
        let r = u.read();
        assert_eq!((r.objects, r.bytes, r.counted), (3, 18, true));
        let (free, size) = disk_space(dir.path()).unwrap();
        assert!(size > 0 && free <= size);
    }
}
