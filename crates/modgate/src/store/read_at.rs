//! Positioned reads: what a staged object offers its followers and its verifier, safe from
//! several threads at once (no shared file position).

use std::io::{self, Read, Seek, SeekFrom};
use std::sync::Arc;

pub trait ReadAt: Send + Sync {
    /// Reads into `buf` from byte `pos`; 0 at the end.
    fn read_at(&self, buf: &mut [u8], pos: u64) -> io::Result<usize>;
}

impl ReadAt for std::fs::File {
    fn read_at(&self, buf: &mut [u8], pos: u64) -> io::Result<usize> {
        #[cfg(unix)]
        return std::os::unix::fs::FileExt::read_at(self, buf, pos);
        #[cfg(windows)]
        return std::os::windows::fs::FileExt::seek_read(self, buf, pos);
    }
}

/// A `Read + Seek` view of the first `len` bytes of a positioned reader (for the zip checker).
pub struct ReadAtCursor {
    src: Arc<dyn ReadAt>,
    pos: u64,
    len: u64,
}

impl ReadAtCursor {
    pub fn new(src: Arc<dyn ReadAt>, len: u64) -> Self {
        Self { src, pos: 0, len }
    }
}

impl Read for ReadAtCursor {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let left = self.len.saturating_sub(self.pos);
        let want = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
        if want == 0 {
            return Ok(0);
        }
        let n = self.src.read_at(&mut buf[..want], self.pos)?;
        self.pos += n as u64;
        Ok(n)
    }
}

impl Seek for ReadAtCursor {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let next = match to {
            SeekFrom::Start(n) => Some(n),
            SeekFrom::End(d) => self.len.checked_add_signed(d),
            SeekFrom::Current(d) => self.pos.checked_add_signed(d),
        };
        self.pos = next.ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "seek before the start"))?;
        Ok(self.pos)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Bytes(Vec<u8>);
    impl ReadAt for Bytes {
        fn read_at(&self, buf: &mut [u8], pos: u64) -> io::Result<usize> {
            let start = (pos as usize).min(self.0.len());
            let n = buf.len().min(self.0.len() - start);
            buf[..n].copy_from_slice(&self.0[start..start + n]);
            Ok(n)
        }
    }

    #[test]
    fn a_cursor_reads_and_seeks_within_its_length() {
        let mut c = ReadAtCursor::new(Arc::new(Bytes(b"0123456789".to_vec())), 8);
        let mut all = Vec::new();
        c.read_to_end(&mut all).unwrap();
        assert_eq!(all, b"01234567", "only the first len bytes");
        assert_eq!(c.seek(SeekFrom::End(-3)).unwrap(), 5);
        let mut two = [0u8; 2];
        c.read_exact(&mut two).unwrap();
        assert_eq!(&two, b"56");
        assert!(c.seek(SeekFrom::Current(-100)).is_err());
    }
}
