//! Rule checks that need only a transaction, a header and the parameters. Each is the one place its
//! rule is checked; callers (mempool admission, proposal validation) pass the numbers in.

use covenant_types::{ChainId, Jurisdiction, MemberId, Role};

use crate::params::{AUDIT_RETENTION_DAYS_MIN, ChainParams};
use crate::violation::Violation;

/// One day in milliseconds.
pub const DAY_MS: u64 = 24 * 3_600_000;

/// Role pairs no single operator may hold (COV-12-ROLE-SEPARATION).
///
/// The auditor role is exclusive: an auditor reviews the audit trail of everyone else's actions, so
/// they must not also be able to govern (admin), write business data (submitter) or change contracts
/// (contract steward). The covenant names admin + auditor as the example; we apply the same reasoning
/// to every role that acts. Admin + submitter and admin + contract steward are allowed: small members
/// often have one officer doing both, and every governance act still needs a second person (COV-16).
pub const FORBIDDEN_ROLE_PAIRS: &[(Role, Role)] =
    &[(Role::Admin, Role::Auditor), (Role::Submitter, Role::Auditor), (Role::ContractSteward, Role::Auditor)];

/// Smallest number of members any governance threshold may require (COV-18-NO-SUPERUSER).
pub const THRESHOLD_MEMBERS_MIN: u32 = 2;

/// COV-49-BLOCK-LIMITS: encoded size and transaction count within the parameters.
pub fn check_block_limits(block_bytes: u64, tx_count: u64, params: &ChainParams) -> Result<(), Violation> {
    if block_bytes > params.block_bytes_max {
        return Err(Violation::BlockTooLarge { bytes: block_bytes, max: params.block_bytes_max });
    }
    if tx_count > params.block_txs_max {
        return Err(Violation::TooManyTransactions { count: tx_count, max: params.block_txs_max });
    }
    Ok(())
}

/// COV-36-TIMESTAMP-INTEGRITY: the timestamp is at least the parent's plus `block_interval_ms_min`
/// (so timestamps strictly increase).
pub fn check_timestamp_interval(
    timestamp_ms: u64,
    parent_timestamp_ms: u64,
    params: &ChainParams,
) -> Result<(), Violation> {
    let earliest = parent_timestamp_ms.saturating_add(params.block_interval_ms_min);
    if timestamp_ms < earliest {
        return Err(Violation::TimestampTooEarly {
            timestamp_ms,
            parent_timestamp_ms,
            interval_ms_min: params.block_interval_ms_min,
        });
    }
    Ok(())
}

/// COV-49-BLOCK-LIMITS, the part of the maximum interval a validator can refuse (ADR 0019): a round-0
/// block comes at most `block_interval_ms_max` + `clock_drift_ms_max` after its parent, since its
/// proposer proposes once the parent is `block_interval_ms_max` old. Later rounds are exempt: after an
/// outage the next block is necessarily late, and refusing it would halt the chain.
pub fn check_round0_interval(
    timestamp_ms: u64,
    parent_timestamp_ms: u64,
    params: &ChainParams,
) -> Result<(), Violation> {
    let latest_ms =
        parent_timestamp_ms.saturating_add(params.block_interval_ms_max).saturating_add(params.clock_drift_ms_max);
    if timestamp_ms > latest_ms {
        return Err(Violation::BlockTooLate { timestamp_ms, parent_timestamp_ms, latest_ms });
    }
    Ok(())
}

/// COV-35-CLOCK-DRIFT: the timestamp is within `clock_drift_ms_max` of this validator's clock `now_ms`
/// (read by the caller when the proposal was first received; the check itself reads no clock).
pub fn check_clock_drift(timestamp_ms: u64, now_ms: u64, params: &ChainParams) -> Result<(), Violation> {
    let drift_ms = timestamp_ms.abs_diff(now_ms);
    if drift_ms > params.clock_drift_ms_max {
        return Err(Violation::ClockDrift { timestamp_ms, now_ms, drift_ms, max: params.clock_drift_ms_max });
    }
    Ok(())
}

/// COV-19-ENVIRONMENT-SEPARATION: the object names this chain.
pub fn check_chain_id(found: &ChainId, expected: &ChainId) -> Result<(), Violation> {
    if found != expected {
        return Err(Violation::WrongChain { found: found.clone(), expected: expected.clone() });
    }
    Ok(())
}

