//! `covenant inventory` (article 14, asset inventory): what the chain says the consortium is made of,
//! read from one running node's API: members, nodes with their role and software version, validators,
//! operators with roles and key expiry, contracts and parameters.
//!
//! The inventory knows only the API address it is given, so it can tell the software version of that
//! node alone (from `GET /v1/status`); every other node's version is reported as unknown rather than
//! guessed. A node that does not serve `GET /v1/operators` yet is reported as such instead of failing.

use std::io::Write;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use covenant_rules::params::rule_for_param;

use super::query::{Api, describe_error};

/// What the inventory says about a node whose API it was not given.
pub const VERSION_UNKNOWN: &str = "unknown (not reachable from here)";

/// What the inventory says when the node has no operators endpoint.
pub const OPERATORS_UNAVAILABLE: &str = "endpoint not available on this node";

/// What the inventory says when the node has no contracts endpoint (an older version).
pub const CONTRACTS_UNAVAILABLE: &str = "contracts: endpoint not available on this node";

/// Options of `covenant inventory`.
#[derive(Debug, Clone)]
pub struct InventoryOptions {
    /// The node's API: `host:port` or `http://host:port`.
    pub api: String,
    /// Print one JSON object instead of tables.
    pub json: bool,
}

/// The inventory (`covenant inventory --json` prints it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Inventory {
    /// Which node answered, and at what height.
    pub source: Source,
    /// Consortium members.
    pub members: Vec<Member>,
    /// Registered nodes, with the software version where known.
    pub nodes: Vec<Node>,
    /// The validator set.
    pub validators: Validators,
    /// Operator accounts.
    pub operators: Operators,
    /// Contracts.
    pub contracts: Contracts,
    /// Chain parameters in force.
    pub parameters: Parameters,
}

/// The node the inventory was read from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Source {
    /// `http://host:port`.
    pub api: String,
    /// Chain id.
    pub chain_id: String,
    /// That node's id.
    pub node_id: String,
    /// Its height when the inventory was read.
    pub height: u64,
    /// Its software version.
    pub version: String,
}

/// A member as `GET /v1/members` lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    /// Member id.
    pub id: String,
    /// Display name.
    #[serde(default)]
    pub name: String,
    /// ISO 3166 jurisdiction.
    #[serde(default)]
    pub jurisdiction: String,
    /// `active`, `suspended` or `removed`.
    #[serde(default)]
    pub status: String,
}

/// A node as `GET /v1/nodes` lists it, with what the inventory knows of its software.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Node {
    /// Node id.
    pub id: String,
    /// Owning member.
    #[serde(default)]
    pub member: String,
    /// `validator` or `observer`.
    #[serde(default)]
    pub role: String,
    /// Removed from the network.
    #[serde(default)]
    pub removed: bool,
    /// Network (libp2p) key.
    #[serde(default)]
    pub network_key: String,
    /// Consensus key.
    #[serde(default)]
    pub consensus_key: String,
    /// In the current validator set.
    #[serde(default)]
    pub in_validator_set: bool,
    /// Software version, or [`VERSION_UNKNOWN`].
    #[serde(default)]
    pub software_version: String,
}

/// The validator set as `GET /v1/validators` gives it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Validators {
    /// The height this set decides.
    pub height: u64,
    /// Commit seals needed.
    pub quorum: u64,
    /// The validators.
    pub validators: Vec<Validator>,
}

/// One validator.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Validator {
    /// Node id.
    pub node: String,
    /// Consensus key.
    #[serde(default)]
    pub consensus_key: String,
}

/// Operators, if the node serves them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Operators {
    /// False when the node has no `GET /v1/operators`.
    pub available: bool,
    /// Why they are missing, when they are.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<&'static str>,
    /// The operators.
    pub operators: Vec<Operator>,
}

