//! Checksum-database answers kept in memory, so that verifying a fill reads no file: tiles
//! and lookups are small and asked for again and again. Bounded by bytes; when full it starts
//! over (the stores below still hold everything).

use bytes::Bytes;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub struct Memo {
    max_bytes: usize,
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    map: HashMap<String, (Bytes, Instant)>,
    bytes: usize,
}

impl Memo {
    pub fn new(max_bytes: usize) -> Self {
        Self { max_bytes, inner: Mutex::default() }
    }

    /// The answer for `key`, if kept and (with `max_age`) younger than that.
    pub fn get(&self, key: &str, max_age: Option<Duration>) -> Option<Bytes> {
        let inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let (data, at) = inner.map.get(key)?;
        match max_age {
            Some(age) if at.elapsed() >= age => None,
            _ => Some(data.clone()),
        }
    }

    /// Keeps `data` for `key`, fetched `age` ago.
    pub fn put(&self, key: &str, data: &Bytes, age: Duration) {
        let at = Instant::now().checked_sub(age).unwrap_or_else(Instant::now);
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        if inner.bytes + data.len() + key.len() > self.max_bytes {
            inner.map.clear();
            inner.bytes = 0;
        }
        inner.bytes += data.len() + key.len();
        if let Some((old, _)) = inner.map.insert(key.to_string(), (data.clone(), at)) {
            inner.bytes -= old.len() + key.len();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_and_bounds() {
        let m = Memo::new(100);
        let a = Bytes::from_static(b"0123456789");
        m.put("a", &a, Duration::ZERO);
        assert_eq!(m.get("a", Some(Duration::from_secs(60))), Some(a.clone()));
        m.put("old", &a, Duration::from_secs(120));
        assert_eq!(m.get("old", Some(Duration::from_secs(60))), None);
        assert_eq!(m.get("old", None), Some(a.clone()));
        // Past the bound everything goes, and the newest is kept.
        let big = Bytes::from(vec![0u8; 90]);
        m.put("big", &big, Duration::ZERO);
        assert_eq!((m.get("a", None), m.get("big", None)), (None, Some(big)));
    }
}
