//! The state layout: typed keys over a flat byte key space, typed values in the canonical encoding, a
//! read-only view trait the storage implements, and an overlay that collects a block's writes.

use std::any::{Any, TypeId};
use std::cell::RefCell;
use std::collections::BTreeMap;

use serde::Serialize;
use serde::de::DeserializeOwned;
use thiserror::Error;

use covenant_rules::ChainParams;
use covenant_types::{
    AccountId, AssetId, ChainId, ContractId, Hash, Jurisdiction, KycAttestation, MemberId, MemberStatus, NodeId,
    NodeRecord, OperatorId, OperatorRecord, PersonId, Principal, PublicKey, SchemaId, ValidatorSet, encode,
    encode_into,
};

/// Largest state value accepted from a store (a validator set of 256 nodes is the largest we write).
pub const STATE_VALUE_BYTES_MAX: usize = 1024 * 1024;

/// A key in the state. Encoded as a one-byte table tag followed by the canonical key, so that each
/// table is a contiguous, prefix-scannable range.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum StateKey {
    /// The chain id and environment.
    Chain,
    /// The chain parameters in force.
    Params,
    /// The validator set deciding the next height.
    Validators,
    /// The sanctioned-jurisdiction list.
    Sanctioned,
    /// A member.
    Member(MemberId),
    /// An operator account.
    Operator(OperatorId),
    /// A node.
    Node(NodeId),
    /// A sender's next nonce.
    Nonce(Principal),
    /// An account's balance of an asset.
    Balance(AccountId, AssetId),
    /// A registered data-record schema.
    Schema(SchemaId),
    /// A customer account's KYC attestation.
    Kyc(AccountId),
    /// A stored data record, by the hash of the transaction that wrote it.
    Record(Hash),
    /// Governance thresholds in members per action class.
    Thresholds,
    /// Every member id ever admitted, in admission order (for sanction updates and counts).
    MemberIndex,
    /// Every node id ever added, in order (to recompute the validator set).
    NodeIndex,
    /// The active operator account of a person, scoped by member (COV-10).
    Person(MemberId, PersonId),
    /// Who registered a key, ever (COV-41: a key is used once).
    KeyOwner(PublicKey),
    /// A governance proposal, by the hash of the transaction that opened it.
    Proposal(Hash),
    /// An audit anchor a node put on chain, by node and anchored sequence.
    AuditAnchor(NodeId, u64),
    /// The last sequence a node anchored.
    LastAuditAnchor(NodeId),
    /// Every contract id ever admitted, in admission order (bounds the registry; ids are never reused).
    ContractIndex,
    /// Every operator id ever registered, in registration order (to count who can approve governance,
    /// ADR 0021; revoked operators stay listed).
    OperatorIndex,
    /// An admitted contract: code hash, manifest, status (COV-26, COV-27, COV-28).
    Contract(ContractId),
    /// Contract code, by its SHA-256 (the hash the admitting or upgrading vote pinned).
    ContractCode(Hash),
    /// One entry of a contract's own storage namespace: the contract, then the key's raw bytes.
    ContractStorage(ContractId, Vec<u8>),
    /// Output and events of a successful contract call, by the hash of its transaction.
    ContractResult(Hash),
}

impl StateKey {
    /// The table tag: the first byte of the encoded key.
    pub fn table(&self) -> u8 {
        match self {
            StateKey::Chain => 0x01,
            StateKey::Params => 0x02,
            StateKey::Validators => 0x03,
            StateKey::Sanctioned => 0x04,
            StateKey::Member(_) => 0x10,
            StateKey::Operator(_) => 0x11,
            StateKey::Node(_) => 0x12,
            StateKey::Nonce(_) => 0x20,
            StateKey::Balance(..) => 0x21,
            StateKey::Schema(_) => 0x30,
            StateKey::Kyc(_) => 0x31,
            StateKey::Record(_) => 0x32,
            StateKey::Thresholds => 0x05,
            StateKey::MemberIndex => 0x06,
            StateKey::NodeIndex => 0x07,
            StateKey::Person(..) => 0x13,
            StateKey::KeyOwner(_) => 0x14,
            StateKey::Proposal(_) => 0x40,
            StateKey::AuditAnchor(..) => 0x50,
            StateKey::LastAuditAnchor(_) => 0x51,
            StateKey::ContractIndex => 0x08,
            StateKey::OperatorIndex => 0x09,
            StateKey::Contract(_) => 0x60,
            StateKey::ContractCode(_) => 0x61,
            StateKey::ContractStorage(..) => 0x62,
            StateKey::ContractResult(_) => 0x63,
        }
    }

