//! Tiles: the stored hashes served in blocks (`tile/H/L/NNN[.p/W]`), and reading hashes from
//! them.
//!
//! Tile (H, L, N, W) holds the stored hashes of level `L*H` for positions `N*2^H ..
//! N*2^H+W`; a hash of a level between two tile levels is computed from the tile below it.
//! A data tile (`L` = "data") holds the record texts of level-0 tile N instead.

use super::tlog::{node_hash, split_stored_hash_index, Hash, HashReader, HASH_SIZE};
use super::SumdbError;
use std::collections::{BTreeMap, BTreeSet};

/// The tile height the go command and the public database use.
pub const HEIGHT: u32 = 8;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Tile {
    pub h: u32,
    /// The tile level; `-1` is a data tile.
    pub l: i32,
    pub n: i64,
    /// How many hashes (or records) it holds: `2^h` when full.
    pub w: u32,
}

impl Tile {
    pub fn is_full(&self) -> bool {
        self.w == 1 << self.h
    }

    pub fn is_data(&self) -> bool {
        self.l < 0
    }

    /// The tile's path: `tile/H/L/NNN[.p/W]`, N in groups of three digits, all but the last
    /// prefixed with `x`.
    pub fn path(&self) -> String {
        let mut n = self.n;
        let mut digits = format!("{:03}", n % 1000);
        while n >= 1000 {
            n /= 1000;
            digits = format!("x{:03}/{digits}", n % 1000);
        }
        let level = if self.is_data() { "data".to_string() } else { self.l.to_string() };
        let partial = if self.is_full() { String::new() } else { format!(".p/{}", self.w) };
        format!("tile/{}/{level}/{digits}{partial}", self.h)
    }

    /// Parses a tile path; only the canonical spelling of a tile is accepted.
    pub fn parse(path: &str) -> Result<Tile, SumdbError> {
        let bad = || SumdbError::MalformedTile;
        let mut f: Vec<&str> = path.split('/').collect();
        if f.len() < 4 || f[0] != "tile" {
            return Err(bad());
        }
        let h: u32 = small_number(f[1]).filter(|h| (1..=30).contains(h)).ok_or_else(bad)? as u32;
        let l: i32 = match f[2] {
            "data" => -1,
            s => small_number(s).filter(|&l| l < 64).ok_or_else(bad)? as i32,
        };
        let mut w = 1u32 << h;
        let last2 = f[f.len() - 2];
        if let Some(stem) = last2.strip_suffix(".p") {
            let ww = small_number(f[f.len() - 1]).ok_or_else(bad)?;
            if ww == 0 || ww >= u64::from(w) {
                return Err(bad());
            }
            w = ww as u32;
            let at = f.len() - 2;
            f[at] = stem;
            f.pop();
        }
        let mut n: i64 = 0;
        for group in &f[3..] {
            let g = small_number(group.strip_prefix('x').unwrap_or(group)).filter(|g| *g < 1000).ok_or_else(bad)?;
            n = n.checked_mul(1000).and_then(|n| n.checked_add(g as i64)).ok_or_else(bad)?;
        }
        let t = Tile { h, l, n, w };
        if t.path() != path {
            return Err(bad());
        }
        Ok(t)
    }

    /// The tile's size in bytes (hash tiles only).
    pub fn byte_len(&self) -> usize {
        self.w as usize * HASH_SIZE
    }
}

/// A decimal of at most 9 digits.
fn small_number(s: &str) -> Option<u64> {
    if s.is_empty() || s.len() > 9 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// Where stored hash `index` is read from in a tree of `tree_size` records: the tile (as wide
/// as that tree makes it) and the range of its hashes that the hash covers.
pub fn tile_for_index(h: u32, index: i64, tree_size: i64) -> (Tile, std::ops::Range<usize>) {
    let (level, n) = split_stored_hash_index(index);
    let l = level / h;
    let sub = level - l * h;
    // Positions of the tile's level covered by the hash.
    let first = n << sub;
    let count = 1i64 << sub;
    let tile_n = first >> h;
    let start = (first - (tile_n << h)) as usize;
    let available = (tree_size >> (l * h)) - (tile_n << h);
    let w = available.clamp(1, 1 << h) as u32;
    (Tile { h, l: l as i32, n: tile_n, w }, start..start + count as usize)
}

/// The hash of `count` consecutive hashes of one tile, paired the way the tree pairs them.
fn fold(hashes: &[Hash]) -> Hash {
    if hashes.len() == 1 {
        return hashes[0];
    }
    let half = hashes.len() / 2;
    node_hash(&fold(&hashes[..half]), &fold(&hashes[half..]))
}

/// Tiles fetched for one tree, read as stored hashes. Hashes read from it are not
/// authenticated by themselves: a proof or tree hash computed from them is checked against
/// a signed root, which authenticates every hash that went into it.
pub struct TileReader {
    pub tree_size: i64,
    pub tiles: BTreeMap<Tile, Vec<u8>>,
}

impl TileReader {
    /// The tiles that hold `indexes` in a tree of `tree_size` records.
    pub fn tiles_for(tree_size: i64, indexes: &BTreeSet<i64>) -> BTreeSet<Tile> {
        indexes.iter().map(|&i| tile_for_index(HEIGHT, i, tree_size).0).collect()
    }
}

impl HashReader for TileReader {
    fn read_hashes(&self, indexes: &[i64]) -> Result<Vec<Hash>, SumdbError> {
        indexes
            .iter()
            .map(|&i| {
                let (tile, range) = tile_for_index(HEIGHT, i, self.tree_size);
                let data = self.tiles.get(&tile).ok_or(SumdbError::NotInTree(i))?;
                let want = range.end * HASH_SIZE;
                if data.len() < want {
                    return Err(SumdbError::ShortTile { got: data.len(), want });
                }
                let hashes: Vec<Hash> = data[range.start * HASH_SIZE..want]
                    .chunks_exact(HASH_SIZE)
                    .map(|c| c.try_into().unwrap_or([0u8; HASH_SIZE]))
                    .collect();
                Ok(fold(&hashes))
            })
            .collect()
    }
}

/// A hash tile's bytes from all stored hashes (for a log that keeps them).
pub fn read_tile_data(t: &Tile, stored: &dyn HashReader) -> Result<Vec<u8>, SumdbError> {
    let level = t.l as u32 * t.h;
    let first = t.n << t.h;
    let indexes: Vec<i64> = (0..i64::from(t.w)).map(|i| super::tlog::stored_hash_index(level, first + i)).collect();
    Ok(stored.read_hashes(&indexes)?.concat())
}
