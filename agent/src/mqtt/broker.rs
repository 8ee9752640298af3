//! Where the broker is and how to connect to it: parses `mqtt.url`, builds rumqttc's
//! `MqttOptions` with the last will, credentials and TLS (`outbound::tls_config`, the process's one
//! rustls configuration: the system's roots plus `mqtt.ca_file`). Opens no connection.

use std::sync::Arc;
use std::time::Duration;

use rumqttc::{LastWill, MqttOptions, QoS, TlsConfiguration, Transport};

use super::MqttError;
use crate::config::{BrokerUrl, MqttConfig};
use crate::outbound::tls_config;

/// A parsed `mqtt.url`.
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
        // The process's one TLS configuration: the system's roots, plus `mqtt.ca_file`.
        let tls = tls_config(Some(config.ca_file.as_path()))?;
        options.set_transport(Transport::tls_with_config(TlsConfiguration::Rustls(
            Arc::new(tls),
        )));
    }
    Ok(options)
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert!(
            err.contains("no usable CA") && err.contains("ca.pem"),
            "{err}"
        );
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
