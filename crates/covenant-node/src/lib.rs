//! # covenant-node
//!
//! The running node and the `covenant` command-line tool: node configuration ([`config`]), key files
//! ([`keyfile`]), the mempool ([`mempool`]), the event loop driving consensus, execution, storage and
//! the network ([`runtime`]), node start-up and shutdown ([`node`]), the HTTP API ([`api`]), and the
//! subcommands ([`commands`]).

pub mod access;
pub mod api;
pub mod auth;
pub mod commands;
pub mod config;
pub mod keyfile;
pub mod logging;
pub mod mempool;
pub mod metrics;
pub mod node;
pub mod runtime;
