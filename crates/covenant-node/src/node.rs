//! Starting a node from its config: keys, genesis, store (initialised from genesis on first start,
//! checked against it afterwards), network, consensus engine, HTTP API; and stopping it cleanly.

use std::sync::Arc;

use anyhow::{Context, Result, bail};
use tokio::sync::watch;
use tracing::{info, warn};

use covenant_consensus::{Ed25519Crypto, Engine};
use covenant_execution::{MemberState, NodeState, StateKey, StateReader, genesis_outcome};
use covenant_network::{Network, NetworkConfig, peer_id_of, tcp_multiaddr, with_peer_id};
use covenant_rules::Genesis;
use covenant_storage::audit::{Actor, AuditRecord, EventType, Outcome};
use covenant_storage::{AuditLog, ChainStore, CommitBatch, RocksStore};
use covenant_types::{MemberStatus, NodeRecord, SecretKey};

use crate::config::{Host, NodeConfig, read_config_file};
use crate::keyfile::load_node_keys;
use crate::runtime::chain::{StoreState, now_ms};
use crate::runtime::{Runtime, RuntimeParts, report_fatal};
use covenant_core::CoreConfig;

/// Reads and validates the genesis file named by the config.
pub fn load_genesis(config: &NodeConfig) -> Result<Genesis> {
    let text = read_config_file(&config.genesis_file)
        .map_err(|reason| anyhow::anyhow!("genesis file {}: {reason}", config.genesis_file.display()))?;
    Genesis::from_toml_str(&text)
        .map_err(|errors| anyhow::anyhow!("genesis file {}: {errors}", config.genesis_file.display()))
}

/// Opens the store and makes sure it holds this genesis: commits the genesis block on first start,
/// refuses a store that belongs to another chain or another genesis.
pub fn open_store(config: &NodeConfig, genesis: &Genesis) -> Result<RocksStore> {
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("creating data directory {}", config.data_dir.display()))?;
    let store = RocksStore::open(config.data_dir.join("db"))
        .with_context(|| format!("opening the store in {}", config.data_dir.display()))?;
    let outcome = genesis_outcome(genesis);
    match store.block_by_height(0)? {
        None => {
            let mut batch = CommitBatch::new(outcome.block.clone(), Vec::new());
            batch.state_writes = outcome.writes;
            batch.audit.push(
                AuditRecord::new(
                    now_ms(),
                    config.node_id.clone(),
                    EventType::BlockCommitted,
                    Actor::System,
                    Outcome::Success,
                )
                .with_detail("height", "0")
                .with_detail("genesis_hash", outcome.block.hash().to_hex()),
            );
            store.commit_block(batch).context("committing the genesis block")?;
            info!(hash = %outcome.block.hash(), "store initialised from genesis");
        }
        Some(stored) if stored.hash() == outcome.block.hash() => {}
        Some(stored) => bail!(
            "the store in {} holds genesis block {} but {} describes genesis block {}: refusing to mix chains",
            config.data_dir.display(),
            stored.hash(),
            config.genesis_file.display(),
            outcome.block.hash()
        ),
    }
    Ok(store)
}

/// What a task started beside the node ([`run_test_build`]) gets: the node's own network handle and
/// identity. Production nodes start none; the test-only Byzantine build (`covenant-byzantine`, ADR
/// 0015) starts its attacks this way.
pub struct Beside {
    /// The node's network (the same libp2p identity and connections).
    pub network: covenant_network::NetworkHandle,
    /// The node's consensus key.
    pub consensus_key: SecretKey,
    /// Its id.
    pub node_id: covenant_types::NodeId,
    /// The chain.
    pub chain_id: covenant_types::ChainId,
    /// Its store, read-only use (heights, blocks).
    pub store: Arc<RocksStore>,
}

/// A task to run beside the node; it is aborted when the node stops.
pub type BesideTask = Box<dyn FnOnce(Beside) -> tokio::task::JoinHandle<()> + Send>;

