//! What the Byzantine validators do. Each runs a real node core with its real keys; the simulator
//! rewrites, withholds or answers for what that core sends, and adds what no honest node would send.
//! Every message a behaviour sends is counted under `byzantine.<behaviour>`.

use std::rc::Rc;

use covenant_consensus::{
    Commit, CommitCertificate, ConsensusCrypto, Ed25519Crypto, Message, PrePrepare, Prepare, PreparedCertificate,
    ProposalMessage, RoundChange, RoundChangeMessage, Signed,
};
use covenant_core::{Action, Topic};
use covenant_network::protocol::{Request, Response, encode_request, encode_response};
use covenant_types::batch::encode_tx_batch;
use covenant_types::{
    AccountId, AssetId, Block, CommitSeal, ENCODING_VERSION, Hash, NodeId, OperatorId, Payload, Principal, SealedVote,
    SecretKey, Signature, SignatureDomain, SignedTx, Transfer, TxBody, hash_of,
};

use super::net::Delivery;
use super::{Event, Simulation};
use crate::chain::GENESIS_MS;
use crate::config::Byzantine;
use crate::faults;

/// Period of a Byzantine validator's own acts (floods, garbage), in virtual ms.
const ACT_MS_MIN: u64 = 100;
const ACT_MS_MAX: u64 = 400;

impl Simulation {
    fn byzantine_crypto(&self, slot: usize) -> (NodeId, Ed25519Crypto) {
        let identity = &self.chain.nodes[self.slots[slot].identity];
        (identity.node_id.clone(), Ed25519Crypto::new(identity.consensus_key()))
    }

    fn sent(&mut self, behaviour: Byzantine, amount: u64) {
        self.count(faults::byzantine(behaviour), amount);
    }

    /// The honest peers `slot` is connected to.
    fn honest_peers(&self, slot: usize) -> Vec<usize> {
        self.slots[slot].connected.iter().copied().filter(|&peer| !self.slots[peer].is_byzantine()).collect()
    }

    /// Runs an action of a Byzantine slot's core through its behaviours.
    pub(crate) fn run_byzantine_action(&mut self, slot: usize, action: Action) {
        if self.slots[slot].does(Byzantine::Silent) {
            match action {
                Action::Verify { .. } | Action::SetAllowed { .. } | Action::Answer { .. } => {
                    self.run_honest_action(slot, action)
                }
                _ => self.sent(Byzantine::Silent, 1),
            }
            return;
        }
        match action {
            Action::Broadcast { topic: Topic::Consensus, bytes } => self.byzantine_broadcast(slot, bytes),
            Action::ServeBlocks { serve, .. } | Action::RefuseBlocks { serve }
                if self.slots[slot].does(Byzantine::FalseHeight) =>
            {
                self.false_answer(slot, serve)
            }
            Action::Send { to, bytes } if self.slots[slot].does(Byzantine::Withholding) && self.rng.chance(500) => {
                let _ = (to, bytes);
                self.sent(Byzantine::Withholding, 1);
            }
            other => self.run_honest_action(slot, other),
        }
    }

    /// A Byzantine core's consensus broadcast: proposals rewritten, messages withheld from some.
    fn byzantine_broadcast(&mut self, slot: usize, bytes: Vec<u8>) {
        let Ok(message) = Message::decode(&bytes) else { return };
        let (message, variant) = match &message {
            Message::Proposal(proposal) => self.misbehave(slot, proposal),
            _ => (message, None),
        };
        let peers: Vec<usize> = self.slots[slot].connected.iter().copied().collect();
        let extra_loss = self.loss_of(&message);
        let bytes = Rc::new(message.encode());
        let variant = variant.map(|variant| Rc::new(variant.encode()));
        for peer in peers {
            if self.slots[slot].does(Byzantine::Withholding) && self.rng.chance(500) {
                self.sent(Byzantine::Withholding, 1);
                continue;
            }
            let bytes = match &variant {
                Some(other) if self.slots[peer].identity % 2 == 1 => other.clone(),
                _ => bytes.clone(),
            };
            self.publish_as(slot, Topic::Consensus, bytes, false, Some(peer), extra_loss);
        }
    }

