//! The installed Pi as its admin uses it, against a real agent process with a token: the checks
//! docs/deploy.md tells people to run after installing (`officemesh status`, `readings`, `hash`)
//! find address and token in the agent's own config (`--config`), a 401 says which token to
//! give; a target is removed with `officemesh targets remove` and its open alert is cleared; a
//! stray space in a name is refused at load by `run` and `doctor`, naming the key and the fix.

use crate::support;

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use support::{eventually, send, AgentSpec, TestAgent};

const TOKEN: &str = "installed-token";

/// The CLI as a user on the Pi runs it: no OFFICEMESH_* variables from the test's environment.
fn officemesh(args: &[&str], config: Option<&Path>) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_officemesh"));
    command
        .args(args)
        .env_remove("OFFICEMESH_TOKEN")
        .env_remove("OFFICEMESH_API")
        .env_remove("OFFICEMESH_CONFIG");
    if let Some(config) = config {
        command.arg("--config").arg(config);
    }
    command.output().expect("run officemesh")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn the_post_install_checks_read_the_agents_config() {
    let root = tempfile::tempdir().expect("tempdir");
    let agent = TestAgent::start(
        root.path(),
        AgentSpec {
            name: "pi-installed",
            room: "lobby",
            api_token: TOKEN,
            ip: "127.0.0.51",
            ..AgentSpec::default()
        },
    );
    let config = Some(agent.config_path.as_path());

    let status = officemesh(&["status"], config);
    assert!(status.status.success(), "{}", stderr(&status));
    assert!(
        stdout(&status).contains("pi-installed"),
        "{}",
        stdout(&status)
    );

    // `readings` lists the agent's sensor once it has read it.
    let readings = eventually(Duration::from_secs(20), || {
        let output = officemesh(&["readings"], config);
        (output.status.success() && stdout(&output).contains("desk")).then_some(output)
    })
    .unwrap_or_else(|| {
        panic!(
            "readings via --config: {}",
            stderr(&officemesh(&["readings"], config))
        )
    });
    assert!(stdout(&readings).contains("lobby"), "{}", stdout(&readings));

    let hash = officemesh(&["hash", "--json"], config);
    assert!(hash.status.success(), "{}", stderr(&hash));
    let answer: serde_json::Value = serde_json::from_slice(&hash.stdout).expect("--json is JSON");
    assert!(
        answer["hash"].as_str().is_some_and(|h| !h.is_empty()),
        "{answer}"
    );

    // No token anywhere: refused, and the message says which ways there are to give it.
    let bare = officemesh(&["status", "--api", &agent.api], None);
    assert!(!bare.status.success());
    let message = stderr(&bare);
    assert!(message.contains("401"), "{message}");
    for way in ["--config", "OFFICEMESH_TOKEN", "--token"] {
        assert!(message.contains(way), "the 401 names {way}: {message}");
    }
    // A wrong token given explicitly wins over the config, and the message says so.
    let wrong = officemesh(&["status", "--token", "not-it"], config);
    assert!(!wrong.status.success());
    assert!(
        stderr(&wrong).contains("--token/OFFICEMESH_TOKEN is not this agent's"),
        "{}",
        stderr(&wrong)
    );
    // A config that cannot be read is an error naming it, not a silent fallback.
    let missing = root.path().join("missing.toml");
    let unreadable = officemesh(&["status"], Some(&missing));
    assert!(!unreadable.status.success());
    assert!(
        stderr(&unreadable).contains("missing.toml"),
        "{}",
        stderr(&unreadable)
    );
}

/// The lobby's alert as /v1/alerts shows it: `Some(raised)` once there is one.
fn lobby_alert(agent: &TestAgent) -> Option<bool> {
    agent.get("/v1/alerts")["alerts"]
        .as_array()?
        .iter()
        .find(|alert| alert["room"] == "lobby")
        .and_then(|alert| alert["raised"].as_bool())
}

