//! The `covenant` subcommands' logic. `main.rs` parses arguments and calls these; each writes to the
//! writer it is given so tests can capture the output.

pub mod config_check;
pub mod init;
pub mod rules;
pub mod testnet;