    /// The encoded key.
    pub fn encode(&self) -> Vec<u8> {
        let mut key = Vec::with_capacity(64);
        key.push(self.table());
        match self {
            StateKey::Chain
            | StateKey::Params
            | StateKey::Validators
            | StateKey::Sanctioned
            | StateKey::Thresholds
            | StateKey::MemberIndex
            | StateKey::NodeIndex
            | StateKey::ContractIndex
            | StateKey::OperatorIndex => {}
            StateKey::Member(id) => encode_into(&mut key, id),
            StateKey::Operator(id) => encode_into(&mut key, id),
            StateKey::Node(id) => encode_into(&mut key, id),
            StateKey::Nonce(principal) => encode_into(&mut key, principal),
            StateKey::Balance(account, asset) => encode_into(&mut key, &(account, asset)),
            StateKey::Schema(id) => encode_into(&mut key, id),
            StateKey::Kyc(account) => encode_into(&mut key, account),
            StateKey::Record(hash) => encode_into(&mut key, hash),
            StateKey::Person(member, person) => encode_into(&mut key, &(member, person)),
            StateKey::KeyOwner(public_key) => encode_into(&mut key, public_key),
            StateKey::Proposal(id) => encode_into(&mut key, id),
            // Big-endian sequence, so one node's anchors scan in order.
            StateKey::AuditAnchor(node, sequence) => {
                encode_into(&mut key, node);
                key.extend(sequence.to_be_bytes());
            }
            StateKey::LastAuditAnchor(node) => encode_into(&mut key, node),
            StateKey::Contract(contract) => encode_into(&mut key, contract),
            StateKey::ContractCode(hash) => encode_into(&mut key, hash),
            // The contract id is length-prefixed, so the raw key after it is unambiguous and one
            // contract's storage is a contiguous, prefix-scannable range.
            StateKey::ContractStorage(contract, storage_key) => {
                encode_into(&mut key, contract);
                key.extend_from_slice(storage_key);
            }
            StateKey::ContractResult(tx_hash) => encode_into(&mut key, tx_hash),
        }
        key
    }
}

/// The chain's identity, fixed at genesis.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct ChainInfo {
    /// Chain id.
    pub chain_id: ChainId,
    /// `true` for a test environment (COV-19 keeps test and production apart).
    pub test_environment: bool,
}

/// A member as stored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct MemberState {
    /// Display name.
    pub name: String,
    /// ISO 3166 jurisdiction.
    pub jurisdiction: Jurisdiction,
    /// Standing.
    pub status: MemberStatus,
}

/// An operator as stored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct OperatorState {
    /// The registered record (person, member, roles, key, expiry).
    pub record: OperatorRecord,
    /// Revoked operators sign nothing (COV-17).
    pub revoked: bool,
}

/// A node as stored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct NodeState {
    /// The registered record.
    pub record: NodeRecord,
    /// Removed nodes may no longer connect.
    pub removed: bool,
}

/// An audit anchor as stored: the anchored entry's hash and where the chain recorded it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct AnchorRecord {
    /// Hash of the anchored audit entry.
    pub hash: Hash,
    /// Height of the block that recorded the anchor.
    pub height: u64,
    /// Timestamp of that block.
    pub time_ms: u64,
}

/// A KYC attestation as stored, with the member that made it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct KycState {
    /// The attestation.
    pub attestation: KycAttestation,
    /// Member that attested.
    pub member: MemberId,
}

/// The state could not be read.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum StateError {
    /// The store failed.
    #[error("state store failed: {0}")]
    Store(String),
    /// A stored value did not decode: the store is corrupt.
    #[error("state value for key {key_hex} is corrupt: {reason}")]
    Corrupt {
        /// The key.
        key_hex: String,
        /// Why.
        reason: String,
    },
    /// A value every chain has (chain info, parameters, validators) is missing.
    #[error("state has no {0}: the store was not initialised from a genesis")]
    Missing(&'static str),
}

