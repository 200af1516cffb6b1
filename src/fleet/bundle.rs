//! The model bundle: one file carrying a model folder (manifest.json, the ONNX file, the
//! golden rows), a monotonically increasing version and an Ed25519 signature over all of it.
//!
//! Layout (docs/fleet.md):
//!
//! ```text
//! "CHOCOBN1"            8 bytes, magic
//! header length         u32, little endian
//! header                JSON: {model, version, created, key, files: [{name, size, sha256}]}
//! file bodies           in header order, back to back
//! signature             64 bytes, Ed25519 over every byte before it
//! ```
//!
//! Checking order, cheapest and most telling first: magic, header, length (a bundle cut off in
//! transfer says "truncated", not "bad signature"), trusted key, signature, digests, names.
//! Nothing of a bundle is written anywhere before all of these pass.

use std::path::Path;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::error::FleetError;
use super::keys::{PublicKey, SIGNATURE_LEN, SigningKey};
use crate::infer::manifest::Manifest;

/// The first bytes of every bundle.
pub const MAGIC: &[u8; 8] = b"CHOCOBN1";
/// Largest bundle accepted (the committed models are 10–400 KiB).
pub const MAX_BUNDLE: u64 = 16 << 20;
const MAX_HEADER: usize = 64 << 10;
const PREFIX: usize = MAGIC.len() + 4;

/// What the header says.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Header {
    /// Model name (the folder name under `[models] dir`).
    pub model: String,
    /// Bundle version; an install must be newer than what is installed.
    pub version: u64,
    /// When it was packed (RFC 3339).
    pub created: String,
    /// The signing key's public half (`ed25519:` + hex).
    pub key: String,
    /// The files, in body order.
    pub files: Vec<FileEntry>,
}

/// One file of a bundle.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileEntry {
    /// Plain file name (no folders).
    pub name: String,
    /// Length in bytes.
    pub size: u64,
    /// sha256, hex.
    pub sha256: String,
}

/// A bundle whose signature, digests and names have been checked.
#[derive(Debug, Clone)]
pub struct Bundle {
    /// The header.
    pub header: Header,
    /// `(name, content)` in header order.
    pub files: Vec<(String, Vec<u8>)>,
    /// The key that signed it (one of the trusted keys).
    pub signer: PublicKey,
}

/// Packs the model folder `dir` (manifest.json, the ONNX file and the golden file it names)
/// as bundle `version`, signed with `key`.
pub fn pack(dir: &Path, key: &SigningKey, version: u64) -> Result<Vec<u8>, FleetError> {
    let manifest = Manifest::load(dir).map_err(|e| FleetError::Header {
        reason: e.to_string(),
    })?;
    let mut names = vec!["manifest.json".to_owned(), manifest.onnx.file.clone()];
    if let Some(g) = &manifest.golden {
        names.push(g.file.clone());
    }
    let mut files = Vec::with_capacity(names.len());
    for name in names {
        check_name(&name)?;
        let path = dir.join(&name);
        let body = std::fs::read(&path).map_err(|e| FleetError::io(&path, e))?;
        files.push((name, body));
    }
    let header = Header {
        model: manifest.name.clone(),
        version,
        created: humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string(),
        key: key.public().to_string(),
        files: files
            .iter()
            .map(|(name, body)| FileEntry {
                name: name.clone(),
                size: body.len() as u64,
                sha256: hex::encode(Sha256::digest(body)),
            })
            .collect(),
    };
    let head = serde_json::to_vec(&header).map_err(|e| FleetError::Header {
        reason: e.to_string(),
    })?;
    let head_len = u32::try_from(head.len()).map_err(|_| FleetError::Header {
        reason: "header too large".into(),
    })?;
    let mut out = Vec::with_capacity(PREFIX + head.len() + 64);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&head_len.to_le_bytes());
    out.extend_from_slice(&head);
    for (_, body) in &files {
        out.extend_from_slice(body);
    }
    let sig = key.sign(&out);
    out.extend_from_slice(&sig);
    Ok(out)
}

/// The identity of a deploy request: the first 16 hex digits of the sha256 of its payload.
pub fn request_id(payload: &[u8]) -> String {
    hex::encode(&Sha256::digest(payload)[..8])
}

