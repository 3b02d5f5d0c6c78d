//! COV-32-DATA-SCHEMA: data records follow the schema they name.
//!
//! A schema is registered by a governance vote (or in genesis) with its whole definition, so every
//! validator can check every record against it on the block path. The definition is a small JSON
//! document (at most [`SCHEMA_DEFINITION_BYTES_MAX`] bytes); its SHA-256 is the hash members compare
//! off chain:
//!
//! ```json
//! {"classifications": ["internal"],
//!  "fields": [{"name": "amount", "type": "u64", "required": true},
//!             {"name": "note", "type": "string", "max_len": 200}]}
//! ```
//!
//! Field types are `string`, `u64`, `i64`, `bool`, `hex` (lowercase, even length) and `account` (an
//! account id); `max_len` (bytes of text, or decoded bytes of hex) applies to `string` and `hex` only.
//! No floats anywhere: the check is deterministic on every node.
//!
//! Record content the chain can read (an inline record that is not customer data) must be one
//! canonical JSON object: compact, keys sorted by their bytes, each key once, integers only, strings
//! escaped minimally (`\"`, `\\` and control characters) — exactly what `serde_json` writes for the
//! parsed value, so the check is "parse, write back, compare the bytes". Customer data is an encrypted
//! envelope (COV-37): its fields cannot be checked on chain by design, only that the schema allows the
//! classification. A record kept off chain (a digest) is checked for its classification only.

use std::collections::{BTreeMap, BTreeSet};

use serde::Deserialize;

use covenant_types::{AccountId, Classification, Hash, RecordContent, SchemaId};

use crate::violation::Violation;

/// Largest schema definition, in bytes.
pub const SCHEMA_DEFINITION_BYTES_MAX: usize = 16 * 1024;
/// Most fields a schema defines.
pub const SCHEMA_FIELDS_MAX: usize = 64;
/// Longest field name, in bytes.
pub const FIELD_NAME_BYTES_MAX: usize = 64;

/// The type of a field's value in record content.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FieldType {
    /// UTF-8 text.
    String,
    /// An integer from 0 to 2^64 - 1.
    U64,
    /// An integer from -2^63 to 2^63 - 1.
    I64,
    /// `true` or `false`.
    Bool,
    /// Bytes as lowercase hex text of even length.
    Hex,
    /// An account id (a customer account is refused in readable content: COV-37).
    Account,
}

impl FieldType {
    fn name(self) -> &'static str {
        match self {
            FieldType::String => "string",
            FieldType::U64 => "u64",
            FieldType::I64 => "i64",
            FieldType::Bool => "bool",
            FieldType::Hex => "hex",
            FieldType::Account => "account",
        }
    }
}

/// A classification as a schema definition names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "snake_case")]
enum ClassificationName {
    Public,
    Internal,
    CustomerData,
}

impl From<ClassificationName> for Classification {
    fn from(name: ClassificationName) -> Classification {
        match name {
            ClassificationName::Public => Classification::Public,
            ClassificationName::Internal => Classification::Internal,
            ClassificationName::CustomerData => Classification::CustomerData,
        }
    }
}

/// One field of a schema.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldSpec {
    /// Field name: `a-z`, `0-9`, `_`, at most [`FIELD_NAME_BYTES_MAX`] bytes.
    pub name: String,
    /// Its type.
    #[serde(rename = "type")]
    pub kind: FieldType,
    /// Whether every record must carry it.
    #[serde(default)]
    pub required: bool,
    /// Most bytes of a `string` (UTF-8) or of a `hex` value (decoded).
    #[serde(default)]
    pub max_len: Option<u32>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDefinition {
    classifications: Vec<ClassificationName>,
    fields: Vec<FieldSpec>,
}

/// A parsed, checked schema definition.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SchemaDefinition {
    /// The classifications a record under this schema may have.
    pub classifications: BTreeSet<Classification>,
    /// Fields by name.
    pub fields: BTreeMap<String, FieldSpec>,
}

