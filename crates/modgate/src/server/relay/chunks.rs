//! Finding where a chunked body ends, so that it can be passed on byte for byte (chunk sizes,
//! extensions and trailers as the backend wrote them) and its connection used again.

use super::super::strict::chunk_size;

/// Longest chunk-size or trailer line accepted.
const MAX_LINE: usize = 8 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// In a chunk-size line, `n` bytes of it so far.
    Size,
    /// `n` more bytes of chunk data.
    Data(u64),
    /// The CR, then the LF, after chunk data.
    DataCr,
    DataLf,
    /// In a trailer line (or the final empty line).
    Trailer,
    Done,
}

pub struct ChunkScan {
    state: State,
    /// The line being read (size or trailer), without its CRLF.
    line: Vec<u8>,
}

impl ChunkScan {
    pub fn new() -> Self {
        Self { state: State::Size, line: Vec::new() }
    }

    /// Reads `bytes` on from where the last call stopped; `Some(n)` when the body ends after
    /// the first `n` of them.
    pub fn feed(&mut self, bytes: &[u8]) -> Result<Option<usize>, &'static str> {
        let mut i = 0;
        while i < bytes.len() {
            match self.state {
                State::Done => return Ok(Some(i)),
                State::Data(n) => {
                    let take = n.min((bytes.len() - i) as u64);
                    i += take as usize;
                    self.state = if take == n { State::DataCr } else { State::Data(n - take) };
                    continue;
                }
                State::DataCr => {
                    if bytes[i] != b'\r' {
                        return Err("chunk data not followed by CRLF");
                    }
                    self.state = State::DataLf;
                }
                State::DataLf => {
                    if bytes[i] != b'\n' {
                        return Err("chunk data not followed by CRLF");
                    }
                    self.state = State::Size;
                }
                State::Size | State::Trailer => {
                    if bytes[i] == b'\n' {
                        self.end_line()?;
                    } else if self.line.len() >= MAX_LINE {
                        return Err("a chunk line too long");
                    } else {
                        self.line.push(bytes[i]);
                    }
                }
            }
            i += 1;
        }
        Ok((self.state == State::Done).then_some(i))
    }

    fn end_line(&mut self) -> Result<(), &'static str> {
        let line = self.line.strip_suffix(b"\r").ok_or("a bare LF in a chunked body")?;
        self.state = match self.state {
            State::Size => match chunk_size(line)? {
                0 => State::Trailer,
                n => State::Data(n),
            },
            _ if line.is_empty() => State::Done,
            s => s,
        };
        self.line.clear();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scan_in_pieces(body: &[u8], piece: usize) -> Result<Option<usize>, &'static str> {
        let mut s = ChunkScan::new();
        let mut at = 0;
        for part in body.chunks(piece) {
            if let Some(n) = s.feed(part)? {
                return Ok(Some(at + n));
            }
            at += part.len();
        }
        Ok(None)
    }

    #[test]
    fn the_end_is_found_however_the_bytes_arrive() {
        let body = b"5;ext=1\r\nhello\r\n10\r\n0123456789abcdef\r\n0\r\nx-sum: 1\r\n\r\nNEXT";
        let end = body.len() - 4;
        for piece in [1, 2, 3, 7, body.len()] {
            assert_eq!(scan_in_pieces(body, piece), Ok(Some(end)), "pieces of {piece}");
        }
        assert_eq!(scan_in_pieces(b"0\r\n\r\n", 1), Ok(Some(5)));
        assert_eq!(scan_in_pieces(b"5\r\nhel", 2), Ok(None));
    }

    #[test]
    fn bad_framing_is_an_error() {
        assert!(scan_in_pieces(b"zz\r\n", 4).is_err());
        assert!(scan_in_pieces(b"5\r\nhelloXX", 16).is_err());
        assert!(scan_in_pieces(b"5\nhello\r\n", 16).is_err());
        assert!(scan_in_pieces(b"11111111111111111\r\n", 32).is_err(), "more than 16 hex digits");
    }
}