    /// A Byzantine proposer's rewrite of its own proposal: the message to send, and for an
    /// equivocator a second one for half the validators.
    fn misbehave(&mut self, slot: usize, proposal: &ProposalMessage) -> (Message, Option<Message>) {
        let original = Message::Proposal(Box::new(proposal.clone()));
        let count = self.slots[slot].misbehaviours;
        self.slots[slot].misbehaviours += 1;
        if self.slots[slot].does(Byzantine::EquivocatingProposer) {
            self.sent(Byzantine::EquivocatingProposer, 1);
            let variant = self.forge(slot, proposal, |block| block.header.timestamp_ms += 1);
            return (original, Some(variant));
        }
        if self.slots[slot].does(Byzantine::InvalidBlock) {
            self.sent(Byzantine::InvalidBlock, 1);
            return match count % 3 {
                0 => {
                    let too_many = self.config.params.block_txs_max as usize + 1;
                    let txs = garbage_txs(&self.chain.chain_id, too_many, 0, 0);
                    (self.forge(slot, proposal, |block| block.transactions = txs.into()), None)
                }
                1 => (self.forge(slot, proposal, |block| block.header.state_root = Hash::digest(b"bogus")), None),
                _ => {
                    // One transaction over tx_bytes_max, which no honest mempool would have admitted.
                    let oversized = garbage_txs(&self.chain.chain_id, 1, 0, self.config.params.tx_bytes_max as usize);
                    (self.forge(slot, proposal, |block| block.transactions = oversized.into()), None)
                }
            };
        }
        if self.slots[slot].does(Byzantine::BadTimestamp) {
            self.sent(Byzantine::BadTimestamp, 1);
            let drift = self.config.params.clock_drift_ms_max;
            let parent_ms = self.slots[slot].store.latest().ok().flatten().and_then(|tip| {
                self.slots[slot].store.block_by_height(tip.height).ok().flatten().map(|block| block.header.timestamp_ms)
            });
            let parent_ms = parent_ms.unwrap_or(GENESIS_MS);
            return if count.is_multiple_of(2) {
                (self.forge(slot, proposal, |block| block.header.timestamp_ms += 3 * drift), None)
            } else {
                (self.forge(slot, proposal, |block| block.header.timestamp_ms = parent_ms + 1), None)
            };
        }
        (original, None)
    }

    /// Re-signs `proposal` after `mutate` changed its block (keeping the transactions root consistent).
    fn forge(&self, slot: usize, proposal: &ProposalMessage, mutate: impl FnOnce(&mut Block)) -> Message {
        let (author, crypto) = self.byzantine_crypto(slot);
        let mut block = proposal.block.clone();
        mutate(&mut block);
        block.header.transactions_root = block.compute_transactions_root();
        let body = PrePrepare { block_hash: block.hash(), ..proposal.pre_prepare.body.clone() };
        let pre_prepare = Signed::sign(author, body, &crypto, &self.chain.chain_id);
        Message::Proposal(Box::new(ProposalMessage {
            pre_prepare,
            block,
            justification: proposal.justification.clone(),
        }))
    }

    /// A double voter PREPAREs and COMMITs every proposal it receives, whatever it voted before.
    pub(crate) fn double_vote(&mut self, slot: usize, bytes: &[u8]) {
        let Ok(Message::Proposal(proposal)) = Message::decode(bytes) else { return };
        let body = &proposal.pre_prepare.body;
        if !self.slots[slot].double_voted.insert((body.height, body.round, body.block_hash)) {
            return;
        }
        let (author, crypto) = self.byzantine_crypto(slot);
        let chain = self.chain.chain_id.clone();
        let prepare = Signed::sign(
            author.clone(),
            Prepare { height: body.height, round: body.round, block_hash: body.block_hash },
            &crypto,
            &chain,
        );
        let vote = SealedVote { height: body.height, round: proposal.block.header.round, block_hash: body.block_hash };
        let seal = crypto.sign(SignatureDomain::CommitSeal, &chain, &hash_of(&vote));
        let commit = Signed::sign(
            author,
            Commit { height: body.height, round: body.round, block_hash: body.block_hash, seal },
            &crypto,
            &chain,
        );
        for message in [Message::Prepare(prepare), Message::Commit(commit)] {
            self.sent(Byzantine::DoubleVoter, 1);
            self.publish(slot, Topic::Consensus, Rc::new(message.encode()));
        }
    }