/// What the test build (`covenant-byzantine`) changes in a node; the `covenant` binary uses the default.
pub struct TestBuild {
    /// A task started beside the node once the network runs.
    pub beside: Option<BesideTask>,
    /// Withhold proposals while the clock is out of the drift bound (COV-35); the test build may turn it
    /// off so that only the other validators' check keeps such proposals out.
    pub withhold_proposals_out_of_drift: bool,
}

impl Default for TestBuild {
    fn default() -> TestBuild {
        TestBuild { beside: None, withhold_proposals_out_of_drift: true }
    }
}

/// Runs the node until SIGINT/SIGTERM or a fatal error.
pub async fn run_node(config: NodeConfig) -> Result<()> {
    run_test_build(config, TestBuild::default()).await
}

/// [`run_node`] as the test build changes it.
pub async fn run_test_build(config: NodeConfig, test_build: TestBuild) -> Result<()> {
    let TestBuild { beside, withhold_proposals_out_of_drift } = test_build;
    let genesis = load_genesis(&config)?;
    // Article 41: plaintext keys only on a test chain whose config allows them; encrypted keys are
    // opened with the passphrase from key_passphrase_file or COVENANT_KEY_PASSPHRASE.
    let keys = load_node_keys(&config, genesis.environment())?;
    let key_formats = format!("consensus {:?}, network {:?}", keys.consensus.format, keys.network.format);
    let (consensus_key, network_key) = (keys.consensus, keys.network);
    if let Some(me) = genesis.node(&config.node_id) {
        check_keys_match(&config, me, &consensus_key.key, &network_key.key, "genesis")?;
    }

    let store = Arc::new(open_store(&config, &genesis)?);
    // The chain's record of this node: genesis, or a later `add-node` proposal this store has seen.
    match StoreState(&*store).get::<NodeState>(&StateKey::Node(config.node_id.clone()))? {
        Some(me) => {
            check_keys_match(&config, &me.record, &consensus_key.key, &network_key.key, "the chain")?;
            check_may_run(&store, &config, &me)?;
        }
        None => warn!(
            node = %config.node_id,
            "this node is not registered in genesis nor in the blocks this store holds: it runs as a joining \
             node, and peers refuse it (COV-20) until an add-node proposal registering its keys has executed"
        ),
    }
    store.append(
        AuditRecord::new(now_ms(), config.node_id.clone(), EventType::ConfigLoaded, Actor::System, Outcome::Success)
            .with_detail("config", config.file.display().to_string()),
    )?;
    let tip = store.latest()?.context("the store has no blocks after genesis initialisation")?;

    let safety = Runtime::load_safety(&store)?;
    if let Some(safety) = &safety
        && safety.height > tip.height + 1
    {
        bail!(
            "consensus safety state is for height {} but the store ends at {}: the store lost committed blocks; restore it from a backup",
            safety.height,
            tip.height
        );
    }

    let listen = tcp_multiaddr(resolve(&config.listen_addr)?);
    let mut network_config = NetworkConfig::new(network_key.key.seed(), network_id(&genesis), listen);
    network_config.allowed = genesis.nodes().iter().map(|node| node.network_key).collect();
    for peer in &config.bootstrap_peers {
        let registered = StoreState(&*store).get::<NodeState>(&StateKey::Node(peer.node.clone()))?;
        let Some(network_key) = registered.map(|node| node.record.network_key) else {
            bail!("bootstrap peer {} is not a node registered on chain (genesis or later blocks)", peer.node);
        };
        let address = tcp_multiaddr(resolve(&peer.address)?);
        network_config.bootstrap.push(with_peer_id(&address, peer_id_of(&network_key)?));
    }
    let (network, events) = Network::spawn(network_config).await.context("starting the network")?;

    // The consensus key also signs this node's audit anchors (the only transaction a node signs).
    let anchor_key = SecretKey::from_seed(&consensus_key.key.seed());
    let anchor_public = anchor_key.public_key();
    let beside_key = beside.as_ref().map(|_| SecretKey::from_seed(&consensus_key.key.seed()));
    let engine = Engine::new(
        genesis.chain_id().clone(),
        config.node_id.clone(),
        Box::new(Ed25519Crypto::new(consensus_key.key)),
        safety,
    );
    let (runtime, shared) = Runtime::new(RuntimeParts {
        config: CoreConfig {
            chain_id: genesis.chain_id().clone(),
            node_id: config.node_id.clone(),
            anchor_key: Some(anchor_key),
            withhold_proposals_out_of_drift,
            member_tx_limits: config.member_tx_limits,
        },
        store: store.clone(),
        engine,
        network: network.clone(),
        events,
        metrics: Arc::new(crate::metrics::Metrics::new()),
    })?;

    let api_tls = crate::tls::api_acceptor(&config, genesis.environment()).map_err(|error| anyhow::anyhow!(error))?;
    let api_address = resolve(&config.api_addr)?;
    let listener = tokio::net::TcpListener::bind(api_address)
        .await
        .with_context(|| format!("binding the API on {api_address}"))?;
    let ops = match &config.ops_addr {
        Some(address) => {
            let address = resolve(address)?;
            let token = config
                .ops_token_file
                .as_deref()
                .map(crate::ops::OpsToken::load)
                .transpose()
                .map_err(|error| anyhow::anyhow!("ops_token_file {error}"))?;
            if token.is_none() {
                warn!("no ops_token_file in the node config: administrative actions (backups) are off");
            }
            let listener = tokio::net::TcpListener::bind(address)
                .await
                .with_context(|| format!("binding the operations listener on {address}"))?;
            Some((listener, token, address))
        }
        None => {
            warn!("no ops_addr in the node config: no metrics, readiness or administrative actions");
            None
        }
    };
    let ops_shown = ops.as_ref().map(|(_, _, address)| address.to_string()).unwrap_or_else(|| "none".into());
    let api_shown = format!("{}://{api_address}", if api_tls.is_some() { "https" } else { "http" });
    info!(node = %config.node_id, chain = %genesis.chain_id(), height = tip.height, api = %api_shown, ops = %ops_shown, "node started");
    // Article 41: which keys the node runs with, and how they were kept.
    store.append(
        AuditRecord::new(now_ms(), config.node_id.clone(), EventType::NodeStarted, Actor::System, Outcome::Success)
            .with_detail("consensus_key", anchor_public.to_hex())
            .with_detail("key_files", key_formats.clone()),
    )?;

    let beside = beside.zip(beside_key).map(|(start, consensus_key)| {
        start(Beside {
            network: network.clone(),
            consensus_key,
            node_id: config.node_id.clone(),
            chain_id: genesis.chain_id().clone(),
            store: store.clone(),
        })
    });
    let (stop, stopped) = watch::channel(false);
    let api = tokio::spawn(crate::api::serve(
        listener,
        shared.clone(),
        config.api_hosts.clone(),
        api_tls.clone(),
        stopped.clone(),
    ));
    let audit_watch = tokio::spawn(crate::runtime::audit_watch::run(shared.clone(), stopped.clone()));
    let ops = ops.map(|(listener, token, _)| {
        let tls = api_tls.clone();
        tokio::spawn(crate::ops::serve(listener, shared.clone(), token, config.api_hosts.clone(), tls, stopped.clone()))
    });
    let signals = tokio::spawn(async move {
        wait_for_signal().await;
        let _ = stop.send(true);
    });
    let retention = tokio::spawn(crate::runtime::retention::run(
        store.clone(),
        config.node_id.clone(),
        config.audit_retention_days,
    ));
    let result = runtime.run(stopped).await;
    if let Err(error) = &result {
        report_fatal(error);
    }
    signals.abort();
    retention.abort();
    api.abort();
    audit_watch.abort();
    if let Some(ops) = ops {
        ops.abort();
    }
    if let Some(beside) = beside {
        beside.abort();
    }
    network.shutdown().await;
    let outcome = if result.is_ok() { Outcome::Success } else { Outcome::Failure };
    store.append(AuditRecord::new(now_ms(), config.node_id.clone(), EventType::NodeStopped, Actor::System, outcome))?;
    info!("node stopped");
    result
}

