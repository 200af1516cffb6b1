//! Typed errors of bundle signing, checking and installing.

use std::path::PathBuf;

use crate::infer::error::InferError;

/// Why a bundle was refused or an install did not complete. Whatever the error, the model
/// that served before keeps serving.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FleetError {
    /// A file could not be read or written.
    #[error("{path}: {reason}")]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The system's message.
        reason: String,
    },
    /// The bytes do not start with the bundle magic: not a chocoline bundle.
    #[error("not a chocoline model bundle (the file does not start with {magic:?})")]
    BadMagic {
        /// The expected magic.
        magic: &'static str,
    },
    /// The bundle is shorter than its own header says: cut off in transfer.
    #[error("bundle truncated: its header announces {expected} bytes, {got} arrived")]
    Truncated {
        /// Length the header announces (including the signature).
        expected: u64,
        /// Length received.
        got: u64,
    },
    /// The bundle is longer than its header says, or larger than any model bundle may be.
    #[error("bundle has the wrong length: {reason}")]
    Length {
        /// What is wrong.
        reason: String,
    },
    /// The bundle's header is not what this build reads.
    #[error("bundle header: {reason}")]
    Header {
        /// What is wrong.
        reason: String,
    },
    /// No `[fleet] trusted_keys` configured: this agent accepts no bundle.
    #[error("no [fleet] trusted_keys are configured, so no bundle can be trusted")]
    NoTrustedKeys,
    /// The bundle names a signing key that is not trusted.
    #[error("bundle is signed by key {key}, which is not in [fleet] trusted_keys")]
    UntrustedKey {
        /// The key the bundle names (hex).
        key: String,
    },
    /// The signature does not verify: the content was changed after signing, or the
    /// signature was not made with the key the bundle names.
    #[error("bundle signature does not verify with key {key}: content altered or wrongly signed")]
    BadSignature {
        /// The key (hex).
        key: String,
    },
    /// A key file or key string could not be used.
    #[error("key {what}: {reason}")]
    Key {
        /// Which key (file or config entry).
        what: String,
        /// What is wrong.
        reason: String,
    },
    /// A file of the bundle does not match its recorded digest.
    #[error("bundle file {file:?}: sha256 does not match the header")]
    Digest {
        /// The file.
        file: String,
    },
    /// The bundle is for a model this agent does not serve.
    #[error("bundle is for model {model:?}, which is not in [models] enabled ({enabled})")]
    ModelNotEnabled {
        /// The bundle's model.
        model: String,
        /// The configured names.
        enabled: String,
    },
    /// The bundle's version is not newer than the installed one.
    #[error(
        "model {model:?}: bundle version {offered} is older than the installed version \
         {installed} (downgrades need --allow-downgrade or [fleet] allow_downgrade = true)"
    )]
    Downgrade {
        /// Model.
        model: String,
        /// Installed bundle version.
        installed: u64,
        /// Offered bundle version.
        offered: u64,
    },
    /// The same version is installed already (a retained bundle seen again): nothing to do.
    #[error("model {model:?} version {version} is already installed; nothing changed")]
    AlreadyInstalled {
        /// Model.
        model: String,
        /// Bundle version.
        version: u64,
    },
    /// This version was rolled back by the agent's health window before.
    #[error(
        "model {model:?} version {version} was rolled back on this line before; ship the fixed \
         model under a new version"
    )]
    RolledBack {
        /// Model.
        model: String,
        /// Bundle version.
        version: u64,
    },
    /// The model folder inside the bundle does not load or fails its golden rows.
    #[error("model {model:?} version {version} refused: {source}")]
    Model {
        /// Model.
        model: String,
        /// Bundle version.
        version: u64,
        /// Why the registry's checks refused it.
        source: InferError,
    },
    /// No earlier version to return to.
    #[error("model {model:?}: no previous installed version to roll back to")]
    NoPrevious {
        /// Model.
        model: String,
    },
    /// `[models] installed_dir` is not set.
    #[error("[models] installed_dir is not set: there is nowhere to install bundles")]
    NoInstalledDir,
    /// Another install holds the lock.
    #[error("{path}: another install or rollback is running")]
    Busy {
        /// The lock file.
        path: PathBuf,
    },
}

impl FleetError {
    /// A short machine-readable kind, for logs and result messages.
    pub fn kind(&self) -> &'static str {
        match self {
            FleetError::Io { .. } => "io",
            FleetError::BadMagic { .. } => "bad_magic",
            FleetError::Truncated { .. } => "truncated",
            FleetError::Length { .. } => "length",
            FleetError::Header { .. } => "header",
            FleetError::NoTrustedKeys => "no_trusted_keys",
            FleetError::UntrustedKey { .. } => "untrusted_key",
            FleetError::BadSignature { .. } => "bad_signature",
            FleetError::Key { .. } => "key",
            FleetError::Digest { .. } => "digest",
            FleetError::ModelNotEnabled { .. } => "model_not_enabled",
            FleetError::Downgrade { .. } => "downgrade",
            FleetError::AlreadyInstalled { .. } => "already_installed",
            FleetError::RolledBack { .. } => "rolled_back_before",
            FleetError::Model { .. } => "model_refused",
            FleetError::NoPrevious { .. } => "no_previous",
            FleetError::NoInstalledDir => "no_installed_dir",
            FleetError::Busy { .. } => "busy",
        }
    }

    /// An I/O error at `path`.
    pub(crate) fn io(path: impl Into<PathBuf>, e: impl std::fmt::Display) -> Self {
        FleetError::Io {
            path: path.into(),
            reason: e.to_string(),
        }
    }
}
