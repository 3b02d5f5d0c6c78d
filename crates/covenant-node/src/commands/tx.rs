//! `covenant tx`: builds a transaction, signs it with an operator key file, submits it to a node's API
//! and optionally waits until it is committed or rejected.
//!
//! Everything that can be checked without the node (ids, amount, content, key file) is checked first, so
//! a typo never costs a nonce. The chain id comes from `GET /v1/status` and the nonce, unless given, from
//! `GET /v1/operators/{id}/nonce` (which counts the node's pending transactions too).
//!
//! Output: the transaction hash on stdout; with `--wait` then one line `committed at height H (index I)`,
//! `committed at height H (index I) but failed: ...` or `rejected by RULE (article N): ...`. A refusal at
//! submission is written to stderr as `refused by RULE (article N): ...`. With `--json` the API's answers
//! are written instead, one compact JSON document per line. Exit codes: 0 done, 1 refused, rejected or
//! failed, 2 bad arguments, unreachable node or no answer in time.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use serde_json::Value;

use covenant_types::limits::TX_BYTES_MAX;
use covenant_types::{
    AccountId, AssetId, ChainId, Classification, DataRecord, Hash, OperatorId, Payload, RecordContent, SchemaId,
    Transfer,
};

use super::Outcome;
use super::query::{Api, describe_error, path_segment};

/// How long `--wait` waits by default.
pub const WAIT_SECS_DEFAULT: u64 = 30;
/// Pause between two status polls while waiting.
pub const POLL_INTERVAL_MS: u64 = 250;

/// Who signs and where the transaction goes.
#[derive(Debug, Clone)]
pub struct SubmitOptions {
    /// API address, `host:port` or `http://host:port`.
    pub api: String,
    /// Plaintext operator key file (32-byte seed as hex).
    pub key_file: PathBuf,
    /// The operator sending the transaction.
    pub operator: String,
    /// The nonce to use; `None` asks the node for the operator's next one.
    pub nonce: Option<u64>,
    /// Wait this long for the transaction to commit; `None` returns after submission.
    pub wait: Option<Duration>,
    /// Print the API's JSON answers instead of text.
    pub json: bool,
}

/// Who signs a transaction and what to do after submitting it: the same flags for `covenant tx`,
/// `covenant gov` (and its helpers) and `covenant contract call`.
#[derive(Debug, Clone, clap::Args)]
pub struct SignerArgs {
    /// The operator's key file (32-byte seed as 64 hex digits).
    #[arg(long, value_name = "FILE")]
    pub key: PathBuf,
    /// The signing operator id, e.g. bank-0.ops (governance needs an admin, e.g. bank-0.admin; a
    /// contract call an operator the function's access policy admits).
    #[arg(long, value_name = "ID")]
    pub operator: String,
    /// Nonce to use (default: the operator's next nonce as the node counts it).
    #[arg(long, value_name = "N")]
    pub nonce: Option<u64>,
    /// Wait until the transaction is committed or rejected, then print its outcome.
    #[arg(long)]
    pub wait: bool,
    /// How long --wait waits before giving up.
    #[arg(long, value_name = "SECS", default_value_t = WAIT_SECS_DEFAULT, requires = "wait")]
    pub wait_timeout: u64,
    /// Print the API's JSON answers (one per line) instead of text.
    #[arg(long)]
    pub json: bool,
}

impl SignerArgs {
    /// The submit options for the node at `api`.
    pub fn options(&self, api: String) -> SubmitOptions {
        SubmitOptions {
            api,
            key_file: self.key.clone(),
            operator: self.operator.clone(),
            nonce: self.nonce,
            wait: self.wait.then(|| Duration::from_secs(self.wait_timeout)),
            json: self.json,
        }
    }
}

/// The transaction to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// An asset transfer.
    Transfer {
        /// Debited account (must belong to the operator's member).
        from: String,
        /// Credited account.
        to: String,
        /// Asset id.
        asset: String,
        /// Amount in the asset's smallest unit; must be positive.
        amount: u64,
        /// Free text for the counterparties.
        memo: String,
    },
    /// A data record.
    Data {
        /// Registered schema id.
        schema: String,
        /// Customer account the record is about, if any.
        subject: Option<String>,
        /// Sensitivity.
        classification: Classification,
        /// Where the content comes from.
        content: Content,
    },
}

/// Where a data record's content comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Content {
    /// Bytes written as hex on the command line.
    Hex(String),
    /// Bytes of a file.
    File(PathBuf),
    /// UTF-8 text on the command line.
    Text(String),
    /// Only the SHA-256 digest of content kept off chain, as 64 hex digits.
    Digest(String),
}

