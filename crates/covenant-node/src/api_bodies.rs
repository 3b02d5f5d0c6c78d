//! The bodies of the API's POST requests, decoded apart from the handlers so that each decoder can be
//! fuzzed on its own (`fuzz/`). Every error is a sentence for a 400 answer.

use serde_json::Value;

use covenant_types::batch::decode_tx_batch;
use covenant_types::limits::TX_BATCH_TXS_MAX;

/// `POST /v1/txs`: the encoded transaction, sent as it is, or as JSON `{"tx": "<hex>"}`.
pub fn submit_body(json: bool, body: &[u8]) -> Result<Vec<u8>, String> {
    if !json {
        return Ok(body.to_vec());
    }
    let value: Value = serde_json::from_slice(body).map_err(|error| format!("body is not JSON: {error}"))?;
    let hex_text = value.get("tx").and_then(Value::as_str).ok_or("expected {\"tx\": \"<hex>\"}")?;
    hex::decode(hex_text).map_err(|error| format!("tx is not hex: {error}"))
}

/// `POST /v1/txs/batch`: a transaction batch (`covenant_types::batch`), or JSON
/// `{"txs": ["<hex>", ...]}`; 1 to [`TX_BATCH_TXS_MAX`] transactions.
pub fn batch_body(json: bool, body: &[u8]) -> Result<Vec<Vec<u8>>, String> {
    if !json {
        let txs = decode_tx_batch(body).map_err(|error| error.to_string())?;
        return Ok(txs.into_iter().map(<[u8]>::to_vec).collect());
    }
    let value: Value = serde_json::from_slice(body).map_err(|error| format!("body is not JSON: {error}"))?;
    let items = value.get("txs").and_then(Value::as_array).ok_or("expected {\"txs\": [\"<hex>\", ...]}")?;
    if items.is_empty() || items.len() > TX_BATCH_TXS_MAX {
        return Err(format!("{} transactions; a batch holds 1 to {TX_BATCH_TXS_MAX}", items.len()));
    }
    items
        .iter()
        .enumerate()
        .map(|(index, item)| {
            let text = item.as_str().ok_or_else(|| format!("txs[{index}] is not a string"))?;
            hex::decode(text).map_err(|error| format!("txs[{index}] is not hex: {error}"))
        })
        .collect()
}

/// `POST /v1/auth/sessions`.
pub fn session_body(body: &[u8]) -> Result<crate::auth::SessionRequest, String> {
    serde_json::from_slice(body)
        .map_err(|error| format!("expected {{\"operator\", \"time_ms\", \"signature\"}}: {error}"))
}

/// `POST /v1/admin/backup`.
pub fn backup_body(body: &[u8]) -> Result<crate::commands::backup::CreateRequest, String> {
    serde_json::from_slice(body).map_err(|error| format!("expected {{\"dir\": \"/absolute/path\"}}: {error}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_transaction_comes_raw_or_as_hex_in_json() {
        assert_eq!(submit_body(false, b"\x01\x02"), Ok(vec![1, 2]));
        assert_eq!(submit_body(true, br#"{"tx": "0102"}"#), Ok(vec![1, 2]));
        assert!(submit_body(true, br#"{"tx": "zz"}"#).unwrap_err().contains("not hex"));
        assert!(submit_body(true, br#"{"txs": "01"}"#).unwrap_err().contains("expected"));
        assert!(submit_body(true, b"\xff").unwrap_err().contains("not JSON"));
    }

    #[test]
    fn a_session_time_is_a_whole_number_however_it_is_written() {
        let body = |time: &str| {
            format!(r#"{{"operator": "bank-0.admin", "time_ms": {time}, "signature": "{}"}}"#, "ab".repeat(64))
        };
        assert_eq!(session_body(body("17909").as_bytes()).map(|request| request.time_ms), Ok(17_909));
        assert_eq!(session_body(body("17909.0").as_bytes()).map(|request| request.time_ms), Ok(17_909));
        assert_eq!(session_body(body("1.8e12").as_bytes()).map(|request| request.time_ms), Ok(1_800_000_000_000));
        for bad in ["17909.5", "-1", "1e20", "\"17909\""] {
            assert!(session_body(body(bad).as_bytes()).is_err(), "{bad} was accepted");
        }
    }

    #[test]
    fn a_json_batch_names_its_bad_item_and_its_size() {
        assert_eq!(batch_body(true, br#"{"txs": ["01", "0203"]}"#), Ok(vec![vec![1], vec![2, 3]]));
        assert_eq!(batch_body(true, br#"{"txs": ["01", 2]}"#), Err("txs[1] is not a string".into()));
        assert!(batch_body(true, br#"{"txs": []}"#).unwrap_err().contains("a batch holds 1 to"));
        let binary = covenant_types::batch::encode_tx_batch([&[7u8][..], &[8u8, 9][..]].into_iter());
        assert_eq!(batch_body(false, &binary), Ok(vec![vec![7], vec![8, 9]]));
    }
}
