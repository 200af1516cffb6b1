//! Reading secret files (password, private key) safely: refuse one that every user can read,
//! and never put the content in an error or a log line.
//!
//! Decision: the password comes only from `[mqtt] password_file` (no environment variable):
//! environment variables leak through `/proc/<pid>/environ`, crash reports and child
//! processes, while a 0600 file (or systemd `LoadCredential=`) has one clear owner.

use std::path::Path;

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
}
