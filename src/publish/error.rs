//! Errors of the publish stage. None of them carries a secret: files are named, their
//! contents never.

use std::path::PathBuf;

/// What can go wrong setting up or running the publisher.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    /// `[mqtt] url` is not usable.
    #[error("[mqtt] url \"{url}\": {reason}")]
    BadUrl {
        /// The url as configured.
        url: String,
        /// What is wrong.
        reason: String,
    },
    /// A secret or certificate file cannot be read.
    #[error("[mqtt] {key} = {path}: cannot read it: {source}")]
    ReadFile {
        /// Config key.
        key: &'static str,
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A secret file other users could read.
    #[error(
        "[mqtt] {key} = {path} is readable by every user (mode {mode:o}); run `chmod 600 {path}` \
         (or 640 with a dedicated group)"
    )]
    WorldReadable {
        /// Config key.
        key: &'static str,
        /// The file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// A PEM file has no usable content.
    #[error("[mqtt] {key} = {path}: {reason}")]
    BadPem {
        /// Config key.
        key: &'static str,
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// Settings that only make sense together.
    #[error("[mqtt] {0}")]
    Inconsistent(String),
    /// rustls refused the TLS settings.
    #[error("[mqtt] TLS setup: {0}")]
    Tls(#[from] rustls::Error),
    /// The outbox could not be read or updated.
    #[error("publish: {0}")]
    Store(#[from] crate::store::StoreError),
    /// The Sparkplug `bdSeq` file could not be read or written.
    #[error("[sparkplug] bdSeq file: {0}")]
    BdSeq(std::io::Error),
}
