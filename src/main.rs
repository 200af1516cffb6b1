//! The `chocoline` binary: everything lives in the library; see [`chocoline::cli`].

fn main() -> std::process::ExitCode {
    chocoline::cli::main()
}