/// Signs `payload` as `options.operator`: the key from its file (warning on `err` if others can read
/// it), the chain id from `GET /v1/status`, the nonce from the node unless given.
pub(crate) fn sign(
    options: &SubmitOptions,
    payload: Payload,
    err: &mut dyn Write,
) -> Result<(Api, covenant_types::SignedTx)> {
    let api = Api::new(&options.api)?;
    let operator = OperatorId::new(options.operator.as_str()).context("--operator")?;
    let key = crate::keyfile::read_plaintext_key(&options.key_file)?;
    if key.too_open() {
        writeln!(
            err,
            "warning: key file {} can be read by others (mode {:04o}); keep key files at 0600",
            options.key_file.display(),
            key.mode.unwrap_or_default()
        )?;
    }
    let status = api.get_object("/v1/status")?;
    let chain_text = status
        .get("chain_id")
        .and_then(Value::as_str)
        .ok_or_else(|| anyhow!("GET /v1/status on {} has no chain_id: {status}", api.address()))?;
    let chain = ChainId::new(chain_text).with_context(|| format!("chain_id from {}", api.address()))?;
    let nonce = match options.nonce {
        Some(nonce) => nonce,
        None => {
            let path = format!("/v1/operators/{}/nonce", path_segment(operator.as_str()));
            let answer = api.get_object(&path)?;
            answer
                .get("next_nonce")
                .and_then(Value::as_u64)
                .ok_or_else(|| anyhow!("GET {path} on {} has no next_nonce: {answer}", api.address()))?
        }
    };
    let tx = covenant_client::operator_tx(&chain, &operator, &key.key, nonce, crate::runtime::chain::now_ms(), payload);
    Ok((api, tx))
}

/// Builds, signs and submits one transaction; with [`SubmitOptions::wait`] waits for its outcome.
pub fn submit(options: &SubmitOptions, action: &Action, out: &mut dyn Write, err: &mut dyn Write) -> Result<Outcome> {
    let payload = payload(action)?;
    let (api, tx) = sign(options, payload, err)?;
    let local_hash = tx.body.hash();
    let response = api.submit(&tx)?;
    if options.json {
        writeln!(out, "{}", response.body)?;
    }
    if !response.is_success() {
        writeln!(err, "{}", describe_error(&response))?;
        return Ok(Outcome::Failure);
    }
    let hash = response.body.get("hash").and_then(Value::as_str).map_or_else(|| local_hash.to_hex(), str::to_string);
    if !options.json {
        writeln!(out, "{hash}")?;
    }
    out.flush()?;
    match options.wait {
        None => Ok(Outcome::Success),
        Some(timeout) => {
            let answer = wait(&api, &hash, timeout)?;
            report(&answer, options.json, out)
        }
    }
}

/// `covenant tx status HASH`: the transaction's status on one node.
pub fn status(api: &str, hash: &str, json: bool, out: &mut dyn Write, err: &mut dyn Write) -> Result<Outcome> {
    let hash = Hash::from_hex(hash.trim()).map_err(|error| anyhow!("transaction hash {hash:?}: {error}"))?;
    let api = Api::new(api)?;
    let path = format!("/v1/txs/{}", hash.to_hex());
    let response = api.get(&path)?;
    if !response.is_success() {
        if json {
            writeln!(out, "{}", response.body)?;
        }
        writeln!(err, "error: GET {path} on {}: {}", api.address(), describe_error(&response))?;
        return Ok(Outcome::Failure);
    }
    report(&response.body, json, out)
}

/// Polls `GET /v1/txs/{hash}` until the transaction is committed or rejected, at most `timeout`.
pub(crate) fn wait(api: &Api, hash: &str, timeout: Duration) -> Result<Value> {
    let path = format!("/v1/txs/{}", path_segment(hash));
    let deadline = Instant::now() + timeout;
    loop {
        let response = api.get(&path)?;
        let last = if response.is_success() {
            match response.body.get("status").and_then(Value::as_str) {
                Some("committed" | "rejected") => return Ok(response.body),
                Some(status) => status.to_string(),
                None => format!("an answer without status: {}", response.body),
            }
        } else {
            // A node that just accepted a transaction may briefly not list it (e.g. while a block with it
            // is being stored), so an error answer is retried until the deadline like a pending one.
            describe_error(&response)
        };
        if Instant::now() >= deadline {
            bail!(
                "transaction {hash} was not committed within {} s (last status on {}: {last}); it may still \
                 commit: check with `covenant tx status {hash} --api {}`",
                timeout.as_secs(),
                api.address(),
                api.address()
            );
        }
        std::thread::sleep(Duration::from_millis(POLL_INTERVAL_MS));
    }
}

