//! Per-member admission rate limits (article 45, COV-45-LOAD-LIMITS): a token bucket per member
//! whose operators send this node transactions, so that one member's flood cannot take the node's
//! whole admission capacity from the others.
//!
//! The buckets run on the time the core is given with each input (no clock of their own), in
//! integer milli-tokens, so the same inputs always give the same verdicts. There is one bucket per
//! member that sent something, and only senders that passed the sender checks (registered operator
//! of an active member, signed with its registered key) reach a bucket, so the state is bounded by
//! the registered members and nobody can spend another member's tokens by naming its operators.
//!
//! Only clients' transactions are limited: a peer's gossiped copy was admitted under the limit of
//! the node its client sent it to, and a block's transactions are validated by consensus rules, not
//! by any node's load. The limits are node configuration (`member_txs_per_second`,
//! `member_txs_burst` in `node.toml`), not chain parameters, since admission load is each node's
//! own (ADR 0022).

use std::collections::BTreeMap;

use covenant_rules::Violation;
use covenant_types::MemberId;

/// Transactions a member may send a node per second by default: above what one node verifies in a
/// second (about 50,000 signatures on the benchmark host, docs/benchmarking.md), so that the default
/// costs no throughput even when every benchmark sender belongs to one member. An operator who
/// wants a member's flood to leave room for the others sets it to that member's share.
pub const MEMBER_TXS_PER_SECOND_DEFAULT: u64 = 100_000;
/// Transactions a member may send at once by default (two seconds' worth, so that a client's
/// batch arriving together with a burst of others is not refused).
pub const MEMBER_TXS_BURST_DEFAULT: u64 = 2 * MEMBER_TXS_PER_SECOND_DEFAULT;
/// Largest rate or burst accepted: keeps the milli-token arithmetic far from overflow.
pub const MEMBER_TXS_LIMIT_MAX: u64 = 1_000_000_000;

/// Milli-tokens per transaction.
const MILLI: u64 = 1_000;

/// The per-member limits in force.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct MemberTxLimits {
    /// Sustained transactions per second per member (at least 1).
    pub txs_per_second: u64,
    /// Most transactions a member may send at once (at least 1).
    pub burst: u64,
}

impl Default for MemberTxLimits {
    fn default() -> MemberTxLimits {
        MemberTxLimits { txs_per_second: MEMBER_TXS_PER_SECOND_DEFAULT, burst: MEMBER_TXS_BURST_DEFAULT }
    }
}

/// One member's bucket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Bucket {
    milli_tokens: u64,
    refilled_at_ms: u64,
}

/// The buckets of the members that sent this node transactions.
#[derive(Debug, Default)]
pub struct MemberBuckets {
    limits: MemberTxLimits,
    buckets: BTreeMap<MemberId, Bucket>,
}

impl MemberBuckets {
    /// Full buckets under `limits` (values clamped to 1..=[`MEMBER_TXS_LIMIT_MAX`]).
    pub fn new(limits: MemberTxLimits) -> MemberBuckets {
        let clamp = |value: u64| value.clamp(1, MEMBER_TXS_LIMIT_MAX);
        let limits = MemberTxLimits { txs_per_second: clamp(limits.txs_per_second), burst: clamp(limits.burst) };
        MemberBuckets { limits, buckets: BTreeMap::new() }
    }

    /// The limits in force.
    pub fn limits(&self) -> MemberTxLimits {
        self.limits
    }

    /// Members with a bucket.
    pub fn len(&self) -> usize {
        self.buckets.len()
    }

    /// True before any member sent anything.
    pub fn is_empty(&self) -> bool {
        self.buckets.is_empty()
    }