impl SchemaDefinition {
    /// Parses and checks a definition as registered: within [`SCHEMA_DEFINITION_BYTES_MAX`], JSON of the
    /// documented shape (unknown keys refused), at least one classification, at most
    /// [`SCHEMA_FIELDS_MAX`] fields with distinct well-formed names, `max_len` only on `string` and
    /// `hex`. The error says what is wrong.
    pub fn parse(bytes: &[u8]) -> Result<SchemaDefinition, String> {
        if bytes.len() > SCHEMA_DEFINITION_BYTES_MAX {
            return Err(format!("the definition is {} bytes, more than {SCHEMA_DEFINITION_BYTES_MAX}", bytes.len()));
        }
        let raw: RawDefinition =
            serde_json::from_slice(bytes).map_err(|error| format!("the definition is not valid: {error}"))?;
        if raw.classifications.is_empty() {
            return Err("the definition allows no classification".into());
        }
        if raw.fields.len() > SCHEMA_FIELDS_MAX {
            return Err(format!("the definition has {} fields, more than {SCHEMA_FIELDS_MAX}", raw.fields.len()));
        }
        let mut fields = BTreeMap::new();
        for field in raw.fields {
            check_field(&field)?;
            if fields.contains_key(&field.name) {
                return Err(format!("field {:?} is defined twice", field.name));
            }
            fields.insert(field.name.clone(), field);
        }
        let classifications = raw.classifications.into_iter().map(Classification::from).collect();
        Ok(SchemaDefinition { classifications, fields })
    }
}

fn check_field(field: &FieldSpec) -> Result<(), String> {
    let name = &field.name;
    let well_formed = !name.is_empty()
        && name.len() <= FIELD_NAME_BYTES_MAX
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if !well_formed {
        return Err(format!("field name {name:?} must be 1 to {FIELD_NAME_BYTES_MAX} characters of a-z, 0-9 and _"));
    }
    if field.max_len.is_some() && !matches!(field.kind, FieldType::String | FieldType::Hex) {
        return Err(format!("field {name:?}: max_len applies to string and hex fields, not {}", field.kind.name()));
    }
    Ok(())
}

/// The hash members compare for a definition: SHA-256 of its bytes as registered.
pub fn definition_hash(definition: &[u8]) -> Hash {
    Hash::digest(definition)
}

/// COV-32 for one data record: its classification is one the schema allows, and content the chain can
/// read (inline and not customer data) is a canonical JSON object whose fields the schema defines,
/// with values of their types and lengths, and every required field present. Encrypted customer data
/// and off-chain digests are checked for their classification only (COV-37 checks the envelope).
pub fn check_record(
    schema: &SchemaId,
    definition: &SchemaDefinition,
    classification: Classification,
    content: &RecordContent,
) -> Result<(), Violation> {
    let off_schema = |reason: String| Violation::RecordOffSchema { schema: schema.clone(), reason };
    if !definition.classifications.contains(&classification) {
        return Err(off_schema(format!(
            "classification {classification:?} is not one the schema allows ({:?})",
            definition.classifications
        )));
    }
    let RecordContent::Inline(bytes) = content else {
        return Ok(());
    };
    if classification == Classification::CustomerData {
        return Ok(());
    }
    let object = canonical_object(bytes).map_err(off_schema)?;
    for (name, value) in &object {
        let Some(field) = definition.fields.get(name) else {
            return Err(off_schema(format!("field {name:?} is not in the schema")));
        };
        check_value(field, value).map_err(off_schema)?;
    }
    if let Some(missing) = definition.fields.values().find(|field| field.required && !object.contains_key(&field.name))
    {
        return Err(off_schema(format!("required field {:?} is missing", missing.name)));
    }
    Ok(())
}

