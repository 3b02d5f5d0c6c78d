//! A signed conformance report: `covenant report --api ADDR --sign KEY` takes the report with the live
//! chain's parameters and what the node says of its audit log, and signs it with an operator's key;
//! `covenant report --verify FILE` checks the signature and, with `--api`, that the key belongs to an
//! operator of the chain who was not revoked and whose key had not expired when the report was signed.
//!
//! What is signed is the SHA-256 of the canonical JSON (keys sorted, no spaces) of everything in the
//! document but the signature, in the `ConformanceReport` signature domain on the chain's id: a report
//! of one chain cannot pass for another's, nor a signature of anything else for a report.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};

use covenant_types::{ChainId, Hash, PublicKey, Signature, SignatureDomain};

use crate::commands::Outcome;
use crate::commands::query::Api;
use crate::keyfile::{PassphraseSource, read_key_file};

use super::{LiveParams, ParamSource, TestRecord, build};

/// The `format` field of a signed report.
pub const SIGNED_FORMAT: &str = "covenant-signed-report/1";

/// Largest signed report read by `--verify`.
const SIGNED_REPORT_BYTES_MAX: u64 = 16 * 1024 * 1024;

/// Options of `covenant report --sign`.
#[derive(Debug, Clone)]
pub struct SignOptions {
    /// The node whose chain is reported.
    pub api: String,
    /// The operator's key file.
    pub key: PathBuf,
    /// Its passphrase file (else the environment or a prompt, as for other key commands).
    pub passphrase_file: Option<PathBuf>,
    /// The operator id the signer states (checked against the chain by `--verify --api`).
    pub operator: Option<String>,
    /// The record of a test run.
    pub results: Option<PathBuf>,
    /// Where to write the signed report (else standard output).
    pub out: Option<PathBuf>,
}

/// Builds, signs and writes a report of the node at `options.api`.
pub fn sign(options: &SignOptions, now_ms: u64, out: &mut dyn Write) -> Result<()> {
    let api = Api::new(&options.api)?;
    let status = api.get_object("/v1/status")?;
    let chain_text = status.get("chain_id").and_then(Value::as_str).context("GET /v1/status: no `chain_id`")?;
    let chain = ChainId::new(chain_text).map_err(|error| anyhow::anyhow!("chain id {chain_text:?}: {error}"))?;
    let params = LiveParams::load(&ParamSource::Api(options.api.clone()))?;
    let record = options.results.as_deref().map(TestRecord::load).transpose()?;
    let report = build(&params, record.as_ref());
    let key = read_key_file(&options.key, &PassphraseSource::key(options.passphrase_file.clone()))
        .with_context(|| format!("reading the signing key {}", options.key.display()))?
        .key;
    let mut document = json!({
        "format": SIGNED_FORMAT,
        "chain_id": chain_text,
        "node": {
            "api": format!("http://{}", api.address()),
            "node_id": status.get("node_id").cloned().unwrap_or(Value::Null),
            "height": status.get("height").cloned().unwrap_or(Value::Null),
            "audit_log": status.get("audit_log").cloned().unwrap_or(json!("not reported by this node")),
        },
        "signed_at_ms": now_ms,
        "signer": {"operator": options.operator, "public_key": key.public_key().to_hex()},
        "report": serde_json::to_value(&report)?,
    });
    let digest = digest_of(&document);
    let signature = key.sign(SignatureDomain::ConformanceReport, &chain, &digest);
    document["signature"] = json!(signature.to_hex());
    let text = serde_json::to_string_pretty(&document)? + "\n";
    match &options.out {
        Some(path) => {
            std::fs::write(path, &text).with_context(|| format!("writing {}", path.display()))?;
            writeln!(out, "wrote {} (signed by {})", path.display(), key.public_key().to_hex())?;
        }
        None => out.write_all(text.as_bytes())?,
    }
    Ok(())
}

/// SHA-256 of the canonical JSON of `document` without its `signature`.
fn digest_of(document: &Value) -> Hash {
    let mut unsigned = document.clone();
    if let Some(object) = unsigned.as_object_mut() {
        object.remove("signature");
    }
    Hash::digest(canonical_json(&unsigned).as_bytes())
}

/// JSON with object keys sorted at every level and no whitespace.
fn canonical_json(value: &Value) -> String {
    match value {
        Value::Object(object) => {
            let mut keys: Vec<&String> = object.keys().collect();
            keys.sort();
            let fields: Vec<String> = keys
                .into_iter()
                .map(|key| format!("{}:{}", Value::String(key.clone()), canonical_json(&object[key])))
                .collect();
            format!("{{{}}}", fields.join(","))
        }
        Value::Array(items) => format!("[{}]", items.iter().map(canonical_json).collect::<Vec<_>>().join(",")),
        other => other.to_string(),
    }
}