/// Writes a `GET /v1/txs/{hash}` answer as one line of text (or JSON) and tells whether it succeeded.
fn report(answer: &Value, json: bool, out: &mut dyn Write) -> Result<Outcome> {
    let (line, outcome) = summarize(answer);
    if json {
        writeln!(out, "{answer}")?;
    } else {
        writeln!(out, "{line}")?;
    }
    Ok(outcome)
}

/// One line for a transaction status answer, and whether it is a success.
pub fn summarize(answer: &Value) -> (String, Outcome) {
    let rule_text = |rule: Option<&str>, article: Option<u64>| match (rule, article) {
        (Some(rule), Some(article)) => format!(" by {rule} (article {article})"),
        (Some(rule), None) => format!(" by {rule}"),
        _ => String::new(),
    };
    match answer.get("status").and_then(Value::as_str) {
        Some("committed") => {
            let height = answer.get("height").and_then(Value::as_u64).map_or("?".into(), |h| h.to_string());
            let index = answer.get("index").and_then(Value::as_u64).map_or("?".into(), |i| i.to_string());
            let place = format!("committed at height {height} (index {index})");
            let outcome = answer.get("receipt").and_then(|receipt| receipt.get("outcome"));
            match outcome.and_then(|outcome| outcome.get("Failed")) {
                Some(failed) => {
                    let rule = failed.get("rule").and_then(Value::as_str);
                    // Receipts carry the rule id only; the catalogue knows its article.
                    let article = rule
                        .and_then(|rule| rule.parse::<covenant_rules::RuleId>().ok())
                        .map(|rule| u64::from(rule.article()));
                    let reason = failed.get("reason").and_then(Value::as_str).unwrap_or("no reason given");
                    (format!("{place} but failed{}: {reason}", rule_text(rule, article)), Outcome::Failure)
                }
                None => (place, Outcome::Success),
            }
        }
        Some("rejected") => {
            let rule = answer.get("rule").and_then(Value::as_str);
            let article = answer.get("article").and_then(Value::as_u64);
            let error = answer.get("error").and_then(Value::as_str).unwrap_or("no reason given");
            (format!("rejected{}: {error}", rule_text(rule, article)), Outcome::Failure)
        }
        Some("pending") => ("pending".into(), Outcome::Success),
        Some(other) => (format!("unknown status {other:?}: {answer}"), Outcome::Failure),
        None => (format!("answer without a status: {answer}"), Outcome::Failure),
    }
}

/// The payload for `action`, with every id and the content checked.
pub fn payload(action: &Action) -> Result<Payload> {
    match action {
        Action::Transfer { from, to, asset, amount, memo } => {
            if *amount == 0 {
                bail!("--amount must be a positive number of the asset's smallest unit, got 0");
            }
            Ok(Payload::Transfer(Transfer {
                from: AccountId::new(from.as_str()).context("--from")?,
                to: AccountId::new(to.as_str()).context("--to")?,
                asset: AssetId::new(asset.as_str()).context("--asset")?,
                amount: *amount,
                memo: memo.clone(),
            }))
        }
        Action::Data { schema, subject, classification, content } => Ok(Payload::DataRecord(DataRecord {
            schema: SchemaId::new(schema.as_str()).context("--schema")?,
            subject: subject.as_deref().map(AccountId::new).transpose().context("--subject")?,
            classification: *classification,
            content: record_content(content)?,
        })),
    }
}

