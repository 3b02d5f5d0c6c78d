//! COV-37-PII-PROTECTION: customer personal data goes on chain only as an encrypted envelope, and
//! plaintext that looks like a national identification number is refused wherever it appears
//! (record content, transfer memos).
//!
//! The envelope is a fixed, documented frame (`docs/data-records.md`): the chain cannot see whether
//! the ciphertext is real, but it can insist that nothing else is accepted for customer data, so a
//! member never puts raw personal data on chain by mistake.
//!
//! ```text
//! envelope := "CVE1" algorithm:u8 recipient_key_id:[u8; 32] nonce ciphertext_and_tag
//! algorithm 1 = XChaCha20-Poly1305 (24-byte nonce), 2 = AES-256-GCM (12-byte nonce);
//! the ciphertext with its 16-byte tag is at least 16 bytes.
//! ```

use covenant_types::{AccountId, Classification, RecordContent};

use crate::violation::Violation;

/// The first bytes of an encrypted envelope.
pub const ENVELOPE_MAGIC: &[u8; 4] = b"CVE1";
/// Authentication tag length of both algorithms.
const TAG_BYTES: usize = 16;
const KEY_ID_BYTES: usize = 32;

/// The nonce length of an envelope algorithm, or `None` for an unknown algorithm.
fn nonce_bytes(algorithm: u8) -> Option<usize> {
    match algorithm {
        1 => Some(24),
        2 => Some(12),
        _ => None,
    }
}

/// Why `bytes` is not a well-formed envelope, or `None` if it is one.
pub fn envelope_defect(bytes: &[u8]) -> Option<String> {
    let Some(rest) = bytes.strip_prefix(ENVELOPE_MAGIC.as_slice()) else {
        return Some("customer data must be an encrypted envelope starting with \"CVE1\"".into());
    };
    let Some((&algorithm, rest)) = rest.split_first() else {
        return Some("envelope ends before its algorithm byte".into());
    };
    let Some(nonce) = nonce_bytes(algorithm) else {
        return Some(format!("envelope algorithm {algorithm} is unknown (1 = XChaCha20-Poly1305, 2 = AES-256-GCM)"));
    };
    let needed = KEY_ID_BYTES + nonce + TAG_BYTES;
    if rest.len() < needed {
        return Some(format!(
            "envelope holds {} bytes after its header, fewer than key id, nonce and tag ({needed})",
            rest.len()
        ));
    }
    None
}

/// The Taiwanese national identification or resident certificate number in `text`, masked, if one
/// appears: a letter, then `1`/`2` (citizens) or `8`/`9` (residents), then eight digits, with a valid
/// check digit, not inside a longer run of letters or digits.
pub fn find_national_id(text: &[u8]) -> Option<String> {
    const LEN: usize = 10;
    if text.len() < LEN {
        return None;
    }
    for start in 0..=text.len() - LEN {
        let window = &text[start..start + LEN];
        let before_ok = start == 0 || !text[start - 1].is_ascii_alphanumeric();
        let after_ok = start + LEN == text.len() || !text[start + LEN].is_ascii_alphanumeric();
        if before_ok && after_ok && is_taiwan_id(window) {
            let shown = window[0] as char;
            return Some(format!("{shown}*********"));
        }
    }
    None
}

/// The check-digit algorithm of the Taiwanese national id: the letter maps to a two-digit code, the
/// weighted digit sum must be divisible by 10.
fn is_taiwan_id(window: &[u8]) -> bool {
    let letter = window[0].to_ascii_uppercase();
    if !letter.is_ascii_uppercase() || !matches!(window[1], b'1' | b'2' | b'8' | b'9') {
        return false;
    }
    if !window[1..].iter().all(u8::is_ascii_digit) {
        return false;
    }
    // A=10 B=11 ... H=17, I=34, J=18 ... N=22, O=35, P=23 ... V=29, W=32, X=30, Y=31, Z=33.
    const CODES: [u32; 26] =
        [10, 11, 12, 13, 14, 15, 16, 17, 34, 18, 19, 20, 21, 22, 35, 23, 24, 25, 26, 27, 28, 29, 32, 30, 31, 33];
    let code = CODES[usize::from(letter - b'A')];
    let mut sum = code / 10 + (code % 10) * 9;
    for (index, digit) in window[1..9].iter().enumerate() {
        sum += u32::from(digit - b'0') * (8 - index as u32);
    }
    sum += u32::from(window[9] - b'0');
    sum.is_multiple_of(10)
}

/// The path segment that marks a customer account.
pub const CUSTOMER_SEGMENT: &str = "customers";