/// An operator as `GET /v1/operators` lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Operator {
    /// Account id.
    pub id: String,
    /// The person behind it (COV-10).
    #[serde(default)]
    pub person: String,
    /// The member it works for.
    #[serde(default)]
    pub member: String,
    /// Roles (COV-12).
    #[serde(default)]
    pub roles: Vec<String>,
    /// Signing key.
    #[serde(default)]
    pub key: String,
    /// Block time after which the key is refused (COV-11).
    #[serde(default)]
    pub key_expires_at_ms: u64,
    /// Revoked (COV-17).
    #[serde(default)]
    pub revoked: bool,
}

/// Contracts on the chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Contracts {
    /// Whether the node serves its contracts.
    pub supported: bool,
    /// Why not, when it does not.
    pub note: Option<&'static str>,
    /// The contracts as `GET /v1/contracts` lists them: id, status, name, version, owner, steward,
    /// code hash.
    pub contracts: Vec<Value>,
}

/// Chain parameters in force.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Parameters {
    /// Their hash.
    pub hash: String,
    /// Each parameter.
    pub params: Vec<Parameter>,
}

/// One parameter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Parameter {
    /// Name.
    pub name: String,
    /// Value.
    pub value: u64,
    /// The covenant rule its bound serves.
    pub rule: Option<&'static str>,
}

/// `GET path` as a JSON object, with the list under `key` decoded.
fn list<T: for<'de> Deserialize<'de>>(api: &Api, path: &str, key: &str) -> Result<Vec<T>> {
    let body = api.get_object(path)?;
    let items = body.get(key).cloned().with_context(|| format!("GET {path} on {}: no `{key}`", api.address()))?;
    serde_json::from_value(items).with_context(|| format!("GET {path} on {}: unexpected `{key}`", api.address()))
}

/// Reads the inventory from the node at `api`.
pub fn collect(api: &Api) -> Result<Inventory> {
    let status = api.get_object("/v1/status")?;
    let text = |field: &str| status.get(field).and_then(Value::as_str).unwrap_or("unknown").to_string();
    let source = Source {
        api: format!("http://{}", api.address()),
        chain_id: text("chain_id"),
        node_id: text("node_id"),
        height: status.get("height").and_then(Value::as_u64).unwrap_or(0),
        version: text("version"),
    };
    let members: Vec<Member> = list(api, "/v1/members", "members")?;
    let validators: Validators = serde_json::from_value(api.get_object("/v1/validators")?)
        .with_context(|| format!("GET /v1/validators on {}: unexpected answer", api.address()))?;
    let mut nodes: Vec<Node> = list(api, "/v1/nodes", "nodes")?;
    for node in &mut nodes {
        node.in_validator_set = validators.validators.iter().any(|validator| validator.node == node.id);
        node.software_version =
            if node.id == source.node_id { source.version.clone() } else { VERSION_UNKNOWN.to_string() };
    }
    let operators = operators(api)?;
    let answer = api.get_object("/v1/params")?;
    let params = answer
        .get("params")
        .and_then(Value::as_object)
        .with_context(|| format!("GET /v1/params on {}: no `params` object", api.address()))?;
    let parameters = Parameters {
        hash: answer.get("hash").and_then(Value::as_str).unwrap_or("unknown").to_string(),
        params: params
            .iter()
            .map(|(name, value)| Parameter {
                name: name.clone(),
                value: value.as_u64().unwrap_or(0),
                rule: rule_for_param(name).map(|rule| rule.id()),
            })
            .collect(),
    };
    Ok(Inventory { source, members, nodes, validators, operators, contracts: contracts(api)?, parameters })
}

fn contracts(api: &Api) -> Result<Contracts> {
    let response = api.get("/v1/contracts")?;
    if response.status == 404 {
        return Ok(Contracts { supported: false, note: Some(CONTRACTS_UNAVAILABLE), contracts: Vec::new() });
    }
    let contracts = response
        .body
        .get("contracts")
        .and_then(Value::as_array)
        .with_context(|| format!("GET /v1/contracts on {}: no `contracts` list", api.address()))?
        .clone();
    Ok(Contracts { supported: true, note: None, contracts })
}

