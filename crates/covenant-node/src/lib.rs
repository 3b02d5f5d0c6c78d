//! # covenant-node
//!
//! The running node and the `covenant` command-line tool: node configuration ([`config`]), key files
//! ([`keyfile`]), the shell around the node core (`covenant-core`) that drives it with the network,
//! RocksDB and the clock ([`runtime`]), node start-up and shutdown ([`node`]), the HTTP API ([`api`]), and the
//! subcommands ([`commands`]).

pub mod access;
pub mod api;
pub mod api_bodies;
pub mod auth;
pub mod commands;
pub mod config;
pub mod http_edge;
pub mod keyfile;
pub mod logging;
pub mod metrics;
pub mod node;
pub mod ops;
pub mod runtime;
pub mod tls;
