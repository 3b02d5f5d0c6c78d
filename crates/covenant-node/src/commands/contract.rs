//! `covenant contract`: contracts admitted by a vote of the members (covenant articles 24 and 26–31,
//! `docs/contracts.md`). Propose to admit or upgrade one, pause it (the emergency class), resume or
//! retire it; list and show contracts; call a function; read a value of a contract's storage.
//!
//! The proposals are `covenant gov propose admit-contract | upgrade-contract | pause-contract |
//! resume-contract | retire-contract` under shorter names: the same arguments, the same checks, the same
//! output. Before anything is signed the code and the manifest are checked here with the very validation
//! the validators run (`covenant_vm::validate_module`, with the node's hard limits; the node checks again
//! with the chain's own limits), so a module with floating point or a foreign import, or a manifest that
//! does not match the exports, never costs a nonce. Code may be given as a WebAssembly binary (`.wasm`)
//! or as WebAssembly text (`.wat`), compiled here.
//!
//! `contract call` signs a contract-call transaction with any operator's key: the function's access
//! policy decides who may call it (COV-31). With `--wait` it prints the commit line of `covenant tx`,
//! the fuel used and the call's output and events, or the rule that failed it (`COV-29-FUEL` for a call
//! that ran out of fuel, ...). Exit codes as for `covenant tx`: 0 done, 1 refused or failed, 2 bad
//! arguments or unreachable node.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail};
use clap::{Args, Subcommand};
use serde_json::Value;

use covenant_execution::vm::{Manifest, VmLimits, validate_module};
use covenant_types::limits::CALL_INPUT_BYTES_MAX;
use covenant_types::{ContractCall, ContractId, Payload};

use super::Outcome;
use super::gov::cli::{ContractCodeArgs, ContractIdArgs, ProposeCommand, propose};
use super::gov::view::table;
use super::gov::{Answer, read, sign_and_submit};
use super::query::{DEFAULT_API, describe_error, path_segment};
use super::tx::{SignerArgs, summarize};

/// Largest code file read: a WebAssembly text file may be much larger than the module it compiles to.
pub const CODE_FILE_BYTES_MAX: u64 = 8 * 1024 * 1024;
/// Largest manifest file read.
pub const MANIFEST_FILE_BYTES_MAX: u64 = 256 * 1024;
/// Fuel limit of a call unless `--fuel` says otherwise (the default `fuel_per_tx_max` is 10,000,000).
pub const FUEL_DEFAULT: u64 = 1_000_000;

/// `covenant contract`.
#[derive(Debug, Args)]
pub struct ContractArgs {
    /// The node's API: host:port or http://host:port.
    #[arg(long, global = true, value_name = "ADDR", default_value = DEFAULT_API)]
    pub api: String,
    /// What to do.
    #[command(subcommand)]
    pub command: ContractCommand,
}

/// The `covenant contract` subcommands.
#[derive(Debug, Subcommand)]
pub enum ContractCommand {
    /// Propose to admit or upgrade a contract (same as `gov propose admit-contract | upgrade-contract`).
    Propose {
        /// Admit or upgrade.
        #[command(subcommand)]
        action: ContractProposal,
    },
    /// Propose to pause a contract: an emergency proposal, with the emergency class's lower threshold
    /// (same as `gov propose pause-contract`).
    Pause(ContractIdArgs),
    /// Propose to resume a paused contract (same as `gov propose resume-contract`).
    Resume(ContractIdArgs),
    /// Propose to retire a contract for good (same as `gov propose retire-contract`).
    Retire(ContractIdArgs),
    /// List every contract ever admitted (GET /v1/contracts).
    List {
        /// Print the API's JSON answer.
        #[arg(long)]
        json: bool,
    },
    /// Show one contract: status, owner, steward, code hash, functions and access policies.
    ///
    /// Exit code 1 if the node does not know it.
    Show {
        /// Contract id.
        id: String,
        /// Print the API's JSON answer.
        #[arg(long)]
        json: bool,
    },
    /// Call a contract function; prints the transaction hash, and with --wait the outcome, fuel used,
    /// output and events.
    Call(CallArgs),
    /// Read one value of a contract's storage (GET /v1/contracts/{id}/storage/{key}).
    ///
    /// Exit code 1 if the contract is unknown or the key holds no value.
    Storage {
        /// Contract id.
        id: String,
        /// The key.
        #[command(flatten)]
        key: KeyArgs,
        /// Print the API's JSON answer.
        #[arg(long)]
        json: bool,
    },
}