    /// Takes one transaction's token from `member`'s bucket at `now_ms`, or refuses with the
    /// overloaded error naming the member and the limits (COV-45). A clock that went backwards
    /// refills nothing.
    pub fn take(&mut self, member: &MemberId, now_ms: u64) -> Result<(), Violation> {
        let capacity = self.limits.burst * MILLI;
        let bucket =
            self.buckets.entry(member.clone()).or_insert(Bucket { milli_tokens: capacity, refilled_at_ms: now_ms });
        let elapsed_ms = now_ms.saturating_sub(bucket.refilled_at_ms);
        // txs_per_second tokens a second are txs_per_second milli-tokens a millisecond.
        let earned = elapsed_ms.saturating_mul(self.limits.txs_per_second);
        bucket.milli_tokens = bucket.milli_tokens.saturating_add(earned).min(capacity);
        bucket.refilled_at_ms = bucket.refilled_at_ms.max(now_ms);
        if bucket.milli_tokens < MILLI {
            return Err(Violation::MemberRateExceeded {
                member: member.clone(),
                txs_per_second: self.limits.txs_per_second,
                burst: self.limits.burst,
            });
        }
        bucket.milli_tokens -= MILLI;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use covenant_rules::RuleId;

    fn member(name: &str) -> MemberId {
        MemberId::new(name).expect("id")
    }

    // covers: COV-45-LOAD-LIMITS
    #[test]
    fn a_member_past_its_burst_is_refused_until_its_bucket_refills() {
        let mut buckets = MemberBuckets::new(MemberTxLimits { txs_per_second: 10, burst: 5 });
        let bank_a = member("bank-a");
        for _ in 0..5 {
            buckets.take(&bank_a, 1_000).expect("within the burst");
        }
        let refused = buckets.take(&bank_a, 1_000).expect_err("the sixth at once is over the burst");
        assert_eq!(refused.rule(), RuleId::LoadLimits);
        let text = refused.to_string();
        assert!(text.contains("overloaded") && text.contains("bank-a") && text.contains("10"), "{text}");
        // 10 a second: one token every 100 ms.
        assert!(buckets.take(&bank_a, 1_099).is_err(), "99 ms earn less than a token");
        buckets.take(&bank_a, 1_100).expect("100 ms earn one token");
        assert!(buckets.take(&bank_a, 1_100).is_err());
        // A long pause refills to the burst, not beyond.
        let later = 100_000;
        for _ in 0..5 {
            buckets.take(&bank_a, later).expect("refilled to the burst");
        }
        assert!(buckets.take(&bank_a, later).is_err(), "never more than the burst at once");
    }

    // covers: COV-45-LOAD-LIMITS
    #[test]
    fn one_members_flood_leaves_the_others_buckets_untouched() {
        let mut buckets = MemberBuckets::new(MemberTxLimits { txs_per_second: 1, burst: 2 });
        let (bank_a, bank_b) = (member("bank-a"), member("bank-b"));
        let refused = (0..100).filter(|_| buckets.take(&bank_a, 5_000).is_err()).count();
        assert_eq!(refused, 98);
        buckets.take(&bank_b, 5_000).expect("another member's first transaction");
        buckets.take(&bank_b, 5_000).expect("and its second");
        assert_eq!(buckets.len(), 2, "one bucket per member that sent something");
    }

    // covers: COV-45-LOAD-LIMITS
    #[test]
    fn a_clock_going_backwards_earns_nothing_and_limits_are_clamped() {
        let mut buckets = MemberBuckets::new(MemberTxLimits { txs_per_second: 1_000, burst: 1 });
        let bank_a = member("bank-a");
        buckets.take(&bank_a, 10_000).expect("first");
        assert!(buckets.take(&bank_a, 5_000).is_err(), "going back in time refills nothing");
        assert!(buckets.take(&bank_a, 10_000).is_err(), "nor does coming back to the same time");
        buckets.take(&bank_a, 10_001).expect("a millisecond later at 1,000 a second");

        let zero = MemberBuckets::new(MemberTxLimits { txs_per_second: 0, burst: 0 });
        assert_eq!(zero.limits(), MemberTxLimits { txs_per_second: 1, burst: 1 });
        let huge = MemberBuckets::new(MemberTxLimits { txs_per_second: u64::MAX, burst: u64::MAX });
        assert_eq!(huge.limits().burst, MEMBER_TXS_LIMIT_MAX);
    }
}
