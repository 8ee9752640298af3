//! Where the broker is and how to connect to it: parses `mqtt.url`, builds rumqttc's
//! `MqttOptions` with the last will, credentials and TLS (rustls with the ring provider, trusting
//! `mqtt.ca_file` or the system's roots). Reads the CA file; opens no connection.

use std::io::BufReader;
use std::sync::Arc;
use std::time::Duration;

use rumqttc::{LastWill, MqttOptions, QoS, TlsConfiguration, Transport};

use super::MqttError;
use crate::config::MqttConfig;

/// A parsed `mqtt.url`.
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
    pub fn parse(url: &str) -> Result<BrokerUrl, String> {
        let url = url.trim();
        let (scheme, rest) = url.split_once("://").ok_or_else(|| {
            format!(
                "mqtt.url '{url}' must start with mqtt:// or mqtts:// (e.g. mqtt://127.0.0.1:1883)"
            )
        })?;
        let (tls, default_port) = match scheme.to_ascii_lowercase().as_str() {
            "mqtt" | "tcp" => (false, 1883),
            "mqtts" | "ssl" => (true, 8883),
            other => {
                return Err(format!(
                    "mqtt.url: scheme '{other}' is not supported (use mqtt:// or mqtts://)"
                ))
            }
        };
        let authority = rest.strip_suffix('/').unwrap_or(rest);
        if authority.contains('@') {
            return Err(
                "mqtt.url must not contain credentials; set mqtt.username and mqtt.password".into(),
            );
        }
        if authority.contains('/') || authority.contains('?') {
            return Err(format!(
                "mqtt.url '{url}': only scheme://host:port is supported"
            ));
        }
        let (host, port) = if let Some(bracketed) = authority.strip_prefix('[') {
            let (host, after) = bracketed
                .split_once(']')
                .ok_or_else(|| format!("mqtt.url '{url}': unclosed '[' in the host"))?;
            let port = match after.strip_prefix(':') {
                Some(port) => Some(port),
                None if after.is_empty() => None,
                None => return Err(format!("mqtt.url '{url}': junk after the host")),
            };
            (host.to_string(), port)
        } else {
            match authority.rsplit_once(':') {
                Some((host, port)) => (host.to_string(), Some(port)),
                None => (authority.to_string(), None),
            }
        };
        if host.is_empty() {
            return Err(format!("mqtt.url '{url}' has no host"));
        }
        let port = match port {
            Some(text) => text
                .parse::<u16>()
                .ok()
                .filter(|port| *port != 0)
                .ok_or_else(|| format!("mqtt.url '{url}': '{text}' is not a port"))?,
            None => default_port,
        };
        Ok(BrokerUrl { tls, host, port })
    }
}

/// Everything rumqttc needs to connect, with the last will `offline` (retained) on
/// `availability_topic`.
pub fn mqtt_options(
    config: &MqttConfig,
    url: &BrokerUrl,
    client_id: &str,
    availability_topic: &str,
) -> Result<MqttOptions, MqttError> {
    let mut options = MqttOptions::new(client_id, url.host.clone(), url.port);
    options.set_keep_alive(Duration::from_secs(config.keep_alive_s.max(5)));
    options.set_clean_session(true);
    options.set_inflight(200);
    options.set_last_will(LastWill::new(
        availability_topic,
        "offline",
        QoS::AtLeastOnce,
        true,
    ));
    if !config.username.is_empty() {
        options.set_credentials(config.username.clone(), config.password.clone());
    }
    if url.tls {
        options.set_transport(Transport::tls_with_config(TlsConfiguration::Rustls(
            Arc::new(tls_config(config)?),
        )));
    }
    Ok(options)
}

/// A rustls client config trusting `mqtt.ca_file`, or the system's roots when it is empty.
fn tls_config(config: &MqttConfig) -> Result<rustls::ClientConfig, MqttError> {
    let mut roots = rustls::RootCertStore::empty();
    if config.ca_file.as_os_str().is_empty() {
        let found = rustls_native_certs::load_native_certs();
        for cert in found.certs {
            let _ = roots.add(cert);
        }
        if roots.is_empty() {
            return Err(MqttError::Tls(format!(
                "no trusted CA certificates found on this system ({} errors); install ca-certificates or set mqtt.ca_file",
                found.errors.len()
            )));
        }
    } else {
        let path = &config.ca_file;
        let file = std::fs::File::open(path).map_err(|e| {
            MqttError::Tls(format!("cannot read mqtt.ca_file {}: {e}", path.display()))
        })?;
        let certs = rustls_pemfile::certs(&mut BufReader::new(file))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| {
                MqttError::Tls(format!("mqtt.ca_file {}: bad PEM: {e}", path.display()))
            })?;
        let (added, _ignored) = roots.add_parsable_certificates(certs);
        if added == 0 {
            return Err(MqttError::Tls(format!(
                "mqtt.ca_file {} holds no usable CA certificate (expected PEM 'BEGIN CERTIFICATE' blocks)",
                path.display()
            )));
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| MqttError::Tls(format!("TLS setup failed: {e}")))?;
    Ok(builder.with_root_certificates(roots).with_no_client_auth())
}

#[cfg(test)]
mod tests {
    use super::*;

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
            assert!(err.contains(expected), "{text} → {err}");
        }
    }

    #[test]
    fn a_ca_file_without_certificates_is_refused_with_its_path() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("ca.pem");
        std::fs::write(&path, "not a certificate\n").expect("write");
        let config = MqttConfig {
            ca_file: path.clone(),
            ..MqttConfig::default()
        };
        let url = BrokerUrl::parse("mqtts://127.0.0.1").expect("url");
        let err = mqtt_options(&config, &url, "id", "t/availability")
            .expect_err("no certificate")
            .to_string();
        assert!(err.contains("no usable CA"), "{err}");
        let missing = MqttConfig {
            ca_file: dir.path().join("missing.pem"),
            ..MqttConfig::default()
        };
        let err = mqtt_options(&missing, &url, "id", "t")
            .expect_err("missing file")
            .to_string();
        assert!(err.contains("missing.pem"), "{err}");
    }
}
