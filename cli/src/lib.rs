//! The `sigmata` command line. `main` only calls [`run`]; each subcommand
//! is a module under `cmd`, input readers and printers are separate from
//! matching, and the engine crate does all the matching.

pub mod args;
mod cmd;
mod corr_out;
mod eval;
pub mod explain;
mod explain_corr;
pub mod input;
mod output;
pub mod pipeline;
pub mod profile;
pub mod rules;
mod serve;
pub mod signature;

use std::process::ExitCode;

use clap::Parser;

/// Why a command could not do its job; maps to exit status 2.
#[derive(Debug)]
pub struct Failure {
    message: String,
}

impl Failure {
    /// A usage error (bad flag value, missing file).
    pub fn usage(message: impl Into<String>) -> Failure {
        Failure { message: message.into() }
    }

    /// An I/O error.
    pub fn io(message: impl Into<String>) -> Failure {
        Failure { message: message.into() }
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// Exit status of a command that ran to the end: `Yes` (0: matched, loaded,
/// passed) or `No` (1: nothing matched, something refused, a test failed).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Exit 0.
    Yes,
    /// Exit 1.
    No,
}

/// Runs the command line and returns the process exit code.
pub fn run() -> ExitCode {
    let cli = args::Cli::parse();
    let result = match cli.command {
        args::Command::Scan(a) => cmd::scan::run(&a),
        args::Command::Check(a) => cmd::check::run(&a),
        args::Command::Test(a) => cmd::test::run(&a),
        args::Command::Explain(a) => cmd::explain::run(&a),
        args::Command::Compile(a) => cmd::compile::run(&a),
        args::Command::Debug(a) => cmd::debug::run(&a),
        args::Command::Serve(a) => serve::run(a),
        args::Command::Nats(c) => cmd::nats::run(&c),
    };
    match result {
        Ok(Outcome::Yes) => ExitCode::SUCCESS,
        Ok(Outcome::No) => ExitCode::from(1),
        Err(f) => {
            // A closed stdout (`sigmata scan | head`) is not an error to report.
            if !f.message.contains("Broken pipe") {
                eprintln!("sigmata: error: {f}");
            }
            ExitCode::from(2)
        }
    }
}