/// What `contract propose` proposes.
#[derive(Debug, Subcommand)]
pub enum ContractProposal {
    /// Admit a new contract (class contracts; COV-28: it runs only once the vote executed).
    Admit(ContractCodeArgs),
    /// Replace an admitted or paused contract's code and manifest; id, storage and status stay (class
    /// contracts).
    Upgrade(ContractCodeArgs),
}

/// A storage key: exactly one form.
#[derive(Debug, Args)]
#[group(required = true, multiple = false)]
pub struct KeyArgs {
    /// The key in hex.
    #[arg(long, value_name = "HEX")]
    pub key_hex: Option<String>,
    /// The key as UTF-8 text.
    #[arg(long, value_name = "TEXT")]
    pub key_text: Option<String>,
}

/// `contract call`.
#[derive(Debug, Args)]
pub struct CallArgs {
    /// Contract id, e.g. escrow.
    pub id: String,
    /// Exported function, as the manifest lists it.
    pub function: String,
    /// The call's input.
    #[command(flatten)]
    pub input: InputArgs,
    /// Most fuel the call may burn (at most the chain's fuel_per_tx_max; a call that runs out fails with
    /// COV-29-FUEL and burns it all).
    #[arg(long, value_name = "N", default_value_t = FUEL_DEFAULT)]
    pub fuel: u64,
    /// Who calls (the function's access policy must admit the operator, COV-31).
    #[command(flatten)]
    pub signer: SignerArgs,
}

/// A call's input: at most one form (none: empty input).
#[derive(Debug, Args)]
#[group(required = false, multiple = false)]
pub struct InputArgs {
    /// The input in hex.
    #[arg(long, value_name = "HEX")]
    pub input_hex: Option<String>,
    /// The input as UTF-8 text.
    #[arg(long, value_name = "TEXT")]
    pub input_text: Option<String>,
    /// The input from a file.
    #[arg(long, value_name = "FILE")]
    pub input_file: Option<PathBuf>,
}

impl InputArgs {
    /// The input bytes, at most the hard limit of any chain (the chain's own limit is checked by the node).
    pub fn bytes(&self) -> Result<Vec<u8>> {
        let bytes = match (&self.input_hex, &self.input_text, &self.input_file) {
            (Some(text), _, _) => {
                let digits = text.trim();
                let digits = digits.strip_prefix("0x").unwrap_or(digits);
                hex::decode(digits).map_err(|error| anyhow!("--input-hex: not hex: {error}"))?
            }
            (None, Some(text), _) => text.as_bytes().to_vec(),
            (None, None, Some(path)) => read_limited(path, CALL_INPUT_BYTES_MAX as u64, "--input-file")?,
            (None, None, None) => Vec::new(),
        };
        if bytes.len() > CALL_INPUT_BYTES_MAX {
            bail!("the input is {} bytes, above the most any chain allows ({CALL_INPUT_BYTES_MAX})", bytes.len());
        }
        Ok(bytes)
    }
}

/// Runs `covenant contract ...`.
pub fn run(args: ContractArgs, out: &mut dyn Write, err: &mut dyn Write) -> Result<Outcome> {
    let api = args.api;
    let command = match args.command {
        ContractCommand::Propose { action: ContractProposal::Admit(action) } => ProposeCommand::AdmitContract(action),
        ContractCommand::Propose { action: ContractProposal::Upgrade(action) } => {
            ProposeCommand::UpgradeContract(action)
        }
        ContractCommand::Pause(action) => ProposeCommand::PauseContract(action),
        ContractCommand::Resume(action) => ProposeCommand::ResumeContract(action),
        ContractCommand::Retire(action) => ProposeCommand::RetireContract(action),
        ContractCommand::List { json } => return list(&api, json, out, err),
        ContractCommand::Show { id, json } => return show(&api, &id, json, out, err),
        ContractCommand::Call(call_args) => return call(api, &call_args, out, err),
        ContractCommand::Storage { id, key, json } => return storage(&api, &id, &key, json, out, err),
    };
    propose(api, &command, out, err)
}

