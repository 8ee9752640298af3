//! The range of every numeric config key, checked at load so an absurd value is a clear error
//! naming the key and its range — never a panic or a silently dead subsystem later. The same
//! ranges are listed in `docs/config.md` (a test checks each key's range is written there).
//!
//! Leaf module: knows only the config structs.

use super::{Config, Invalid};

/// One numeric key: its dotted name, value, and inclusive range.
struct Bounded {
    key: &'static str,
    value: i128,
    min: i128,
    max: i128,
}

fn bounded(key: &'static str, value: impl Into<i128>, min: i128, max: i128) -> Bounded {
    Bounded {
        key,
        value: value.into(),
        min,
        max,
    }
}

fn usize_value(value: usize) -> i128 {
    i128::try_from(value).unwrap_or(i128::MAX)
}

const DAY_S: i128 = 86_400;
const DAY_MS: i128 = DAY_S * 1000;

fn all(config: &Config) -> Vec<Bounded> {
    let storage = &config.storage;
    let gossip = &config.gossip;
    let presence = &config.presence;
    let mqtt = &config.mqtt;
    vec![
        bounded("storage.batch_ms", storage.batch_ms, 1, 60_000),
        bounded(
            "storage.readings_batch_ms",
            storage.readings_batch_ms,
            0,
            600_000,
        ),
        bounded(
            "storage.raw_retention_days",
            storage.raw_retention_days,
            1,
            3650,
        ),
        bounded(
            "storage.aggregate_retention_days",
            storage.aggregate_retention_days,
            1,
            36_500,
        ),
        bounded("gossip.interval_ms", gossip.interval_ms, 10, 60_000),
        bounded("gossip.fanout", usize_value(gossip.fanout), 1, 32),
        bounded(
            "gossip.max_delta_bytes",
            usize_value(gossip.max_delta_bytes),
            1024,
            512 * 1024,
        ),
        bounded(
            "gossip.max_clock_offset_ms",
            gossip.max_clock_offset_ms,
            1,
            3_600_000,
        ),
        bounded(
            "gossip.tombstone_grace_s",
            gossip.tombstone_grace_s,
            1,
            365 * DAY_S,
        ),
        bounded(
            "gossip.test_clock_offset_ms",
            gossip.test_clock_offset_ms,
            -DAY_MS,
            DAY_MS,
        ),
        bounded("gossip.io_timeout_ms", gossip.io_timeout_ms, 1, 600_000),
        bounded("gossip.idle_timeout_ms", gossip.idle_timeout_ms, 1, DAY_MS),
        bounded(
            "gossip.max_inbound_connections",
            usize_value(gossip.max_inbound_connections),
            1,
            4096,
        ),
        bounded(
            "presence.scan_interval_s",
            presence.scan_interval_s,
            1,
            DAY_S,
        ),
        bounded(
            "presence.consider_home_s",
            presence.consider_home_s,
            1,
            7 * DAY_S,
        ),
        bounded(
            "presence.sim_devices",
            usize_value(presence.sim_devices),
            0,
            1000,
        ),
        bounded(
            "presence.forget_unknown_after_s",
            presence.forget_unknown_after_s,
            60,
            365 * DAY_S,
        ),
        bounded(
            "presence.history_days",
            u64::from(presence.history_days),
            0,
            3650,
        ),
        bounded(
            "presence.sweep_prefix",
            u64::from(presence.sweep_prefix),
            16,
            32,
        ),
        bounded("presence.probe_pace_ms", presence.probe_pace_ms, 0, 1000),
        bounded("mqtt.keep_alive_s", mqtt.keep_alive_s, 5, 65_535),
        bounded("mqtt.reconnect_min_ms", mqtt.reconnect_min_ms, 1, 3_600_000),
        bounded("mqtt.reconnect_max_ms", mqtt.reconnect_max_ms, 1, 3_600_000),
        bounded("mqtt.buffer_max", mqtt.buffer_max, 1, 10_000_000),
        bounded("chat.alert_after_s", config.chat.alert_after_s, 0, DAY_S),
        bounded("chat.handover_s", config.chat.handover_s, 1, 300),
    ]
}

/// Checks every numeric key against its range.
pub(super) fn check(config: &Config) -> Result<(), Invalid> {
    for b in all(config) {
        if b.value < b.min || b.value > b.max {
            return Err(format!(
                "{} = {} is out of range: it must be between {} and {}",
                b.key, b.value, b.min, b.max
            )
            .into());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_in_range_and_absurd_values_name_the_key() {
        let config = Config::default();
        assert_eq!(check(&config), Ok(()));
        let mut absurd = Config::default();
        absurd.gossip.max_clock_offset_ms = u64::MAX;
        let err = check(&absurd).expect_err("absurd");
        assert!(err.0.contains("gossip.max_clock_offset_ms"), "{err}");
        assert!(err.0.contains("between 1 and 3600000"), "{err}");
        let mut absurd = Config::default();
        absurd.gossip.max_inbound_connections = usize::MAX;
        assert!(check(&absurd).is_err());
    }

    /// Every numeric key of the config has a range here (a new key without one fails this).
    #[test]
    fn every_numeric_key_has_a_range() {
        let mut config = Config::default();
        config.sensors.clear();
        let value = toml::Value::try_from(&config).expect("config serializes");
        let ranged: Vec<&str> = all(&config).iter().map(|b| b.key).collect();
        let mut missing = Vec::new();
        for (section, body) in value.as_table().expect("a table") {
            let Some(keys) = body.as_table() else {
                continue;
            };
            for (key, value) in keys {
                let name = format!("{section}.{key}");
                if matches!(value, toml::Value::Integer(_) | toml::Value::Float(_))
                    && !ranged.contains(&name.as_str())
                {
                    missing.push(name);
                }
            }
        }
        assert!(
            missing.is_empty(),
            "numeric keys without a range: {missing:?}"
        );
    }

    /// Every ranged key has its range written in docs/config.md ("min–max" in its row).
    #[test]
    fn every_range_is_documented() {
        let docs = include_str!("../../../docs/config.md");
        let mut missing = Vec::new();
        for b in all(&Config::default()) {
            let name = b.key.rsplit('.').next().unwrap_or(b.key);
            let row = docs
                .lines()
                .find(|line| line.starts_with(&format!("| `{name}` |")));
            let range = format!("{}–{}", b.min, b.max);
            if !row.is_some_and(|row| row.replace(['_', ','], "").contains(&range)) {
                missing.push(format!("{} ({range})", b.key));
            }
        }
        assert!(
            missing.is_empty(),
            "ranges missing in docs/config.md: {missing:?}"
        );
    }
}