fn record_content(content: &Content) -> Result<RecordContent> {
    let bytes = match content {
        Content::Digest(hex_text) => {
            let hash = Hash::from_hex(hex_text.trim()).map_err(|error| anyhow!("--digest: {error}"))?;
            return Ok(RecordContent::Digest(hash));
        }
        Content::Hex(hex_text) => {
            let digits = hex_text.trim();
            let digits = digits.strip_prefix("0x").unwrap_or(digits);
            hex::decode(digits).map_err(|error| anyhow!("--content-hex: not hex: {error}"))?
        }
        Content::Text(text) => text.as_bytes().to_vec(),
        Content::File(path) => {
            let file = std::fs::File::open(path).with_context(|| format!("--content-file {}", path.display()))?;
            let mut bytes = Vec::new();
            file.take(TX_BYTES_MAX as u64 + 1)
                .read_to_end(&mut bytes)
                .with_context(|| format!("--content-file {}", path.display()))?;
            if bytes.len() > TX_BYTES_MAX {
                bail!(
                    "--content-file {}: larger than a whole transaction may be ({TX_BYTES_MAX} bytes, COV-45); \
                     store it off chain and record its digest with --digest",
                    path.display()
                );
            }
            bytes
        }
    };
    if bytes.len() > TX_BYTES_MAX {
        bail!(
            "content is {} bytes, more than a whole transaction may be ({TX_BYTES_MAX} bytes, COV-45); store it \
             off chain and record its digest with --digest",
            bytes.len()
        );
    }
    Ok(RecordContent::Inline(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn transfer(amount: u64, from: &str) -> Action {
        Action::Transfer {
            from: from.into(),
            to: "bank-1/treasury".into(),
            asset: "twd".into(),
            amount,
            memo: String::new(),
        }
    }

    #[test]
    fn payload_checks_amount_and_ids() {
        assert!(matches!(payload(&transfer(5, "bank-0/treasury")), Ok(Payload::Transfer(_))));
        let error = format!("{:#}", payload(&transfer(0, "bank-0/treasury")).unwrap_err());
        assert!(error.contains("--amount must be a positive"), "{error}");
        let error = format!("{:#}", payload(&transfer(5, "Bank 0")).unwrap_err());
        assert!(error.starts_with("--from: "), "{error}");
    }

    #[test]
    fn data_content_sources() {
        let data = |content: Content| Action::Data {
            schema: "demo.v1".into(),
            subject: None,
            classification: Classification::Internal,
            content,
        };
        let Ok(Payload::DataRecord(record)) = payload(&data(Content::Text("hi".into()))) else { panic!() };
        assert_eq!(record.content, RecordContent::Inline(b"hi".to_vec()));
        let Ok(Payload::DataRecord(record)) = payload(&data(Content::Hex("0x0aff".into()))) else { panic!() };
        assert_eq!(record.content, RecordContent::Inline(vec![0x0a, 0xff]));
        let Ok(Payload::DataRecord(record)) = payload(&data(Content::Digest("ab".repeat(32)))) else { panic!() };
        assert!(matches!(record.content, RecordContent::Digest(_)));
        let error = format!("{:#}", payload(&data(Content::Hex("xyz".into()))).unwrap_err());
        assert!(error.starts_with("--content-hex: not hex"), "{error}");
        let error = format!("{:#}", payload(&data(Content::Digest("ab".into()))).unwrap_err());
        assert!(error.starts_with("--digest: "), "{error}");

        let dir = tempfile::tempdir().unwrap();
        let big = dir.path().join("big.bin");
        std::fs::write(&big, vec![0u8; TX_BYTES_MAX + 1]).unwrap();
        let error = format!("{:#}", payload(&data(Content::File(big))).unwrap_err());
        assert!(error.contains("larger than a whole transaction"), "{error}");
        let error = format!("{:#}", payload(&data(Content::File(dir.path().join("missing")))).unwrap_err());
        assert!(error.starts_with("--content-file "), "{error}");
    }

    #[test]
    fn summaries_of_status_answers() {
        let committed = json!({"status": "committed", "height": 7, "index": 1, "receipt": {"outcome": "Success"}});
        assert_eq!(summarize(&committed), ("committed at height 7 (index 1)".into(), Outcome::Success));
        let failed = json!({"status": "committed", "height": 7, "index": 0,
            "receipt": {"outcome": {"Failed": {"rule": null, "reason": "insufficient funds"}}}});
        assert_eq!(
            summarize(&failed),
            ("committed at height 7 (index 0) but failed: insufficient funds".into(), Outcome::Failure)
        );
        let rejected = json!({"status": "rejected", "rule": "COV-34-ORDERED-NONCES", "article": 34, "error": "nonce 3, expected 2"});
        assert_eq!(
            summarize(&rejected),
            ("rejected by COV-34-ORDERED-NONCES (article 34): nonce 3, expected 2".into(), Outcome::Failure)
        );
        let failed_rule = json!({"status": "committed", "height": 8, "index": 0,
            "receipt": {"outcome": {"Failed": {"rule": "COV-34-ORDERED-NONCES", "reason": "late"}}}});
        assert_eq!(
            summarize(&failed_rule).0,
            "committed at height 8 (index 0) but failed by COV-34-ORDERED-NONCES (article 34): late"
        );
        assert_eq!(summarize(&json!({"status": "pending"})).1, Outcome::Success);
    }
}
