//! Authenticated API access for operators: sessions opened with a signed request, closed after 15
//! idle minutes (COV-09), re-checked against the chain on every use so that a revoked operator reads
//! nothing from the block after the revocation (COV-17); the audit log for auditors only (COV-33);
//! data records by need to know (COV-08), every read of customer data audited (COV-40).
//!
//! Opening a session: `POST /v1/auth/sessions` with `{"operator", "time_ms", "signature"}`, where
//! the signature is the operator's key over [`session_digest`] in the `ApiRequest` domain of this
//! chain, and `time_ms` is within [`SIGNATURE_WINDOW_MS`] of the node's clock. The answer holds a
//! bearer token for `Authorization: Bearer <token>`.

use std::collections::BTreeMap;
use std::sync::Mutex;

use serde::Deserialize;

use covenant_execution::{MemberState, OperatorState, StateKey, StateReader};
use covenant_types::{ChainId, Hash, MemberStatus, OperatorId, OperatorRecord, Role, Signature, SignatureDomain};

use crate::runtime::chain::StoreState;
use crate::runtime::shared::Shared;

/// A session closes after this long without use (COV-09: at most 15 minutes idle).
pub const SESSION_IDLE_MS_MAX: u64 = 15 * 60_000;
/// A session closes this long after it opened, used or not.
pub const SESSION_LIFETIME_MS_MAX: u64 = 8 * 3_600_000;
/// Open sessions a node keeps at most; idle ones are dropped first.
pub const SESSIONS_MAX: usize = 1_024;
/// How far a session request's time may be from the node's clock.
pub const SIGNATURE_WINDOW_MS: u64 = 60_000;

/// What an operator signs to open a session.
pub fn session_digest(operator: &OperatorId, time_ms: u64) -> Hash {
    let mut bytes = b"covenant/api-session/v1\0".to_vec();
    bytes.extend(operator.as_str().as_bytes());
    bytes.push(0);
    bytes.extend(time_ms.to_be_bytes());
    Hash::digest(&bytes)
}

/// The body of `POST /v1/auth/sessions`.
#[derive(Debug, Deserialize)]
pub struct SessionRequest {
    /// The operator.
    pub operator: OperatorId,
    /// The operator's clock when signing (ms since the Unix epoch).
    #[serde(deserialize_with = "whole_number")]
    pub time_ms: u64,
    /// Hex signature over [`session_digest`].
    pub signature: String,
}

/// A JSON number with no fractional part, from 0 to 2^64 - 1: JSON Schema counts `17909.0` as an
/// integer, so a client that writes it so follows the API's document.
fn whole_number<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<u64, D::Error> {
    use serde::Deserialize;
    let number = serde_json::Number::deserialize(deserializer)?;
    if let Some(value) = number.as_u64() {
        return Ok(value);
    }
    let whole =
        number.as_f64().filter(|value| value.fract() == 0.0 && *value >= 0.0 && *value < 18_446_744_073_709_551_616.0);
    // The range was checked just above; a whole f64 below 2^64 converts exactly.
    whole
        .map(|value| value as u64)
        .ok_or_else(|| serde::de::Error::custom(format!("{number} is not a whole number from 0 to 2^64 - 1")))
}

/// Why a request was not authorised. `rule` names the covenant rule where one applies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Denied {
    /// 401 (who are you?) or 403 (not you).
    pub status: u16,
    /// What went wrong.
    pub reason: String,
    /// The rule, if one refused it.
    pub rule: Option<covenant_rules::RuleId>,
}

impl Denied {
    fn unauthenticated(reason: impl Into<String>) -> Denied {
        Denied { status: 401, reason: reason.into(), rule: None }
    }

    fn forbidden(reason: impl Into<String>, rule: covenant_rules::RuleId) -> Denied {
        Denied { status: 403, reason: reason.into(), rule: Some(rule) }
    }
}

#[derive(Clone, Debug)]
struct Session {
    operator: OperatorId,
    opened_ms: u64,
    last_used_ms: u64,
}

/// The open sessions, by token.
#[derive(Default)]
pub struct Sessions {
    open: Mutex<BTreeMap<String, Session>>,
}

/// An operator whose session checked out, as the chain knows it now.
#[derive(Clone, Debug)]
pub struct Authenticated {
    /// The operator's record (person, member, roles).
    pub record: OperatorRecord,
}

impl Authenticated {
    /// Whether the operator holds `role`.
    pub fn has(&self, role: Role) -> bool {
        self.record.roles.contains(&role)
    }
}

impl Sessions {
    /// Opens a session for a correctly signed, fresh request from an active operator; returns its
    /// token.
    pub fn open(&self, shared: &Shared, request: &SessionRequest, now_ms: u64) -> Result<String, Denied> {
        if request.time_ms.abs_diff(now_ms) > SIGNATURE_WINDOW_MS {
            return Err(Denied::unauthenticated(format!(
                "request time {} ms is more than {SIGNATURE_WINDOW_MS} ms from the node's clock {now_ms} ms",
                request.time_ms
            )));
        }
        let record = active_operator(shared, &request.operator, now_ms)?;
        let mut signature = [0u8; 64];
        hex::decode_to_slice(request.signature.trim(), &mut signature)
            .map_err(|error| Denied::unauthenticated(format!("signature is not 64 bytes of hex: {error}")))?;
        let signature = Signature(signature);
        record
            .key
            .verify(
                SignatureDomain::ApiRequest,
                &shared.chain_id,
                &session_digest(&request.operator, request.time_ms),
                &signature,
            )
            .map_err(|_| Denied::unauthenticated("signature does not verify with the operator's registered key"))?;
        let token = new_token();
        let mut open = self.open.lock().expect("sessions lock poisoned");
        open.retain(|_, session| alive(session, now_ms));
        if open.len() >= SESSIONS_MAX {
            return Err(Denied::unauthenticated(format!("the node holds the most sessions it keeps ({SESSIONS_MAX})")));
        }
        open.insert(
            token.clone(),
            Session { operator: request.operator.clone(), opened_ms: now_ms, last_used_ms: now_ms },
        );
        Ok(token)
    }

