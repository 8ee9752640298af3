//! Mesh events from real agents: three `officemesh` processes on 127.0.0.31–33 with a shared
//! cluster key. One is SIGKILLed: the other two record `peer_dead` for it in `GET /v1/events`;
//! it is restarted: they record `peer_alive` with its downtime, then `caught_up`. An agent with
//! another key dialing them shows up as a `refused_peer` event.
//!
//! Bounds are generous (the machine is shared); what is asserted is that the events appear and
//! carry sensible figures, not how fast. At a 200 ms interval a loaded machine may make an
//! observer declare a live peer dead for a moment (phi 5 is about 1 s of silence), so the test
//! waits for each observer's *current* view of pi-3 (its latest peer event), not for an event
//! stamped after the kill.

use crate::support;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use serde_json::Value as Json;
use support::{eventually, free_port, keygen, AgentSpec, TestAgent};

const INTERVAL_MS: u64 = 200;

fn start(root: &Path, name: &str, ip: &str, port: u16, seeds: &str, key: &Path) -> TestAgent {
    let gossip = format!(
        "seeds = [{seeds}]\nkey_file = \"{}\"\ninterval_ms = {INTERVAL_MS}\n",
        key.display()
    );
    TestAgent::start(
        root,
        AgentSpec {
            name,
            gossip_extra: &gossip,
            extra: "[[sensors]]\ndriver = \"sim\"\nname = \"desk\"\npoll_interval_s = 3600\n",
            ip,
            gossip_port: Some(port),
            presence_interface: "",
            ..AgentSpec::default()
        },
    )
}

