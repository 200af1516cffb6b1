//! Reading secret files (password, private key) safely: refuse one that every user can read,
//! and never put the content in an error or a log line.
//!
//! Decision: the password comes only from `[mqtt] password_file` (no environment variable):
//! environment variables leak through `/proc/<pid>/environ`, crash reports and child
//! processes, while a 0600 file (or systemd `LoadCredential=`) has one clear owner.
//!
//! Rotation: [`SecretDigests`] keeps a sha256 of every file `[mqtt]` reads when it connects,
//! so that a reload (SIGHUP) notices a file whose content changed under the same path and
//! restarts the publisher with it. Only the digests are kept, never the content.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::config::MqttConfig;
use super::error::PublishError;

/// Read a file that must not be world-readable.
pub fn read_private(key: &'static str, path: &Path) -> Result<Vec<u8>, PublishError> {
    let meta = std::fs::metadata(path).map_err(|source| PublishError::ReadFile {
        key,
        path: path.to_path_buf(),
        source,
    })?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o004 != 0 {
            return Err(PublishError::WorldReadable {
                key,
                path: path.to_path_buf(),
                mode,
            });
        }
    }
    #[cfg(not(unix))]
    let _ = meta;
    read_public(key, path)
}

/// Read a file that may be public (certificates).
pub fn read_public(key: &'static str, path: &Path) -> Result<Vec<u8>, PublishError> {
    std::fs::read(path).map_err(|source| PublishError::ReadFile {
        key,
        path: path.to_path_buf(),
        source,
    })
}

/// The password: the first line of `password_file`, without its line ending.
pub fn read_password(path: &Path) -> Result<String, PublishError> {
    let raw = read_private("password_file", path)?;
    let text = String::from_utf8(raw).map_err(|_| PublishError::BadPem {
        key: "password_file",
        path: path.to_path_buf(),
        reason: "not UTF-8 text".into(),
    })?;
    let first = text
        .lines()
        .next()
        .unwrap_or_default()
        .trim_end_matches('\r');
    if first.is_empty() {
        return Err(PublishError::BadPem {
            key: "password_file",
            path: path.to_path_buf(),
            reason: "first line is empty".into(),
        });
    }
    Ok(first.to_string())
}

/// One file read by the publisher when it connects, by its digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretFile {
    /// The `[mqtt]` key naming it (`password_file`, `ca_file`, `client_cert_file`,
    /// `client_key_file`).
    pub key: &'static str,
    /// The file.
    pub path: PathBuf,
    /// sha256 of its bytes.
    digest: [u8; 32],
}

/// The digests of the secret and certificate files a `[mqtt]` section names.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SecretDigests {
    files: Vec<SecretFile>,
}

impl SecretDigests {
    /// Read and digest every file `cfg` names. A file that cannot be read is an error naming
    /// its key and path (a few small files: read in place).
    pub fn read(cfg: &MqttConfig) -> Result<Self, PublishError> {
        let keys = [
            ("password_file", &cfg.password_file),
            ("ca_file", &cfg.ca_file),
            ("client_cert_file", &cfg.client_cert_file),
            ("client_key_file", &cfg.client_key_file),
        ];
        let files = keys
            .into_iter()
            .filter_map(|(key, path)| path.as_ref().map(|p| (key, p)))
            .map(|(key, path)| {
                let bytes = read_public(key, path)?;
                Ok(SecretFile {
                    key,
                    path: path.clone(),
                    digest: Sha256::digest(&bytes).into(),
                })
            })
            .collect::<Result<_, PublishError>>()?;
        Ok(SecretDigests { files })
    }

    /// The files that differ from `old`: new content under the same key, or a key `old` did
    /// not have or had with another path.
    pub fn changed(&self, old: &SecretDigests) -> Vec<&SecretFile> {
        self.files
            .iter()
            .filter(|f| !old.files.contains(f))
            .collect()
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn world_readable_password_is_refused_without_showing_it() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("pw");
        std::fs::write(&p, "s3cr3t-value\n").unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
        let err = read_password(&p).unwrap_err().to_string();
        assert!(err.contains("readable by every user"), "{err}");
        assert!(err.contains("chmod 600"), "{err}");
        assert!(!err.contains("s3cr3t"), "{err}");

        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(read_password(&p).unwrap(), "s3cr3t-value");
    }

    #[test]
    fn missing_and_empty_files_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("absent");
        let err = read_password(&p).unwrap_err().to_string();
        assert!(
            err.contains("password_file") && err.contains("absent"),
            "{err}"
        );
        let e = dir.path().join("empty");
        std::fs::write(&e, "\n").unwrap();
        std::fs::set_permissions(&e, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert!(read_password(&e).unwrap_err().to_string().contains("empty"));
    }

    #[test]
    fn a_rewritten_file_under_the_same_path_is_a_change() {
        let dir = tempfile::tempdir().unwrap();
        let (pw, ca) = (dir.path().join("pw"), dir.path().join("ca.pem"));
        std::fs::write(&pw, "first\n").unwrap();
        std::fs::write(&ca, "ca one").unwrap();
        let cfg = MqttConfig {
            password_file: Some(pw.clone()),
            ca_file: Some(ca.clone()),
            ..MqttConfig::default()
        };
        let old = SecretDigests::read(&cfg).unwrap();
        assert!(SecretDigests::read(&cfg).unwrap().changed(&old).is_empty());
        std::fs::write(&ca, "ca two").unwrap();
        let new = SecretDigests::read(&cfg).unwrap();
        let keys: Vec<_> = new.changed(&old).iter().map(|f| f.key).collect();
        assert_eq!(keys, vec!["ca_file"]);
        assert!(!format!("{new:?}").contains("ca two"));

        std::fs::remove_file(&pw).unwrap();
        let err = SecretDigests::read(&cfg).unwrap_err().to_string();
        assert!(err.contains("password_file") && err.contains("pw"), "{err}");
    }
}
