//! The `[mqtt]` section's own checks: the broker URL's syntax (`BrokerUrl`) and the keys serde
//! cannot check. Data only: knows nothing of rumqttc or the publisher (the MQTT publisher uses
//! `BrokerUrl` to connect).

use super::{Invalid, MqttConfig};

/// Where the broker is, from `mqtt.url`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerUrl {
    pub tls: bool,
    pub host: String,
    pub port: u16,
}

impl BrokerUrl {
    /// Parses `mqtt://host[:port]` (also `tcp://`) or `mqtts://host[:port]` (also `ssl://`);
    /// default ports 1883 and 8883. IPv6 hosts go in brackets. Credentials belong in
    /// `mqtt.username` / `mqtt.password`, not in the URL.
    pub fn parse(url: &str) -> Result<BrokerUrl, Invalid> {
        let url = url.trim();
        let (scheme, rest) = url.split_once("://").ok_or_else(|| {
            Invalid::from(format!(
                "mqtt.url '{url}' must start with mqtt:// or mqtts:// (e.g. mqtt://127.0.0.1:1883)"
            ))
        })?;
        let (tls, default_port) = match scheme.to_ascii_lowercase().as_str() {
            "mqtt" | "tcp" => (false, 1883),
            "mqtts" | "ssl" => (true, 8883),
            other => {
                return Err(format!(
                    "mqtt.url: scheme '{other}' is not supported (use mqtt:// or mqtts://)"
                )
                .into())
            }
        };
        let authority = rest.strip_suffix('/').unwrap_or(rest);
        if authority.contains('@') {
            return Err(
                "mqtt.url must not contain credentials; set mqtt.username and mqtt.password".into(),
            );
        }
        if authority.contains('/') || authority.contains('?') {
            return Err(format!("mqtt.url '{url}': only scheme://host:port is supported").into());
        }
        let (host, port) = if let Some(bracketed) = authority.strip_prefix('[') {
            let (host, after) = bracketed.split_once(']').ok_or_else(|| {
                Invalid::from(format!("mqtt.url '{url}': unclosed '[' in the host"))
            })?;
            let port = match after.strip_prefix(':') {
                Some(port) => Some(port),
                None if after.is_empty() => None,
                None => return Err(format!("mqtt.url '{url}': junk after the host").into()),
            };
            (host.to_string(), port)
        } else {
            match authority.rsplit_once(':') {
                Some((host, port)) => (host.to_string(), Some(port)),
                None => (authority.to_string(), None),
            }
        };
        if host.is_empty() {
            return Err(format!("mqtt.url '{url}' has no host").into());
        }
        let port = match port {
            Some(text) => text
                .parse::<u16>()
                .ok()
                .filter(|port| *port != 0)
                .ok_or_else(|| {
                    Invalid::from(format!("mqtt.url '{url}': '{text}' is not a port"))
                })?,
            None => default_port,
        };
        Ok(BrokerUrl { tls, host, port })
    }
}

/// Checks the `[mqtt]` keys serde cannot (called by `Config::validate`)..
pub(super) fn validate(config: &MqttConfig) -> Result<(), Invalid> {
    if config.url.trim().is_empty() {
        return Ok(());
    }
    BrokerUrl::parse(&config.url)?;
    if config.reconnect_min_ms == 0 {
        return Err("mqtt.reconnect_min_ms must be greater than 0".into());
    }
    if config.reconnect_max_ms < config.reconnect_min_ms {
        return Err("mqtt.reconnect_max_ms must be at least mqtt.reconnect_min_ms".into());
    }
    if config.buffer_max == 0 {
        return Err("mqtt.buffer_max must be greater than 0".into());
    }
    for (key, value) in [
        ("mqtt.base_topic", &config.base_topic),
        ("mqtt.discovery_prefix", &config.discovery_prefix),
    ] {
        let trimmed = value.trim_matches('/');
        if trimmed.is_empty() || value.contains(['+', '#']) {
            return Err(
                format!("{key} '{value}' must be a non-empty topic without '+' or '#'").into(),
            );
        }
    }
    if !config.password.is_empty() && config.username.is_empty() {
        return Err("mqtt.password is set but mqtt.username is empty".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_checks_name_the_key() {
        let ok = MqttConfig {
            url: "mqtt://127.0.0.1:1883".into(),
            ..MqttConfig::default()
        };
        assert_eq!(validate(&ok), Ok(()));
        assert_eq!(validate(&MqttConfig::default()), Ok(()), "off");
        let cases = [
            (
                MqttConfig {
                    reconnect_max_ms: 10,
                    ..ok.clone()
                },
                "mqtt.reconnect_max_ms",
            ),
            (
                MqttConfig {
                    buffer_max: 0,
                    ..ok.clone()
                },
                "mqtt.buffer_max",
            ),
            (
                MqttConfig {
                    base_topic: "a/#".into(),
                    ..ok.clone()
                },
                "mqtt.base_topic",
            ),
            (
                MqttConfig {
                    password: "pw".into(),
                    ..ok.clone()
                },
                "mqtt.username",
            ),
            (
                MqttConfig {
                    url: "http://x".into(),
                    ..ok.clone()
                },
                "mqtt://",
            ),
        ];
        for (config, key) in cases {
            let err = validate(&config).expect_err(key);
            assert!(err.0.contains(key), "{key}: {err}");
        }
    }

    #[test]
    fn urls_parse_with_default_ports_and_tls() {
        let parse = |text: &str| BrokerUrl::parse(text);
        assert_eq!(
            parse("mqtt://127.0.0.1"),
            Ok(BrokerUrl {
                tls: false,
                host: "127.0.0.1".into(),
                port: 1883
            })
        );
        assert_eq!(
            parse("mqtts://broker.example:9999/"),
            Ok(BrokerUrl {
                tls: true,
                host: "broker.example".into(),
                port: 9999
            })
        );
        assert_eq!(parse("ssl://b").map(|u| u.port), Ok(8883));
        assert_eq!(
            parse("tcp://[::1]:1884"),
            Ok(BrokerUrl {
                tls: false,
                host: "::1".into(),
                port: 1884
            })
        );
    }

    #[test]
    fn bad_urls_say_what_to_do() {
        for (text, expected) in [
            ("127.0.0.1:1883", "must start with"),
            ("http://x", "not supported"),
            ("mqtt://user:pw@host", "mqtt.username"),
            ("mqtt://host:notaport", "not a port"),
            ("mqtt://host:0", "not a port"),
            ("mqtt://:1883", "no host"),
            ("mqtt://host/path", "only scheme"),
        ] {
            let err = BrokerUrl::parse(text).expect_err(text);
            assert!(err.0.contains(expected), "{text} → {err}");
        }
    }
}
