//! The simulated consortium's chain: its members, operators, nodes and accounts, built as a real
//! genesis (validated like any genesis file) from keys fixed per index.

use covenant_rules::genesis::{RawAccount, RawGenesis, RawMember, RawNode, RawOperator, RawThreshold, RawThresholds};
use covenant_rules::{ChainParams, Environment, Genesis};
use covenant_types::{AccountId, ChainId, MemberId, NodeId, NodeRecord, NodeRole, OperatorId, PublicKey, SecretKey};

/// Virtual time at which every simulation starts (a realistic Unix time in milliseconds).
pub const GENESIS_MS: u64 = 1_700_000_000_000;
/// Operator keys last well beyond any run.
const KEY_LIFETIME_MS: u64 = 30 * 86_400_000;
/// Each client account's opening balance.
pub const CLIENT_BALANCE: u64 = 1_000_000_000;
/// The asset every transfer moves.
pub const ASSET: &str = "twd";
/// Clients (each an operator with an account of its own) per member.
pub const CLIENTS_PER_MEMBER: usize = 2;

/// A key fixed by a purpose and an index (the seed varies everything else).
fn key(purpose: u8, index: usize) -> SecretKey {
    let mut seed = [0u8; 32];
    seed[0] = 0xc0;
    seed[1] = purpose;
    seed[2..10].copy_from_slice(&(index as u64).to_le_bytes());
    SecretKey::from_seed(&seed)
}

/// One node's identity: its id, member and keys.
#[derive(Clone, Debug)]
pub struct Identity {
    /// The node id.
    pub node_id: NodeId,
    /// Its member.
    pub member: MemberId,
    /// Its consensus key's seed.
    pub consensus_seed: [u8; 32],
    /// Its network public key (the peer identity), derived once: the simulator compares peer keys on every
    /// event, and deriving one costs a scalar multiplication.
    network_key: PublicKey,
}

impl Identity {
    /// The network public key: how peers and the allowlist name the node.
    pub fn network_key(&self) -> PublicKey {
        self.network_key
    }

    /// The consensus key.
    pub fn consensus_key(&self) -> SecretKey {
        SecretKey::from_seed(&self.consensus_seed)
    }

    /// The node's registration record, as a validator.
    pub fn record(&self) -> NodeRecord {
        NodeRecord {
            id: self.node_id.clone(),
            member: self.member.clone(),
            role: NodeRole::Validator,
            network_key: self.network_key(),
            consensus_key: self.consensus_key().public_key(),
        }
    }
}

/// A client: a submitter operator of a member, with an account of its own.
#[derive(Clone, Debug)]
pub struct ClientIdentity {
    /// The operator.
    pub operator: OperatorId,
    /// Its account.
    pub account: AccountId,
    /// Its key's seed.
    pub key_seed: [u8; 32],
}

/// An admin of a member (two per member, two persons, for the two-person rule).
#[derive(Clone, Debug)]
pub struct AdminIdentity {
    /// The operator.
    pub operator: OperatorId,
    /// Its key's seed.
    pub key_seed: [u8; 32],
}

/// The simulated chain's identities and genesis.
pub struct SimChain {
    /// The chain id.
    pub chain_id: ChainId,
    /// Every node that may run: the genesis validators, then the joiner (registered only by
    /// governance during the run).
    pub nodes: Vec<Identity>,
    /// The clients.
    pub clients: Vec<ClientIdentity>,
    /// Each genesis member's two admins.
    pub admins: Vec<[AdminIdentity; 2]>,
    /// The member the joiner belongs to (admitted by governance).
    pub joiner_member: MemberId,
    /// The genesis.
    pub genesis: Genesis,
}

fn seed_of(key: &SecretKey) -> [u8; 32] {
    *key.seed()
}

