//! MQTT over TLS (`mqtts://`) with a CA file and a user name / password, against a real
//! Mosquitto with a TLS listener whose certificate is made here by `openssl`; a wrong password
//! is refused and retried with backoff, never published.

use crate::support;
use crate::support::mqtt as mqtt_support;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use mqtt_support::{metrics_text, require_mosquitto, Mosquitto, Received, Subscriber};
use support::{eventually, AgentSpec, TestAgent};

fn run(dir: &Path, program: &str, args: &[&str]) {
    let output = Command::new(program)
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| panic!("{program}: {e}"));
    assert!(
        output.status.success(),
        "{program} {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A CA and a server certificate for 127.0.0.1 signed by it (P-256), in `dir`.
fn make_certificates(dir: &Path) {
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    let mut ca = vec!["req", "-x509"];
    ca.extend(ec);
    ca.extend([
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "2",
        "-subj",
        "/CN=officemesh test CA",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
    ]);
    run(dir, "openssl", &ca);
    let mut csr = vec!["req"];
    csr.extend(ec);
    csr.extend([
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
        "-subj",
        "/CN=127.0.0.1",
    ]);
    run(dir, "openssl", &csr);
    std::fs::write(
        dir.join("server.ext"),
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n",
    )
    .expect("ext file");
    run(
        dir,
        "openssl",
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "server.pem",
            "-days",
            "2",
            "-extfile",
            "server.ext",
        ],
    );
}

fn openssl_available() -> bool {
    let found = Command::new("openssl")
        .arg("version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        if std::env::var("CI").map(|v| v == "true").unwrap_or(false) {
            panic!("mqtt_tls: openssl is missing and CI=true (apt-get install openssl)");
        }
        eprintln!("SKIPPED mqtt_tls: openssl is not installed");
    }
    found
}

fn agent_extra(tls_port: u16, ca: &Path, password: &str) -> String {
    format!(
        "[[sensors]]\ndriver = \"sim\"\nname = \"desk\"\npoll_interval_s = 1\n\n[mqtt]\nurl = \"mqtts://127.0.0.1:{tls_port}\"\nca_file = \"{}\"\nusername = \"agent\"\npassword = \"{password}\"\nreconnect_min_ms = 100\nreconnect_max_ms = 400\n",
        ca.display()
    )
}

#[test]
fn tls_with_a_ca_file_and_credentials_and_a_refused_password() {
    let Some(binary) = require_mosquitto("mqtt_tls") else {
        return;
    };
    if !openssl_available() {
        return;
    }
    let root = tempfile::tempdir().expect("tempdir");
    let certs = root.path().join("certs");
    std::fs::create_dir_all(&certs).expect("certs dir");
    make_certificates(&certs);
    let passwd = binary.with_file_name("mosquitto_passwd");
    let passwd = if passwd.is_file() {
        passwd
    } else {
        "/usr/bin/mosquitto_passwd".into()
    };
    run(
        &certs,
        passwd.to_str().expect("path"),
        &["-b", "-c", "passwords", "agent", "s3cret"],
    );
    let tls_port = mqtt_support::free_port();
    let broker = Mosquitto::start_with(
        &binary,
        &root.path().join("broker"),
        "per_listener_settings true",
        &format!(
            "listener {tls_port} 127.0.0.1\ncafile {c}/ca.pem\ncertfile {c}/server.pem\nkeyfile {c}/server.key\nallow_anonymous false\npassword_file {c}/passwords\n",
            c = certs.display()
        ),
    );
    eventually(Duration::from_secs(10), || {
        std::net::TcpStream::connect(("127.0.0.1", tls_port)).ok()
    })
    .unwrap_or_else(|| panic!("TLS listener up; log:\n{}", broker.log()));
    let subscriber = Subscriber::connect(broker.port, "test-tls", &["officemesh/#"], false);

    let good = TestAgent::start(
        root.path(),
        AgentSpec {
            name: "pi-tls",
            extra: &agent_extra(tls_port, &certs.join("ca.pem"), "s3cret"),
            ..AgentSpec::default()
        },
    );
    let bad = TestAgent::start(
        root.path(),
        AgentSpec {
            name: "pi-wrongpw",
            extra: &agent_extra(tls_port, &certs.join("ca.pem"), "wrong"),
            ..AgentSpec::default()
        },
    );

    subscriber.wait_for("a reading over TLS", Duration::from_secs(20), |messages| {
        messages
            .iter()
            .find(|m| m.topic == "officemesh/pi-tls/desk/temperature")
            .map(Received::json)
    });
    assert!(subscriber
        .on("officemesh/pi-tls/availability")
        .iter()
        .any(|m| m.text() == "online"));

    // The wrong password: refused, retried with backoff, counted, nothing published.
    let refused = eventually(Duration::from_secs(20), || {
        let text = metrics_text(&bad.api);
        let line = text
            .lines()
            .find(|l| l.starts_with("officemesh_errors_total{kind=\"mqtt_connect\"}"))?
            .to_string();
        let count: f64 = line.rsplit_once(' ')?.1.parse().ok()?;
        (count >= 3.0).then_some(text)
    })
    .unwrap_or_else(|| {
        panic!(
            "connect errors counted:\n{}\n{}",
            metrics_text(&bad.api),
            bad.log()
        )
    });
    assert!(refused.contains("officemesh_mqtt_connected 0"), "{refused}");
    assert!(
        bad.log().contains("retry_in_ms"),
        "the backoff delay is logged:\n{}",
        bad.log()
    );
    let log = bad.log();
    let first_refusal = log
        .lines()
        .find(|l| l.contains("MQTT broker unreachable"))
        .unwrap_or_default();
    assert!(
        first_refusal.contains("NotAuthorized") || first_refusal.contains("BadUserNamePassword"),
        "refused for the password, not for TLS: {first_refusal}"
    );
    eprintln!("refused agent logs: {first_refusal}");
    assert!(
        subscriber
            .messages()
            .iter()
            .all(|m| !m.topic.starts_with("officemesh/pi-wrongpw/")),
        "nothing from the refused agent"
    );
    assert!(metrics_text(&good.api).contains("officemesh_mqtt_connected 1"));
}
