//! `chocoline model keygen | bundle | install | rollback`: signed model bundles (docs/fleet.md).
//!
//! The data scientist runs `keygen` once and `bundle` per release, on their own machine; the
//! technician (or, later, the fleet channel) runs `install` on the line controller. `install`
//! and `rollback` read the same configuration file as `run`, so the trusted keys, the models
//! directory and the enabled models are the agent's own. A running agent picks the new version
//! up on its next model poll (`[models] watch`) or on `systemctl reload chocoline`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use crate::config::{self, Plan};
use crate::fleet::FleetError;
use crate::fleet::bundle;
use crate::fleet::install::{self, Installer};
use crate::fleet::keys::{SigningKey, parse_trusted};

use super::{EXIT_BAD_INPUT, EXIT_FAILURE};

/// The bundle subcommands of `model`.
#[derive(Debug, clap::Subcommand)]
pub enum FleetCommand {
    /// Create an Ed25519 signing key: PREFIX.pem (private) and PREFIX.pub; prints the public
    /// key for [fleet] trusted_keys.
    Keygen {
        /// Path prefix of the two files.
        #[arg(long)]
        output: PathBuf,
    },
    /// Pack a model folder (manifest.json, ONNX file, golden rows) into one signed bundle.
    Bundle {
        /// The model folder.
        dir: PathBuf,
        /// PKCS#8 PEM Ed25519 private key (`model keygen`, or `openssl genpkey -algorithm
        /// ed25519`).
        #[arg(long)]
        key: PathBuf,
        /// Bundle version: must be higher than what the lines have installed.
        #[arg(long)]
        version: u64,
        /// Output file (default: <model>-v<version>.chocobundle).
        #[arg(long)]
        output: Option<PathBuf>,
    },
    /// Check a signed bundle against [fleet] trusted_keys, prove it (sha256, golden rows) and
    /// make it the serving version under [models] installed_dir.
    Install {
        /// The bundle file.
        file: PathBuf,
        /// The agent's configuration file.
        #[arg(long, short, default_value = super::DEFAULT_CONFIG)]
        config: PathBuf,
        /// Accept a bundle older than the installed version.
        #[arg(long)]
        allow_downgrade: bool,
    },
    /// Serve the previously installed version of a model again.
    Rollback {
        /// The model name.
        name: String,
        /// The agent's configuration file.
        #[arg(long, short, default_value = super::DEFAULT_CONFIG)]
        config: PathBuf,
    },
}

/// Run a bundle subcommand.
pub fn run(cmd: FleetCommand) -> ExitCode {
    match cmd {
        FleetCommand::Keygen { output } => keygen(&output),
        FleetCommand::Bundle {
            dir,
            key,
            version,
            output,
        } => bundle(&dir, &key, version, output),
        FleetCommand::Install {
            file,
            config,
            allow_downgrade,
        } => install(&file, &config, allow_downgrade),
        FleetCommand::Rollback { name, config } => rollback(&name, &config),
    }
}

/// `model keygen`: writes `<prefix>.pem` (private, mode 0600) and `<prefix>.pub`, prints the
/// public key.
pub fn keygen(prefix: &Path) -> ExitCode {
    match write_keys(prefix) {
        Ok(public) => {
            println!("{public}");
            eprintln!(
                "private key {}.pem (keep it off the line controllers); add the line above to \
                 [fleet] trusted_keys",
                prefix.display()
            );
            ExitCode::SUCCESS
        }
        Err(e) => fail("keygen", &e, EXIT_FAILURE),
    }
}

fn write_keys(prefix: &Path) -> Result<String, FleetError> {
    use std::os::unix::fs::OpenOptionsExt;
    let (key, pem) = SigningKey::generate().map_err(|reason| FleetError::Key {
        what: "new key".into(),
        reason,
    })?;
    let private = with_suffix(prefix, "pem");
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&private)
        .map_err(|e| FleetError::io(&private, e))?;
    f.write_all(pem.as_bytes())
        .and_then(|()| f.sync_all())
        .map_err(|e| FleetError::io(&private, e))?;
    let public = key.public().to_string();
    let pubfile = with_suffix(prefix, "pub");
    std::fs::write(&pubfile, format!("{public}\n")).map_err(|e| FleetError::io(&pubfile, e))?;
    Ok(public)
}

