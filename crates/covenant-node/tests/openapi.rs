//! The OpenAPI document describes exactly the routes the API serves: every `.route(...)` in
//! `src/api.rs` is a path of `docs/api/openapi.json` and every path there is routed.

use std::collections::BTreeSet;

#[test]
fn openapi_paths_match_the_router() {
    let document: serde_json::Value =
        serde_json::from_str(covenant_node::api::OPENAPI_JSON).expect("docs/api/openapi.json is JSON");
    assert!(document["openapi"].as_str().is_some_and(|version| version.starts_with("3.")));
    let documented: BTreeSet<String> = document["paths"].as_object().expect("paths object").keys().cloned().collect();

    let source = concat!(include_str!("../src/api.rs"), include_str!("../src/access.rs"));
    let routed: BTreeSet<String> = source
        .split(".route(\"")
        .skip(1)
        .map(|rest| rest.split('"').next().expect("a quoted path").to_string())
        .collect();
    assert!(routed.len() >= 10, "the route scan found too few routes: {routed:?}");
    assert_eq!(documented.difference(&routed).collect::<Vec<_>>(), Vec::<&String>::new(), "documented but not routed");
    assert_eq!(routed.difference(&documented).collect::<Vec<_>>(), Vec::<&String>::new(), "routed but not documented");
}
