//! The HTTP API and the CLI against a real agent process on loopback with a real SQLite file:
//! every endpoint answers, bad input gets a 4xx with a message, writes need the token, and an
//! acknowledged write survives SIGKILL.

use crate::support;

use std::process::Command;
use std::time::Duration;

use officemesh::api_types;
use officemesh::state::query;
use support::{eventually, send, AgentSpec, TestAgent};

const TOKEN: &str = "s3cret-token";

/// `answer` decodes into `T` and serializes back to the same JSON (no field lost or renamed).
fn round_trips<T: serde::Serialize + serde::de::DeserializeOwned>(answer: &serde_json::Value) {
    let typed: T = serde_json::from_value(answer.clone())
        .unwrap_or_else(|e| panic!("{answer} does not decode: {e}"));
    let again = serde_json::to_value(&typed).expect("serializes");
    assert_eq!(&again, answer, "the shared answer type changed the JSON");
}

fn start(root: &std::path::Path) -> TestAgent {
    TestAgent::start(
        root,
        AgentSpec {
            name: "pi-api",
            room: "meeting room",
            api_token: TOKEN,
            ..AgentSpec::default()
        },
    )
}

/// POSTs `body` over a raw connection, writing it from another thread (the agent may answer
/// and close before reading it all): returns the status and the raw answer.
fn post_raw(api: &str, path: &str, body: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let addr = api.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .expect("timeout");
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {TOKEN}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    let mut writer = stream.try_clone().expect("clone");
    let payload = [head.as_bytes(), body.as_bytes()].concat();
    let sender = std::thread::spawn(move || {
        let _ = writer.write_all(&payload);
    });
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    let _ = sender.join();
    let text = String::from_utf8_lossy(&answer).to_string();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or(0);
    (status, text)
}