#[test]
fn a_removed_target_is_gone_and_its_open_alert_cleared() {
    let root = tempfile::tempdir().expect("tempdir");
    let extra = "[[sensors]]\ndriver = \"sim\"\nname = \"desk\"\npoll_interval_s = 1\n\n[chat]\nalert_after_s = 1\n";
    let agent = TestAgent::start(
        root.path(),
        AgentSpec {
            name: "pi-targets",
            room: "lobby",
            api_token: TOKEN,
            ip: "127.0.0.52",
            extra,
            ..AgentSpec::default()
        },
    );
    let config = Some(agent.config_path.as_path());
    // A typo'd room the admin wants gone, and the lobby's band that its ~20 °C breaks.
    for (room, value) in [("lobbby", "21"), ("lobby", "5")] {
        let set = officemesh(&["targets", "set", room, "temperature", value], config);
        assert!(set.status.success(), "{}", stderr(&set));
    }
    eventually(Duration::from_secs(30), || {
        lobby_alert(&agent).filter(|raised| *raised)
    })
    .expect("the lobby's alert is raised");

    let removed = officemesh(&["targets", "remove", "lobbby"], config);
    assert!(removed.status.success(), "{}", stderr(&removed));
    assert!(
        stdout(&removed).contains("temperature"),
        "{}",
        stdout(&removed)
    );
    let url = |path: &str| format!("{}{path}", agent.api);
    let (status, body) = send(
        "DELETE",
        &url("/v1/targets/lobby?quantity=humidity"),
        Some(TOKEN),
        None,
    );
    assert_eq!(status, 404, "the lobby has no humidity target: {body}");
    let (status, body) = send(
        "DELETE",
        &url("/v1/targets/lobby?quantity=warmth"),
        Some(TOKEN),
        None,
    );
    assert_eq!(status, 400, "{body}");
    let (status, _) = send("DELETE", &url("/v1/targets/lobby"), None, None);
    assert_eq!(status, 401, "removing needs the token");
    let (status, body) = send(
        "DELETE",
        &url("/v1/targets/lobby?quantity=temperature"),
        Some(TOKEN),
        None,
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["removed"], serde_json::json!(["temperature"]));

    let targets = agent.get("/v1/targets");
    assert_eq!(targets["targets"], serde_json::json!([]), "{targets}");
    eventually(Duration::from_secs(30), || {
        lobby_alert(&agent).filter(|raised| !*raised)
    })
    .expect("the lobby's open alert is cleared once its target is gone");
    let (status, _) = send("DELETE", &url("/v1/targets/lobbby"), Some(TOKEN), None);
    assert_eq!(status, 404, "removed once");
}

#[test]
fn a_stray_space_in_a_name_is_refused_at_load_with_the_key_and_the_fix() {
    let root = tempfile::tempdir().expect("tempdir");
    let cases = [
        ("[node]\nroom = \"lobby \"\n", "node.room", "use 'lobby'"),
        (
            "[[sensors]]\ndriver = \"sim\"\nname = \"desk \"\n",
            "sensors[0].name",
            "use 'desk'",
        ),
    ];
    for (index, (text, key, fix)) in cases.into_iter().enumerate() {
        let path = root.path().join(format!("config-{index}.toml"));
        let data = root.path().join(format!("data-{index}"));
        std::fs::write(
            &path,
            format!(
                "[storage]\ndata_dir = \"{}\"\n[gossip]\ninsecure = true\nlisten = \"127.0.0.1:0\"\n[api]\nlisten = \"127.0.0.1:0\"\n{text}",
                data.display()
            ),
        )
        .expect("write config");
        for command in ["run", "doctor"] {
            let output = officemesh(&[command], Some(&path));
            assert!(!output.status.success(), "{command} accepted {text:?}");
            let message = format!("{}{}", stderr(&output), stdout(&output));
            for needle in [key, fix, &path.display().to_string()] {
                assert!(
                    message.contains(needle),
                    "{command} {text:?}: no {needle} in {message}"
                );
            }
        }
    }
}