/// Customer accounts are named `<member>/customers/<name>` (ADR 0024): the name alone says whether
/// an account is a customer's, so every check can tell without reading the state, and no account
/// changes from one kind to the other. Every other account belongs to the member itself (treasury,
/// settlement, ...).
pub fn is_customer_account(account: &AccountId) -> bool {
    let mut parts = account.as_str().split('/');
    parts.next().is_some_and(|member| !member.is_empty())
        && parts.next() == Some(CUSTOMER_SEGMENT)
        && parts.next().is_some_and(|name| !name.is_empty())
}

/// Whether `byte` may appear in an account id (`a-z`, `0-9`, `.`, `_`, `-`, `/`).
fn is_account_byte(byte: u8) -> bool {
    byte.is_ascii_lowercase() || byte.is_ascii_digit() || matches!(byte, b'.' | b'_' | b'-' | b'/')
}

/// Every customer account named in `bytes`, sorted and each once: in each run of account-id bytes,
/// every `<member>/customers/<rest>` where `<member>` is the segment before `/customers/` and `<rest>`
/// runs to the end of the run. A contract or record that puts an account id next to other text
/// separates it with a byte outside the account alphabet (`:`, a space, a zero byte), as
/// `docs/contract-abi.md` asks; glued text becomes part of the account named, which then needs its
/// own KYC, so gluing can never hide a customer.
pub fn customer_accounts_named(bytes: &[u8]) -> Vec<AccountId> {
    let marker = format!("/{CUSTOMER_SEGMENT}/");
    let mut found = std::collections::BTreeSet::new();
    for run in bytes.split(|byte| !is_account_byte(*byte)) {
        let Ok(run) = std::str::from_utf8(run) else { continue };
        for (at, _) in run.match_indices(&marker) {
            let member_start = run[..at].rfind('/').map_or(0, |slash| slash + 1);
            if let Ok(account) = AccountId::new(&run[member_start..])
                && is_customer_account(&account)
            {
                found.insert(account);
            }
        }
    }
    found.into_iter().collect()
}

/// COV-37 for a data record: customer data must be an envelope (or kept off chain as a digest), and
/// no inline plaintext may carry a national id number or name a customer account (data about a
/// customer is customer data: [`check_record_subject`]).
pub fn check_record_content(classification: Classification, content: &RecordContent) -> Result<(), Violation> {
    let RecordContent::Inline(bytes) = content else {
        return Ok(());
    };
    if classification == Classification::CustomerData {
        if let Some(reason) = envelope_defect(bytes) {
            return Err(Violation::PiiExposed { reason });
        }
        return Ok(());
    }
    if let Some(account) = customer_accounts_named(bytes).first() {
        return Err(Violation::PiiExposed {
            reason: format!(
                "{classification:?} record content names customer account {account}: data about a customer is \
                 classified CustomerData, names the customer as subject and is encrypted"
            ),
        });
    }
    check_plaintext("record content", bytes)
}

/// COV-37 for a data record: customer data names the customer it is about (a customer account, whose
/// KYC COV-07 then checks), and a record about a customer account is customer data, so no customer
/// data reaches the chain under another classification or without its customer.
pub fn check_record_subject(subject: Option<&AccountId>, classification: Classification) -> Result<(), Violation> {
    let about_customer = subject.is_some_and(is_customer_account);
    match (classification == Classification::CustomerData, subject) {
        (true, None) => Err(Violation::PiiExposed {
            reason: "a CustomerData record must name its customer account as subject".into(),
        }),
        (true, Some(subject)) if !about_customer => Err(Violation::PiiExposed {
            reason: format!(
                "a CustomerData record's subject must be a customer account (member/{CUSTOMER_SEGMENT}/name), not {subject}"
            ),
        }),
        (false, Some(subject)) if about_customer => Err(Violation::PiiExposed {
            reason: format!("a record about customer account {subject} is customer data: classify it CustomerData"),
        }),
        _ => Ok(()),
    }
}