fn operators(api: &Api) -> Result<Operators> {
    let response = api.get("/v1/operators")?;
    if response.status == 404 {
        return Ok(Operators { available: false, note: Some(OPERATORS_UNAVAILABLE), operators: Vec::new() });
    }
    if !response.is_success() {
        anyhow::bail!("GET /v1/operators on {}: {}", api.address(), describe_error(&response));
    }
    let items = response
        .body
        .get("operators")
        .cloned()
        .with_context(|| format!("GET /v1/operators on {}: no `operators`", api.address()))?;
    let operators = serde_json::from_value(items)
        .with_context(|| format!("GET /v1/operators on {}: unexpected `operators`", api.address()))?;
    Ok(Operators { available: true, note: None, operators })
}

/// A UTC date and time (`2025-03-01 00:00:00Z`) for a time in ms since the Unix epoch.
pub fn utc_text(time_ms: u64) -> String {
    let seconds = time_ms / 1000;
    let days = seconds / 86_400;
    let rest = seconds % 86_400;
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm, for non-negative days).
    let z = days + 719_468;
    let era = z / 146_097;
    let day_of_era = z - era * 146_097;
    let year_of_era = (day_of_era - day_of_era / 1_460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 { month_index + 3 } else { month_index - 9 };
    let year = year_of_era + era * 400 + u64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02}Z", rest / 3600, rest % 3600 / 60, rest % 60)
}

/// Writes rows as a table with a header and columns padded to their widest cell.
fn table(out: &mut dyn Write, header: &[&str], rows: &[Vec<String>]) -> Result<()> {
    let mut widths: Vec<usize> = header.iter().map(|title| title.chars().count()).collect();
    for row in rows {
        for (width, text) in widths.iter_mut().zip(row) {
            *width = (*width).max(text.chars().count());
        }
    }
    let mut line = |cells: Vec<&str>| -> Result<()> {
        let mut text = String::from(" ");
        for (index, (cell, width)) in cells.iter().zip(&widths).enumerate() {
            text.push(' ');
            text.push_str(cell);
            if index + 1 < cells.len() {
                text.push_str(&" ".repeat(width - cell.chars().count() + 1));
            }
        }
        writeln!(out, "{}", text.trim_end())?;
        Ok(())
    };
    line(header.to_vec())?;
    for row in rows {
        line(row.iter().map(String::as_str).collect())?;
    }
    Ok(())
}