    /// A liar's answer to a block request: nothing, "unavailable", or (if the configuration says
    /// so) its real blocks with forged seals.
    fn false_answer(&mut self, slot: usize, serve: covenant_core::ServeId) {
        let Some((requester, request)) = self.slots[slot].pending_serve.remove(&serve) else { return };
        self.sent(Byzantine::FalseHeight, 1);
        self.count(faults::REQUESTS_TO_LIARS, 1);
        let answers = if self.config.liar_forges_seals { 2 } else { 1 };
        let response = match self.rng.range(0, answers) {
            0 => Response::Blocks(Vec::new()),
            1 => Response::Unavailable,
            _ => {
                let from = self.slots[requester].store.latest().ok().flatten().map_or(1, |tip| tip.height + 1);
                Response::Blocks(
                    self.forged_certificates(slot, from).into_iter().map(|c| covenant_types::encode(&c)).collect(),
                )
            }
        };
        let frame = encode_response(&response);
        self.transmit(slot, requester, Delivery::Response { frame, request }, 0);
    }

    /// Certificates for heights from `from` whose seals are forged: the Byzantine node's own seal
    /// plus signatures by keys of no validator.
    fn forged_certificates(&mut self, slot: usize, from: u64) -> Vec<CommitCertificate> {
        let store = self.slots[slot].store.clone();
        let tip = store.latest().ok().flatten().map_or(0, |tip| tip.height);
        let parent = store.block_by_height(from.saturating_sub(1).min(tip)).ok().flatten();
        let Some(parent) = parent else { return Vec::new() };
        let (author, crypto) = self.byzantine_crypto(slot);
        let mut header = parent.header.clone();
        header.height = from;
        header.parent_hash = parent.hash();
        header.timestamp_ms += self.config.params.block_interval_ms_min;
        header.round = 0;
        let block = Block { header, transactions: Vec::new().into() };
        let vote = SealedVote { height: from, round: 0, block_hash: block.hash() };
        let digest = hash_of(&vote);
        let mut seals = vec![CommitSeal {
            validator: author,
            signature: crypto.sign(SignatureDomain::CommitSeal, &self.chain.chain_id, &digest),
        }];
        for (index, node) in self.chain.nodes.iter().enumerate().take(self.config.validators) {
            if index != self.slots[slot].identity {
                seals.push(CommitSeal { validator: node.node_id.clone(), signature: Signature([7; 64]) });
            }
        }
        vec![CommitCertificate { block, seals }]
    }

    /// A Byzantine validator's own acts, each behaviour in turn, then the next act is scheduled.
    pub(crate) fn byzantine_act(&mut self, slot: usize) {
        let next = self.now + self.rng.range(ACT_MS_MIN, ACT_MS_MAX);
        self.schedule(next, Event::ByzantineAct { slot });
        if self.slots[slot].core.is_none() {
            return;
        }
        let behaviours = match &self.slots[slot].role {
            super::Role::Byzantine(behaviours) => behaviours.clone(),
            _ => return,
        };
        let targets = self.honest_peers(slot);
        if targets.is_empty() {
            return;
        }
        let target = targets[self.rng.index(targets.len())];
        let height = self.slots[slot].core.as_ref().map_or(1, |core| core.engine().height());
        for behaviour in behaviours {
            match behaviour {
                Byzantine::GarbageGossip => self.garbage(slot, target),
                Byzantine::BadSignatures => self.bad_signatures(slot, target, height),
                Byzantine::FutureFlood => self.future_flood(slot, target, height),
                Byzantine::SyncFlood => self.sync_flood(slot, &targets),
                Byzantine::BadTxBatches => self.bad_tx_batch(slot, target),
                Byzantine::ForgedCertificates => self.forged(slot, target, height),
                Byzantine::Silent
                | Byzantine::Withholding
                | Byzantine::EquivocatingProposer
                | Byzantine::DoubleVoter
                | Byzantine::InvalidBlock
                | Byzantine::BadTimestamp
                | Byzantine::FalseHeight => {}
            }
        }
    }

