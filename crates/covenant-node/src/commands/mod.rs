//! The `covenant` subcommands' logic. `main.rs` parses arguments and calls these; each writes to the
//! writer it is given so tests can capture the output.

pub mod audit;
pub mod audit_remote;
pub mod backup;
pub mod bench;
pub mod config_check;
pub mod contract;
pub mod gov;
pub mod init;
pub mod inventory;
pub mod keys;
pub mod query;
pub mod report;
pub mod rules;
pub mod testnet;
pub mod tx;

/// How a command that talks to a node ended, apart from errors (which exit with code 2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Done as asked (exit code 0).
    Success,
    /// The node answered, and the answer was a refusal, a rejection or an error (exit code 1).
    Failure,
}

impl From<Outcome> for std::process::ExitCode {
    fn from(outcome: Outcome) -> std::process::ExitCode {
        match outcome {
            Outcome::Success => std::process::ExitCode::SUCCESS,
            Outcome::Failure => std::process::ExitCode::FAILURE,
        }
    }
}