/// `bytes` as a canonical JSON object (see the module documentation), or why it is not one.
fn canonical_object(bytes: &[u8]) -> Result<serde_json::Map<String, serde_json::Value>, String> {
    let value: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|error| format!("content is not JSON: {error}"))?;
    let serde_json::Value::Object(object) = value else {
        return Err("content must be a JSON object".into());
    };
    // Writing the parsed object back gives the canonical form: sorted keys (serde_json's map is a
    // BTreeMap), one of each, no whitespace. Any other spelling of the same object is refused, so
    // equal records have equal bytes.
    let canonical = serde_json::to_vec(&object).map_err(|error| format!("content cannot be written back: {error}"))?;
    if canonical != bytes {
        return Err(format!(
            "content is not canonical JSON (compact, keys sorted, each once, integers only); expected {}",
            String::from_utf8_lossy(&canonical).chars().take(200).collect::<String>()
        ));
    }
    Ok(object)
}

fn check_value(field: &FieldSpec, value: &serde_json::Value) -> Result<(), String> {
    use serde_json::Value;
    let name = &field.name;
    let wrong = || format!("field {name:?} must be of type {}", field.kind.name());
    let within = |len: usize| match field.max_len {
        Some(max) if len > max as usize => Err(format!("field {name:?} holds {len} bytes, more than max_len {max}")),
        _ => Ok(()),
    };
    match (field.kind, value) {
        (FieldType::String, Value::String(text)) => within(text.len()),
        (FieldType::U64, Value::Number(number)) if number.is_u64() => Ok(()),
        (FieldType::I64, Value::Number(number)) if number.is_i64() => Ok(()),
        (FieldType::Bool, Value::Bool(_)) => Ok(()),
        (FieldType::Hex, Value::String(text)) => {
            let lower_hex = text.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
            if !lower_hex || !text.len().is_multiple_of(2) {
                return Err(format!("field {name:?} must be lowercase hex of even length"));
            }
            within(text.len() / 2)
        }
        (FieldType::Account, Value::String(text)) => match AccountId::new(text) {
            Ok(_) => Ok(()),
            Err(error) => Err(format!("field {name:?}: {error}")),
        },
        _ => Err(wrong()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::RuleId;

    const LOAN: &str = r#"{"classifications":["internal","customer_data"],"fields":[
        {"name":"amount","type":"u64","required":true},
        {"name":"rate_bp","type":"i64"},
        {"name":"secured","type":"bool"},
        {"name":"note","type":"string","max_len":8},
        {"name":"ref","type":"hex","max_len":2},
        {"name":"branch","type":"account"}]}"#;

    fn loan() -> SchemaDefinition {
        SchemaDefinition::parse(LOAN.as_bytes()).unwrap()
    }

    fn check(classification: Classification, content: &str) -> Result<(), Violation> {
        let schema = SchemaId::new("loan.v1").unwrap();
        check_record(&schema, &loan(), classification, &RecordContent::Inline(content.as_bytes().to_vec()))
    }

    fn reason(result: Result<(), Violation>) -> String {
        let violation = result.unwrap_err();
        assert_eq!(violation.rule(), RuleId::DataSchema);
        violation.to_string()
    }

    #[test]
    fn definitions_are_checked_when_parsed() {
        let bad = |text: &str| SchemaDefinition::parse(text.as_bytes()).unwrap_err();
        assert!(bad(r#"{"classifications":[],"fields":[]}"#).contains("no classification"));
        assert!(bad(r#"{"classifications":["secret"],"fields":[]}"#).contains("not valid"));
        assert!(bad(r#"{"classifications":["public"],"fields":[],"extra":1}"#).contains("not valid"));
        let twice = r#"{"classifications":["public"],"fields":[{"name":"a","type":"bool"},{"name":"a","type":"u64"}]}"#;
        assert!(bad(twice).contains("defined twice"));
        assert!(bad(r#"{"classifications":["public"],"fields":[{"name":"A b","type":"bool"}]}"#).contains("a-z"));
        let max_len = r#"{"classifications":["public"],"fields":[{"name":"a","type":"u64","max_len":3}]}"#;
        assert!(bad(max_len).contains("max_len applies"));
        let fields: Vec<String> =
            (0..=SCHEMA_FIELDS_MAX).map(|i| format!(r#"{{"name":"f{i}","type":"bool"}}"#)).collect();
        let many = format!(r#"{{"classifications":["public"],"fields":[{}]}}"#, fields.join(","));
        assert!(bad(&many).contains("fields, more than"));
        let padded =
            format!("{}{}", " ".repeat(SCHEMA_DEFINITION_BYTES_MAX), r#"{"classifications":["public"],"fields":[]}"#);
        assert!(bad(&padded).contains("more than 16384"));
        assert_eq!(loan().fields.len(), 6);
    }

    // covers: COV-32-DATA-SCHEMA
    #[test]
    fn readable_records_must_follow_their_schema() {
        let internal = Classification::Internal;
        assert_eq!(check(internal, r#"{"amount":5}"#), Ok(()));
        let full = r#"{"amount":18446744073709551615,"branch":"bank-a/taipei","note":"ok","rate_bp":-25,"ref":"0aff","secured":true}"#;
        assert_eq!(check(internal, full), Ok(()));
        assert!(reason(check(internal, r#"{"note":"x"}"#)).contains("required field \"amount\" is missing"));
        assert!(reason(check(internal, r#"{"amount":5,"colour":"red"}"#)).contains("\"colour\" is not in the schema"));
        assert!(reason(check(internal, r#"{"amount":"5"}"#)).contains("must be of type u64"));
        assert!(reason(check(internal, r#"{"amount":-5}"#)).contains("must be of type u64"));
        assert!(reason(check(internal, r#"{"amount":5,"rate_bp":1.5}"#)).contains("must be of type i64"));
        assert!(reason(check(internal, r#"{"amount":5,"rate_bp":9223372036854775808}"#)).contains("type i64"));
        assert!(reason(check(internal, r#"{"amount":5,"secured":1}"#)).contains("type bool"));
        assert!(reason(check(internal, r#"{"amount":5,"note":"too long!"}"#)).contains("more than max_len 8"));
        assert!(reason(check(internal, r#"{"amount":5,"ref":"0AFF"}"#)).contains("lowercase hex"));
        assert!(reason(check(internal, r#"{"amount":5,"ref":"0aff00"}"#)).contains("more than max_len 2"));
        assert!(reason(check(internal, r#"{"amount":5,"branch":"Bank A"}"#)).contains("\"branch\""));
        assert!(reason(check(internal, r#"{"amount":5,"secured":{"x":1}}"#)).contains("type bool"));
        assert!(reason(check(internal, "plain text")).contains("not JSON"));
        assert!(reason(check(internal, "[1]")).contains("a JSON object"));
    }

    #[test]
    fn content_must_be_canonical_so_equal_records_have_equal_bytes() {
        let internal = Classification::Internal;
        assert!(reason(check(internal, r#"{"secured":true,"amount":5}"#)).contains("not canonical"));
        assert!(reason(check(internal, r#"{"amount": 5}"#)).contains("not canonical"));
        assert!(reason(check(internal, r#"{"amount":5,"amount":6}"#)).contains("not canonical"));
        assert!(reason(check(internal, r#"{"amount":5,"note":"\u0041"}"#)).contains("not canonical"));
        assert!(reason(check(internal, r#"{"amount":5e0}"#)).contains("not canonical"));
    }

    // covers: COV-32-DATA-SCHEMA
    #[test]
    fn the_classification_must_be_one_the_schema_allows_even_for_content_the_chain_cannot_read() {
        let schema = SchemaId::new("loan.v1").unwrap();
        let digest = RecordContent::Digest(Hash::digest(b"kept off chain"));
        let refused = check_record(&schema, &loan(), Classification::Public, &digest);
        assert!(reason(refused).contains("classification Public is not one the schema allows"));
        assert_eq!(check_record(&schema, &loan(), Classification::Internal, &digest), Ok(()));
        // Encrypted customer data: the fields are sealed; only the classification is checked here.
        let sealed = RecordContent::Inline(b"CVE1 sealed bytes".to_vec());
        assert_eq!(check_record(&schema, &loan(), Classification::CustomerData, &sealed), Ok(()));
    }
}
