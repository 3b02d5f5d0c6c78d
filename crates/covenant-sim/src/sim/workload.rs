//! The clients: operators that send transfers between their accounts to the nodes they choose, one
//! transaction at a time each (so their nonces never gap), resubmitting until they see it committed;
//! and the members' admins, who vote a new member and its validator in, and then a validator out.

use std::collections::BTreeMap;

use covenant_core::{AdmissionError, ClientTx, Ticket};
use covenant_execution::{ProposalState, ProposalStatus, StateKey, StateReader};
use covenant_types::{
    AccountId, AssetId, ENCODING_VERSION, GovernanceAction, Hash, Jurisdiction, OperatorId, Payload, Principal,
    Proposal, SecretKey, SignedTx, Transfer, TxBody,
};

use super::{Event, Role, Simulation};
use crate::chain::{ASSET, SimChain};
use crate::faults;
use crate::rng::Rng;

/// A client resubmits a transaction it has not seen committed after this long.
const RESUBMIT_MS: u64 = 500;
/// The governance script looks at the chain this often.
const GOVERNANCE_STEP_MS: u64 = 200;

/// One sender of transactions: a client or an admin.
struct Sender {
    operator: OperatorId,
    key: SecretKey,
    nonce: u64,
    /// The transaction in flight: it, its hash, and when it was last submitted.
    pending: Option<(SignedTx, Hash, u64)>,
}

impl Sender {
    fn sign(&mut self, chain: &SimChain, payload: Payload, now_ms: u64) -> (SignedTx, Hash) {
        let body = TxBody {
            version: ENCODING_VERSION,
            chain_id: chain.chain_id.clone(),
            sender: Principal::Operator(self.operator.clone()),
            nonce: self.nonce,
            created_at_ms: now_ms,
            payload,
        };
        let tx = SignedTx::sign(body, &self.key);
        let hash = tx.body.hash();
        (tx, hash)
    }
}

/// A step of the governance script.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Step {
    AdmitJoiner,
    AddJoinerNode,
    RemoveValidator,
    Done,
}

/// Clients, admins, and what they saw.
pub(crate) struct Workload {
    clients: Vec<Sender>,
    accounts: Vec<AccountId>,
    /// Admins by member: the proposer is member 0's first admin, approvers the others'.
    admins: Vec<Sender>,
    next_ticket: u64,
    answers: BTreeMap<Ticket, Hash>,
    acknowledged: Vec<Hash>,
    step: Step,
    /// The proposal of the current step, once proposed.
    proposal: Option<Hash>,
    /// The approvals signed for the current proposal: admin -> transaction.
    approvals: BTreeMap<usize, Hash>,
}

impl Workload {
    pub fn new(chain: &SimChain, _rng: &mut Rng) -> Workload {
        let clients = chain
            .clients
            .iter()
            .map(|client| Sender {
                operator: client.operator.clone(),
                key: SecretKey::from_seed(&client.key_seed),
                nonce: 0,
                pending: None,
            })
            .collect();
        let admins = chain
            .admins
            .iter()
            .map(|pair| Sender {
                operator: pair[0].operator.clone(),
                key: SecretKey::from_seed(&pair[0].key_seed),
                nonce: 0,
                pending: None,
            })
            .collect();
        Workload {
            clients,
            accounts: chain.clients.iter().map(|client| client.account.clone()).collect(),
            admins,
            next_ticket: 0,
            answers: BTreeMap::new(),
            acknowledged: Vec::new(),
            step: Step::AdmitJoiner,
            proposal: None,
            approvals: BTreeMap::new(),
        }
    }

    /// Whether the governance script has nothing left to do.
    pub fn governance_done(&self) -> bool {
        self.step == Step::Done
    }

    fn ticket(&mut self, hash: Hash) -> Ticket {
        self.next_ticket += 1;
        let ticket = Ticket(self.next_ticket);
        self.answers.insert(ticket, hash);
        ticket
    }

    /// A node answered a submission.
    pub fn on_answer(&mut self, ticket: Ticket, result: Result<Hash, AdmissionError>) {
        let _ = result;
        self.answers.remove(&ticket);
    }