/// Read access to committed state. Implemented by the storage crate and by [`Overlay`].
pub trait StateView {
    /// The raw value at `key`.
    fn get_raw(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StateError>;

    /// The decoded values this view remembers, if it keeps any (an [`Overlay`] does).
    fn decoded_memo(&self) -> Option<&DecodedMemo> {
        None
    }
}

/// Most values a [`DecodedMemo`] keeps; later ones are decoded each time.
pub const DECODED_MEMO_ENTRIES_MAX: usize = 4_096;

/// Values already decoded, by type and encoded bytes. Decoding is a function of the bytes alone, so a
/// remembered value stays right whatever is written meanwhile: a changed record has other bytes.
/// It saves decoding the same sender and member records for every transaction of a batch or block
/// (`check_sender`).
#[derive(Default)]
pub struct DecodedMemo {
    values: RefCell<RememberedValues>,
}

/// Decoded values by their type and encoded bytes.
type RememberedValues = BTreeMap<(TypeId, Vec<u8>), Box<dyn Any + Send>>;

impl DecodedMemo {
    /// The value decoded from `bytes` as a `T`, decoding it if it is not remembered yet.
    fn decode<T: DeserializeOwned + Clone + Send + 'static>(
        &self,
        encoded_key: &[u8],
        bytes: Vec<u8>,
    ) -> Result<T, StateError> {
        let memo_key = (TypeId::of::<T>(), bytes);
        if let Some(value) = self.values.borrow().get(&memo_key).and_then(|value| value.downcast_ref::<T>()) {
            return Ok(value.clone());
        }
        let value: T = decode_value(encoded_key, &memo_key.1)?;
        let mut values = self.values.borrow_mut();
        if values.len() < DECODED_MEMO_ENTRIES_MAX {
            values.insert(memo_key, Box::new(value.clone()));
        }
        Ok(value)
    }
}

/// Decodes a state value, naming the key if its bytes are corrupt.
fn decode_value<T: DeserializeOwned>(encoded_key: &[u8], bytes: &[u8]) -> Result<T, StateError> {
    covenant_types::decode("state value", bytes, STATE_VALUE_BYTES_MAX)
        .map_err(|error| StateError::Corrupt { key_hex: hex_of(encoded_key), reason: error.to_string() })
}

impl StateView for BTreeMap<Vec<u8>, Vec<u8>> {
    fn get_raw(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StateError> {
        Ok(self.get(key).cloned())
    }
}

/// Typed reads over any [`StateView`].
pub trait StateReader: StateView {
    /// The typed value at `key`.
    fn get<T: DeserializeOwned>(&self, key: &StateKey) -> Result<Option<T>, StateError> {
        let encoded = key.encode();
        self.get_raw(&encoded)?.map(|bytes| decode_value(&encoded, &bytes)).transpose()
    }

    /// [`StateReader::get`] for small records read again and again (senders and their members):
    /// decoded once per distinct value where the view keeps a [`DecodedMemo`]. Each remembered value
    /// keeps its encoded bytes too, so this is not for large values.
    fn get_record<T: DeserializeOwned + Clone + Send + 'static>(
        &self,
        key: &StateKey,
    ) -> Result<Option<T>, StateError> {
        let Some(memo) = self.decoded_memo() else { return self.get(key) };
        let encoded = key.encode();
        self.get_raw(&encoded)?.map(|bytes| memo.decode(&encoded, bytes)).transpose()
    }

    /// Chain info (always present after genesis).
    fn chain_info(&self) -> Result<ChainInfo, StateError> {
        self.get(&StateKey::Chain)?.ok_or(StateError::Missing("chain info"))
    }

    /// Parameters in force (always present after genesis).
    fn params(&self) -> Result<ChainParams, StateError> {
        self.get(&StateKey::Params)?.ok_or(StateError::Missing("chain parameters"))
    }

