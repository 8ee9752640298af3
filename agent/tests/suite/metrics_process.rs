//! `GET /metrics` of a real agent process: a valid text exposition (format 0.0.4) whose names,
//! labels and values agree with the JSON API; and the Grafana dashboard only queries metrics
//! the agent exports.

use crate::support;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use support::{eventually, send, AgentSpec, TestAgent};

/// One parsed sample line.
#[derive(Debug, Clone, PartialEq)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

/// A parsed exposition: families (name → type) and samples. Panics on anything malformed.
fn parse_exposition(text: &str) -> (BTreeMap<String, String>, Vec<Sample>) {
    let mut types = BTreeMap::new();
    let mut helped = BTreeSet::new();
    let mut samples = Vec::new();
    let valid_name = |name: &str| {
        !name.is_empty()
            && name
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
    };
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, _) = rest.split_once(' ').expect("HELP name text");
            assert!(helped.insert(name.to_string()), "HELP twice for {name}");
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').expect("TYPE name type");
            assert!(
                ["counter", "gauge", "histogram", "summary", "untyped"].contains(&kind),
                "{line}"
            );
            assert!(
                types.insert(name.to_string(), kind.to_string()).is_none(),
                "TYPE twice for {name}"
            );
            continue;
        }
        assert!(!line.starts_with('#'), "unexpected comment: {line}");
        assert!(!line.trim().is_empty(), "blank line in exposition");
        let (name, rest) = match line.find(['{', ' ']) {
            Some(at) => line.split_at(at),
            None => panic!("no value: {line}"),
        };
        assert!(valid_name(name), "bad metric name in {line}");
        assert!(
            types.contains_key(name),
            "sample before its TYPE line: {line}"
        );
        let mut labels = BTreeMap::new();
        let value_text = if let Some(body) = rest.strip_prefix('{') {
            // label="value" pairs with \\, \" and \n escapes.
            let mut chars = body.chars().peekable();
            loop {
                let mut label = String::new();
                for c in chars.by_ref() {
                    if c == '=' {
                        break;
                    }
                    label.push(c);
                }
                assert!(valid_name(&label), "bad label name '{label}' in {line}");
                assert_eq!(
                    chars.next(),
                    Some('"'),
                    "label value must be quoted: {line}"
                );
                let mut value = String::new();
                loop {
                    match chars.next().expect("unterminated label value") {
                        '\\' => match chars.next() {
                            Some('\\') => value.push('\\'),
                            Some('"') => value.push('"'),
                            Some('n') => value.push('\n'),
                            other => panic!("bad escape {other:?} in {line}"),
                        },
                        '"' => break,
                        '\n' => panic!("raw newline in {line}"),
                        c => value.push(c),
                    }
                }
                assert!(labels.insert(label, value).is_none(), "label twice: {line}");
                match chars.next() {
                    Some(',') => continue,
                    Some('}') => break,
                    other => panic!("expected , or }} got {other:?} in {line}"),
                }
            }
            let rest: String = chars.collect();
            rest.strip_prefix(' ')
                .unwrap_or_else(|| panic!("no space before value: {line}"))
                .to_string()
        } else {
            rest.trim_start().to_string()
        };
        let value = match value_text.as_str() {
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            "NaN" => f64::NAN,
            other => other
                .parse::<f64>()
                .unwrap_or_else(|_| panic!("bad value '{other}' in {line}")),
        };
        samples.push(Sample {
            name: name.to_string(),
            labels,
            value,
        });
    }
    assert_eq!(
        helped,
        types.keys().cloned().collect::<BTreeSet<_>>(),
        "every family has HELP and TYPE"
    );
    (types, samples)
}

fn scrape(agent: &TestAgent) -> (String, String) {
    let response = ureq::get(&format!("{}/metrics", agent.api))
        .timeout(Duration::from_secs(5))
        .call()
        .expect("GET /metrics");
    let content_type = response.header("content-type").unwrap_or("").to_string();
    (content_type, response.into_string().expect("text"))
}

/// Room with a quote and a backslash: label escaping is exercised end to end.
const ROOM: &str = r#"lobby "north" \ 2"#;
const ROOM_TOML: &str = r#"lobby \"north\" \\ 2"#;