    /// Transactions clients saw committed.
    pub fn acknowledged(&self) -> Vec<Hash> {
        self.acknowledged.clone()
    }
}

impl Simulation {
    /// Submits `tx` to one or two running nodes.
    fn send_to_nodes(&mut self, tx: &SignedTx, hash: Hash) {
        let running: Vec<usize> = (0..self.slots.len()).filter(|&slot| self.slots[slot].core.is_some()).collect();
        if running.is_empty() {
            return;
        }
        let copies = if self.rng.chance(300) { 2 } else { 1 };
        for _ in 0..copies {
            let slot = running[self.rng.index(running.len())];
            let ticket = self.workload.ticket(hash);
            self.count(faults::CLIENT_SUBMISSIONS, 1);
            self.submit(slot, ClientTx { ticket, tx: tx.clone(), hash, bytes: tx.encode() });
        }
    }

    /// Whether a running honest node has `hash` committed.
    fn seen_committed(&self, hash: &Hash) -> bool {
        self.running_honest().into_iter().any(|slot| self.is_committed_at(slot, hash))
    }

    /// Advances a sender: acknowledges its transaction once committed, resubmits it when due, or
    /// signs a new one with `payload` if given. Returns the hash of a transaction it committed.
    fn advance_sender(
        &mut self,
        admin: Option<usize>,
        client: Option<usize>,
        payload: Option<Payload>,
    ) -> Option<Hash> {
        let now = self.now;
        let local = self.now;
        let sender = match (admin, client) {
            (Some(index), _) => &mut self.workload.admins[index],
            (_, Some(index)) => &mut self.workload.clients[index],
            _ => return None,
        };
        if let Some((tx, hash, submitted)) = sender.pending.clone() {
            if self.seen_committed(&hash) {
                let sender = match (admin, client) {
                    (Some(index), _) => &mut self.workload.admins[index],
                    (_, Some(index)) => &mut self.workload.clients[index],
                    _ => return None,
                };
                sender.pending = None;
                sender.nonce += 1;
                self.workload.acknowledged.push(hash);
                return Some(hash);
            }
            if now >= submitted + RESUBMIT_MS {
                let sender = match (admin, client) {
                    (Some(index), _) => &mut self.workload.admins[index],
                    (_, Some(index)) => &mut self.workload.clients[index],
                    _ => return None,
                };
                sender.pending = Some((tx.clone(), hash, now));
                self.send_to_nodes(&tx, hash);
            }
            return None;
        }
        let payload = payload?;
        let (tx, hash) = sender.sign(&self.chain, payload, local);
        sender.pending = Some((tx.clone(), hash, now));
        self.note_sent(hash);
        self.send_to_nodes(&tx, hash);
        None
    }

    /// One client acts: follows up its transaction or sends a new transfer.
    pub(crate) fn client_step(&mut self) {
        let clients = self.workload.clients.len();
        let client = self.rng.index(clients);
        let payload = (self.config.tx_rate_per_s > 0).then(|| {
            let to = self.workload.accounts[self.rng.index(clients)].clone();
            Payload::Transfer(Transfer {
                from: self.workload.accounts[client].clone(),
                to,
                asset: AssetId::new(ASSET).expect("valid asset id"),
                amount: self.rng.range(1, 100),
                memo: String::new(),
            })
        });
        self.advance_sender(None, Some(client), payload);
        let gap = match self.config.tx_rate_per_s {
            0 => 200,
            rate => (1_000 / rate).max(1),
        };
        let at = self.now + self.rng.range(gap / 2 + 1, gap * 3 / 2 + 1);
        self.schedule(at, Event::Client);
    }

    /// The proposal's state as the most advanced running honest node has it committed (a node that
    /// lags, or a validator the proposal removed and that missed the block doing it, still sees it
    /// open).
    fn proposal_state(&self, id: &Hash) -> Option<ProposalState> {
        let slot = self.running_honest().into_iter().max_by_key(|&slot| (self.checker.height_of(slot), slot))?;
        covenant_core::StoreState(self.slots[slot].store.as_ref())
            .get::<ProposalState>(&StateKey::Proposal(*id))
            .ok()
            .flatten()
    }