    /// Validator set for the next height (always present after genesis).
    fn validators(&self) -> Result<ValidatorSet, StateError> {
        self.get(&StateKey::Validators)?.ok_or(StateError::Missing("validator set"))
    }

    /// A sender's next nonce (0 if it never sent).
    fn next_nonce(&self, principal: &Principal) -> Result<u64, StateError> {
        Ok(self.get(&StateKey::Nonce(principal.clone()))?.unwrap_or(0))
    }

    /// Governance thresholds (always present after genesis).
    fn thresholds(&self) -> Result<covenant_rules::genesis::Thresholds, StateError> {
        self.get(&StateKey::Thresholds)?.ok_or(StateError::Missing("governance thresholds"))
    }

    /// A list kept under one key (member or node index); empty if never written.
    fn index<T: DeserializeOwned>(&self, key: &StateKey) -> Result<Vec<T>, StateError> {
        Ok(self.get(key)?.unwrap_or_default())
    }

    /// A balance (0 if never credited).
    fn balance(&self, account: &AccountId, asset: &AssetId) -> Result<u64, StateError> {
        Ok(self.get(&StateKey::Balance(account.clone(), asset.clone()))?.unwrap_or(0))
    }
}

impl<V: StateView + ?Sized> StateReader for V {}

fn hex_of(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Writes collected over a base view: reads see the writes first. `None` marks a deletion.
///
/// Writes of the transaction being executed are kept apart until [`Overlay::commit_tx`], so a failed
/// transaction is undone by [`Overlay::rollback_tx`] in time proportional to its own writes.
///
/// Reads that reach the base are remembered for the rest of the block: a block's transactions read
/// the same few records (their senders, members, parameters) over and over, and the base is the
/// store. The memory this takes is bounded by what a block may read (its transactions are bounded).
pub struct Overlay<'a, V: StateView + ?Sized> {
    base: &'a V,
    /// Every key the block wrote (kept transactions only) or read from the base, with its value:
    /// one map, so a read is at most two lookups (this transaction's writes, then this).
    block: RefCell<BTreeMap<Vec<u8>, Known>>,
    tx_writes: BTreeMap<Vec<u8>, Option<Vec<u8>>>,
    decoded: DecodedMemo,
}

/// A key's value as the block sees it, and whether the block wrote it (else it was read from the base).
struct Known {
    value: Option<Vec<u8>>,
    written: bool,
}