fn events_of(agent: &TestAgent, kind: &str) -> Vec<Json> {
    agent.get(&format!("/v1/events?kind={kind}"))["events"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// Waits until `agent` has an event of `kind` about `peer` (a node id) recorded at `since_ms` or
/// later; returns it.
fn wait_event(agent: &TestAgent, kind: &str, peer: &Json, since_ms: u64) -> Json {
    eventually(Duration::from_secs(40), || {
        events_of(agent, kind)
            .into_iter()
            .find(|e| e["peer"] == *peer && e["t_ms"].as_u64().is_some_and(|t| t >= since_ms))
    })
    .unwrap_or_else(|| {
        panic!(
            "{} recorded no {kind} event about {peer}; its events: {}\nlog:\n{}",
            agent.name,
            agent.get("/v1/events"),
            agent.log()
        )
    })
}

/// The kinds that change what an observer thinks of a peer.
const PEER_STATES: [&str; 5] = [
    "peer_joined",
    "peer_alive",
    "peer_suspect",
    "peer_dead",
    "peer_left",
];

/// `agent`'s current view of `peer` (a node id): its latest peer-state event about it.
fn latest_peer_state(agent: &TestAgent, peer: &Json) -> Option<Json> {
    agent.get("/v1/events")["events"]
        .as_array()?
        .iter()
        .filter(|e| e["peer"] == *peer && PEER_STATES.iter().any(|k| e["kind"] == *k))
        .max_by_key(|e| e["seq"].as_u64().unwrap_or(0))
        .cloned()
}

/// Waits until `agent`'s latest peer-state event about `peer` is one of `kinds`; returns it.
fn wait_view(agent: &TestAgent, peer: &Json, kinds: &[&str]) -> Json {
    eventually(Duration::from_secs(40), || {
        latest_peer_state(agent, peer).filter(|e| kinds.iter().any(|k| e["kind"] == *k))
    })
    .unwrap_or_else(|| {
        panic!(
            "{} never held {peer} as {kinds:?}; its events: {}\nlog:\n{}",
            agent.name,
            agent.get("/v1/events"),
            agent.log()
        )
    })
}

#[test]
fn killed_and_restarted_agent_shows_as_dead_then_alive_with_its_downtime() {
    let root = tempfile::tempdir().expect("tempdir");
    let key = root.path().join("cluster.key");
    keygen(&key);
    let ips = ["127.0.0.31", "127.0.0.32", "127.0.0.33"];
    let ports: Vec<u16> = ips.iter().map(|_| free_port()).collect();
    let seeds = format!("\"{}:{}\"", ips[0], ports[0]);
    let mut agents: Vec<TestAgent> = (0..3)
        .map(|i| {
            start(
                root.path(),
                &format!("pi-{}", i + 1),
                ips[i],
                ports[i],
                &seeds,
                &key,
            )
        })
        .collect();

    // pi-3 may be seen joining before its name reached the observer (it is then named by its
    // address): its id is what is certain. Both observers hold it alive before it is killed.
    let pi3 = agents[2].get("/v1/events")["node"].clone();
    for agent in &agents[..2] {
        wait_view(agent, &pi3, &["peer_joined", "peer_alive"]);
    }
    agents[2].kill();
    let killed_at = support_now_ms();
    for agent in &agents[..2] {
        let dead = wait_view(agent, &pi3, &["peer_dead"]);
        assert!(dead["numbers"]["silent_ms"].as_u64().expect("silent_ms") > 0);
        assert!(dead["peer"].is_string(), "peer is the node id: {dead}");
    }
    // Stay dead a while so the downtime is clearly more than one detection period.
    std::thread::sleep(Duration::from_secs(2));
    // It is surely down only until it is started again: it gossips before its /healthz answers
    // (under qemu that gap is seconds), so the floor is taken before `spawn`, not after.
    let restarting_at = support_now_ms();
    agents[2].spawn();
    let down_floor = restarting_at - killed_at;
    for agent in &agents[..2] {
        let alive = wait_event(agent, "peer_alive", &pi3, restarting_at);
        let down_ms = alive["numbers"]["down_ms"].as_u64().expect("down_ms");
        assert!(
            down_ms >= down_floor,
            "{}: downtime {down_ms} ms is less than the {down_floor} ms it was killed for: {alive}",
            agent.name
        );
        wait_event(agent, "caught_up", &pi3, restarting_at);
    }
    // The CLI shows the same log as a table and as JSON.
    let output = Command::new(env!("CARGO_BIN_EXE_officemesh"))
        .args(["events", "--api", &agents[0].api, "--kind", "peer_alive"])
        .output()
        .expect("run officemesh events");
    assert!(output.status.success());
    let table = String::from_utf8_lossy(&output.stdout);
    assert!(table.contains("peer_alive") && table.contains("pi-3") && table.contains("down_ms="));
    let output = Command::new(env!("CARGO_BIN_EXE_officemesh"))
        .args(["events", "--api", &agents[1].api, "--json", "--last", "600"])
        .output()
        .expect("run officemesh events --json");
    let json: Json = serde_json::from_slice(&output.stdout).expect("events --json is JSON");
    let kinds: Vec<&str> = json["events"]
        .as_array()
        .expect("events")
        .iter()
        .filter_map(|e| e["kind"].as_str())
        .collect();
    assert!(
        kinds.contains(&"peer_dead") && kinds.contains(&"peer_alive"),
        "{kinds:?}"
    );

    // A process with another key dials pi-1: pi-1 records the refusal.
    let other_key = root.path().join("other.key");
    keygen(&other_key);
    let _intruder = start(
        root.path(),
        "intruder",
        "127.0.0.34",
        free_port(),
        &seeds,
        &other_key,
    );
    let refused = eventually(Duration::from_secs(40), || {
        events_of(&agents[0], "refused_peer")
            .into_iter()
            .find(|e| e["numbers"]["handshakes_failed"].as_u64().unwrap_or(0) > 0)
    });
    assert!(
        refused.is_some(),
        "pi-1 recorded no refused handshake: {}",
        agents[0].get("/v1/events")
    );
}

fn support_now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_millis() as u64
}