/// COV-45-LOAD-LIMITS: the encoded transaction is within `tx_bytes_max`.
pub fn check_tx_size(tx_bytes: u64, params: &ChainParams) -> Result<(), Violation> {
    if tx_bytes > params.tx_bytes_max {
        return Err(Violation::TxTooLarge { bytes: tx_bytes, max: params.tx_bytes_max });
    }
    Ok(())
}

/// COV-34-ORDERED-NONCES: the nonce is exactly the sender's next one.
pub fn check_nonce(found: u64, expected: u64) -> Result<(), Violation> {
    if found != expected {
        return Err(Violation::NonceOutOfOrder { found, expected });
    }
    Ok(())
}

/// COV-06-SANCTIONED-JURISDICTION: `member`'s jurisdiction is not on the sanctioned list.
pub fn check_jurisdiction_allowed(
    member: &MemberId,
    jurisdiction: &Jurisdiction,
    sanctioned: &[Jurisdiction],
) -> Result<(), Violation> {
    if sanctioned.contains(jurisdiction) {
        return Err(Violation::SanctionedJurisdiction { member: member.clone(), jurisdiction: jurisdiction.clone() });
    }
    Ok(())
}

/// COV-12-ROLE-SEPARATION: no pair in [`FORBIDDEN_ROLE_PAIRS`] is held together. Reports the first
/// forbidden pair found, in the order of that table.
pub fn check_role_combination(roles: &[Role]) -> Result<(), Violation> {
    for &(first, second) in FORBIDDEN_ROLE_PAIRS {
        if roles.contains(&first) && roles.contains(&second) {
            return Err(Violation::ForbiddenRoleCombination { first, second });
        }
    }
    Ok(())
}

/// COV-11-CREDENTIAL-EXPIRY (issue part): an operator key issued at `issued_at_ms` expires after its
/// issue and at most `operator_key_age_days_max` days later.
pub fn check_key_lifetime(issued_at_ms: u64, expires_at_ms: u64, params: &ChainParams) -> Result<(), Violation> {
    if expires_at_ms <= issued_at_ms {
        return Err(Violation::KeyExpiredAtIssue { issued_at_ms, expires_at_ms });
    }
    let lifetime_ms = expires_at_ms - issued_at_ms;
    let age_ms_max = params.operator_key_age_days_max.saturating_mul(DAY_MS);
    if lifetime_ms > age_ms_max {
        return Err(Violation::KeyLifetimeTooLong {
            issued_at_ms,
            expires_at_ms,
            lifetime_ms,
            age_days_max: params.operator_key_age_days_max,
            age_ms_max,
        });
    }
    Ok(())
}

/// COV-18-NO-SUPERUSER: a governance class threshold needs at least [`THRESHOLD_MEMBERS_MIN`] members.
pub fn check_threshold(class: &str, members_required: u32) -> Result<(), Violation> {
    if members_required < THRESHOLD_MEMBERS_MIN {
        return Err(Violation::ThresholdTooLow {
            class: class.to_string(),
            members_required,
            min: THRESHOLD_MEMBERS_MIN,
        });
    }
    Ok(())
}

/// COV-18-NO-SUPERUSER: the admin role is held by at least two distinct persons in at least two
/// distinct members, so approvals can always come from two keys of two members.
pub fn check_admin_spread(admin_persons: u64, admin_members: u64) -> Result<(), Violation> {
    if admin_persons < 2 || admin_members < 2 {
        return Err(Violation::AdminsTooConcentrated { admin_persons, admin_members });
    }
    Ok(())
}

/// Distinct persons besides the proposer who must approve any proposal (COV-16).
pub const APPROVING_PERSONS_MIN: u64 = 2;

/// Who can approve governance at one instant (or what passing a class needs): distinct persons,
/// and distinct members those persons belong to.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Approvers {
    /// Distinct persons (a person is scoped by member).
    pub persons: u64,
    /// Distinct members.
    pub members: u64,
}

