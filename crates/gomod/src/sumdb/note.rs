//! Signed notes (`golang.org/x/mod/sumdb/note`): a text, a blank line, and signature lines
//! `— <name> <base64(key hash || signature)>`. Keys are Ed25519.
//!
//! Verifier key: `<name>+<8 hex key hash>+<base64(0x01 || public key)>`; signer key:
//! `PRIVATE+KEY+<name>+<hash>+<base64(0x01 || seed)>`. The key hash is the first four bytes of
//! `SHA256(name || "\n" || 0x01 || public key)`.

use super::SumdbError;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::DecodePaddingMode;
use base64::Engine as _;
use ring::signature::{Ed25519KeyPair, KeyPair, UnparsedPublicKey, ED25519};
use sha2::{Digest, Sha256};
use std::collections::HashSet;

const ALG_ED25519: u8 = 1;
const SIG_PREFIX: &str = "\u{2014} ";

/// Go's `base64.StdEncoding`: padded, and lenient about the unused bits of the last symbol.
const STD: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_allow_trailing_bits(true)
        .with_decode_padding_mode(DecodePaddingMode::RequireCanonical),
);

pub(super) fn b64_decode(s: &str) -> Option<Vec<u8>> {
    STD.decode(s).ok()
}

pub(super) fn b64_encode(b: &[u8]) -> String {
    STD.encode(b)
}

/// A key name: non-empty, no Unicode space, no `+`.
fn valid_name(name: &str) -> bool {
    !name.is_empty() && !name.contains('+') && !name.chars().any(crate::uni::is_space)
}

fn key_hash(name: &str, key: &[u8]) -> u32 {
    let mut h = Sha256::new();
    h.update(name.as_bytes());
    h.update(b"\n");
    h.update(key);
    let d = h.finalize();
    u32::from_be_bytes([d[0], d[1], d[2], d[3]])
}

/// `s` cut at the first `sep` (all of `s` and "" when there is none).
fn chop<'a>(s: &'a str, sep: &str) -> (&'a str, &'a str) {
    s.split_once(sep).unwrap_or((s, ""))
}

/// A public key that verifies notes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verifier {
    pub name: String,
    pub hash: u32,
    key: [u8; 32],
}

impl Verifier {
    pub fn parse(vkey: &str) -> Result<Verifier, SumdbError> {
        let (name, rest) = chop(vkey, "+");
        let (hash16, key64) = chop(rest, "+");
        let hash = u32::from_str_radix(hash16, 16).ok().filter(|_| hash16.len() == 8);
        let key = b64_decode(key64);
        let (Some(hash), Some(key)) = (hash, key) else { return Err(SumdbError::BadVerifierKey) };
        if !valid_name(name) || key.is_empty() || hash16.starts_with('+') {
            return Err(SumdbError::BadVerifierKey);
        }
        if hash != key_hash(name, &key) {
            return Err(SumdbError::KeyHashMismatch);
        }
        if key[0] != ALG_ED25519 {
            return Err(SumdbError::UnknownAlgorithm);
        }
        let key: [u8; 32] = key[1..].try_into().map_err(|_| SumdbError::BadVerifierKey)?;
        Ok(Verifier { name: name.to_string(), hash, key })
    }

    /// The key in its text form.
    pub fn encode(&self) -> String {
        let mut k = vec![ALG_ED25519];
        k.extend_from_slice(&self.key);
        format!("{}+{:08x}+{}", self.name, self.hash, b64_encode(&k))
    }

    fn verify(&self, msg: &[u8], sig: &[u8]) -> bool {
        UnparsedPublicKey::new(&ED25519, &self.key).verify(msg, sig).is_ok()
    }
}

/// A private key that signs notes.
pub struct Signer {
    pub name: String,
    pub hash: u32,
    pair: Ed25519KeyPair,
}

impl Signer {
    pub fn parse(skey: &str) -> Result<Signer, SumdbError> {
        let bad = || SumdbError::BadSignerKey;
        let rest = skey.strip_prefix("PRIVATE+KEY+").ok_or_else(bad)?;
        let (name, rest) = chop(rest, "+");
        let (hash16, key64) = chop(rest, "+");
        let hash = u32::from_str_radix(hash16, 16).ok().filter(|_| hash16.len() == 8).ok_or_else(bad)?;
        let key = b64_decode(key64).ok_or_else(bad)?;
        if !valid_name(name) || hash16.starts_with('+') || key.first() != Some(&ALG_ED25519) || key.len() != 33 {
            return Err(bad());
        }
        let pair = Ed25519KeyPair::from_seed_unchecked(&key[1..]).map_err(|_| bad())?;
        let signer = Signer { name: name.to_string(), hash, pair };
        if key_hash(name, &signer.public_key_bytes()) != hash {
            return Err(SumdbError::KeyHashMismatch);
        }
        Ok(signer)
    }