    /// The operator behind `Authorization: Bearer <token>`, re-checked against the chain.
    pub fn check(&self, shared: &Shared, authorization: Option<&str>, now_ms: u64) -> Result<Authenticated, Denied> {
        let token = authorization
            .and_then(|value| value.strip_prefix("Bearer "))
            .ok_or_else(|| Denied::unauthenticated("this endpoint needs `Authorization: Bearer <session token>`"))?;
        let operator = {
            let mut open = self.open.lock().expect("sessions lock poisoned");
            let Some(session) = open.get_mut(token.trim()) else {
                return Err(Denied::unauthenticated("unknown or closed session: open a new one"));
            };
            if !alive(session, now_ms) {
                open.remove(token.trim());
                return Err(Denied::forbidden(
                    format!("session closed after {} minutes idle or its lifetime", SESSION_IDLE_MS_MAX / 60_000),
                    covenant_rules::RuleId::SessionIdle,
                ));
            }
            session.last_used_ms = now_ms;
            session.operator.clone()
        };
        match active_operator(shared, &operator, now_ms) {
            Ok(record) => Ok(Authenticated { record }),
            Err(denied) => {
                // Revoked, expired or suspended since the session opened: close it at once.
                self.open.lock().expect("sessions lock poisoned").retain(|_, session| session.operator != operator);
                Err(denied)
            }
        }
    }

    /// Open sessions (for tests and metrics).
    pub fn len(&self) -> usize {
        self.open.lock().expect("sessions lock poisoned").len()
    }

    /// Whether no session is open.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

fn alive(session: &Session, now_ms: u64) -> bool {
    now_ms.saturating_sub(session.last_used_ms) <= SESSION_IDLE_MS_MAX
        && now_ms.saturating_sub(session.opened_ms) <= SESSION_LIFETIME_MS_MAX
}

fn new_token() -> String {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).expect("the operating system random source is available");
    hex::encode(bytes)
}

/// The operator's record if it may act now: registered, not revoked, key unexpired, member active.
fn active_operator(shared: &Shared, operator: &OperatorId, now_ms: u64) -> Result<OperatorRecord, Denied> {
    let state = StoreState(&*shared.store);
    let stored = state
        .get::<OperatorState>(&StateKey::Operator(operator.clone()))
        .map_err(|error| Denied::unauthenticated(format!("state unavailable: {error}")))?
        .ok_or_else(|| Denied::unauthenticated(format!("{operator} is not a registered operator")))?;
    if stored.revoked {
        return Err(Denied::forbidden(format!("{operator} is revoked"), covenant_rules::RuleId::Revocation));
    }
    if now_ms >= stored.record.key_expires_at_ms {
        return Err(Denied::forbidden(
            format!("the key of {operator} expired"),
            covenant_rules::RuleId::CredentialExpiry,
        ));
    }
    let member = state
        .get::<MemberState>(&StateKey::Member(stored.record.member.clone()))
        .map_err(|error| Denied::unauthenticated(format!("state unavailable: {error}")))?;
    if member.is_none_or(|member| member.status != MemberStatus::Active) {
        return Err(Denied::forbidden(
            format!("member {} is not active", stored.record.member),
            covenant_rules::RuleId::Revocation,
        ));
    }
    Ok(stored.record)
}

/// Signs a session request (for the CLI and SDK).
pub fn sign_session(
    chain: &ChainId,
    operator: &OperatorId,
    key: &covenant_types::SecretKey,
    time_ms: u64,
) -> serde_json::Value {
    let signature = key.sign(SignatureDomain::ApiRequest, chain, &session_digest(operator, time_ms));
    serde_json::json!({ "operator": operator, "time_ms": time_ms, "signature": signature.to_hex() })
}

#[cfg(test)]
mod tests {
    use super::*;

    // covers: COV-09-SESSION-IDLE
    #[test]
    fn sessions_close_after_fifteen_idle_minutes_and_after_their_lifetime() {
        let session = Session { operator: OperatorId::new("a.audit").unwrap(), opened_ms: 0, last_used_ms: 0 };
        assert!(alive(&session, SESSION_IDLE_MS_MAX));
        assert!(!alive(&session, SESSION_IDLE_MS_MAX + 1));
        let busy = Session { last_used_ms: SESSION_LIFETIME_MS_MAX, ..session };
        assert!(alive(&busy, SESSION_LIFETIME_MS_MAX));
        assert!(!alive(&busy, SESSION_LIFETIME_MS_MAX + 1), "an always-busy session still ends");
    }

    #[test]
    fn the_session_digest_binds_operator_and_time() {
        let alice = OperatorId::new("a.alice").unwrap();
        let bob = OperatorId::new("a.bob").unwrap();
        assert_ne!(session_digest(&alice, 1), session_digest(&alice, 2));
        assert_ne!(session_digest(&alice, 1), session_digest(&bob, 1));
    }
}
