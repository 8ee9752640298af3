//! Clock recovery with real agents (issues #16 and #25): three agents, one started with its
//! clock an hour ahead (`gossip.test_clock_offset_ms = 3600000`). While it is ahead, every node
//! measures its clock (`/v1/nodes` `clock_offset_ms` ≈ 3 600 000, on its own row too), it stamps
//! with the mesh's time (re-stamping what it wrote before it knew: `clock_restamped`), so a
//! write it acknowledges spreads; its readings-based check still says its clock looks ahead.
//! Then it is restarted without the skew: within 30 s it is alive on the others, the write it
//! acknowledged while ahead is on every node, a new write spreads, and all three agree.
//!
//! Loopback only (127.0.0.41–43), no root needed.

use crate::support;

use std::time::{Duration, Instant};

use serde_json::Value as Json;
use support::{eventually, send, start_mesh, AgentSpec, MeshNode, TestAgent};

const INTERVAL_MS: u64 = 300;
const HOUR_MS: u64 = 3_600_000;

fn add_person(agent: &TestAgent, name: &str, mac: &str) {
    let body = format!(r#"{{"name": "{name}", "mac": "{mac}"}}"#);
    let (status, answer) = send(
        "POST",
        &format!("{}/v1/people", agent.api),
        None,
        Some(&body),
    );
    assert_eq!(status, 201, "POST /v1/people on {}: {answer}", agent.name);
}

fn has_person(agent: &TestAgent, name: &str) -> bool {
    agent.get("/v1/people")["people"]
        .as_array()
        .is_some_and(|people| people.iter().any(|p| p["name"] == name))
}

/// `agent`'s `/v1/nodes` row for the node called `name`.
fn row(agent: &TestAgent, name: &str) -> Option<Json> {
    agent.get("/v1/nodes")["nodes"]
        .as_array()?
        .iter()
        .find(|row| row["name"] == name)
        .cloned()
}

/// The node id of `agent` as it reports itself.
fn own_id(agent: &TestAgent) -> Json {
    agent.get("/v1/nodes")["self"].clone()
}

/// A row for `agent`'s id on `observer`, whatever name it shows (before its `node/` entry is
/// taken, peers know it only by id).
fn row_by_id(observer: &TestAgent, id: &Json) -> Option<Json> {
    observer.get("/v1/nodes")["nodes"]
        .as_array()?
        .iter()
        .find(|row| row["node"] == *id)
        .cloned()
}

#[test]
fn a_node_whose_clock_ran_an_hour_ahead_rejoins_once_fixed_and_loses_nothing() {
    let root = tempfile::tempdir().expect("tempdir");
    let nodes = [
        MeshNode {
            name: "pi-1",
            room: "lobby",
            ip: "127.0.0.41",
        },
        MeshNode {
            name: "pi-2",
            room: "kitchen",
            ip: "127.0.0.42",
        },
    ];
    // The peers read a (simulated) sensor: pi-3 sees their readings arrive an hour old.
    let sensor = "[[sensors]]\ndriver = \"sim\"\nname = \"desk\"\npoll_interval_s = 1\n";
    let peers = start_mesh(root.path(), &nodes, INTERVAL_MS, sensor);
    let gossip = |offset: &str| {
        format!(
            "seeds = [\"127.0.0.41:{}\"]\nkey_file = \"{}\"\ninterval_ms = {INTERVAL_MS}\n{offset}",
            peers[0].gossip_port,
            root.path().join("cluster.key").display()
        )
    };
    let skewed = gossip("test_clock_offset_ms = 3600000\n");
    let mut pi3 = TestAgent::start(
        root.path(),
        AgentSpec {
            name: "pi-3",
            room: "meeting room",
            gossip_extra: &skewed,
            extra: "",
            ip: "127.0.0.43",
            ..AgentSpec::default()
        },
    );
    let pi3_id = own_id(&pi3);

    // While ahead: every node measures pi-3's clock from gossip exchange times (issue #25), and
    // pi-3, an hour ahead of the mesh's median, stamps with the mesh's time (re-stamping what
    // it wrote before it knew): a write it acknowledges reaches its peers.
    add_person(&pi3, "ahead-ada", "02:00:00:00:03:01");
    let about_an_hour = |offset: Option<i64>| {
        offset.filter(|ms| (HOUR_MS as i64 - 60_000..=HOUR_MS as i64 + 1_000).contains(ms))
    };
    let measured = eventually(Duration::from_secs(30), || {
        let own = about_an_hour(row_by_id(&pi3, &pi3_id)?["clock_offset_ms"].as_i64())?;
        peers
            .iter()
            .all(|peer| {
                row_by_id(peer, &pi3_id)
                    .is_some_and(|row| about_an_hour(row["clock_offset_ms"].as_i64()).is_some())
                    && has_person(peer, "ahead-ada")
            })
            .then_some(own)
    });
    assert!(
        measured.is_some(),
        "pi-3's clock was not measured an hour ahead, or its write did not spread; pi-1 \
         /v1/nodes: {}\npi-3 /v1/nodes: {}",
        peers[0].get("/v1/nodes"),
        pi3.get("/v1/nodes")
    );
    let events = pi3.get("/v1/events");
    assert!(
        events.to_string().contains("clock_restamped"),
        "pi-3 did not record re-stamping what it wrote before it knew: {events}"
    );

    // pi-3 itself says its clock looks ahead: its own row, every answer's completeness, an
    // event (its peers' refusals cannot tell it).
    // (Checked every 5 s, once the peers' readings have moved on since an earlier look.)
    let own = eventually(Duration::from_secs(60), || {
        let nodes = pi3.get("/v1/nodes");
        let ahead = nodes["completeness"]["own_clock_ahead_ms"].as_u64()?;
        let own_row = row_by_id(&pi3, &pi3_id)?;
        (own_row["clock_ahead_ms"].as_u64() == Some(ahead)).then_some(ahead)
    })
    .unwrap_or_else(|| {
        panic!(
            "pi-3 did not notice its own clock is ahead; its /v1/nodes: {}",
            pi3.get("/v1/nodes")
        )
    });
    assert!(
        (HOUR_MS - 120_000..=HOUR_MS + 60_000).contains(&own),
        "pi-3's own estimate should be about an hour: {own}"
    );
    assert!(
        pi3.get("/v1/events")
            .to_string()
            .contains("own_clock_ahead"),
        "pi-3 recorded no own_clock_ahead event"
    );

    // The clock is set right: restart without the skew.
    pi3.stop();
    let config = std::fs::read_to_string(&pi3.config_path).expect("read config");
    std::fs::write(
        &pi3.config_path,
        config.replace("test_clock_offset_ms = 3600000\n", ""),
    )
    .expect("write config");
    pi3.spawn();
    let restarted = Instant::now();
    let left = || Duration::from_secs(30).saturating_sub(restarted.elapsed());

    let rejoined = eventually(left(), || {
        peers
            .iter()
            .all(|peer| {
                row(peer, "pi-3")
                    .is_some_and(|row| row["status"] == "alive" && row["clock_ahead_ms"].is_null())
                    && has_person(peer, "ahead-ada")
            })
            .then_some(())
    });
    assert!(
        rejoined.is_some(),
        "30 s after the restart pi-3 is not alive with its acknowledged write on every peer; \
         pi-1 nodes: {}\npi-3 log:\n{}",
        peers[0].get("/v1/nodes"),
        pi3.log()
    );
    add_person(&pi3, "after-bob", "02:00:00:00:03:02");
    let spread = eventually(left(), || {
        peers
            .iter()
            .all(|peer| has_person(peer, "after-bob"))
            .then_some(())
    });
    assert!(
        spread.is_some(),
        "a new write on pi-3 did not reach every node within 30 s of the restart"
    );
    let agree = eventually(left(), || {
        let hashes: Vec<String> = std::iter::once(&pi3)
            .chain(peers.iter())
            .map(|agent| agent.state_hash())
            .collect();
        hashes.windows(2).all(|w| w[0] == w[1]).then_some(hashes)
    });
    assert!(
        agree.is_some(),
        "the three agents do not agree 30 s after the restart"
    );
    for agent in std::iter::once(&pi3).chain(peers.iter()) {
        assert!(
            has_person(agent, "ahead-ada") && has_person(agent, "after-bob"),
            "{} lacks a write",
            agent.name
        );
        let nodes = agent.get("/v1/nodes");
        assert!(
            nodes["completeness"]["own_clock_ahead_ms"].is_null(),
            "{} still thinks its own clock is ahead: {nodes}",
            agent.name
        );
        let complete = nodes["completeness"]["complete"].clone();
        assert_eq!(
            complete, true,
            "{} still reports an incomplete view",
            agent.name
        );
    }
}
