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

/// A buffered `Read + Seek` view of the first `len` bytes of a positioned reader (for the zip
/// checker). Unlike `std::io::BufReader`, a seek keeps the buffer: the zip reader seeks to every
/// entry, and entries follow each other, so most seeks land in bytes already read — one read call
/// per 64 KiB of the object instead of one or more per entry.
pub struct ReadAtCursor {
    src: Arc<dyn ReadAt>,
    pos: u64,
    len: u64,
    buf: Vec<u8>,
    /// The object offset of `buf[0]`.
    buf_at: u64,
}

const CURSOR_BUF: usize = 64 * 1024;

impl ReadAtCursor {
    pub fn new(src: Arc<dyn ReadAt>, len: u64) -> Self {
        Self { src, pos: 0, len, buf: Vec::new(), buf_at: 0 }
    }

    /// The buffered bytes from `pos` on, if `pos` is in the buffer.
    fn buffered(&self) -> Option<&[u8]> {
        let off = usize::try_from(self.pos.checked_sub(self.buf_at)?).ok()?;
        self.buf.get(off..).filter(|b| !b.is_empty())
    }
}

impl Read for ReadAtCursor {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let left = self.len.saturating_sub(self.pos);
        let want = out.len().min(usize::try_from(left).unwrap_or(usize::MAX));
        if want == 0 {
            return Ok(0);
        }
        if self.buffered().is_none() {
            if want >= CURSOR_BUF {
                // A large read goes straight to the caller.
                let n = self.src.read_at(&mut out[..want], self.pos)?;
                self.pos += n as u64;
                return Ok(n);
            }
            let fill = CURSOR_BUF.min(usize::try_from(left).unwrap_or(usize::MAX));
            self.buf.resize(fill, 0);
            let n = self.src.read_at(&mut self.buf, self.pos)?;
            self.buf.truncate(n);
            self.buf_at = self.pos;
            if n == 0 {
                return Ok(0);
            }
        }
        let n = match self.buffered() {
            Some(b) => {
                let n = b.len().min(want);
                out[..n].copy_from_slice(&b[..n]);
                n
            }
            None => 0,
        };
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

    /// Counts the reads that reach the source.
    struct Counting(Bytes, std::sync::atomic::AtomicUsize);
    impl ReadAt for Counting {
        fn read_at(&self, buf: &mut [u8], pos: u64) -> io::Result<usize> {
            self.1.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            self.0.read_at(buf, pos)
        }
    }

    #[test]
    fn seeks_inside_the_buffer_read_nothing_again_and_every_read_is_exact() {
        let data: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 251) as u8).collect();
        let src = Arc::new(Counting(Bytes(data.clone()), Default::default()));
        let len = 290_000u64;
        let mut c = ReadAtCursor::new(src.clone(), len);
        // Entries one after the other, each reached by a seek: one source read per 64 KiB.
        let mut at = 0u64;
        while at < 200_000 {
            c.seek(SeekFrom::Start(at)).unwrap();
            let mut b = [0u8; 100];
            c.read_exact(&mut b).unwrap();
            assert_eq!(&b[..], &data[at as usize..at as usize + 100]);
            at += 1000;
        }
        assert!(src.1.load(std::sync::atomic::Ordering::Relaxed) <= 4, "{:?}", src.1);
        // Seeks anywhere (backwards, past the buffer, near the end) and reads of every size.
        let mut x = 12345u64;
        for _ in 0..2000 {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            let pos = (x >> 33) % (len + 10);
            let size = [1usize, 10, 4096, 70_000][(x % 4) as usize];
            c.seek(SeekFrom::Start(pos)).unwrap();
            let mut b = vec![0u8; size];
            let mut got = 0;
            while got < size {
                let n = c.read(&mut b[got..]).unwrap();
                if n == 0 {
                    break;
                }
                got += n;
            }
            let end = (pos as usize + size).min(len as usize).max(pos as usize);
            let want = data.get(pos as usize..end).unwrap_or(&[]);
            assert_eq!(&b[..got], want, "read of {size} at {pos}");
        }
    }
}