    /// A new signer key for `name`: returns (signer key, verifier key) in text form.
    pub fn generate(name: &str) -> Result<(String, String), SumdbError> {
        if !valid_name(name) {
            return Err(SumdbError::BadSignerKey);
        }
        let mut seed = [0u8; 32];
        ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut seed)
            .map_err(|_| SumdbError::BadSignerKey)?;
        let pair = Ed25519KeyPair::from_seed_unchecked(&seed).map_err(|_| SumdbError::BadSignerKey)?;
        let mut public = vec![ALG_ED25519];
        public.extend_from_slice(pair.public_key().as_ref());
        let hash = key_hash(name, &public);
        let mut private = vec![ALG_ED25519];
        private.extend_from_slice(&seed);
        Ok((
            format!("PRIVATE+KEY+{name}+{hash:08x}+{}", b64_encode(&private)),
            format!("{name}+{hash:08x}+{}", b64_encode(&public)),
        ))
    }

    fn public_key_bytes(&self) -> Vec<u8> {
        let mut k = vec![ALG_ED25519];
        k.extend_from_slice(self.pair.public_key().as_ref());
        k
    }

    /// The matching verifier.
    pub fn verifier(&self) -> Verifier {
        let mut key = [0u8; 32];
        key.copy_from_slice(self.pair.public_key().as_ref());
        Verifier { name: self.name.clone(), hash: self.hash, key }
    }

    /// The signed note of `text` (which must end in a newline and be a valid note text).
    pub fn sign(&self, text: &str) -> Result<Vec<u8>, SumdbError> {
        if !text.ends_with('\n') || text.contains("\n\n") || !clean(text.as_bytes()) {
            return Err(SumdbError::MalformedNote);
        }
        let mut sig = self.hash.to_be_bytes().to_vec();
        sig.extend_from_slice(self.pair.sign(text.as_bytes()).as_ref());
        Ok(format!("{text}\n{SIG_PREFIX}{} {}\n", self.name, b64_encode(&sig)).into_bytes())
    }
}

/// Valid UTF-8 with no control character but newline.
fn clean(msg: &[u8]) -> bool {
    std::str::from_utf8(msg).is_ok_and(|s| !s.chars().any(|c| c < ' ' && c != '\n'))
}

/// A note whose signature by one of the known keys verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    pub text: String,
    /// Names of the known keys whose signatures verified.
    pub signed_by: Vec<String>,
}

/// Opens a signed note: at least one signature by a `known` key must verify, and no
/// signature by a known key may fail; signatures by other keys are ignored.
pub fn open(msg: &[u8], known: &[Verifier]) -> Result<Note, SumdbError> {
    if !clean(msg) {
        return Err(SumdbError::MalformedNote);
    }
    let s = std::str::from_utf8(msg).map_err(|_| SumdbError::MalformedNote)?;
    let split = s.rfind("\n\n").ok_or(SumdbError::MalformedNote)?;
    let (text, sigs) = (&s[..split + 1], &s[split + 2..]);
    if !sigs.ends_with('\n') {
        return Err(SumdbError::MalformedNote);
    }
    let mut note = Note { text: text.to_string(), signed_by: Vec::new() };
    let mut seen = HashSet::new();
    let mut unknown = Vec::new();
    for (i, line) in sigs[..sigs.len() - 1].split('\n').enumerate() {
        let line = line.strip_prefix(SIG_PREFIX).ok_or(SumdbError::MalformedNote)?;
        let (name, b64) = chop(line, " ");
        let sig = b64_decode(b64).filter(|s| s.len() >= 5 && valid_name(name) && !b64.is_empty());
        let sig = sig.ok_or(SumdbError::MalformedNote)?;
        if i >= 100 {
            return Err(SumdbError::MalformedNote);
        }
        let hash = u32::from_be_bytes([sig[0], sig[1], sig[2], sig[3]]);
        let Some(v) = known.iter().find(|v| v.name == name && v.hash == hash) else {
            unknown.push(name.to_string());
            continue;
        };
        if !seen.insert((name, hash)) {
            continue;
        }
        if !v.verify(text.as_bytes(), &sig[4..]) {
            return Err(SumdbError::InvalidSignature(v.encode()));
        }
        note.signed_by.push(name.to_string());
    }
    if note.signed_by.is_empty() {
        let names = if unknown.is_empty() { "no signatures".to_string() } else { unknown.join(", ") };
        return Err(SumdbError::Unverified(names));
    }
    Ok(note)
}
