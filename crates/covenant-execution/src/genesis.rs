//! The state at height 0, written from a validated genesis, and the genesis block that commits it.

use std::collections::BTreeMap;

use covenant_rules::{Environment, Genesis};
use covenant_types::{
    Block, BlockHeader, ENCODING_VERSION, Hash, MemberId, MemberStatus, NodeId, OperatorId, merkle_root,
};

use crate::root::next_state_root;
use crate::state::{ChainInfo, MemberState, NodeState, OperatorState, Overlay, StateKey};

/// The genesis block and the state writes it commits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GenesisOutcome {
    /// Block at height 0: no transactions, no seals, the genesis time as timestamp.
    pub block: Block,
    /// Every state entry of height 0, sorted by key.
    pub writes: BTreeMap<Vec<u8>, Option<Vec<u8>>>,
}

/// Builds the height-0 state and block from `genesis`. Every node computes the same bytes, so every
/// node's genesis block hash is the same; a node whose store holds another genesis refuses to start.
pub fn genesis_outcome(genesis: &Genesis) -> GenesisOutcome {
    let empty = BTreeMap::<Vec<u8>, Vec<u8>>::new();
    let mut overlay = Overlay::new(&empty);
    overlay.put(
        &StateKey::Chain,
        &ChainInfo {
            chain_id: genesis.chain_id().clone(),
            test_environment: genesis.environment() == Environment::Test,
        },
    );
    overlay.put(&StateKey::Params, genesis.parameters());
    overlay.put(&StateKey::Validators, genesis.validator_set());
    overlay.put(&StateKey::Sanctioned, &genesis.sanctioned_jurisdictions().to_vec());
    overlay.put(&StateKey::Thresholds, genesis.thresholds());
    let member_ids: Vec<MemberId> = genesis.members().iter().map(|member| member.id.clone()).collect();
    overlay.put(&StateKey::MemberIndex, &member_ids);
    let node_ids: Vec<NodeId> = genesis.nodes().iter().map(|node| node.id.clone()).collect();
    overlay.put(&StateKey::NodeIndex, &node_ids);
    let operator_ids: Vec<OperatorId> = genesis.operators().iter().map(|operator| operator.id.clone()).collect();
    overlay.put(&StateKey::OperatorIndex, &operator_ids);
    for member in genesis.members() {
        let state = MemberState {
            name: member.name.clone(),
            jurisdiction: member.jurisdiction.clone(),
            status: MemberStatus::Active,
        };
        overlay.put(&StateKey::Member(member.id.clone()), &state);
    }
    for operator in genesis.operators() {
        overlay
            .put(&StateKey::Operator(operator.id.clone()), &OperatorState { record: operator.clone(), revoked: false });
        overlay.put(&StateKey::Person(operator.member.clone(), operator.person.clone()), &operator.id);
        overlay.put(&StateKey::KeyOwner(operator.key), &format!("operator {}", operator.id));
    }
    for node in genesis.nodes() {
        overlay.put(&StateKey::Node(node.id.clone()), &NodeState { record: node.clone(), removed: false });
        overlay.put(&StateKey::KeyOwner(node.network_key), &format!("node {} (network)", node.id));
        overlay.put(&StateKey::KeyOwner(node.consensus_key), &format!("node {} (consensus)", node.id));
    }
    for account in genesis.accounts() {
        for (asset, amount) in &account.balances {
            overlay.put(&StateKey::Balance(account.id.clone(), asset.clone()), amount);
        }
    }
    for schema in genesis.schemas() {
        overlay.put(&StateKey::Schema(schema.id.clone()), &schema.definition);
    }
    overlay.commit_tx();
    let writes = overlay.into_writes();
    let state_root = next_state_root(&Hash::ZERO, 0, &writes, &[]);
    let validators = genesis.validator_set();
    let header = BlockHeader {
        version: ENCODING_VERSION,
        chain_id: genesis.chain_id().clone(),
        height: 0,
        round: 0,
        parent_hash: Hash::ZERO,
        timestamp_ms: genesis.genesis_time_ms(),
        proposer: validators.proposer(0, 0).id.clone(),
        transactions_root: merkle_root(&[]),
        state_root,
        validator_set_hash: validators.hash(),
        parameters_hash: genesis.parameters().hash(),
        parent_commit_seals: Vec::new(),
    };
    GenesisOutcome { block: Block { header, transactions: Vec::new().into() }, writes }
}
