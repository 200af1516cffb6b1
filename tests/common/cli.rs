//! The one way the tests run the `chocoline` binary: with no `CHOCOLINE__*` override and no
//! `RUST_LOG` inherited from the developer's environment, so a test's result never depends on
//! the shell it was started from.

use std::process::{Command, Output};

/// A `chocoline` command with a clean environment (see the module docs).
pub fn chocoline() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_chocoline"));
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy()
            .to_uppercase()
            .starts_with("CHOCOLINE__")
        {
            cmd.env_remove(k);
        }
    }
    cmd.env_remove("RUST_LOG");
    cmd
}

/// Run `chocoline ARGS` to completion.
pub fn run(args: &[&str]) -> Output {
    chocoline()
        .args(args)
        .output()
        .expect("the chocoline binary runs")
}

/// A process's stderr as text.
pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}
