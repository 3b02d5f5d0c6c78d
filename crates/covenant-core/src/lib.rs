//! # covenant-core
//!
//! The node core: everything a validator decides, as a state machine without IO. It owns the
//! consensus engine, the mempool and admission, the execution of proposals and decided blocks, the
//! commit plan, block-sync decisions and the accounting of peers; it takes [`Input`]s (bytes from a
//! peer with the peer that delivered them, client transactions, ticks, verification results) with
//! the current time, and returns [`Action`]s (send, publish, answer, verify, penalise a peer).
//!
//! It reads and writes the chain through any [`covenant_storage::ChainStore`] (RocksDB in the node,
//! the in-memory store in the simulator) and reads no clock: time comes with each input. The node's
//! shell (tokio, libp2p, RocksDB, HTTP) moves bytes and runs what the actions ask; the simulator
//! drives the same core, so what is simulated is what runs (ADR 0014).

pub mod admission;
pub mod anchor;
pub mod audit_check;
pub mod core;
pub mod error;
pub mod executor;
pub mod io;
pub mod mempool;
pub mod peers;
pub mod rate;
pub mod retention;
pub mod state;
pub mod sync;
pub mod telemetry;
pub mod view;

#[cfg(feature = "test-mutations")]
pub use crate::core::Mutation;
pub use crate::core::{CoreConfig, NodeCore};
pub use audit_check::{AuditCheck, AuditFailure, AuditVerifier, BlockAnchor};
pub use error::CoreError;
pub use io::{
    Action, BatchId, ClientTx, GetBlocks, GossipId, GossipVerdict, Input, PeerKey, RequestId, ServeId, SyncFailure,
    Ticket, Topic,
};
pub use mempool::{AdmissionError, Mempool};
pub use state::{StoreState, scan_table};
pub use telemetry::{Counter, Counts, NoTelemetry, Stage, Telemetry, Timing};
pub use view::{CoreView, MempoolRead, NodeStatus};