    /// Bytes that decode as nothing, on a relayed topic, to one honest validator; now and then
    /// bytes over the topic's size limit.
    fn garbage(&mut self, slot: usize, target: usize) {
        let oversized = self.rng.chance(50);
        let len = if oversized {
            covenant_types::limits::CONSENSUS_MESSAGE_BYTES_MAX + 1
        } else {
            self.rng.range(1, 512) as usize
        };
        let mut bytes = vec![0u8; len];
        for (index, byte) in bytes.iter_mut().enumerate().take(512) {
            *byte = (self.rng.next_u64() >> (index % 8)) as u8;
        }
        // A first byte no message or batch starts with.
        bytes[0] = 0xff;
        let topic = if self.rng.chance(500) { Topic::Consensus } else { Topic::Transactions };
        self.sent(Byzantine::GarbageGossip, 1);
        self.publish_as(slot, topic, Rc::new(bytes), true, Some(target), 0);
    }

    /// A well-formed PREPARE with a bad signature, or signed by a key that is no validator's.
    fn bad_signatures(&mut self, slot: usize, target: usize, height: u64) {
        let (author, crypto) = self.byzantine_crypto(slot);
        let chain = self.chain.chain_id.clone();
        let body = Prepare { height, round: 0, block_hash: Hash::digest(&self.rng.next_u64().to_le_bytes()) };
        let message = if self.rng.chance(500) {
            let mut prepare = Signed::sign(author, body, &crypto, &chain);
            prepare.signature.0[5] ^= 0x40;
            Message::Prepare(prepare)
        } else {
            let stranger = Ed25519Crypto::new(SecretKey::from_seed(&[0xee; 32]));
            Message::Prepare(Signed::sign(NodeId::new("stranger").expect("valid id"), body, &stranger, &chain))
        };
        self.sent(Byzantine::BadSignatures, 1);
        self.publish_as(slot, Topic::Consensus, Rc::new(message.encode()), true, Some(target), 0);
    }

    /// Distinct ROUND-CHANGEs for the next heights, signed with the validator's real key, each with
    /// a prepared certificate carrying a large block and bogus PREPAREs.
    fn future_flood(&mut self, slot: usize, target: usize, height: u64) {
        let (author, crypto) = self.byzantine_crypto(slot);
        let chain = self.chain.chain_id.clone();
        let template = self.slots[slot].store.block_by_height(0).ok().flatten();
        let Some(template) = template else { return };
        let per_tx = 200usize;
        let memo_bytes = self.config.flood_memo_bytes;
        let count = self.config.flood_block_bytes / (per_tx + memo_bytes);
        for _ in 0..self.config.flood_messages {
            let future = height + self.rng.range(1, 4);
            let mut block = template.clone();
            block.header.height = future;
            block.transactions = garbage_txs(&chain, count, self.rng.next_u64(), memo_bytes).into();
            let block_hash = block.hash();
            let round = self.rng.range(1, u64::from(self.config.flood_rounds_max)) as u32;
            let prepares = (0..3)
                .map(|index| Signed {
                    author: NodeId::new(format!("v{index}")).expect("valid id"),
                    body: Prepare { height: future, round: round - 1, block_hash },
                    signature: Signature([9; 64]),
                })
                .collect();
            let prepared = PreparedCertificate { block, prepares };
            let body = RoundChange { height: future, round, prepared: Some(prepared.reference()) };
            let mut round_change = Signed::sign(author.clone(), body, &crypto, &chain);
            if self.rng.chance(self.config.flood_forged_per_mille) {
                // Half of them valid-looking but with a garbage outer signature: refused before
                // they take any room.
                round_change.signature = Signature([7; 64]);
            }
            let message = Message::RoundChange(Box::new(RoundChangeMessage { round_change, prepared: Some(prepared) }));
            self.sent(Byzantine::FutureFlood, 1);
            self.publish_as(slot, Topic::Consensus, Rc::new(message.encode()), true, Some(target), 0);
        }
    }