#[test]
fn endpoints_answer_from_the_replica_and_writes_are_validated() {
    let root = tempfile::tempdir().expect("tempdir");
    let agent = start(root.path());
    let url = |path: &str| format!("{}{path}", agent.api);

    let health = agent.get("/healthz");
    assert_eq!(health["status"], "ok");
    assert_eq!(health["name"], "pi-api");

    // Simulated sensors produce readings for this node's room within a few polls.
    let readings = eventually(Duration::from_secs(15), || {
        let answer = agent.get("/v1/readings?room=meeting%20room");
        let rows = answer["readings"].as_array()?.clone();
        (rows.len() == 3).then_some(rows)
    })
    .expect("three sim readings (temperature, humidity, sound)");
    for row in &readings {
        assert_eq!(row["room"], "meeting room");
        assert_eq!(row["node_name"], "pi-api");
        assert!(row["value"].as_f64().is_some());
    }
    let temperature_only = agent.get("/v1/readings?quantity=temp");
    assert_eq!(
        temperature_only["readings"].as_array().map(Vec::len),
        Some(1)
    );
    let (status, body) = send(
        "GET",
        &url("/v1/readings?quantity=light"),
        Some(TOKEN),
        None,
    );
    assert_eq!(status, 400);
    assert!(
        body["error"].as_str().unwrap_or("").contains("light"),
        "{body}"
    );

    // History of this node's temperature: the readings so far land in one bucket.
    let history = eventually(Duration::from_secs(15), || {
        let answer =
            agent.get("/v1/readings/history?node=pi-api&quantity=temperature&step=3600000");
        let count = answer["points"]
            .as_array()?
            .iter()
            .filter_map(|p| p["count"].as_u64())
            .sum::<u64>();
        (count >= 2).then_some(answer)
    })
    .expect("history has the polled samples");
    assert_eq!(history["sensor"], "desk");
    let point = &history["points"][0];
    assert!(
        point["min"].as_f64() <= point["avg"].as_f64()
            && point["avg"].as_f64() <= point["max"].as_f64()
    );
    for (query, status) in [
        ("node=pi-api&quantity=temperature&step=0", 400),
        ("node=nobody&quantity=temperature", 404),
        ("node=pi-api&quantity=light", 400),
        ("quantity=temperature", 400),
        // 2^63 and more: refused with a message, never a 500 showing the database path.
        (
            "node=pi-api&quantity=temperature&step=9223372036854775808",
            400,
        ),
        (
            "node=pi-api&quantity=temperature&from=0&to=18446744073709551615",
            400,
        ),
    ] {
        let (got, body) = send(
            "GET",
            &url(&format!("/v1/readings/history?{query}")),
            Some(TOKEN),
            None,
        );
        assert_eq!(got, status, "{query} → {body}");
        let message = body["error"].as_str().expect("an error message");
        assert!(!message.contains(".db"), "no file path: {message}");
    }

    // With api.token set, personal data needs it too (bearer or session cookie); /healthz and
    // /metrics stay open.
    for path in [
        "/v1/people",
        "/v1/presence",
        "/v1/network",
        "/v1/events",
        "/v1/nodes",
    ] {
        let (status, body) = send("GET", &url(path), None, None);
        assert_eq!(status, 401, "{path} without the token → {body}");
    }
    assert_eq!(send("GET", &url("/healthz"), None, None).0, 200);
    assert_eq!(send("GET", &url("/v1/people"), Some(TOKEN), None).0, 200);
    let (status, _) = send(
        "POST",
        &url("/v1/session"),
        None,
        Some(r#"{"token": "wrong"}"#),
    );
    assert_eq!(status, 401, "a session needs the right token");
    let session = ureq::post(&url("/v1/session"))
        .set("Content-Type", "application/json")
        .send_string(&format!(r#"{{"token": "{TOKEN}"}}"#))
        .expect("session");
    let cookie = session
        .header("set-cookie")
        .and_then(|c| c.split(';').next())
        .expect("a session cookie")
        .to_string();
    assert!(!cookie.contains(TOKEN), "the cookie is not the token");
    let with_cookie = ureq::get(&url("/v1/people"))
        .set("Cookie", &cookie)
        .call()
        .expect("the session cookie opens reads");
    assert_eq!(with_cookie.status(), 200);

    // Writes need the token.
    let person = r#"{"name": "Ada Lovelace", "mac": "B8-27-EB-00-00-01"}"#;
    let (status, body) = send("POST", &url("/v1/people"), None, Some(person));
    assert_eq!(status, 401, "{body}");
    let (status, body) = send("POST", &url("/v1/people"), Some("wrong"), Some(person));
    assert_eq!(status, 401, "{body}");
    let (status, body) = send("POST", &url("/v1/people"), Some(TOKEN), Some(person));
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["mac"], "b8:27:eb:00:00:01");
    let (status, body) = send("POST", &url("/v1/people"), Some(TOKEN), Some(person));
    assert_eq!(
        (status, body["created"].as_bool()),
        (200, Some(false)),
        "registering twice is fine"
    );

    // Bad input: 4xx with a message that says what is wrong; nothing is written.
    let bad = [
        (r#"{"name": "x", "mac": "aa:bb:cc"}"#, "not a MAC"),
        (r#"{"name": "x", "mac": "01:00:5e:00:00:01"}"#, "multicast"),
        (r#"{"name": "x/y", "mac": "aa:bb:cc:dd:ee:02"}"#, "'/'"),
        (
            r#"{"name": "x", "mac": "aa:bb:cc:dd:ee:02", "admin": true}"#,
            "unknown field",
        ),
        (r#"{"name": "x", "#, "invalid JSON"),
        (r#"[1, 2]"#, "invalid JSON"),
        // What chat refuses, the API refuses: all-zero MAC, hidden characters.
        (
            r#"{"name": "x", "mac": "00:00:00:00:00:00"}"#,
            "not the address of a device",
        ),
        (
            r#"{"name": "Ada\u200b", "mac": "aa:bb:cc:dd:ee:02"}"#,
            "zero-width",
        ),
        (
            r#"{"name": "\u202eAda", "mac": "aa:bb:cc:dd:ee:02"}"#,
            "bidirectional",
        ),
    ];
    for (body_text, expected) in bad {
        let (status, body) = send("POST", &url("/v1/people"), Some(TOKEN), Some(body_text));
        assert_eq!(status, 400, "{body_text} → {body}");
        let message = body["error"].as_str().unwrap_or("");
        assert!(message.contains(expected), "{body_text} → {message}");
    }
    // Every field has a limit, named in the answer.
    let long = format!(
        r#"{{"name": "x", "mac": "aa:bb:cc:dd:ee:02", "added_by": "{}"}}"#,
        "y".repeat(10_000)
    );
    let (status, body) = send("POST", &url("/v1/people"), Some(TOKEN), Some(&long));
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error"]
            .as_str()
            .unwrap_or("")
            .contains("added_by: at most 64 characters"),
        "{body}"
    );
    let huge = format!(
        r#"{{"name": "x", "mac": "aa:bb:cc:dd:ee:02", "added_by": "{}"}}"#,
        "y".repeat(1_500_000)
    );
    let (status, body) = post_raw(&agent.api, "/v1/people", &huge);
    assert_eq!(status, 413, "{body}");
    assert!(body.contains("16 KiB"), "{body}");
    let people = agent.get("/v1/people");
    assert_eq!(
        people["people"].as_array().map(Vec::len),
        Some(1),
        "{people}"
    );
    assert_eq!(people["people"][0]["name"], "Ada Lovelace");

    // Targets.
    let (status, body) = send(
        "PUT",
        &url("/v1/targets/meeting%20room"),
        Some(TOKEN),
        Some(r#"{"quantity": "temperature", "value": 22, "tolerance": 1.5}"#),
    );
    assert_eq!(status, 200, "{body}");
    let (status, _) = send(
        "PUT",
        &url("/v1/targets/lobby"),
        Some(TOKEN),
        Some(r#"{"quantity": "brightness", "value": 1}"#),
    );
    assert_eq!(status, 400);
    let (status, body) = send(
        "PUT",
        &url("/v1/targets/lobby"),
        Some(TOKEN),
        Some(r#"{"quantity": "temperature", "value": 1e308}"#),
    );
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error"]
            .as_str()
            .unwrap_or("")
            .contains("between 5 and 35"),
        "{body}"
    );
    assert_eq!(
        agent.get("/v1/targets")["targets"].as_array().map(Vec::len),
        Some(1)
    );
    assert_eq!(agent.get("/v1/targets")["targets"][0]["value"], 22.0);

    // Presence, network, nodes, hash all answer and say how complete they are.
    let presence = agent.get("/v1/presence");
    assert_eq!(presence["people"][0]["name"], "Ada Lovelace");
    assert_eq!(presence["completeness"]["complete"], true);
    let (status, _) = send("GET", &url("/v1/network"), None, None);
    assert_eq!(
        status, 401,
        "/v1/network holds MACs: the token is required when set"
    );
    let (status, network) = send("GET", &url("/v1/network"), Some(TOKEN), None);
    assert_eq!(status, 200);
    assert!(network["devices"].is_array());
    let nodes = agent.get("/v1/nodes");
    assert_eq!(nodes["nodes"][0]["status"], "self");
    assert_eq!(agent.state_hash().len(), 64);

    // The CLI decodes these answers into the shared types: each must take the JSON whole.
    round_trips::<query::PresenceAnswer>(&presence);
    round_trips::<query::ReadingsAnswer>(&agent.get("/v1/readings"));
    round_trips::<query::NetworkAnswer>(&agent.get("/v1/network"));
    round_trips::<api_types::NodesAnswer>(&nodes);
    round_trips::<api_types::StateHashAnswer>(&agent.get("/v1/state/hash"));
    round_trips::<api_types::PeopleAnswer>(&agent.get("/v1/people"));
    round_trips::<api_types::TargetsAnswer>(&agent.get("/v1/targets"));
    round_trips::<api_types::EventsAnswer>(&agent.get("/v1/events"));

    // Delete: unknown pair is 404, known pair removed.
    let (status, _) = send(
        "DELETE",
        &url("/v1/people/Nobody/aa:bb:cc:dd:ee:03"),
        Some(TOKEN),
        None,
    );
    assert_eq!(status, 404);
    let (status, body) = send(
        "DELETE",
        &url("/v1/people/Ada%20Lovelace/b8:27:eb:00:00:01"),
        Some(TOKEN),
        None,
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        agent.get("/v1/people")["people"].as_array().map(Vec::len),
        Some(0)
    );
    let (status, _) = send("GET", &url("/v1/nope"), Some(TOKEN), None);
    assert_eq!(status, 404);
    // Names are normalized: surrounding and repeated whitespace collapse.
    let (status, body) = send(
        "POST",
        &url("/v1/people"),
        Some(TOKEN),
        Some(r#"{"name": "  Grace   Hopper ", "mac": "b8:27:eb:00:00:09"}"#),
    );
    assert_eq!(
        (status, body["name"].as_str()),
        (201, Some("Grace Hopper")),
        "{body}"
    );
}

#[test]
fn acknowledged_writes_survive_sigkill_and_identity_is_stable() {
    let root = tempfile::tempdir().expect("tempdir");
    let mut agent = start(root.path());
    let node_before = agent.get("/healthz")["node"].clone();
    let url = format!("{}/v1/people", agent.api);
    for i in 0..5 {
        let body = format!(r#"{{"name": "person {i}", "mac": "b8:27:eb:00:01:0{i}"}}"#);
        let (status, answer) = send("POST", &url, Some(TOKEN), Some(&body));
        assert_eq!(status, 201, "{answer}");
    }
    // Killed right after the acknowledgements: no graceful flush.
    agent.kill();
    agent.spawn();
    let people = agent.get("/v1/people");
    assert_eq!(
        people["people"].as_array().map(Vec::len),
        Some(5),
        "{people}"
    );
    assert_eq!(
        agent.get("/healthz")["node"],
        node_before,
        "same identity after restart"
    );
    // A clean stop exits 0.
    assert!(agent.stop().success());
}

#[test]
fn cli_talks_to_the_agent_and_reports_unreachable_agents() {
    let root = tempfile::tempdir().expect("tempdir");
    let agent = start(root.path());
    let cli = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_officemesh"))
            .args(args)
            .args(["--api", &agent.api, "--token", TOKEN])
            .output()
            .expect("run cli")
    };
    let added = cli(&["people", "add", "Grace Hopper", "b8:27:eb:00:00:07"]);
    assert!(
        added.status.success(),
        "{}",
        String::from_utf8_lossy(&added.stderr)
    );
    let listed = cli(&["people"]);
    let text = String::from_utf8_lossy(&listed.stdout);
    assert!(
        text.contains("Grace Hopper") && text.contains("b8:27:eb:00:00:07"),
        "{text}"
    );
    let json = cli(&["people", "--json"]);
    let parsed: serde_json::Value = serde_json::from_slice(&json.stdout).expect("--json is JSON");
    assert_eq!(parsed["people"][0]["name"], "Grace Hopper");
    let bad = cli(&["people", "add", "Grace", "not-a-mac"]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("not a MAC"));

    let unreachable = Command::new(env!("CARGO_BIN_EXE_officemesh"))
        .args(["who", "--api", "http://127.0.0.1:9"])
        .output()
        .expect("run cli");
    assert!(!unreachable.status.success());
    let message = String::from_utf8_lossy(&unreachable.stderr);
    assert!(
        message.contains("cannot reach the officemesh agent"),
        "{message}"
    );
}

#[test]
fn a_bad_config_names_the_key_and_the_file() {
    let root = tempfile::tempdir().expect("tempdir");
    let path = root.path().join("bad.toml");
    std::fs::write(&path, "[gossip]\nintervall_ms = 5\n").expect("write");
    let output = Command::new(env!("CARGO_BIN_EXE_officemesh"))
        .args(["run", "--config"])
        .arg(&path)
        .output()
        .expect("run");
    assert!(!output.status.success());
    let message = String::from_utf8_lossy(&output.stderr);
    assert!(message.contains("intervall_ms"), "{message}");
    assert!(message.contains(&path.display().to_string()), "{message}");

    // Absurd numbers are a clear error naming the key and its range, never a panic.
    for (text, key) in [
        (
            "[gossip]\nmax_clock_offset_ms = 9223372036854775807\n",
            "gossip.max_clock_offset_ms",
        ),
        (
            "[gossip]\nmax_inbound_connections = 9223372036854775807\n",
            "gossip.max_inbound_connections",
        ),
        ("[node]\nname = \"pi\\u202elobby\"\n", "node.name"),
    ] {
        std::fs::write(&path, text).expect("write");
        let output = Command::new(env!("CARGO_BIN_EXE_officemesh"))
            .args(["run", "--config"])
            .arg(&path)
            .output()
            .expect("run");
        assert!(!output.status.success());
        let message = String::from_utf8_lossy(&output.stderr);
        assert!(message.contains(key), "{text}: {message}");
        assert!(!message.contains("panicked"), "{text}: {message}");
    }
}

#[test]
fn doctor_reports_problems_with_their_fix_as_text_and_json() {
    let root = tempfile::tempdir().expect("tempdir");
    let config = root.path().join("config.toml");
    let data = root.path().join("data");
    // A key file that does not exist and a sensor on an I2C bus this machine does not have.
    std::fs::write(
        &config,
        format!(
            "[storage]\ndata_dir = \"{}\"\n[gossip]\nkey_file = \"{}\"\n[[sensors]]\ndriver = \"bme280\"\nname = \"desk\"\n",
            data.display(),
            root.path().join("missing.key").display()
        ),
    )
    .expect("write config");
    let text = Command::new(env!("CARGO_BIN_EXE_officemesh"))
        .args(["doctor", "--config"])
        .arg(&config)
        .output()
        .expect("run doctor");
    assert_eq!(text.status.code(), Some(1), "a failed check exits 1");
    let stdout = String::from_utf8_lossy(&text.stdout);
    assert!(stdout.contains("[FAIL] cluster key"), "{stdout}");
    assert!(
        stdout.contains("officemesh keygen --out"),
        "the fix is printed: {stdout}"
    );
    assert!(stdout.contains("[ ok ] data directory"), "{stdout}");
    let json = Command::new(env!("CARGO_BIN_EXE_officemesh"))
        .args(["doctor", "--json", "--config"])
        .arg(&config)
        .output()
        .expect("run doctor --json");
    let parsed: serde_json::Value = serde_json::from_slice(&json.stdout).expect("--json is JSON");
    let checks = parsed["checks"].as_array().expect("checks");
    let failed = checks.iter().filter(|c| c["ok"] == false).count() as u64;
    assert_eq!(parsed["failed"].as_u64(), Some(failed));
    assert!(checks
        .iter()
        .any(|c| c["name"] == "cluster key"
            && c["fix"].as_str().is_some_and(|f| f.contains("keygen"))));
}