/// Checks `bytes` completely against the `trusted` keys and returns the bundle.
pub fn open(bytes: &[u8], trusted: &[PublicKey]) -> Result<Bundle, FleetError> {
    let header = read_header(bytes)?;
    let head_len = PREFIX + header_len(bytes)?;
    let expected = header
        .files
        .iter()
        .try_fold((head_len + SIGNATURE_LEN) as u64, |a, f| {
            a.checked_add(f.size)
        })
        .unwrap_or(u64::MAX);
    check_length(expected, bytes.len() as u64)?;
    let signer = PublicKey::parse(&header.key).map_err(|reason| FleetError::Header {
        reason: format!("key: {reason}"),
    })?;
    if trusted.is_empty() {
        return Err(FleetError::NoTrustedKeys);
    }
    if !trusted.contains(&signer) {
        return Err(FleetError::UntrustedKey {
            key: signer.to_string(),
        });
    }
    let (signed, sig) = bytes.split_at(bytes.len() - SIGNATURE_LEN);
    if !signer.verifies(signed, sig) {
        return Err(FleetError::BadSignature {
            key: signer.to_string(),
        });
    }
    let files = split_files(&header, &signed[head_len..])?;
    Ok(Bundle {
        header,
        files,
        signer,
    })
}

fn header_len(bytes: &[u8]) -> Result<usize, FleetError> {
    if bytes.len() < MAGIC.len() || &bytes[..MAGIC.len()] != MAGIC {
        return Err(FleetError::BadMagic { magic: "CHOCOBN1" });
    }
    let Some(len) = bytes.get(MAGIC.len()..PREFIX) else {
        return Err(FleetError::Truncated {
            expected: PREFIX as u64,
            got: bytes.len() as u64,
        });
    };
    let len = u32::from_le_bytes([len[0], len[1], len[2], len[3]]) as usize;
    if len > MAX_HEADER {
        return Err(FleetError::Header {
            reason: format!("header of {len} bytes (at most {MAX_HEADER})"),
        });
    }
    Ok(len)
}

/// The header, read before anything is trusted: only its lengths are used until the signature
/// has been checked.
pub fn read_header(bytes: &[u8]) -> Result<Header, FleetError> {
    let len = header_len(bytes)?;
    let Some(head) = bytes.get(PREFIX..PREFIX + len) else {
        return Err(FleetError::Truncated {
            expected: (PREFIX + len) as u64,
            got: bytes.len() as u64,
        });
    };
    let header: Header = serde_json::from_slice(head).map_err(|e| FleetError::Header {
        reason: e.to_string(),
    })?;
    for f in &header.files {
        check_name(&f.name)?;
    }
    if !header.files.iter().any(|f| f.name == "manifest.json") {
        return Err(FleetError::Header {
            reason: "no manifest.json in the bundle".into(),
        });
    }
    Ok(header)
}

fn check_length(expected: u64, got: u64) -> Result<(), FleetError> {
    if expected > MAX_BUNDLE {
        return Err(FleetError::Length {
            reason: format!("header announces {expected} bytes, at most {MAX_BUNDLE} accepted"),
        });
    }
    if got < expected {
        return Err(FleetError::Truncated { expected, got });
    }
    if got > expected {
        return Err(FleetError::Length {
            reason: format!("{got} bytes, the header announces {expected}"),
        });
    }
    Ok(())
}

fn split_files(header: &Header, mut body: &[u8]) -> Result<Vec<(String, Vec<u8>)>, FleetError> {
    let mut out = Vec::with_capacity(header.files.len());
    for f in &header.files {
        let (this, rest) = body.split_at(f.size as usize);
        if !hex::encode(Sha256::digest(this)).eq_ignore_ascii_case(&f.sha256) {
            return Err(FleetError::Digest {
                file: f.name.clone(),
            });
        }
        out.push((f.name.clone(), this.to_vec()));
        body = rest;
    }
    Ok(out)
}

/// A bundle file name is a plain name: letters, digits, `.`, `_`, `-`, not starting with a
/// dot, so that no file can land outside its version folder.
fn check_name(name: &str) -> Result<(), FleetError> {
    let ok = !name.is_empty()
        && name.len() <= 128
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if ok {
        Ok(())
    } else {
        Err(FleetError::Header {
            reason: format!("file name {name:?} is not a plain file name"),
        })
    }
}

#[cfg(test)]
#[path = "bundle_tests.rs"]
mod tests;