impl<'a, V: StateView + ?Sized> Overlay<'a, V> {
    /// An empty overlay over `base`.
    pub fn new(base: &'a V) -> Overlay<'a, V> {
        Overlay { base, block: RefCell::default(), tx_writes: BTreeMap::new(), decoded: DecodedMemo::default() }
    }

    /// Writes a typed value.
    pub fn put<T: Serialize>(&mut self, key: &StateKey, value: &T) {
        self.tx_writes.insert(key.encode(), Some(encode(value)));
    }

    /// Deletes a key.
    pub fn delete(&mut self, key: &StateKey) {
        self.tx_writes.insert(key.encode(), None);
    }

    /// Keeps the current transaction's writes.
    pub fn commit_tx(&mut self) {
        let block = self.block.get_mut();
        for (key, value) in std::mem::take(&mut self.tx_writes) {
            block.insert(key, Known { value, written: true });
        }
    }

    /// Drops the current transaction's writes.
    pub fn rollback_tx(&mut self) {
        self.tx_writes.clear();
    }

    /// All kept writes, sorted by key (uncommitted transaction writes are dropped).
    pub fn into_writes(self) -> BTreeMap<Vec<u8>, Option<Vec<u8>>> {
        self.block
            .into_inner()
            .into_iter()
            .filter(|(_, known)| known.written)
            .map(|(key, known)| (key, known.value))
            .collect()
    }
}

impl<V: StateView + ?Sized> StateView for Overlay<'_, V> {
    fn get_raw(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StateError> {
        if let Some(value) = self.tx_writes.get(key) {
            return Ok(value.clone());
        }
        if let Some(known) = self.block.borrow().get(key) {
            return Ok(known.value.clone());
        }
        let value = self.base.get_raw(key)?;
        self.block.borrow_mut().insert(key.to_vec(), Known { value: value.clone(), written: false });
        Ok(value)
    }

    fn decoded_memo(&self) -> Option<&DecodedMemo> {
        Some(&self.decoded)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(status: MemberStatus) -> MemberState {
        MemberState { name: "Bank A".into(), jurisdiction: Jurisdiction::new("TW").expect("a code"), status }
    }

    /// A remembered record never hides a write: a changed record has other bytes, so the overlay's
    /// writes, their rollback and the base all read back as they are, with and without the memo.
    #[test]
    fn records_read_through_the_memo_follow_every_write() {
        let key = StateKey::Member(MemberId::new("bank-a").expect("an id"));
        let base: BTreeMap<Vec<u8>, Vec<u8>> = BTreeMap::from([(key.encode(), encode(&member(MemberStatus::Active)))]);
        let mut overlay = Overlay::new(&base);
        let read = |overlay: &Overlay<'_, BTreeMap<Vec<u8>, Vec<u8>>>| {
            let memo: Option<MemberState> = overlay.get_record(&key).expect("readable");
            let plain: Option<MemberState> = overlay.get(&key).expect("readable");
            assert_eq!(memo, plain);
            memo.map(|member| member.status)
        };
        assert_eq!(read(&overlay), Some(MemberStatus::Active));
        assert_eq!(read(&overlay), Some(MemberStatus::Active), "read again, now from the memo");
        overlay.put(&key, &member(MemberStatus::Suspended));
        assert_eq!(read(&overlay), Some(MemberStatus::Suspended));
        overlay.rollback_tx();
        assert_eq!(read(&overlay), Some(MemberStatus::Active));
        overlay.delete(&key);
        assert_eq!(read(&overlay), None);
        overlay.commit_tx();
        assert_eq!(read(&overlay), None);
        // Without a memo (the base itself), the same reads decode every time.
        assert!(base.decoded_memo().is_none());
        assert_eq!(
            base.get_record::<MemberState>(&key).expect("readable").map(|m| m.status),
            Some(MemberStatus::Active)
        );
    }

    /// The block's write set holds what kept transactions wrote, never what was only read from the
    /// base or written by a rolled-back transaction, and a write shadows an earlier base read.
    #[test]
    fn the_write_set_holds_only_kept_writes() {
        let balance = |account: &str| {
            StateKey::Balance(AccountId::new(account).expect("an id"), AssetId::new("twd").expect("an id"))
        };
        let (read_only, written, rolled_back) =
            (balance("bank-a/read"), balance("bank-a/kept"), balance("bank-a/undone"));
        let base: BTreeMap<Vec<u8>, Vec<u8>> =
            [&read_only, &written, &rolled_back].into_iter().map(|key| (key.encode(), encode(&5u64))).collect();
        let mut overlay = Overlay::new(&base);
        for key in [&read_only, &written, &rolled_back] {
            assert_eq!(overlay.get::<u64>(key).expect("readable"), Some(5));
        }
        overlay.put(&written, &7u64);
        overlay.commit_tx();
        assert_eq!(overlay.get::<u64>(&written).expect("readable"), Some(7), "the write shadows the base read");
        overlay.put(&rolled_back, &9u64);
        overlay.rollback_tx();
        assert_eq!(overlay.get::<u64>(&rolled_back).expect("readable"), Some(5));
        let writes = overlay.into_writes();
        assert_eq!(writes, BTreeMap::from([(written.encode(), Some(encode(&7u64)))]));
    }

    /// The memo keeps at most `DECODED_MEMO_ENTRIES_MAX` values and still decodes the rest.
    #[test]
    fn the_memo_is_bounded_and_decodes_past_its_bound() {
        let memo = DecodedMemo::default();
        for index in 0..DECODED_MEMO_ENTRIES_MAX + 10 {
            let value = format!("member {index}");
            let decoded: String = memo.decode(b"key", encode(&value)).expect("decodes");
            assert_eq!(decoded, value);
        }
        assert_eq!(memo.values.borrow().len(), DECODED_MEMO_ENTRIES_MAX);
        let corrupt = memo.decode::<String>(b"key", vec![0xff]);
        assert!(matches!(corrupt, Err(StateError::Corrupt { .. })), "{corrupt:?}");
    }
}