impl Approvers {
    /// What passing a class of `members_required` members needs: a proposer and
    /// [`APPROVING_PERSONS_MIN`] other persons (COV-16), in `members_required` members.
    pub fn required(members_required: u32) -> Approvers {
        Approvers { persons: APPROVING_PERSONS_MIN + 1, members: u64::from(members_required) }
    }

    /// How many persons and members these approvers fall short of `required` (zero when enough).
    pub fn shortfall(self, required: Approvers) -> Approvers {
        Approvers {
            persons: required.persons.saturating_sub(self.persons),
            members: required.members.saturating_sub(self.members),
        }
    }
}

/// The approvers and the strictest class's needs counted at one instant, before and after a change.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ApproversAt {
    /// Block time at which they were counted.
    pub at_ms: u64,
    /// Approvers before the change.
    pub before: Approvers,
    /// Approvers after the change.
    pub after: Approvers,
    /// What the strictest class needs before the change.
    pub required_before: Approvers,
    /// What the strictest class needs after the change (a threshold change moves it).
    pub required_after: Approvers,
}

/// COV-18-NO-SUPERUSER, liveness part (ADR 0021): a governance change may not leave the chain
/// shorter of approvers than the strictest class needs than it already was. A healthy chain may
/// not become short; a chain already short (its keys lapsed with time) may still be repaired, and
/// any change that does not deepen the shortfall passes.
pub fn check_no_lockout(change: &str, counted: &ApproversAt) -> Result<(), Violation> {
    let before = counted.before.shortfall(counted.required_before);
    let after = counted.after.shortfall(counted.required_after);
    if after.persons > before.persons || after.members > before.members {
        return Err(Violation::GovernanceLockout {
            change: change.to_string(),
            at_ms: counted.at_ms,
            persons: counted.after.persons,
            members: counted.after.members,
            persons_required: counted.required_after.persons,
            members_required: counted.required_after.members,
        });
    }
    Ok(())
}

