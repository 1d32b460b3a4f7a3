//! A zip writer that writes what it is told, including what well-behaved writers refuse:
//! duplicate names, directory entries with data, sizes and CRCs that lie. Stored entries only.

/// One entry as it will be written.
#[derive(Debug, Clone)]
pub struct RawEntry {
    pub name: Vec<u8>,
    pub data: Vec<u8>,
    /// The uncompressed size written in the headers (the truth when `None`).
    pub declared: Option<u32>,
    /// The CRC-32 written in the headers (the truth when `None`).
    pub crc: Option<u32>,
}

impl RawEntry {
    pub fn new(name: impl Into<Vec<u8>>, data: impl Into<Vec<u8>>) -> Self {
        RawEntry { name: name.into(), data: data.into(), declared: None, crc: None }
    }
}

fn u16le(out: &mut Vec<u8>, v: u16) {
    out.extend_from_slice(&v.to_le_bytes());
}

fn u32le(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_le_bytes());
}

/// The bytes of a zip holding `entries` in order.
pub fn write(entries: &[RawEntry]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut central = Vec::new();
    for e in entries {
        let offset = out.len() as u32;
        let crc = e.crc.unwrap_or_else(|| crc32fast::hash(&e.data));
        let csize = e.data.len() as u32;
        let usize = e.declared.unwrap_or(csize);
        let is_dir = e.name.last() == Some(&b'/');
        // Local header.
        u32le(&mut out, 0x0403_4b50);
        for v in [20u16, 0x0800, 0, 0, 0x21] {
            u16le(&mut out, v);
        }
        for v in [crc, csize, usize] {
            u32le(&mut out, v);
        }
        u16le(&mut out, e.name.len() as u16);
        u16le(&mut out, 0);
        out.extend_from_slice(&e.name);
        out.extend_from_slice(&e.data);
        // Central directory record.
        u32le(&mut central, 0x0201_4b50);
        for v in [0x031e_u16, 20, 0x0800, 0, 0, 0x21] {
            u16le(&mut central, v);
        }
        for v in [crc, csize, usize] {
            u32le(&mut central, v);
        }
        for v in [e.name.len() as u16, 0, 0, 0, 0] {
            u16le(&mut central, v);
        }
        let mode: u32 = if is_dir { 0o040755 } else { 0o100644 };
        u32le(&mut central, (mode << 16) | if is_dir { 0x10 } else { 0 });
        u32le(&mut central, offset);
        central.extend_from_slice(&e.name);
    }
    let cd_offset = out.len() as u32;
    out.extend_from_slice(&central);
    u32le(&mut out, 0x0605_4b50);
    for v in [0u16, 0, entries.len() as u16, entries.len() as u16] {
        u16le(&mut out, v);
    }
    u32le(&mut out, central.len() as u32);
    u32le(&mut out, cd_offset);
    u16le(&mut out, 0);
    out
}
