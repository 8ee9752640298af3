//! Presence that is true and private, with real agents in network namespaces (needs root and
//! `ip`, `curl`): a switch namespace, two "Pis" and two "phones" on 10.233.9.0/24, which exists
//! only inside these namespaces. pi1 scans `lan0`; pi2 does not scan. Ada's phone and a
//! visitor's phone are on the LAN.
//!
//! Checked, in order: both Pis count the two phones (pi2 only through pi1's shared count);
//! "i am <ada's MAC>" answers privately with a claim link and no MAC; the link opened from the
//! visitor's phone is refused and registers nothing; opened from Ada's phone it registers her on
//! both nodes, once; `/v1/network` is 401 without the token; with the LAN quiet, both state
//! hashes stay unchanged for 20 s; after a clean stop (SQLite checkpointed), the visitor's MAC is
//! nowhere in either node's data directory, and pi2 never had it in its API.
//!
//! Skips with a printed reason when not root; fails instead when `CI=true`. Namespaces carry a
//! per-run tag and are deleted by a Drop guard; agents are killed on drop.

use crate::support::presence as presence_support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use presence_support::{can_run, curl, eventually, Lab, Pi, PiSpec, SUBNET, TOKEN};
use serde_json::Value as Json;

const ADA_MAC: &str = "00:16:3e:33:00:21";
const VISITOR_MAC: &str = "00:16:3e:33:00:22";

fn unknown_devices(pi: &Pi) -> u64 {
    pi.json("/v1/presence")["unknown_devices"]
        .as_u64()
        .unwrap_or(u64::MAX)
}

fn people(pi: &Pi) -> Json {
    pi.json("/v1/people")["people"].clone()
}

/// Every form a MAC could be written in, text or binary.
fn mac_forms(mac: &str) -> Vec<Vec<u8>> {
    let bytes: Vec<u8> = mac
        .split(':')
        .map(|pair| u8::from_str_radix(pair, 16).expect("test MAC"))
        .collect();
    let plain = mac.replace(':', "");
    vec![
        mac.as_bytes().to_vec(),
        mac.to_uppercase().into_bytes(),
        mac.replace(':', "-").into_bytes(),
        plain.clone().into_bytes(),
        plain.to_uppercase().into_bytes(),
        bytes,
    ]
}

/// Files under `dir` (recursively) that contain any form of `mac`.
fn files_holding(dir: &Path, mac: &str) -> Vec<PathBuf> {
    let forms = mac_forms(mac);
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(path) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&path) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if let Ok(content) = std::fs::read(&path) {
                if forms
                    .iter()
                    .any(|form| content.windows(form.len()).any(|window| window == form))
                {
                    found.push(path);
                }
            }
        }
    }
    found
}

