//! Ed25519 keys for model bundles.
//!
//! - The **signing key** is a PKCS#8 PEM file, the format `openssl genpkey -algorithm ed25519`
//!   writes; `chocoline model keygen` writes the same format. It stays with whoever ships
//!   models and never goes on a line controller.
//! - A **public key** is its 32 bytes in hex (64 characters), optionally prefixed with
//!   `ed25519:`. That is what `[fleet] trusted_keys` lists and what a bundle's header names.
//!   With openssl: `openssl pkey -in key.pem -pubout -outform DER | tail -c 32 | xxd -p -c 32`.

use std::fmt;
use std::path::Path;

use base64::Engine as _;
use ring::signature::{ED25519, Ed25519KeyPair, KeyPair, UnparsedPublicKey};

use super::error::FleetError;

/// Length of an Ed25519 signature.
pub const SIGNATURE_LEN: usize = 64;

/// An Ed25519 public key.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct PublicKey([u8; 32]);

impl PublicKey {
    /// Parses 64 hex characters, optionally prefixed with `ed25519:`.
    pub fn parse(text: &str) -> Result<PublicKey, String> {
        let t = text.trim();
        let t = t.strip_prefix("ed25519:").unwrap_or(t);
        let bytes = hex::decode(t).map_err(|e| format!("not hex ({e})"))?;
        let arr: [u8; 32] = bytes.try_into().map_err(|b: Vec<u8>| {
            format!(
                "an Ed25519 public key is 32 bytes (64 hex characters), this is {}",
                b.len()
            )
        })?;
        Ok(PublicKey(arr))
    }

    /// Whether `signature` is this key's signature of `message`.
    pub fn verifies(&self, message: &[u8], signature: &[u8]) -> bool {
        UnparsedPublicKey::new(&ED25519, &self.0)
            .verify(message, signature)
            .is_ok()
    }
}

impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ed25519:{}", hex::encode(self.0))
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Parses every configured trusted key; the error names the entry.
pub fn parse_trusted(keys: &[String]) -> Result<Vec<PublicKey>, FleetError> {
    keys.iter()
        .enumerate()
        .map(|(i, k)| {
            PublicKey::parse(k).map_err(|reason| FleetError::Key {
                what: format!("[fleet] trusted_keys[{i}]"),
                reason,
            })
        })
        .collect()
}

/// A private signing key.
pub struct SigningKey {
    pair: Ed25519KeyPair,
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SigningKey({})", self.public())
    }
}

impl SigningKey {
    /// Reads a PKCS#8 PEM private key (`-----BEGIN PRIVATE KEY-----`).
    pub fn load(path: &Path) -> Result<SigningKey, FleetError> {
        let text = std::fs::read(path).map_err(|e| FleetError::io(path, e))?;
        Self::from_pem(&text).map_err(|reason| FleetError::Key {
            what: path.display().to_string(),
            reason,
        })
    }

    /// Parses a PKCS#8 PEM private key.
    pub fn from_pem(pem: &[u8]) -> Result<SigningKey, String> {
        let mut reader = pem;
        let der = rustls_pemfile::pkcs8_private_keys(&mut reader)
            .next()
            .ok_or("no \"BEGIN PRIVATE KEY\" (PKCS#8) block found")?
            .map_err(|e| format!("unreadable PEM: {e}"))?;
        let pair = Ed25519KeyPair::from_pkcs8_maybe_unchecked(der.secret_pkcs8_der())
            .map_err(|e| format!("not an Ed25519 PKCS#8 key ({e})"))?;
        Ok(SigningKey { pair })
    }

    /// A new random key, and its PEM text.
    pub fn generate() -> Result<(SigningKey, String), String> {
        let rng = ring::rand::SystemRandom::new();
        let doc = Ed25519KeyPair::generate_pkcs8(&rng).map_err(|e| e.to_string())?;
        let pem = pem("PRIVATE KEY", doc.as_ref());
        let key = Self::from_pem(pem.as_bytes())?;
        Ok((key, pem))
    }

    /// The matching public key.
    pub fn public(&self) -> PublicKey {
        let mut k = [0u8; 32];
        k.copy_from_slice(self.pair.public_key().as_ref());
        PublicKey(k)
    }

    /// Signs `message`.
    pub fn sign(&self, message: &[u8]) -> [u8; SIGNATURE_LEN] {
        let mut s = [0u8; SIGNATURE_LEN];
        s.copy_from_slice(self.pair.sign(message).as_ref());
        s
    }
}

/// PEM armour: base64 in lines of 64 characters.
fn pem(label: &str, der: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(chunk));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generated_key_round_trips_through_pem_and_signs_what_its_public_key_verifies() {
        let (key, pem) = SigningKey::generate().unwrap();
        let again = SigningKey::from_pem(pem.as_bytes()).unwrap();
        assert_eq!(key.public(), again.public());
        let sig = again.sign(b"bloom v7");
        assert!(key.public().verifies(b"bloom v7", &sig));
        assert!(!key.public().verifies(b"bloom v8", &sig));
        let (other, _) = SigningKey::generate().unwrap();
        assert!(!other.public().verifies(b"bloom v7", &sig));
    }

    #[test]
    fn public_keys_parse_from_hex_with_or_without_prefix_and_refuse_wrong_lengths() {
        let (key, _) = SigningKey::generate().unwrap();
        let text = key.public().to_string();
        assert!(text.starts_with("ed25519:") && text.len() == 8 + 64);
        assert_eq!(PublicKey::parse(&text).unwrap(), key.public());
        assert_eq!(PublicKey::parse(&text[8..]).unwrap(), key.public());
        assert!(
            PublicKey::parse(&text[..40])
                .unwrap_err()
                .contains("32 bytes")
        );
        assert!(PublicKey::parse("zz").unwrap_err().contains("not hex"));
        let err = parse_trusted(&[text, "abc".into()]).unwrap_err();
        assert!(err.to_string().contains("trusted_keys[1]"), "{err}");
    }

    #[test]
    fn a_pem_without_a_pkcs8_block_is_refused_with_a_reason() {
        let err = SigningKey::from_pem(b"hello").unwrap_err();
        assert!(err.contains("PKCS#8"), "{err}");
    }
}