/// Prints the inventory as grouped tables.
pub fn write_text(inventory: &Inventory, out: &mut dyn Write) -> Result<()> {
    let source = &inventory.source;
    writeln!(
        out,
        "inventory of chain {} read from node {} at {} (height {}, version {})",
        source.chain_id, source.node_id, source.api, source.height, source.version
    )?;
    writeln!(out)?;
    writeln!(out, "members ({})", inventory.members.len())?;
    let rows: Vec<Vec<String>> = inventory
        .members
        .iter()
        .map(|member| vec![member.id.clone(), member.name.clone(), member.jurisdiction.clone(), member.status.clone()])
        .collect();
    table(out, &["ID", "NAME", "JURISDICTION", "STATUS"], &rows)?;
    writeln!(out)?;
    writeln!(out, "nodes ({})", inventory.nodes.len())?;
    let rows: Vec<Vec<String>> = inventory
        .nodes
        .iter()
        .map(|node| {
            vec![
                node.id.clone(),
                node.member.clone(),
                node.role.clone(),
                if node.in_validator_set { "yes" } else { "no" }.into(),
                if node.removed { "removed" } else { "registered" }.into(),
                node.software_version.clone(),
            ]
        })
        .collect();
    table(out, &["ID", "MEMBER", "ROLE", "IN VALIDATOR SET", "STATUS", "SOFTWARE VERSION"], &rows)?;
    writeln!(out)?;
    let validators = &inventory.validators;
    writeln!(
        out,
        "validators for height {} ({}, quorum {})",
        validators.height,
        validators.validators.len(),
        validators.quorum
    )?;
    let rows: Vec<Vec<String>> = validators
        .validators
        .iter()
        .map(|validator| vec![validator.node.clone(), validator.consensus_key.clone()])
        .collect();
    table(out, &["NODE", "CONSENSUS KEY"], &rows)?;
    writeln!(out)?;
    match inventory.operators.note {
        Some(note) if !inventory.operators.available => writeln!(out, "operators: {note}")?,
        _ => {
            writeln!(out, "operators ({})", inventory.operators.operators.len())?;
            let rows: Vec<Vec<String>> = inventory
                .operators
                .operators
                .iter()
                .map(|operator| {
                    vec![
                        operator.id.clone(),
                        operator.person.clone(),
                        operator.member.clone(),
                        operator.roles.join(","),
                        utc_text(operator.key_expires_at_ms),
                        if operator.revoked { "revoked" } else { "active" }.into(),
                        operator.key.clone(),
                    ]
                })
                .collect();
            table(out, &["ID", "PERSON", "MEMBER", "ROLES", "KEY EXPIRES (UTC)", "STATUS", "KEY"], &rows)?;
        }
    }
    writeln!(out)?;
    match (inventory.contracts.note, inventory.contracts.contracts.is_empty()) {
        (Some(note), _) => writeln!(out, "{note}")?,
        (None, true) => writeln!(out, "contracts: none admitted")?,
        (None, false) => {
            writeln!(out, "contracts ({})", inventory.contracts.contracts.len())?;
            let text = |contract: &Value, field: &str| contract[field].as_str().unwrap_or("").to_string();
            let rows: Vec<Vec<String>> = inventory
                .contracts
                .contracts
                .iter()
                .map(|contract| {
                    ["id", "name", "version", "status", "owner", "steward", "code_hash"]
                        .iter()
                        .map(|field| text(contract, field))
                        .collect()
                })
                .collect();
            table(out, &["ID", "NAME", "VERSION", "STATUS", "OWNER", "STEWARD", "CODE HASH"], &rows)?;
        }
    }
    writeln!(out)?;
    writeln!(out, "parameters (hash {})", inventory.parameters.hash)?;
    let rows: Vec<Vec<String>> = inventory
        .parameters
        .params
        .iter()
        .map(|parameter| {
            vec![parameter.name.clone(), parameter.value.to_string(), parameter.rule.unwrap_or("-").to_string()]
        })
        .collect();
    table(out, &["NAME", "VALUE", "RULE"], &rows)?;
    Ok(())
}

/// Runs `covenant inventory`: reads the node at `options.api` and prints tables or JSON.
pub fn run(options: &InventoryOptions, out: &mut dyn Write) -> Result<()> {
    let api = Api::new(&options.api)?;
    let inventory = collect(&api)?;
    if options.json {
        serde_json::to_writer_pretty(&mut *out, &inventory)?;
        writeln!(out)?;
    } else {
        write_text(&inventory, out)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_text_gives_calendar_dates() {
        assert_eq!(utc_text(0), "1970-01-01 00:00:00Z");
        assert_eq!(utc_text(951_782_400_000), "2000-02-29 00:00:00Z");
        assert_eq!(utc_text(1_735_689_599_000), "2024-12-31 23:59:59Z");
        assert_eq!(utc_text(1_740_787_200_123), "2025-03-01 00:00:00Z");
    }

    #[test]
    fn tables_pad_columns_and_trim_line_ends() {
        let mut text = Vec::new();
        let rows = vec![vec!["bank-0".to_string(), "x".to_string()], vec!["b".to_string(), String::new()]];
        table(&mut text, &["ID", "NAME"], &rows).unwrap();
        assert_eq!(String::from_utf8(text).unwrap(), "  ID      NAME\n  bank-0  x\n  b\n");
    }
}