#[test]
fn claim_by_possession_private_unknowns_and_quiet_state() {
    // One namespace/mount lab at a time in this process (support::netns_lock).
    let _lab = crate::support::netns_lock();
    if !can_run("presence_lab") {
        return;
    }
    let mut lab = Lab::new();
    lab.switch();
    let pi1_ns = lab.plug("pi1", 1, None);
    let pi2_ns = lab.plug("pi2", 2, None);
    let ada_ns = lab.plug("ada", 21, Some(ADA_MAC));
    let visitor_ns = lab.plug("vis", 22, Some(VISITOR_MAC));

    let root = tempfile::tempdir().expect("tempdir");
    let key = root.path().join("cluster.key");
    let status = Command::new(env!("CARGO_BIN_EXE_officemesh"))
        .args(["keygen", "--out"])
        .arg(&key)
        .status()
        .expect("run keygen");
    assert!(status.success(), "keygen");
    let scanning = "[presence]\ninterface = \"lan0\"\nscan_interval_s = 1\nprobe_pace_ms = 1\n";
    let spec = |name, host, room, presence| PiSpec {
        name,
        host,
        room,
        presence,
        node_id: None,
    };
    let pi1_spec = spec("pi1", 1, "lobby", scanning);
    let mut pi1 = Pi::start(root.path(), &pi1_ns, &pi1_spec, &key);
    let pi2_spec = spec("pi2", 2, "kitchen", "[presence]\ninterface = \"\"\n");
    let mut pi2 = Pi::start(root.path(), &pi2_ns, &pi2_spec, &key);

    // 1. Both phones are counted: by pi1, which sees them, and by pi2 through pi1's count.
    //    The Pis themselves are not devices.
    let counted = eventually(Duration::from_secs(30), || {
        (unknown_devices(&pi1) == 2 && unknown_devices(&pi2) == 2).then_some(())
    });
    assert!(
        counted.is_some(),
        "both nodes should count 2 unknown phones: pi1 {}, pi2 {}",
        unknown_devices(&pi1),
        unknown_devices(&pi2)
    );

    // 2. "i am <mac>": a private reply with a claim link, no MAC in it.
    let (status, body) = pi1.call(
        "POST",
        "/v1/chat",
        Some(TOKEN),
        Some(&format!(r#"{{"user": "ada", "text": "i am {ADA_MAC}"}}"#)),
    );
    assert_eq!(status, 200, "{body}");
    let reply: Json = serde_json::from_str(&body).expect("chat JSON");
    assert_eq!(reply["response_type"], "ephemeral", "{reply}");
    let text = reply["text"].as_str().expect("text");
    assert!(
        !text.contains(ADA_MAC),
        "the reply must not show the MAC: {text}"
    );
    let link = text
        .split_whitespace()
        .find(|word| word.starts_with("http://") && word.contains("/claim/"))
        .unwrap_or_else(|| panic!("no claim link in: {text}"))
        .to_string();
    assert!(
        link.starts_with(&format!("http://{SUBNET}.1:8420/claim/")),
        "{link}"
    );

    // 3. Opened from the visitor's phone: refused, nothing registered.
    let (status, body) = curl(&visitor_ns, "GET", &link, None, None);
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("different device"), "{body}");
    assert!(
        body.contains(&format!("this device uses {VISITOR_MAC} on this network")),
        "the refusal says which address this device uses here: {body}"
    );
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(people(&pi1), Json::Array(Vec::new()), "nothing registered");
    assert_eq!(people(&pi2), Json::Array(Vec::new()), "nothing registered");

    // 4. Opened from Ada's phone: registered on every node; the link works once.
    let (status, body) = curl(&ada_ns, "GET", &link, None, None);
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("registered to ada"), "{body}");
    for pi in [&pi1, &pi2] {
        let registered = eventually(Duration::from_secs(15), || {
            let people = people(pi);
            (people[0]["name"] == "ada" && people[0]["macs"][0] == ADA_MAC).then_some(())
        });
        assert!(registered.is_some(), "ada on {}: {}", pi.ns, people(pi));
    }
    let (status, _) = curl(&ada_ns, "GET", &link, None, None);
    assert_eq!(status, 404, "a claim link works once");
    // Ada counts as in everywhere; only the visitor is unknown.
    let settled = eventually(Duration::from_secs(15), || {
        let present = pi2.json("/v1/presence")["present_count"].as_u64();
        (present == Some(1) && unknown_devices(&pi2) == 1 && unknown_devices(&pi1) == 1)
            .then_some(())
    });
    assert!(
        settled.is_some(),
        "pi2 presence: {}",
        pi2.json("/v1/presence")
    );

    // 5. /v1/network needs the token; pi1 lists its own sightings, pi2 only registered devices.
    let (status, _) = pi1.call("GET", "/v1/network", None, None);
    assert_eq!(status, 401, "/v1/network without the token");
    let pi1_network = pi1.json("/v1/network").to_string();
    assert!(
        pi1_network.contains(VISITOR_MAC),
        "pi1's own sighting: {pi1_network}"
    );
    for path in ["/v1/network", "/v1/presence", "/v1/people", "/v1/nodes"] {
        let answer = pi2.json(path).to_string();
        assert!(
            !answer.contains(VISITOR_MAC),
            "pi2 {path} shows the visitor: {answer}"
        );
    }
    assert!(pi2.json("/v1/network").to_string().contains(ADA_MAC));

    // 6. A quiet LAN: once the last sightings settled and the two agree, no state change on any
    // node for 20 s.
    std::thread::sleep(Duration::from_secs(3));
    let before = eventually(Duration::from_secs(30), || {
        let hashes = (pi1.hash(), pi2.hash());
        (hashes.0 == hashes.1).then_some(hashes)
    })
    .expect("pi1 and pi2 converge on a quiet LAN");
    for second in 0..20 {
        std::thread::sleep(Duration::from_secs(1));
        let now = (pi1.hash(), pi2.hash());
        assert_eq!(now, before, "state changed after {second} s of a quiet LAN");
    }

    // 7. After a clean stop, the visitor's MAC is in no file of either data directory.
    pi1.stop();
    pi2.stop();
    for pi in [&pi1, &pi2] {
        let holding = files_holding(&pi.data, VISITOR_MAC);
        assert!(
            holding.is_empty(),
            "the visitor's MAC is stored in {holding:?}"
        );
    }
    assert!(
        !files_holding(&pi1.data, ADA_MAC).is_empty(),
        "the check can fail: ada's registered MAC is stored"
    );
}
