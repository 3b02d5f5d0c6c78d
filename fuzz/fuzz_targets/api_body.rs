//! Fuzz target `api_body`: the body of every POST route of the API; the first byte picks the route.
#![no_main]

use libfuzzer_sys::fuzz_target;

use covenant_node::api_bodies::{backup_body, batch_body, session_body, submit_body};

fuzz_target!(|data: &[u8]| {
    let Some((selector, body)) = data.split_first() else { return };
    match selector % 6 {
        0 => drop(submit_body(false, body)),
        1 => drop(submit_body(true, body)),
        2 => drop(batch_body(false, body)),
        3 => drop(batch_body(true, body)),
        4 => drop(session_body(body)),
        _ => drop(backup_body(body)),
    }
});