// ---- code and manifest files -----------------------------------------------------------------------

fn read_limited(path: &Path, max_bytes: u64, flag: &str) -> Result<Vec<u8>> {
    let file = std::fs::File::open(path).with_context(|| format!("{flag} {}", path.display()))?;
    let mut bytes = Vec::new();
    file.take(max_bytes + 1).read_to_end(&mut bytes).with_context(|| format!("{flag} {}", path.display()))?;
    if bytes.len() as u64 > max_bytes {
        bail!("{flag} {}: larger than {max_bytes} bytes", path.display());
    }
    Ok(bytes)
}

/// A contract module from a file: WebAssembly binary as is, WebAssembly text (`.wat`, or any file that
/// does not start with the binary magic `\0asm`) compiled with the `wat` crate.
pub fn read_code(path: &Path) -> Result<Vec<u8>> {
    let bytes = read_limited(path, CODE_FILE_BYTES_MAX, "--code")?;
    if bytes.starts_with(b"\0asm") {
        return Ok(bytes);
    }
    let text = std::str::from_utf8(&bytes)
        .map_err(|_| anyhow!("--code {}: neither a WebAssembly binary nor UTF-8 WebAssembly text", path.display()))?;
    wat::parse_str(text)
        .map_err(|error| anyhow!("--code {}: the WebAssembly text does not compile: {error}", path.display()))
}

/// A manifest from a TOML file (JSON if its name ends in `.json`), with every rule of
/// [`Manifest::validate`] checked.
pub fn read_manifest(path: &Path) -> Result<Manifest> {
    let bytes = read_limited(path, MANIFEST_FILE_BYTES_MAX, "--manifest")?;
    let text = std::str::from_utf8(&bytes).map_err(|_| anyhow!("--manifest {}: not UTF-8", path.display()))?;
    let manifest: Manifest = if path.extension().is_some_and(|extension| extension == "json") {
        serde_json::from_str(text).map_err(|error| anyhow!("--manifest {}: {error}", path.display()))?
    } else {
        toml::from_str(text).map_err(|error| anyhow!("--manifest {}: {error}", path.display()))?
    };
    manifest.validate().map_err(|error| {
        let rule = error.rule();
        anyhow!("--manifest {}: {error} ({}, article {})", path.display(), rule.id(), rule.article())
    })?;
    Ok(manifest)
}

/// The code and encoded manifest of an admit- or upgrade-contract proposal, checked as the validators
/// will check them (with the node's hard limits; the chain's own `contract_bytes_max` may be lower, and
/// the node refuses such a proposal when it is submitted).
pub fn checked_code(code: &Path, manifest: &Path) -> Result<(Vec<u8>, Vec<u8>)> {
    let code = read_code(code)?;
    let manifest = read_manifest(manifest)?;
    if let Err(error) = validate_module(&code, &manifest, &VmLimits::hard_max()) {
        let rule = error.rule().map(|rule| format!(" ({}, article {})", rule.id(), rule.article()));
        bail!("the contract would be refused: {error}{}", rule.unwrap_or_default());
    }
    Ok((code, manifest.encode()))
}

// ---- reading ---------------------------------------------------------------------------------------

fn text(value: &Value, field: &str) -> String {
    match value.get(field) {
        Some(Value::String(text)) => text.clone(),
        Some(Value::Null) | None => "-".into(),
        Some(other) => other.to_string(),
    }
}

fn short_hash(value: &Value, field: &str) -> String {
    let hash = text(value, field);
    match hash.get(..16) {
        Some(prefix) if hash.len() > 16 => format!("{prefix}…"),
        _ => hash,
    }
}

