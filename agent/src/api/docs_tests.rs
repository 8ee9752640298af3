//! docs/api.md against the router, both ways: every `METHOD /path` the code routes has a
//! `## `METHOD /path`` section, every section names a route the code has, and the node status
//! values listed are exactly those `/v1/nodes` can answer. Routes are read from the `.route(…)`
//! calls of this module's files (axum cannot list a router's routes). Test-only.

use std::collections::BTreeSet;

use crate::peer::NodeStatus;

const SOURCES: &[&str] = &[
    include_str!("mod.rs"),
    include_str!("access.rs"),
    include_str!("chat.rs"),
    include_str!("claim.rs"),
    include_str!("dashboard.rs"),
    include_str!("events.rs"),
    include_str!("metrics.rs"),
    include_str!("sensors.rs"),
    include_str!("targets.rs"),
];
const DOCS: &str = include_str!("../../../docs/api.md");

/// `METHOD /path` of every `.route("/path", get(…).post(…))` call in `source`.
fn routes_in(source: &str) -> Vec<String> {
    let mut routes = Vec::new();
    for (start, _) in source.match_indices(".route(\"") {
        let rest = &source[start + ".route(\"".len()..];
        let Some((path, handlers)) = rest.split_once('"') else {
            continue;
        };
        let handlers = handlers.lines().next().unwrap_or("");
        for method in ["get", "post", "put", "delete", "patch"] {
            let called = handlers
                .match_indices(&format!("{method}("))
                .any(|(at, _)| {
                    at == 0
                        || !handlers[..at]
                            .chars()
                            .next_back()
                            .is_some_and(|c| c.is_alphanumeric() || c == '_')
                });
            if called {
                routes.push(format!("{} {path}", method.to_uppercase()));
            }
        }
    }
    routes
}

fn routed() -> BTreeSet<String> {
    SOURCES
        .iter()
        .flat_map(|source| routes_in(source))
        .collect()
}

fn documented() -> BTreeSet<String> {
    DOCS.lines()
        .filter_map(|line| line.strip_prefix("## `"))
        .filter_map(|line| line.split_once('`').map(|(route, _)| route.to_string()))
        .collect()
}

#[test]
fn every_route_is_documented_and_every_documented_route_exists() {
    let routed = routed();
    let documented = documented();
    assert!(routed.contains("DELETE /v1/targets/{room}"), "{routed:?}");
    let undocumented: Vec<_> = routed.difference(&documented).collect();
    let stale: Vec<_> = documented.difference(&routed).collect();
    assert!(
        undocumented.is_empty() && stale.is_empty(),
        "routes without a section in docs/api.md: {undocumented:?}; sections without a route: {stale:?}"
    );
}

#[test]
fn the_documented_node_statuses_are_the_ones_answered() {
    let all = [
        NodeStatus::This,
        NodeStatus::Unknown,
        NodeStatus::Alive,
        NodeStatus::Suspect,
        NodeStatus::Dead,
        NodeStatus::Left,
    ];
    let in_code: BTreeSet<String> = all
        .iter()
        .map(|status| {
            serde_json::to_value(status)
                .ok()
                .and_then(|v| v.as_str().map(String::from))
        })
        .map(|text| text.unwrap_or_default())
        .collect();
    let line = DOCS
        .lines()
        .find_map(|line| line.strip_prefix("Node status values: "))
        .expect("docs/api.md lists the node status values");
    let in_docs: BTreeSet<String> = line
        .split('`')
        .skip(1)
        .step_by(2)
        .map(String::from)
        .collect();
    assert_eq!(in_docs, in_code, "docs/api.md's node status values");
    for status in &in_docs {
        let quoted = serde_json::Value::String(status.clone());
        assert!(
            serde_json::from_value::<NodeStatus>(quoted).is_ok(),
            "{status} is not a status"
        );
    }
}