impl SimChain {
    /// A chain of `validators` members, one validator each, with `params`.
    pub fn new(validators: usize, params: ChainParams) -> SimChain {
        let chain_id = ChainId::new("covenant-sim").expect("valid chain id");
        let member = |index: usize| MemberId::new(format!("m{index}")).expect("valid id");
        let nodes: Vec<Identity> = (0..=validators)
            .map(|index| {
                let network = key(1, index);
                Identity {
                    node_id: NodeId::new(format!("v{index}")).expect("valid id"),
                    member: member(index),
                    consensus_seed: seed_of(&key(2, index)),
                    network_key: network.public_key(),
                }
            })
            .collect();
        let admins: Vec<[AdminIdentity; 2]> = (0..validators)
            .map(|index| {
                [0, 1].map(|which| AdminIdentity {
                    operator: OperatorId::new(format!("m{index}.admin{which}")).expect("valid id"),
                    key_seed: seed_of(&key(3 + which, index)),
                })
            })
            .collect();
        let clients: Vec<ClientIdentity> = (0..validators * CLIENTS_PER_MEMBER)
            .map(|index| {
                let owner = index % validators;
                ClientIdentity {
                    operator: OperatorId::new(format!("m{owner}.client{index}")).expect("valid id"),
                    account: AccountId::new(format!("m{owner}/client{index}")).expect("valid id"),
                    key_seed: seed_of(&key(5, index)),
                }
            })
            .collect();
        let raw = RawGenesis {
            chain_id: chain_id.to_string(),
            environment: Environment::Test,
            genesis_time_ms: GENESIS_MS,
            sanctioned_jurisdictions: Vec::new(),
            members: (0..validators)
                .map(|index| RawMember {
                    id: member(index).to_string(),
                    name: format!("Member {index}"),
                    jurisdiction: "TW".into(),
                })
                .collect(),
            operators: admins
                .iter()
                .enumerate()
                .flat_map(|(index, pair)| {
                    pair.iter().enumerate().map(move |(which, admin)| RawOperator {
                        id: admin.operator.to_string(),
                        person: format!("admin{which}"),
                        member: member(index).to_string(),
                        roles: vec![covenant_types::Role::Admin],
                        public_key: SecretKey::from_seed(&admin.key_seed).public_key().to_hex(),
                        key_expires_at_ms: GENESIS_MS + KEY_LIFETIME_MS,
                    })
                })
                .chain(clients.iter().enumerate().map(|(index, client)| RawOperator {
                    id: client.operator.to_string(),
                    person: format!("client{index}"),
                    member: member(index % validators).to_string(),
                    roles: vec![covenant_types::Role::Submitter],
                    public_key: SecretKey::from_seed(&client.key_seed).public_key().to_hex(),
                    key_expires_at_ms: GENESIS_MS + KEY_LIFETIME_MS,
                }))
                .collect(),
            nodes: nodes[..validators]
                .iter()
                .map(|node| RawNode {
                    id: node.node_id.to_string(),
                    member: node.member.to_string(),
                    role: NodeRole::Validator,
                    network_key: node.network_key().to_hex(),
                    consensus_key: node.consensus_key().public_key().to_hex(),
                })
                .collect(),
            accounts: clients
                .iter()
                .map(|client| RawAccount {
                    id: client.account.to_string(),
                    balances: [(ASSET.to_string(), CLIENT_BALANCE)].into_iter().collect(),
                })
                .collect(),
            schemas: Vec::new(),
            parameters: params,
            // Every change needs the proposer's member and two more (the two-person rule needs two
            // approving persons besides the proposer anyway).
            thresholds: RawThresholds {
                membership: RawThreshold { members_required: 3.min(validators as u32) },
                operators: RawThreshold { members_required: 3.min(validators as u32) },
                nodes: RawThreshold { members_required: 3.min(validators as u32) },
                parameters: RawThreshold { members_required: 3.min(validators as u32) },
                contracts: RawThreshold { members_required: 3.min(validators as u32) },
                emergency: RawThreshold { members_required: 2.min(validators as u32) },
            },
        };
        let genesis =
            Genesis::validate(raw).unwrap_or_else(|errors| panic!("the simulated genesis is invalid: {errors}"));
        SimChain { chain_id, joiner_member: member(validators), nodes, clients, admins, genesis }
    }

    /// The genesis validators' count.
    pub fn validators(&self) -> usize {
        self.nodes.len() - 1
    }

    /// The joiner: the node a governance run votes in.
    pub fn joiner(&self) -> usize {
        self.nodes.len() - 1
    }
}