/// `covenant contract list`.
pub fn list(api: &str, json: bool, out: &mut dyn Write, err: &mut dyn Write) -> Result<Outcome> {
    let path = "/v1/contracts";
    let body = match read(api, path, json, out, err)? {
        Answer::Body(body) => body,
        Answer::Done(outcome) => return Ok(outcome),
    };
    let contracts = body
        .get("contracts")
        .and_then(Value::as_array)
        .ok_or_else(|| anyhow!("GET {path}: expected {{\"contracts\": [...]}}, got {body}"))?;
    if contracts.is_empty() {
        writeln!(out, "no contracts")?;
        return Ok(Outcome::Success);
    }
    let rows: Vec<Vec<String>> = contracts
        .iter()
        .map(|contract| {
            vec![
                text(contract, "id"),
                text(contract, "status"),
                format!("{} {}", text(contract, "name"), text(contract, "version")),
                text(contract, "owner"),
                text(contract, "steward"),
                short_hash(contract, "code_hash"),
                text(contract, "admitted_at_height"),
            ]
        })
        .collect();
    table(out, &["ID", "STATUS", "NAME", "OWNER", "STEWARD", "CODE", "ADMITTED AT"], &rows)?;
    Ok(Outcome::Success)
}

/// `covenant contract show ID`.
pub fn show(api: &str, id: &str, json: bool, out: &mut dyn Write, err: &mut dyn Write) -> Result<Outcome> {
    let id = ContractId::new(id).context("contract id")?;
    let path = format!("/v1/contracts/{}", path_segment(id.as_str()));
    let body = match read(api, &path, json, out, err)? {
        Answer::Body(body) => body,
        Answer::Done(outcome) => return Ok(outcome),
    };
    writeln!(out, "contract   {}", text(&body, "id"))?;
    writeln!(out, "status     {}", text(&body, "status"))?;
    writeln!(out, "name       {} {}", text(&body, "name"), text(&body, "version"))?;
    writeln!(out, "owner      {}", text(&body, "owner"))?;
    writeln!(out, "steward    {}", text(&body, "steward"))?;
    writeln!(out, "code       sha256 {} ({} bytes)", text(&body, "code_hash"), text(&body, "code_bytes"))?;
    writeln!(
        out,
        "admitted   at height {} by proposal {}",
        text(&body, "admitted_at_height"),
        text(&body, "admitted_by")
    )?;
    writeln!(
        out,
        "changed    at height {} by proposal {}",
        text(&body, "changed_at_height"),
        text(&body, "changed_by")
    )?;
    writeln!(out, "functions")?;
    for function in body.get("functions").and_then(Value::as_array).into_iter().flatten() {
        let grants = function
            .pointer("/access/allow")
            .and_then(Value::as_array)
            .map_or_else(String::new, |grants| grants.iter().map(grant_text).collect::<Vec<_>>().join(", "));
        let read_only =
            if function.get("read_only").and_then(Value::as_bool) == Some(true) { " (read-only)" } else { "" };
        writeln!(out, "  {}{read_only}: {grants}", text(function, "name"))?;
    }
    Ok(Outcome::Success)
}

/// A grant of an access policy in words (the manifest's JSON form).
fn grant_text(grant: &Value) -> String {
    if grant.as_str() == Some("any_operator") {
        return "any operator".into();
    }
    let Some((kind, value)) = grant.as_object().and_then(|object| object.iter().next()) else {
        return grant.to_string();
    };
    match (kind.as_str(), value) {
        ("role", Value::String(role)) => format!("role {role}"),
        ("member", Value::String(member)) => format!("member {member}"),
        ("operator", Value::String(operator)) => format!("operator {operator}"),
        ("contract", Value::String(contract)) => format!("contract {contract}"),
        ("member_role", value) => format!("role {} at member {}", text(value, "role"), text(value, "member")),
        _ => grant.to_string(),
    }
}