#[test]
fn metrics_agree_with_the_json_api() {
    let root = tempfile::tempdir().expect("tempdir");
    let agent = TestAgent::start(
        root.path(),
        AgentSpec {
            name: "pi-metrics",
            room: ROOM_TOML,
            // One read at start, then none for an hour: the readings stay still while compared.
            extra: "[[sensors]]\ndriver = \"sim\"\nname = \"desk\"\npoll_interval_s = 3600\n\n[[sensors]]\ndriver = \"sim\"\nname = \"window\"\npoll_interval_s = 3600\n",
            ..AgentSpec::default()
        },
    );
    let readings = eventually(Duration::from_secs(15), || {
        let answer = agent.get("/v1/readings");
        let rows = answer["readings"].as_array()?.clone();
        (rows.len() == 6).then_some(rows)
    })
    .expect("two sim sensors, three quantities each");
    let (status, body) = send(
        "POST",
        &format!("{}/v1/people", agent.api),
        None,
        Some(r#"{"name": "Grace", "mac": "b8:27:eb:00:00:09"}"#),
    );
    assert_eq!(status, 201, "{body}");

    let (content_type, text) = scrape(&agent);
    assert_eq!(content_type, "text/plain; version=0.0.4; charset=utf-8");
    let (types, samples) = parse_exposition(&text);
    for name in officemesh::api::metrics::METRIC_NAMES {
        assert!(types.contains_key(*name), "{name} not exported:\n{text}");
    }
    assert_eq!(types["officemesh_reading"], "gauge");
    assert_eq!(types["officemesh_mqtt_published_total"], "counter");
    assert_eq!(types["officemesh_errors_total"], "counter");
    let of = |name: &str| -> Vec<&Sample> { samples.iter().filter(|s| s.name == name).collect() };

    // Readings: one sample per API row, same labels, same value.
    let exported: BTreeMap<(String, String, String, String), f64> = of("officemesh_reading")
        .into_iter()
        .map(|s| {
            assert_eq!(
                s.labels.keys().cloned().collect::<Vec<_>>(),
                vec!["node", "quantity", "room", "sensor"],
                "{s:?}"
            );
            (
                (
                    s.labels["node"].clone(),
                    s.labels["room"].clone(),
                    s.labels["sensor"].clone(),
                    s.labels["quantity"].clone(),
                ),
                s.value,
            )
        })
        .collect();
    let from_api: BTreeMap<(String, String, String, String), f64> = readings
        .iter()
        .map(|row| {
            (
                (
                    row["node_name"].as_str().expect("node").to_string(),
                    row["room"].as_str().expect("room").to_string(),
                    row["sensor"].as_str().expect("sensor").to_string(),
                    row["quantity"].as_str().expect("quantity").to_string(),
                ),
                row["value"].as_f64().expect("value"),
            )
        })
        .collect();
    assert_eq!(exported, from_api);
    assert!(exported.keys().all(|(_, room, _, _)| room == ROOM));
    assert_eq!(of("officemesh_reading_age_seconds").len(), 6);

    // Build info, people, peers, MQTT (off), gossip hooks (not running here).
    let health = agent.get("/healthz");
    let build = of("officemesh_build_info");
    assert_eq!(build.len(), 1);
    assert_eq!(build[0].value, 1.0);
    assert_eq!(
        build[0].labels["version"],
        health["version"].as_str().expect("version")
    );
    assert_eq!(build[0].labels["node"], "pi-metrics");
    assert_eq!(of("officemesh_people_registered")[0].value, 1.0);
    let peers: BTreeMap<String, f64> = of("officemesh_peers")
        .into_iter()
        .map(|s| (s.labels["status"].clone(), s.value))
        .collect();
    assert_eq!(
        peers,
        ["alive", "dead", "left", "suspect"]
            .iter()
            .map(|s| (s.to_string(), 0.0))
            .collect()
    );
    for name in [
        "officemesh_mqtt_connected",
        "officemesh_mqtt_buffered",
        "officemesh_mqtt_published_total",
    ] {
        assert_eq!(of(name)[0].value, 0.0, "{name}");
    }
    // Gossip runs (alone): its round timer has ticked at least once by now.
    assert!(of("officemesh_gossip_rounds_total")[0].value >= 1.0);

    // Values that move with presence scans: compare when the API answers the same before and
    // after the scrape.
    eventually(Duration::from_secs(15), || {
        let before = agent.get("/v1/presence")["present_count"].as_u64()?;
        let entries_before = agent.get("/v1/state/hash")["entries"].as_u64()?;
        let (_, text) = scrape(&agent);
        let after = agent.get("/v1/presence")["present_count"].as_u64()?;
        let entries_after = agent.get("/v1/state/hash")["entries"].as_u64()?;
        if before != after || entries_before != entries_after {
            return None;
        }
        let (_, samples) = parse_exposition(&text);
        let value = |name: &str| samples.iter().find(|s| s.name == name).map(|s| s.value);
        assert_eq!(value("officemesh_people_present"), Some(before as f64));
        assert_eq!(value("officemesh_entries"), Some(entries_before as f64));
        Some(())
    })
    .expect("a quiet moment to compare presence and entries");
}

/// Every `expr` string anywhere in the dashboard.
fn exprs(value: &serde_json::Value, out: &mut Vec<String>) {
    match value {
        serde_json::Value::Object(map) => {
            for (key, inner) in map {
                if key == "expr" {
                    out.push(inner.as_str().expect("expr is a string").to_string());
                } else {
                    exprs(inner, out);
                }
            }
        }
        serde_json::Value::Array(items) => items.iter().for_each(|item| exprs(item, out)),
        _ => {}
    }
}

#[test]
fn the_grafana_dashboard_only_queries_exported_metrics() {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/grafana-dashboard.json");
    let text = std::fs::read_to_string(&path).expect("deploy/grafana-dashboard.json");
    let dashboard: serde_json::Value = serde_json::from_str(&text).expect("valid JSON");
    assert!(dashboard["title"].is_string());
    assert!(dashboard["panels"]
        .as_array()
        .is_some_and(|p| !p.is_empty()));
    let mut found = Vec::new();
    exprs(&dashboard, &mut found);
    assert!(found.len() >= 10, "only {} exprs", found.len());
    let exported: BTreeSet<&str> = officemesh::api::metrics::METRIC_NAMES
        .iter()
        .copied()
        .collect();
    let mut used = BTreeSet::new();
    for expr in &found {
        let mut names = Vec::new();
        let mut rest = expr.as_str();
        while let Some(at) = rest.find("officemesh_") {
            let tail = &rest[at..];
            let end = tail
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(tail.len());
            names.push(&tail[..end]);
            rest = &tail[end..];
        }
        assert!(!names.is_empty(), "expr uses no officemesh metric: {expr}");
        for name in names {
            assert!(
                exported.contains(name),
                "{expr}: {name} is not exported by the agent"
            );
            used.insert(name);
        }
    }
    for name in [
        "officemesh_reading",
        "officemesh_people_present",
        "officemesh_peers",
        "officemesh_mqtt_buffered",
        "officemesh_errors_total",
    ] {
        assert!(used.contains(name), "the dashboard should chart {name}");
    }
}