/// COV-18-RETENTION: audit records are kept at least [`AUDIT_RETENTION_DAYS_MIN`] days.
pub fn check_audit_retention(days: u64) -> Result<(), Violation> {
    if days < AUDIT_RETENTION_DAYS_MIN {
        return Err(Violation::RetentionTooShort { days, min: AUDIT_RETENTION_DAYS_MIN });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::RuleId;

    // covers: COV-12-ROLE-SEPARATION
    #[test]
    fn role_separation_refuses_auditor_with_any_acting_role() {
        assert_eq!(check_role_combination(&[Role::Admin, Role::Submitter, Role::ContractSteward]), Ok(()));
        assert_eq!(check_role_combination(&[Role::Auditor]), Ok(()));
        for acting in [Role::Admin, Role::Submitter, Role::ContractSteward] {
            let violation = check_role_combination(&[Role::Auditor, acting]).unwrap_err();
            assert_eq!(violation.rule(), RuleId::RoleSeparation);
            assert_eq!(violation, Violation::ForbiddenRoleCombination { first: acting, second: Role::Auditor });
        }
    }

    // covers: COV-49-BLOCK-LIMITS
    #[test]
    fn a_round0_block_comes_at_most_the_maximum_interval_and_the_drift_after_its_parent() {
        let params = ChainParams { block_interval_ms_max: 5_000, clock_drift_ms_max: 2_000, ..ChainParams::default() };
        let parent = 1_000_000;
        assert_eq!(check_round0_interval(parent + 7_000, parent, &params), Ok(()));
        let late = check_round0_interval(parent + 7_001, parent, &params).unwrap_err();
        assert_eq!(late.rule(), RuleId::BlockLimits);
        assert_eq!(
            late,
            Violation::BlockTooLate {
                timestamp_ms: parent + 7_001,
                parent_timestamp_ms: parent,
                latest_ms: parent + 7_000
            }
        );
        assert_eq!(check_round0_interval(u64::MAX, u64::MAX - 1, &params), Ok(()), "saturates");
    }

    // covers: COV-11-CREDENTIAL-EXPIRY
    #[test]
    fn key_lifetime_is_bounded_by_the_parameter() {
        let params = ChainParams::default();
        let issued = 1_000_000;
        assert_eq!(check_key_lifetime(issued, issued + 90 * DAY_MS, &params), Ok(()));
        let too_long = check_key_lifetime(issued, issued + 90 * DAY_MS + 1, &params).unwrap_err();
        assert_eq!(too_long.rule(), RuleId::CredentialExpiry);
        assert!(
            matches!(too_long, Violation::KeyLifetimeTooLong { lifetime_ms, .. } if lifetime_ms == 90 * DAY_MS + 1)
        );
        assert_eq!(
            check_key_lifetime(issued, issued, &params),
            Err(Violation::KeyExpiredAtIssue { issued_at_ms: issued, expires_at_ms: issued })
        );
    }

    // covers: COV-18-NO-SUPERUSER
    #[test]
    fn thresholds_and_admins_need_two() {
        assert_eq!(check_threshold("membership", 2), Ok(()));
        assert_eq!(check_threshold("emergency", 1).unwrap_err().rule(), RuleId::NoSuperuser);
        assert_eq!(check_threshold("emergency", 0).unwrap_err().rule(), RuleId::NoSuperuser);
        assert_eq!(check_admin_spread(2, 2), Ok(()));
        assert_eq!(check_admin_spread(3, 1).unwrap_err().rule(), RuleId::NoSuperuser);
        assert_eq!(check_admin_spread(1, 1).unwrap_err().rule(), RuleId::NoSuperuser);
    }

    fn counted(before: (u64, u64), after: (u64, u64), required_before: u32, required_after: u32) -> ApproversAt {
        ApproversAt {
            at_ms: 5,
            before: Approvers { persons: before.0, members: before.1 },
            after: Approvers { persons: after.0, members: after.1 },
            required_before: Approvers::required(required_before),
            required_after: Approvers::required(required_after),
        }
    }

    // covers: COV-18-NO-SUPERUSER
    #[test]
    fn a_change_may_not_leave_governance_short_of_approvers() {
        // Healthy before and after: 4 persons in 3 members, the strictest class needs 3 members.
        assert_eq!(check_no_lockout("RevokeOperator x", &counted((5, 3), (4, 3), 3, 3)), Ok(()));
        // One member fewer than the strictest class needs.
        let refused = check_no_lockout("SuspendMember bank-c", &counted((5, 3), (4, 2), 3, 3)).unwrap_err();
        assert_eq!(refused.rule(), RuleId::NoSuperuser);
        assert_eq!(
            refused,
            Violation::GovernanceLockout {
                change: "SuspendMember bank-c".into(),
                at_ms: 5,
                persons: 4,
                members: 2,
                persons_required: 3,
                members_required: 3
            }
        );
        // Two persons are not enough: the proposer needs two approvers besides.
        assert!(check_no_lockout("RevokeOperator x", &counted((3, 2), (2, 2), 2, 2)).is_err());
        // A threshold raised above the members that can approve.
        assert!(check_no_lockout("SetThreshold membership 4", &counted((5, 3), (5, 3), 3, 4)).is_err());
        // Already short (keys lapsed): a change that does not deepen the shortfall is a repair.
        assert_eq!(check_no_lockout("RotateOperatorKey x", &counted((2, 2), (3, 2), 3, 3)), Ok(()));
        assert_eq!(check_no_lockout("SetThreshold membership 2", &counted((3, 2), (3, 2), 3, 2)), Ok(()));
        assert!(check_no_lockout("RevokeOperator x", &counted((3, 2), (2, 2), 3, 3)).is_err());
    }

    // covers: COV-06-SANCTIONED-JURISDICTION, COV-18-RETENTION
    #[test]
    fn sanctioned_jurisdiction_and_retention() {
        let member = MemberId::new("bank-x").unwrap();
        let kp = Jurisdiction::new("KP").unwrap();
        let tw = Jurisdiction::new("TW").unwrap();
        assert_eq!(check_jurisdiction_allowed(&member, &tw, std::slice::from_ref(&kp)), Ok(()));
        let violation = check_jurisdiction_allowed(&member, &kp, std::slice::from_ref(&kp)).unwrap_err();
        assert_eq!(violation.rule(), RuleId::SanctionedJurisdiction);
        assert_eq!(check_audit_retention(365), Ok(()));
        assert_eq!(check_audit_retention(364), Err(Violation::RetentionTooShort { days: 364, min: 365 }));
    }
}
