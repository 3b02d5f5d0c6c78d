//! Scripted adversarial schedules at one height (see [`Trap`]): the message patterns under which
//! the locking and highest-prepared-certificate rules matter, for the mutation controls.

use covenant_consensus::Message;

use super::Simulation;
use crate::config::Trap;

/// The height a trap is set at (early, inside every fault phase).
pub const TRAP_HEIGHT: u64 = 3;
/// How long the validator that decided at the trap height stays down: several round timeouts, so
/// that the others decide the height without it.
pub const TRAP_DOWN_MS: u64 = 6_000;

/// Who plays which part in a trap.
pub(crate) struct TrapPlan {
    trap: Trap,
    /// Prepares alone in round 0 ([`Trap::TwoPreparedRounds`]).
    lone: usize,
    /// The one validator that receives the deciding COMMITs, then goes down.
    lucky: usize,
    sprung: bool,
}

impl Simulation {
    /// Casts the parts of the configured trap from the genesis validators.
    pub(crate) fn plan_trap(&mut self) {
        let Some(trap) = self.config.trap else { return };
        let validators = self.checker.current_validators();
        let slot_of = |round: u32| {
            let proposer = &validators.proposer(TRAP_HEIGHT, round).id;
            self.chain.nodes.iter().position(|node| &node.node_id == proposer).expect("a genesis validator")
        };
        let count = self.config.validators;
        // The lone validator must not propose round 1 (it would re-propose its own block).
        let lone = (0..count).map(|offset| (self.rng.index(count) + offset) % count).find(|&slot| slot != slot_of(1));
        let lone = lone.expect("more than one validator");
        let lucky = (0..count).map(|offset| (self.rng.index(count) + offset) % count).find(|&slot| slot != lone);
        let lucky = lucky.expect("more than one validator");
        self.note(format!("trap {trap:?} at h{TRAP_HEIGHT}: lone slot {lone}, lucky slot {lucky}"));
        self.trap = Some(TrapPlan { trap, lone, lucky, sprung: false });
    }

    /// Whether the trap drops the consensus message `bytes` sent from `from` to `to`.
    pub(crate) fn trap_drops(&self, from: usize, to: usize, bytes: &[u8]) -> bool {
        let Some(plan) = &self.trap else { return false };
        let Ok(message) = Message::decode(bytes) else { return false };
        if message.height() != TRAP_HEIGHT {
            return false;
        }
        let round = message.round();
        match (plan.trap, &message) {
            (Trap::LockedBlock, Message::Commit(_)) => round == 0 && to != plan.lucky,
            (Trap::TwoPreparedRounds, Message::Prepare(_)) => {
                (round == 0 && to != plan.lone) || (round == 1 && to == plan.lone)
            }
            (Trap::TwoPreparedRounds, Message::Commit(_)) => round == 0 || (round == 1 && to != plan.lucky),
            (Trap::TwoPreparedRounds, Message::RoundChange(_)) => round == 1 && from == plan.lone,
            _ => false,
        }
    }

    /// After `slot` committed: the lucky validator goes down once it decided the trap height.
    /// Returns whether it did.
    pub(crate) fn spring_trap(&mut self, slot: usize) -> bool {
        let Some(plan) = &mut self.trap else { return false };
        if plan.sprung || slot != plan.lucky {
            return false;
        }
        let decided = self.slots[slot].store.latest().ok().flatten().is_some_and(|tip| tip.height >= TRAP_HEIGHT);
        if !decided {
            return false;
        }
        plan.sprung = true;
        self.note(format!("trap sprung: slot {slot} decided h{TRAP_HEIGHT} and goes down"));
        self.count(crate::faults::TRAPS_SPRUNG, 1);
        self.crash_for(slot, TRAP_DOWN_MS);
        true
    }
}