    /// Where the governance script stands, for a liveness failure.
    pub(crate) fn governance_status(&self) -> String {
        let proposal = self.workload.proposal.map(|id| (id, self.proposal_state(&id).map(|state| state.status)));
        let pending: Vec<(usize, u64, Option<Hash>)> = self
            .workload
            .admins
            .iter()
            .enumerate()
            .map(|(index, admin)| (index, admin.nonce, admin.pending.as_ref().map(|(_, hash, _)| *hash)))
            .collect();
        format!(
            "step {:?}, proposal {proposal:?}, approvals signed {:?}, admins (index, nonce, pending) {pending:?}",
            self.workload.step, self.workload.approvals
        )
    }

    /// Advances the governance script: propose the step's action, gather two approvals from other
    /// members' admins, wait until it executed, then the next step.
    pub(crate) fn governance_step(&mut self) {
        let step = self.workload.step;
        if step == Step::Done {
            return;
        }
        self.schedule(self.now + GOVERNANCE_STEP_MS, Event::Governance);
        let Some(action) = self.step_action(step) else { return };
        match self.workload.proposal {
            None => {
                let proposal =
                    Proposal { action, reason: "simulated governance".into(), expires_at_ms: self.now + 3_600_000 };
                if let Some(hash) =
                    self.advance_sender(Some(0), None, Some(Payload::GovernancePropose(Box::new(proposal))))
                {
                    self.workload.proposal = Some(hash);
                    self.workload.approvals.clear();
                }
            }
            Some(id) => {
                let state = self.proposal_state(&id);
                match state.as_ref().map(|state| &state.status) {
                    Some(ProposalStatus::Executed { height }) => {
                        self.note(format!("governance: {step:?} executed at height {height}"));
                        self.count(faults::GOVERNANCE_EXECUTED, 1);
                        self.workload.proposal = None;
                        self.workload.step = match step {
                            Step::AdmitJoiner => Step::AddJoinerNode,
                            Step::AddJoinerNode => Step::RemoveValidator,
                            Step::RemoveValidator | Step::Done => Step::Done,
                        };
                        return;
                    }
                    Some(ProposalStatus::Open) | None => {}
                    Some(other) => {
                        self.note(format!("governance: {step:?} ended as {other:?}; giving up the script"));
                        self.workload.step = Step::Done;
                        return;
                    }
                }
                // Two approvals, from members 1 and 2, each signed once per proposal (an admin's
                // first call may only acknowledge its approval of the previous step).
                for admin in self.workload.approvals.keys().copied().collect::<Vec<_>>() {
                    self.advance_sender(Some(admin), None, None);
                }
                let Some(approver) = [1, 2].into_iter().find(|admin| !self.workload.approvals.contains_key(admin))
                else {
                    return;
                };
                let before = self.workload.admins[approver].pending.as_ref().map(|(_, hash, _)| *hash);
                self.advance_sender(Some(approver), None, Some(Payload::GovernanceApprove(id)));
                let after = self.workload.admins[approver].pending.as_ref().map(|(_, hash, _)| *hash);
                if before.is_none()
                    && let Some(hash) = after
                {
                    self.workload.approvals.insert(approver, hash);
                }
            }
        }
    }

    /// The governance action of a step.
    fn step_action(&self, step: Step) -> Option<GovernanceAction> {
        match step {
            Step::AdmitJoiner => Some(GovernanceAction::AdmitMember {
                member: self.chain.joiner_member.clone(),
                name: "Joining member".into(),
                jurisdiction: Jurisdiction::new("TW").expect("valid jurisdiction"),
            }),
            Step::AddJoinerNode => Some(GovernanceAction::AddNode(self.chain.nodes[self.chain.joiner()].record())),
            Step::RemoveValidator => {
                // An honest genesis validator that is not twinned; the joiner replaces it, so the
                // number of faulty validators stays within f.
                let honest = (1..self.config.validators)
                    .find(|&index| self.slots.iter().all(|slot| slot.identity != index || slot.role == Role::Honest))?;
                Some(GovernanceAction::RemoveNode(self.chain.nodes[honest].node_id.clone()))
            }
            Step::Done => None,
        }
    }
}
