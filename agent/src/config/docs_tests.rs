//! docs/config.md against the config structs, both ways: every key a section's table documents
//! is a field of that section (a serialized config with every optional section present), so a
//! renamed or removed key cannot stay documented. (Code → docs is `every_config_key_is_documented`
//! in `mod.rs`.) Test-only.

use std::collections::{BTreeMap, BTreeSet};

use super::*;

/// The documented keys per section header (`node`, `chat.matrix`, `[sensors]` as `sensors`).
fn documented() -> BTreeMap<String, BTreeSet<String>> {
    let docs = include_str!("../../../docs/config.md");
    let mut sections: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut current: Option<String> = None;
    for line in docs.lines() {
        if line.starts_with("## ") || line.starts_with("### ") {
            current = line
                .split('`')
                .nth(1)
                .map(|header| header.trim_matches(|c| c == '[' || c == ']').to_string());
            continue;
        }
        let (Some(section), Some(rest)) = (&current, line.strip_prefix("| `")) else {
            continue;
        };
        if let Some((key, _)) = rest.split_once("` |") {
            sections
                .entry(section.clone())
                .or_default()
                .insert(key.to_string());
        }
    }
    sections
}

/// The keys each section of the code has, with every optional section present.
fn in_code() -> BTreeMap<String, BTreeSet<String>> {
    let text = "[mqtt]\nusername = 'u'\npassword = 'p'\nca_file = '/ca.pem'\n\
                [chat.matrix]\nhomeserver = 'https://m.example'\naccess_token = 't'\n\
                [chat.slack]\napp_token = 'xapp-1'\nbot_token = 'xoxb-1'\n\
                [chat.mattermost]\nurl = 'https://c.example'\nbot_token = 't'\n\
                [presence]\ninterface = 'eth0'\n\
                [[sensors]]\nfull_scale_db = 1.0\nseed = 1\nsample_rate_hz = 800\n";
    let config: Config = toml::from_str(text).expect("a config with every section");
    let value = toml::Value::try_from(&config).expect("config serializes");
    let mut sections = BTreeMap::new();
    let mut add = |name: String, table: &toml::Table| {
        let keys = table
            .iter()
            .filter(|(_, value)| !value.is_table())
            .map(|(key, _)| key.clone())
            .collect::<BTreeSet<_>>();
        sections.insert(name, keys);
    };
    for (section, body) in value.as_table().expect("a table") {
        match body {
            toml::Value::Table(table) => {
                add(section.clone(), table);
                for (sub, inner) in table {
                    if let toml::Value::Table(inner) = inner {
                        add(format!("{section}.{sub}"), inner);
                    }
                }
            }
            toml::Value::Array(entries) => {
                if let Some(toml::Value::Table(first)) = entries.first() {
                    add(section.clone(), first);
                }
            }
            _ => {}
        }
    }
    sections
}

#[test]
fn every_documented_config_key_exists_in_the_code() {
    let code = in_code();
    let mut stale = Vec::new();
    for (section, keys) in documented() {
        let Some(fields) = code.get(&section) else {
            stale.push(format!("[{section}] (no such section)"));
            continue;
        };
        for key in keys {
            if !fields.contains(&key) {
                stale.push(format!("{section}.{key}"));
            }
        }
    }
    assert!(
        stale.is_empty(),
        "docs/config.md documents keys the config does not have: {stale:?}"
    );
    assert!(
        documented()
            .get("chat.slack")
            .is_some_and(|keys| keys.contains("app_token")),
        "the docs parser reads subsections"
    );
}