/// Checks a signed report; with `api`, also that its signer is an operator of that chain whose key was
/// valid when it signed. Prints what was checked.
pub fn verify(file: &Path, api: Option<&str>, out: &mut dyn Write) -> Result<Outcome> {
    let size = std::fs::metadata(file).with_context(|| format!("reading {}", file.display()))?.len();
    if size > SIGNED_REPORT_BYTES_MAX {
        bail!("{}: {size} bytes, more than a signed report's {SIGNED_REPORT_BYTES_MAX}", file.display());
    }
    let text = std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    let document: Value =
        serde_json::from_str(&text).with_context(|| format!("{}: not a JSON signed report", file.display()))?;
    let field = |name: &str| {
        document.get(name).and_then(Value::as_str).with_context(|| format!("{}: no `{name}` text", file.display()))
    };
    if field("format")? != SIGNED_FORMAT {
        bail!("{}: format {:?}, expected {SIGNED_FORMAT:?}", file.display(), field("format")?);
    }
    let chain_text = field("chain_id")?;
    let chain = ChainId::new(chain_text).map_err(|error| anyhow::anyhow!("chain id {chain_text:?}: {error}"))?;
    let key_hex = document["signer"]["public_key"].as_str().context("no `signer.public_key`")?;
    let key = PublicKey::from_hex(key_hex).map_err(|error| anyhow::anyhow!("signer.public_key: {error}"))?;
    let signature = parse_signature(field("signature")?)?;
    if key.verify(SignatureDomain::ConformanceReport, &chain, &digest_of(&document), &signature).is_err() {
        writeln!(out, "INVALID: the signature does not match the report (changed after signing, or another key)")?;
        return Ok(Outcome::Failure);
    }
    let operator = document["signer"]["operator"].as_str();
    writeln!(
        out,
        "signature valid: report of chain {chain_text} signed by key {key_hex}{}",
        operator.map(|operator| format!(" (stated operator {operator})")).unwrap_or_default()
    )?;
    let Some(api) = api else {
        writeln!(out, "signer not checked against the chain (give --api ADDR to check the operator registry)")?;
        return Ok(Outcome::Success);
    };
    let signed_at_ms = document["signed_at_ms"].as_u64().context("no numeric `signed_at_ms`")?;
    match check_signer(api, chain_text, key_hex, operator, signed_at_ms) {
        Ok(operator) => {
            writeln!(out, "signer is operator {operator} of chain {chain_text}, key valid when it signed")?;
            Ok(Outcome::Success)
        }
        Err(problem) => {
            writeln!(out, "INVALID signer: {problem}")?;
            Ok(Outcome::Failure)
        }
    }
}

fn parse_signature(text: &str) -> Result<Signature> {
    let bytes = hex::decode(text).context("signature: not hex")?;
    let bytes: [u8; 64] = bytes.try_into().map_err(|_| anyhow::anyhow!("signature: not 64 bytes"))?;
    Ok(Signature(bytes))
}

/// The operator of the chain at `api` holding `key_hex` (and named `operator`, if stated), not revoked,
/// whose key had not expired at `signed_at_ms`; else what is wrong.
fn check_signer(
    api: &str,
    chain: &str,
    key_hex: &str,
    operator: Option<&str>,
    signed_at_ms: u64,
) -> Result<String, String> {
    let api = Api::new(api).map_err(|error| error.to_string())?;
    let status = api.get_object("/v1/status").map_err(|error| error.to_string())?;
    if status.get("chain_id").and_then(Value::as_str) != Some(chain) {
        return Err(format!("the node at {} serves chain {}, not {chain}", api.address(), status["chain_id"]));
    }
    let answer = api.get_object("/v1/operators").map_err(|error| error.to_string())?;
    let operators = answer.get("operators").and_then(Value::as_array).ok_or("no `operators` list")?;
    let found = operators
        .iter()
        .find(|entry| entry.get("key").and_then(Value::as_str) == Some(key_hex))
        .ok_or_else(|| format!("no operator of chain {chain} holds key {key_hex}"))?;
    let id = found.get("id").and_then(Value::as_str).unwrap_or("?").to_string();
    if operator.is_some_and(|stated| stated != id) {
        return Err(format!("the key belongs to operator {id}, not to the stated {}", operator.unwrap_or_default()));
    }
    if found.get("revoked").and_then(Value::as_bool) != Some(false) {
        return Err(format!("operator {id} is revoked"));
    }
    let expires = found.get("key_expires_at_ms").and_then(Value::as_u64).unwrap_or(0);
    if expires <= signed_at_ms {
        return Err(format!("operator {id}'s key expired at {expires} ms, before the report was signed"));
    }
    Ok(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_json_sorts_keys_at_every_level() {
        let value = json!({"b": [ {"z": 1, "a": "x y"} ], "a": null});
        assert_eq!(canonical_json(&value), r#"{"a":null,"b":[{"a":"x y","z":1}]}"#);
    }

    #[test]
    fn digest_ignores_the_signature_but_not_the_report() {
        let document = json!({"format": SIGNED_FORMAT, "report": {"commit": "abc"}});
        let mut signed = document.clone();
        signed["signature"] = json!("00");
        assert_eq!(digest_of(&document), digest_of(&signed));
        signed["report"]["commit"] = json!("abd");
        assert_ne!(digest_of(&document), digest_of(&signed));
    }
}