/// The network id of a chain: its chain id and its environment, `<chain id>.<environment>`. Every
/// gossip topic and the sync protocol carry it, and a peer that does not speak them is refused right
/// after the handshake (COV-19), so a test node cannot join a production chain even with a network
/// key registered on both.
pub fn network_id(genesis: &Genesis) -> String {
    format!("{}.{}", genesis.chain_id(), genesis.environment())
}

/// The key files must hold the keys `source` registered for this node.
fn check_keys_match(
    config: &NodeConfig,
    record: &NodeRecord,
    consensus_key: &SecretKey,
    network_key: &SecretKey,
    source: &str,
) -> Result<()> {
    if consensus_key.public_key() != record.consensus_key {
        bail!(
            "consensus key file {} does not match the consensus key {source} registers for {}",
            config.consensus_key_file.display(),
            config.node_id
        );
    }
    if network_key.public_key() != record.network_key {
        bail!(
            "network key file {} does not match the network key {source} registers for {}",
            config.network_key_file.display(),
            config.node_id
        );
    }
    Ok(())
}

/// A removed node, or a node of a member that is suspended (by vote, or because its jurisdiction was
/// sanctioned) or removed, does not start (COV-06, COV-17).
fn check_may_run(store: &RocksStore, config: &NodeConfig, me: &NodeState) -> Result<()> {
    if me.removed {
        bail!("node {} was removed from the chain by governance; it may not run", config.node_id);
    }
    let member = StoreState(store).get::<MemberState>(&StateKey::Member(me.record.member.clone()))?;
    match member {
        Some(member) if member.status == MemberStatus::Active => Ok(()),
        Some(member) => bail!(
            "member {} of node {} is {:?} (jurisdiction {}): its nodes may not run (COV-06, COV-17)",
            me.record.member,
            config.node_id,
            member.status,
            member.jurisdiction
        ),
        None => bail!("member {} of node {} is not on chain", me.record.member, config.node_id),
    }
}

