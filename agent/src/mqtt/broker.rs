//! Where the broker is and how to connect to it: parses `mqtt.url`, builds rumqttc's
//! `MqttOptions` with the last will, credentials and TLS (rustls with the ring provider, trusting
//! `mqtt.ca_file` or the system's roots). Reads the CA file; opens no connection.

use std::sync::Arc;
use std::time::Duration;

use rumqttc::{LastWill, MqttOptions, QoS, TlsConfiguration, Transport};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;

use super::MqttError;
use crate::config::{BrokerUrl, MqttConfig};

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
        let pem = std::fs::read(path).map_err(|e| {
            MqttError::Tls(format!("cannot read mqtt.ca_file {}: {e}", path.display()))
        })?;
        let certs = CertificateDer::pem_slice_iter(&pem)
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