fn with_suffix(prefix: &Path, ext: &str) -> PathBuf {
    let mut s = prefix.as_os_str().to_owned();
    s.push(".");
    s.push(ext);
    PathBuf::from(s)
}

/// `model bundle DIR --key KEY --version N [--output FILE]`.
pub fn bundle(dir: &Path, key: &Path, version: u64, output: Option<PathBuf>) -> ExitCode {
    let result = SigningKey::load(key).and_then(|k| {
        let bytes = bundle::pack(dir, &k, version)?;
        let header = bundle::read_header(&bytes)?;
        let out = output
            .unwrap_or_else(|| PathBuf::from(format!("{}-v{version}.chocobundle", header.model)));
        std::fs::write(&out, &bytes).map_err(|e| FleetError::io(&out, e))?;
        Ok((out, header, bytes.len()))
    });
    match result {
        Ok((out, h, len)) => {
            println!(
                "{}: model {} version {} ({} files, {len} bytes), signed by {}",
                out.display(),
                h.model,
                h.version,
                h.files.len(),
                h.key
            );
            ExitCode::SUCCESS
        }
        Err(e) => fail("bundle", &e, EXIT_BAD_INPUT),
    }
}

/// `model install FILE --config CONFIG [--allow-downgrade]`.
pub fn install(file: &Path, config: &Path, allow_downgrade: bool) -> ExitCode {
    let plan = match config::load(config) {
        Ok(p) => p,
        Err(errors) => {
            eprintln!("{errors}");
            return ExitCode::from(EXIT_BAD_INPUT);
        }
    };
    match install_with(&plan, file, allow_downgrade) {
        Ok(done) => {
            let before = done.previous.map_or_else(
                || "the shipped model".to_owned(),
                |v| format!("version {v}"),
            );
            println!(
                "model {} version {} installed (manifest {}, sha256 {}), replacing {before}; a \
                 running agent serves it after its next model poll or `systemctl reload chocoline`",
                done.model, done.version, done.manifest_version, done.sha256
            );
            ExitCode::SUCCESS
        }
        // Installing what is installed is not a failure: nothing to do.
        Err(e @ FleetError::AlreadyInstalled { .. }) => {
            println!("{e}");
            ExitCode::SUCCESS
        }
        Err(e) => fail("install", &e, EXIT_FAILURE),
    }
}

fn install_with(
    plan: &Plan,
    file: &Path,
    allow_downgrade: bool,
) -> Result<install::Installed, FleetError> {
    let c = &plan.config;
    let dir = c
        .models
        .installed_dir
        .as_deref()
        .ok_or(FleetError::NoInstalledDir)?;
    let trusted = parse_trusted(&c.fleet.trusted_keys)?;
    let bytes = std::fs::read(file).map_err(|e| FleetError::io(file, e))?;
    Installer {
        dir,
        trusted: &trusted,
        enabled: &c.models.enabled,
        allow_downgrade: allow_downgrade || c.fleet.allow_downgrade,
        verify_golden: true,
    }
    .install(&bytes)
}

/// `model rollback NAME --config CONFIG`.
pub fn rollback(name: &str, config: &Path) -> ExitCode {
    let plan = match config::load(config) {
        Ok(p) => p,
        Err(errors) => {
            eprintln!("{errors}");
            return ExitCode::from(EXIT_BAD_INPUT);
        }
    };
    let result = plan
        .config
        .models
        .installed_dir
        .as_deref()
        .ok_or(FleetError::NoInstalledDir)
        .and_then(|dir| install::rollback(dir, name, true));
    match result {
        Ok((from, Some(to))) => {
            println!("model {name}: version {to} serves again (was {from})");
            ExitCode::SUCCESS
        }
        Ok((from, None)) => {
            println!("model {name}: the shipped model serves again (was version {from})");
            ExitCode::SUCCESS
        }
        Err(e) => fail("rollback", &e, EXIT_FAILURE),
    }
}

fn fail(cmd: &str, e: &FleetError, code: u8) -> ExitCode {
    eprintln!("chocoline model {cmd}: {e} [{}]", e.kind());
    ExitCode::from(code)
}