/// `covenant contract storage ID --key-hex HEX`.
pub fn storage(
    api: &str,
    id: &str,
    key: &KeyArgs,
    json: bool,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<Outcome> {
    let id = ContractId::new(id).context("contract id")?;
    let key = match (&key.key_hex, &key.key_text) {
        (Some(hex_text), _) => {
            let digits = hex_text.trim();
            hex::decode(digits.strip_prefix("0x").unwrap_or(digits))
                .map_err(|error| anyhow!("--key-hex: not hex: {error}"))?
        }
        (None, Some(text)) => text.as_bytes().to_vec(),
        (None, None) => bail!("give the key with --key-hex or --key-text"),
    };
    let path = format!("/v1/contracts/{}/storage/{}", path_segment(id.as_str()), hex::encode(&key));
    let body = match read(api, &path, json, out, err)? {
        Answer::Body(body) => body,
        Answer::Done(outcome) => return Ok(outcome),
    };
    match body.get("value").and_then(Value::as_str) {
        Some(value) => {
            writeln!(out, "{value}")?;
            Ok(Outcome::Success)
        }
        None => {
            writeln!(err, "contract {id} holds no value under key {}", hex::encode(&key))?;
            Ok(Outcome::Failure)
        }
    }
}

// ---- calls -----------------------------------------------------------------------------------------

/// `covenant contract call ID FUNCTION ...`.
pub fn call(api: String, args: &CallArgs, out: &mut dyn Write, err: &mut dyn Write) -> Result<Outcome> {
    let contract = ContractId::new(args.id.as_str()).context("contract id")?;
    if args.function.is_empty() || args.function.len() > covenant_execution::vm::limits::FUNCTION_NAME_BYTES_MAX {
        bail!("function name {:?}: 1 to 64 bytes, as the contract's manifest lists it", args.function);
    }
    if args.fuel == 0 {
        bail!("--fuel 0: a call needs fuel (entering a contract alone costs more than 10,000)");
    }
    let payload = Payload::ContractCall(ContractCall {
        contract,
        function: args.function.clone(),
        input: args.input.bytes()?,
        fuel_limit: args.fuel,
    });
    let options = args.signer.options(api);
    let Some((api, hash)) = sign_and_submit(&options, payload, out, err)? else { return Ok(Outcome::Failure) };
    let Some(timeout) = options.wait else { return Ok(Outcome::Success) };
    let answer = super::tx::wait(&api, &hash, timeout)?;
    let (line, outcome) = summarize(&answer);
    if options.json {
        writeln!(out, "{answer}")?;
    } else {
        writeln!(out, "{line}")?;
        if let Some(fuel) = answer.pointer("/receipt/fuel_used").and_then(Value::as_u64) {
            writeln!(out, "fuel used: {fuel}")?;
        }
    }
    if outcome == Outcome::Failure || answer.get("status").and_then(Value::as_str) != Some("committed") {
        return Ok(outcome);
    }
    let path = format!("/v1/contract-calls/{}", path_segment(&hash));
    let response = api.get(&path)?;
    if !response.is_success() {
        writeln!(err, "error: GET {path} on {}: {}", api.address(), describe_error(&response))?;
        return Ok(Outcome::Failure);
    }
    if options.json {
        writeln!(out, "{}", response.body)?;
        return Ok(Outcome::Success);
    }
    writeln!(out, "output: {}", bytes_text(&text(&response.body, "output")))?;
    for event in response.body.get("events").and_then(Value::as_array).into_iter().flatten() {
        writeln!(out, "event from {}: {}", text(event, "contract"), bytes_text(&text(event, "data")))?;
    }
    Ok(Outcome::Success)
}

/// Hex bytes as shown: the hex, followed by the text when it is printable ASCII.
fn bytes_text(hex_text: &str) -> String {
    let Ok(bytes) = hex::decode(hex_text) else { return hex_text.to_string() };
    if bytes.is_empty() {
        return "(none)".into();
    }
    if bytes.iter().all(|byte| byte.is_ascii_graphic() || *byte == b' ') {
        return format!("{hex_text} ({:?})", String::from_utf8_lossy(&bytes));
    }
    hex_text.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Covenant {
        #[command(subcommand)]
        command: Top,
    }

    #[derive(Debug, Subcommand)]
    enum Top {
        Contract(ContractArgs),
    }

    fn parse(args: &[&str]) -> Result<ContractCommand, clap::Error> {
        Covenant::try_parse_from(std::iter::once("covenant").chain(args.iter().copied())).map(|cli| match cli.command {
            Top::Contract(contract) => contract.command,
        })
    }

    fn examples() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/contracts")
    }

    #[test]
    fn argument_tree_is_consistent() {
        use clap::CommandFactory;
        Covenant::command().debug_assert();
    }

    #[test]
    fn the_example_contracts_compile_and_pass_the_validators_checks() {
        for name in ["escrow", "registry"] {
            let (code, manifest) =
                checked_code(&examples().join(format!("{name}.wat")), &examples().join(format!("{name}.toml")))
                    .unwrap_or_else(|error| panic!("{name}: {error:#}"));
            assert!(code.starts_with(b"\0asm"));
            assert_eq!(Manifest::decode(&manifest).unwrap().owner.as_str(), "bank-0");
        }
    }

    #[test]
    fn bad_code_is_refused_before_signing_with_its_rule() {
        let dir = tempfile::tempdir().unwrap();
        let float = dir.path().join("float.wat");
        std::fs::write(&float, "(module (func (export \"get\") (drop (f64.const 1))))").unwrap();
        let manifest = dir.path().join("manifest.toml");
        std::fs::write(
            &manifest,
            "name = \"x\"\nversion = \"1\"\nowner = \"bank-0\"\nsteward = \"bank-0.steward\"\n\
             [[functions]]\nname = \"get\"\naccess = { allow = [\"any_operator\"] }\n",
        )
        .unwrap();
        let error = format!("{:#}", checked_code(&float, &manifest).unwrap_err());
        assert!(error.contains("floating point") && error.contains("COV-28-CONTRACT-ADMISSION"), "{error}");
        let broken = dir.path().join("broken.wat");
        std::fs::write(&broken, "(module (func (export \"get\")").unwrap();
        let error = format!("{:#}", checked_code(&broken, &manifest).unwrap_err());
        assert!(error.contains("does not compile"), "{error}");
        std::fs::write(
            &manifest,
            "name = \"x\"\nversion = \"1\"\nowner = \"bank-0\"\nsteward = \"s\"\nfunctions = []\n",
        )
        .unwrap();
        let error = format!("{:#}", read_manifest(&manifest).unwrap_err());
        assert!(error.contains("COV-28-CONTRACT-ADMISSION"), "{error}");
    }

    #[test]
    fn commands_map_to_the_governance_proposals() {
        let Ok(ContractCommand::Propose { action: ContractProposal::Admit(args) }) = parse(&[
            "contract",
            "propose",
            "admit",
            "escrow",
            "--code",
            "e.wat",
            "--manifest",
            "e.toml",
            "--key",
            "k",
            "--operator",
            "bank-0.admin",
        ]) else {
            panic!()
        };
        assert_eq!(args.contract, "escrow");
        let (spec, _) = ProposeCommand::AdmitContract(args).spec();
        assert!(matches!(spec, crate::commands::gov::action::ActionSpec::AdmitContract { .. }));
        let Ok(ContractCommand::Pause(args)) = parse(&["contract", "pause", "escrow", "--key", "k", "--operator", "o"])
        else {
            panic!()
        };
        assert_eq!(
            ProposeCommand::PauseContract(args).spec().0,
            crate::commands::gov::action::ActionSpec::PauseContract("escrow".into())
        );
        let Ok(ContractCommand::Call(call)) = parse(&[
            "contract",
            "call",
            "escrow",
            "release",
            "--input-hex",
            "0100000000000000",
            "--fuel",
            "5000",
            "--key",
            "k",
            "--operator",
            "bank-1.ops",
            "--wait",
        ]) else {
            panic!()
        };
        assert_eq!((call.fuel, call.signer.wait), (5000, true));
        assert_eq!(call.input.bytes().unwrap(), 1u64.to_le_bytes());
        assert!(
            parse(&[
                "contract",
                "call",
                "e",
                "f",
                "--input-hex",
                "00",
                "--input-text",
                "x",
                "--key",
                "k",
                "--operator",
                "o"
            ])
            .is_err()
        );
        assert!(parse(&["contract", "storage", "escrow"]).is_err(), "a key is required");
    }
}
