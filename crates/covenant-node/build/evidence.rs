//! What the code of a marked test names: the identifiers and rule ids in its body and in the bodies of
//! the functions of the same file it calls (followed [`CALL_DEPTH_MAX`] deep). The report compares them
//! with the names of the rule's checks, errors and parameters to tell a marker the test's code backs from
//! one it does not. Text only, no parsing: strings and comments are skipped when braces are counted, so
//! a body ends where its braces balance.

use std::collections::{BTreeMap, BTreeSet};

/// How deep calls to functions of the same file are followed from a test.
const CALL_DEPTH_MAX: usize = 4;

/// Shortest token kept (shorter ones name nothing a rule could be recognised by).
const TOKEN_CHARS_MIN: usize = 3;

/// The tokens of every function body and every constant's definition in `text`, by name (bodies of
/// functions sharing a name, such as methods of different types, are merged). A test naming a constant
/// (`const RULE: &str = "COV-20-PERMISSIONED-PEERS"`) names what the constant holds.
pub fn function_tokens(text: &str) -> BTreeMap<String, BTreeSet<String>> {
    let mut functions: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        if let Some(name) = super::function_name(line.trim()).or_else(|| constant_name(line.trim())) {
            let body = body_from(&text[offset..]);
            functions.entry(name).or_default().extend(tokens(&without_comments(body)));
        }
        offset += line.len();
    }
    functions
}

/// The tokens of `test`'s body and of the bodies of the same file's functions it calls, transitively.
pub fn test_tokens(functions: &BTreeMap<String, BTreeSet<String>>, test: &str) -> BTreeSet<String> {
    let mut collected: BTreeSet<String> = BTreeSet::new();
    let mut visited: BTreeSet<&str> = BTreeSet::new();
    let mut frontier: Vec<&str> = vec![test];
    for _ in 0..=CALL_DEPTH_MAX {
        let mut next = Vec::new();
        for name in frontier {
            if !visited.insert(name) {
                continue;
            }
            let Some(body) = functions.get(name) else { continue };
            collected.extend(body.iter().cloned());
            next.extend(body.iter().filter(|token| functions.contains_key(*token)).map(String::as_str));
        }
        frontier = next;
    }
    collected
}

/// The name after `const` or `static` at the start of `line` (`pub const RULE: &str = ...` gives `RULE`).
fn constant_name(line: &str) -> Option<String> {
    let mut words = line.split_whitespace();
    let mut word = words.next()?;
    if word.starts_with("pub") {
        word = words.next()?;
    }
    if word != "const" && word != "static" {
        return None;
    }
    let name: String =
        words.next()?.chars().take_while(|character| character.is_alphanumeric() || *character == '_').collect();
    if name.is_empty() { None } else { Some(name) }
}

/// The text from the start of `text` (a `fn` or `const` line) to the brace that closes the function's body, or to
/// the first `;` if it has none (a declaration), or to the end.
pub fn body_from(text: &str) -> &str {
    let bytes = text.as_bytes();
    let mut depth = 0usize;
    let mut index = 0;
    while index < bytes.len() {
        match bytes[index] {
            b'/' if bytes.get(index + 1) == Some(&b'/') => index = skip_to(bytes, index, b"\n"),
            b'/' if bytes.get(index + 1) == Some(&b'*') => index = skip_to(bytes, index + 2, b"*/") + 1,
            b'"' => index = skip_string(bytes, index + 1, 0),
            b'r' if raw_string_hashes(bytes, index).is_some() => {
                let hashes = raw_string_hashes(bytes, index).unwrap_or(0);
                index = skip_string(bytes, index + 2 + hashes, hashes);
            }
            b'\'' => index = skip_char_literal(bytes, index),
            b';' if depth == 0 => return &text[..=index],
            b'{' => depth += 1,
            b'}' => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    return &text[..=index];
                }
            }
            _ => {}
        }
        index += 1;
    }
    text
}

/// `text` with its comments blanked: a comment that names a rule is a claim, like a marker, not code.
fn without_comments(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut code = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        let end = match bytes[index] {
            b'/' if bytes.get(index + 1) == Some(&b'/') => {
                let end = skip_to(bytes, index, b"\n");
                code.push(b'\n');
                index = end + 1;
                continue;
            }
            b'/' if bytes.get(index + 1) == Some(&b'*') => {
                index = skip_to(bytes, index + 2, b"*/") + 1;
                code.push(b' ');
                continue;
            }
            b'"' => skip_string(bytes, index + 1, 0),
            b'r' if raw_string_hashes(bytes, index).is_some() => skip_string(
                bytes,
                index + 2 + raw_string_hashes(bytes, index).unwrap_or(0),
                raw_string_hashes(bytes, index).unwrap_or(0),
            ),
            b'\'' => skip_char_literal(bytes, index),
            _ => index,
        };
        let end = end.min(bytes.len() - 1);
        code.extend_from_slice(&bytes[index..=end]);
        index = end + 1;
    }
    String::from_utf8_lossy(&code).into_owned()
}

/// The index of the last byte of the first `end` at or after `from` (or the last index).
fn skip_to(bytes: &[u8], from: usize, end: &[u8]) -> usize {
    bytes[from.min(bytes.len())..]
        .windows(end.len())
        .position(|window| window == end)
        .map_or(bytes.len().saturating_sub(1), |position| from + position + end.len() - 1)
}

/// For `r"` or `r#"` (not preceded by an identifier character) at `index`: the number of `#`.
fn raw_string_hashes(bytes: &[u8], index: usize) -> Option<usize> {
    if index > 0 && (bytes[index - 1].is_ascii_alphanumeric() || bytes[index - 1] == b'_') {
        return None;
    }
    let hashes = bytes[index + 1..].iter().take_while(|byte| **byte == b'#').count();
    (bytes.get(index + 1 + hashes) == Some(&b'"')).then_some(hashes)
}

/// The index of the closing quote of a string whose content starts at `from` (raw with `hashes` when
/// `hashes > 0` or when called for a raw string).
fn skip_string(bytes: &[u8], from: usize, hashes: usize) -> usize {
    let mut index = from;
    while index < bytes.len() {
        match bytes[index] {
            b'\\' if hashes == 0 => index += 1,
            b'"' if bytes[index + 1..].iter().take(hashes).filter(|byte| **byte == b'#').count() == hashes => {
                return index + hashes;
            }
            _ => {}
        }
        index += 1;
    }
    bytes.len()
}

/// Past a character literal at `index` (`'{'`, `'\n'`, `'\u{7b}'`); a lifetime's quote is skipped alone.
fn skip_char_literal(bytes: &[u8], index: usize) -> usize {
    match (bytes.get(index + 1), bytes.get(index + 2)) {
        (Some(b'\\'), _) => skip_to(bytes, index + 2, b"'"),
        (Some(_), Some(b'\'')) => index + 2,
        _ => index,
    }
}

/// Identifiers, and rule ids (`COV-49-BLOCK-LIMITS`) as whole tokens, of `text`.
fn tokens(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split(|character: char| !(character.is_ascii_alphanumeric() || character == '_' || character == '-'))
        .flat_map(|piece| {
            if piece.starts_with("COV-") { vec![piece.trim_end_matches('-')] } else { piece.split('-').collect() }
        })
        .filter(|token| {
            token.len() >= TOKEN_CHARS_MIN
                && token.starts_with(|first: char| first.is_ascii_alphabetic() || first == '_')
        })
        .map(str::to_string)
}
