//! The `sigmata` binary: everything happens in [`sigmata_cli::run`].

fn main() -> std::process::ExitCode {
    sigmata_cli::run()
}
