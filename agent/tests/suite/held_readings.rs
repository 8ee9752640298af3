//! Readings held for the SD card (`storage.readings_batch_ms`) never split the mesh's state:
//! two real `officemesh` processes gossiping over encrypted TCP, one with a sound-meter-like
//! sensor read every second and its readings held for ten minutes. Both must show the same
//! `/v1/state/hash` (the deploy gate and the drill lab wait for that), and the readings held
//! when the node is stopped are committed at shutdown: back up, it shows them (new ones are
//! held again, so what it shows came from disk) and its peer gets them.

use crate::support;

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use support::{eventually, free_port, keygen, AgentSpec, TestAgent};

/// Generous: the machine is shared; what is asserted is agreement, not speed.
const BOUND: Duration = Duration::from_secs(45);
/// Longer than the test: nothing held is written by its timer while the test runs.
const HELD_MS: u64 = 600_000;

fn start_pair(root: &Path) -> (TestAgent, TestAgent) {
    let key = root.join("cluster.key");
    keygen(&key);
    let ports = [free_port(), free_port()];
    let gossip = format!(
        "seeds = [\"127.0.0.1:{}\"]\nkey_file = \"{}\"\ninterval_ms = 200\n",
        ports[0],
        key.display()
    );
    let sound = TestAgent::start(
        root,
        AgentSpec {
            name: "pi-sound",
            gossip_extra: &gossip,
            // Published every poll, like a sound meter: a new reading every second.
            extra: "[[sensors]]\ndriver = \"sim\"\nname = \"desk\"\npoll_interval_s = 1\n",
            gossip_port: Some(ports[0]),
            readings_batch_ms: Some(HELD_MS),
            ..AgentSpec::default()
        },
    );
    let quiet = TestAgent::start(
        root,
        AgentSpec {
            name: "pi-quiet",
            room: "kitchen",
            gossip_extra: &gossip,
            extra: "",
            gossip_port: Some(ports[1]),
            presence_interface: "",
            ..AgentSpec::default()
        },
    );
    (sound, quiet)
}

fn agree(a: &TestAgent, b: &TestAgent, what: &str) {
    let agreed = eventually(BOUND, || {
        let hashes: BTreeSet<String> = [a.state_hash(), b.state_hash()].into();
        (hashes.len() == 1).then_some(())
    });
    if agreed.is_none() {
        panic!(
            "{what}: hashes never agreed\n{}: {}\n{}: {}",
            a.name,
            a.get("/v1/state/hash"),
            b.name,
            b.get("/v1/state/hash")
        );
    }
}

/// The sound node's readings as `agent` answers them (`/v1/readings`).
fn sound_readings(agent: &TestAgent) -> Vec<serde_json::Value> {
    let answer = agent.get("/v1/readings");
    answer["readings"]
        .as_array()
        .map(|rows| {
            rows.iter()
                .filter(|row| row["node_name"] == "pi-sound")
                .cloned()
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn held_readings_keep_hashes_equal_and_are_committed_at_shutdown() {
    let root = tempfile::tempdir().expect("tempdir");
    let (mut sound, quiet) = start_pair(root.path());

    // The sensor really reads (every second) while its readings are held: wait for three reads
    // after its first (the first one's "sensor ok" write commits at once, taking that along).
    let desk_read_at = || {
        let answer = sound.get("/v1/sensors");
        let rows = answer["sensors"].as_array()?.clone();
        let desk = rows.iter().find(|row| row["name"] == "desk")?.clone();
        desk["last_ok_ms"].as_u64()
    };
    let first = eventually(BOUND, desk_read_at);
    let first = first.unwrap_or_else(|| panic!("the sim sensor never read; log:\n{}", sound.log()));
    let later = eventually(BOUND, || desk_read_at().filter(|at| *at >= first + 3_000));
    assert!(later.is_some(), "the sim sensor stopped reading");
    agree(&sound, &quiet, "a sensor read every second, readings held");

    // Stopped with readings held: they go into the final commit.
    assert!(sound.stop().success(), "log:\n{}", sound.log());
    sound.spawn();
    let restored = sound_readings(&sound);
    assert_eq!(
        restored.len(),
        3,
        "temperature, humidity and sound committed at shutdown: {restored:?}"
    );
    let reached = eventually(BOUND, || (sound_readings(&quiet).len() == 3).then_some(()));
    assert!(
        reached.is_some(),
        "the peer never got the committed readings"
    );
    agree(&sound, &quiet, "after the restart");
}