    /// The most blocks a request may ask for, from every honest peer, regardless of answers.
    fn sync_flood(&mut self, slot: usize, targets: &[usize]) {
        for &target in targets {
            let request = covenant_core::RequestId(u64::MAX - self.slots[slot].token());
            let frame =
                encode_request(&Request::GetBlocks(covenant_network::GetBlocks { from_height: 1, max_count: 256 }));
            self.sent(Byzantine::SyncFlood, 1);
            self.transmit(slot, target, Delivery::Request { frame, request }, 0);
        }
    }

    /// A batch of well-formed transactions of which one has a bad signature.
    fn bad_tx_batch(&mut self, slot: usize, target: usize) {
        // Signed by a key no operator holds: valid signatures that admission then refuses (a
        // Byzantine validator has no client's key), and one bad one.
        let key = SecretKey::from_seed(&[0xab; 32]);
        let txs: Vec<SignedTx> = garbage_txs(&self.chain.chain_id, 64, self.rng.next_u64(), 0)
            .into_iter()
            .map(|tx| SignedTx::sign(tx.body, &key))
            .collect();
        let mut txs = txs;
        let bad = self.rng.index(txs.len());
        txs[bad].signature.0[9] ^= 0x01;
        let encoded: Vec<Vec<u8>> = txs.iter().map(SignedTx::encode).collect();
        let batch = encode_tx_batch(encoded.iter().map(Vec::as_slice));
        self.sent(Byzantine::BadTxBatches, 1);
        self.publish_as(slot, Topic::Transactions, Rc::new(batch), false, Some(target), 0);
    }

    /// A decided block with forged seals, sent point to point, or a ROUND-CHANGE for the current
    /// height whose prepared certificate's PREPAREs are forged.
    fn forged(&mut self, slot: usize, target: usize, height: u64) {
        let message = if self.rng.chance(500) {
            let Some(certificate) = self.forged_certificates(slot, height).pop() else { return };
            Message::Decided(Box::new(certificate))
        } else {
            let (author, crypto) = self.byzantine_crypto(slot);
            let chain = self.chain.chain_id.clone();
            let Some(template) = self.slots[slot].store.block_by_height(0).ok().flatten() else { return };
            let mut block = template;
            block.header.height = height;
            let block_hash = block.hash();
            let prepares = self
                .chain
                .nodes
                .iter()
                .take(self.config.validators)
                .map(|node| Signed {
                    author: node.node_id.clone(),
                    body: Prepare { height, round: 0, block_hash },
                    signature: Signature([3; 64]),
                })
                .collect();
            let prepared = PreparedCertificate { block, prepares };
            let body = RoundChange { height, round: 1, prepared: Some(prepared.reference()) };
            let round_change = Signed::sign(author, body, &crypto, &chain);
            Message::RoundChange(Box::new(RoundChangeMessage { round_change, prepared: Some(prepared) }))
        };
        self.sent(Byzantine::ForgedCertificates, 1);
        self.transmit(slot, target, Delivery::Direct(Rc::new(message.encode())), 0);
    }
}

/// `count` well-formed transfers with garbage signatures (a block's bulk, or a batch to corrupt).
fn garbage_txs(chain: &covenant_types::ChainId, count: usize, salt: u64, memo_bytes: usize) -> Vec<SignedTx> {
    let signer = SecretKey::from_seed(&[0xab; 32]).public_key();
    (0..count as u64)
        .map(|nonce| SignedTx {
            body: TxBody {
                version: ENCODING_VERSION,
                chain_id: chain.clone(),
                sender: Principal::Operator(OperatorId::new("m0.flood").expect("valid id")),
                nonce: nonce.wrapping_add(salt),
                created_at_ms: GENESIS_MS,
                payload: Payload::Transfer(Transfer {
                    from: AccountId::new("m0/flood").expect("valid id"),
                    to: AccountId::new("m1/flood").expect("valid id"),
                    asset: AssetId::new("twd").expect("valid id"),
                    amount: 1,
                    memo: "m".repeat(memo_bytes),
                }),
            },
            signer,
            signature: Signature([0x11; 64]),
        })
        .collect()
}