/// COV-37 for free text (a transfer memo, a record): no national id number in plaintext.
pub fn check_plaintext(what: &str, bytes: &[u8]) -> Result<(), Violation> {
    match find_national_id(bytes) {
        Some(masked) => Err(Violation::PiiExposed {
            reason: format!(
                "{what} contains what looks like a national id number ({masked}); encrypt it in an envelope"
            ),
        }),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::RuleId;

    /// A valid envelope: magic, algorithm 1, key id, 24-byte nonce, 16-byte tag and 4 bytes of text.
    fn envelope() -> Vec<u8> {
        let mut bytes = ENVELOPE_MAGIC.to_vec();
        bytes.push(1);
        bytes.extend([7u8; 32 + 24 + 16 + 4]);
        bytes
    }

    #[test]
    fn known_valid_national_ids_are_found_and_masked() {
        // A123456789 is the well-known valid example; F131104093 another.
        assert_eq!(find_national_id(b"customer A123456789 opened"), Some("A*********".into()));
        assert!(find_national_id(b"F131104093").is_some());
        // Wrong check digit, wrong gender digit, embedded in a longer token: not an id.
        assert_eq!(find_national_id(b"A123456788"), None);
        assert_eq!(find_national_id(b"A323456789"), None);
        assert_eq!(find_national_id(b"XA123456789"), None);
        assert_eq!(find_national_id(b"A1234567890"), None);
        assert_eq!(find_national_id(b"short"), None);
    }

    #[test]
    fn customer_data_must_be_an_envelope() {
        let inline = |bytes: Vec<u8>| RecordContent::Inline(bytes);
        assert_eq!(check_record_content(Classification::CustomerData, &inline(envelope())), Ok(()));
        let plain = check_record_content(Classification::CustomerData, &inline(b"name: Chen".to_vec())).unwrap_err();
        assert_eq!(plain.rule(), RuleId::PiiProtection);
        let mut truncated = envelope();
        truncated.truncate(40);
        assert!(check_record_content(Classification::CustomerData, &inline(truncated)).is_err());
        let mut unknown = envelope();
        unknown[4] = 9;
        assert!(check_record_content(Classification::CustomerData, &inline(unknown)).is_err());
        let digest = RecordContent::Digest(covenant_types::Hash::digest(b"off chain"));
        assert_eq!(check_record_content(Classification::CustomerData, &digest), Ok(()));
    }

    #[test]
    fn customer_accounts_are_found_in_any_bytes() {
        let named = |text: &[u8]| customer_accounts_named(text).iter().map(ToString::to_string).collect::<Vec<_>>();
        assert_eq!(named(b"bal:bank-a/customers/chen"), ["bank-a/customers/chen"]);
        assert_eq!(
            named(b"x/bank-a/customers/chen\0bank-b/customers/lin"),
            ["bank-a/customers/chen", "bank-b/customers/lin"]
        );
        // Glued text belongs to the account named: it needs its own KYC, it does not hide the customer.
        assert_eq!(named(b"bank-a/customers/chen/balance"), ["bank-a/customers/chen/balance"]);
        assert_eq!(named(b"{\"to\":\"bank-a/customers/chen\"}"), ["bank-a/customers/chen"]);
        assert!(named(b"bank-a/treasury customers /customers/x BANK-A/customers/x").is_empty());
        assert!(is_customer_account(&AccountId::new("bank-a/customers/c-1").unwrap()));
        assert!(!is_customer_account(&AccountId::new("bank-a/customers").unwrap()));
        assert!(!is_customer_account(&AccountId::new("bank-a/treasury").unwrap()));
    }

    // covers: COV-37-PII-PROTECTION
    #[test]
    fn customer_data_names_its_customer_and_data_about_a_customer_is_customer_data() {
        let customer = AccountId::new("bank-a/customers/c-1").unwrap();
        let treasury = AccountId::new("bank-a/treasury").unwrap();
        assert_eq!(check_record_subject(Some(&customer), Classification::CustomerData), Ok(()));
        assert_eq!(check_record_subject(None, Classification::Internal), Ok(()));
        assert_eq!(check_record_subject(Some(&treasury), Classification::Internal), Ok(()));
        for (subject, classification) in [
            (None, Classification::CustomerData),
            (Some(&treasury), Classification::CustomerData),
            (Some(&customer), Classification::Internal),
            (Some(&customer), Classification::Public),
        ] {
            let refused = check_record_subject(subject, classification).unwrap_err();
            assert_eq!(refused.rule(), RuleId::PiiProtection, "{subject:?} {classification:?}");
        }
        let content = RecordContent::Inline(b"{\"holder\":\"bank-a/customers/c-1\"}".to_vec());
        let refused = check_record_content(Classification::Internal, &content).unwrap_err();
        assert!(refused.to_string().contains("names customer account bank-a/customers/c-1"), "{refused}");
    }

    #[test]
    fn plaintext_national_ids_are_refused_in_any_record() {
        let content = RecordContent::Inline(b"{\"id\":\"A123456789\"}".to_vec());
        let violation = check_record_content(Classification::Internal, &content).unwrap_err();
        assert_eq!(violation.rule(), RuleId::PiiProtection);
        assert!(!violation.to_string().contains("A123456789"), "the error must not repeat the id: {violation}");
        assert_eq!(check_record_content(Classification::Public, &RecordContent::Inline(b"rates up".to_vec())), Ok(()));
    }
}