fn resolve(address: &crate::config::HostPort) -> Result<std::net::SocketAddr> {
    match &address.host {
        Host::Ip(ip) => Ok(std::net::SocketAddr::new(*ip, address.port)),
        Host::Name(name) => {
            use std::net::ToSocketAddrs;
            (name.as_str(), address.port)
                .to_socket_addrs()
                .with_context(|| format!("resolving {address}"))?
                .next()
                .with_context(|| format!("{address} resolves to no address"))
        }
    }
}

async fn wait_for_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    match (signal(SignalKind::interrupt()), signal(SignalKind::terminate())) {
        (Ok(mut interrupt), Ok(mut terminate)) => {
            tokio::select! {
                _ = interrupt.recv() => {}
                _ = terminate.recv() => {}
            }
        }
        _ => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE_GENESIS: &str = include_str!("../../../node-config/genesis.toml");

    /// The same chain id in two environments gives two networks, whose protocols do not meet.
    // covers: COV-19-ENVIRONMENT-SEPARATION
    #[test]
    fn the_network_id_carries_the_chain_id_and_the_environment() {
        let test = Genesis::from_toml_str(EXAMPLE_GENESIS).unwrap_or_else(|errors| panic!("{errors}"));
        assert_eq!(network_id(&test), "covenant-example-test.test");
        let production = EXAMPLE_GENESIS.replace("environment = \"test\"", "environment = \"production\"");
        let production = Genesis::from_toml_str(&production).unwrap_or_else(|errors| panic!("{errors}"));
        assert_eq!(network_id(&production), "covenant-example-test.production");
        assert_ne!(
            covenant_network::topic_names(&network_id(&test)).consensus,
            covenant_network::topic_names(&network_id(&production)).consensus
        );
    }
}
