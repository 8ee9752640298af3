//! A rolling upgrade, with real processes on loopback: four agents start on the previous
//! release (db6ff62, built from git by `deploy/build-previous-release.sh`, cached under
//! `target/previous-release/`), each writes, then one at a time each is stopped and started
//! again on this build with the same data directory and config, with writes on old and new
//! nodes between the steps. At every step every acknowledged write must reach every running
//! node (each node's `/v1/people` is polled for it) and the running nodes' `/v1/state/hash`
//! must agree; at the end one node is downgraded to the previous release (supported: same
//! store schema, protocol 1) and the mesh must converge again.
//!
//! Not `deploy/fleet-deploy.sh`: it drives Pis over ssh and systemd (install a .deb, restart
//! the unit); here the same steps (stop, swap the binary, start on the same data dir, wait
//! for convergence) run on local processes. Prints how long each step took to converge.
//!
//! The previous release is built on first use (a few minutes; cached by revision). Without
//! git or cargo it skips with a message, except under `CI=true`, where a skip is a failure.
//! `OFFICEMESH_PREVIOUS_RELEASE=/path/to/officemesh` uses that binary instead.

use crate::support;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use support::{eventually, free_port, send, AgentSpec, TestAgent};

const INTERVAL_MS: u64 = 200;
/// Every write must reach every running node within this (the issue's bound is 20 s; the
/// machine is shared, so the assertion allows more and the figures are printed).
const BOUND: Duration = Duration::from_secs(60);

/// The previous release's binary, built (or found in the cache) by the deploy script.
fn previous_release() -> Option<PathBuf> {
    if let Ok(path) = std::env::var("OFFICEMESH_PREVIOUS_RELEASE") {
        return Some(PathBuf::from(path));
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/build-previous-release.sh");
    let started = Instant::now();
    let output = Command::new(&script).output();
    let ci = std::env::var("CI").is_ok_and(|v| v == "true");
    match output {
        Ok(out) if out.status.success() => {
            let path = String::from_utf8_lossy(&out.stdout).trim().to_string();
            eprintln!("previous release ready in {:?}: {path}", started.elapsed());
            Some(PathBuf::from(path))
        }
        other => {
            let why = match other {
                Ok(out) => String::from_utf8_lossy(&out.stderr).into_owned(),
                Err(err) => err.to_string(),
            };
            assert!(!ci, "CI=true: cannot build the previous release: {why}");
            eprintln!("skipping: cannot build the previous release ({why})");
            None
        }
    }
}

struct Office {
    agents: Vec<TestAgent>,
    /// Every acknowledged write: person name → MAC.
    written: Vec<(String, String)>,
    new_bin: PathBuf,
    old_bin: PathBuf,
}

impl Office {
    fn start(root: &Path, old_bin: &Path) -> Office {
        let key = root.join("cluster.key");
        let status = Command::new(env!("CARGO_BIN_EXE_officemesh"))
            .args(["keygen", "--out"])
            .arg(&key)
            .status()
            .expect("run keygen");
        assert!(status.success(), "keygen");
        let ips: Vec<String> = (0..4).map(|i| format!("127.0.0.{}", 41 + i)).collect();
        let ports: Vec<u16> = (0..4).map(|_| free_port()).collect();
        let seeds: Vec<String> = ips
            .iter()
            .zip(&ports)
            .take(2)
            .map(|(ip, port)| format!("\"{ip}:{port}\""))
            .collect();
        let agents = (0..4)
            .map(|i| {
                let name = format!("pi-{}", i + 1);
                let gossip = format!(
                    "seeds = [{}]\nkey_file = \"{}\"\ninterval_ms = {INTERVAL_MS}\n",
                    seeds.join(", "),
                    key.display()
                );
                let spec = AgentSpec {
                    name: &name,
                    room: "lobby",
                    gossip_extra: &gossip,
                    // One reading at start, then quiet: the state settles so hashes can agree.
                    extra:
                        "[[sensors]]\ndriver = \"sim\"\nname = \"desk\"\npoll_interval_s = 3600\n",
                    ip: &ips[i],
                    gossip_port: Some(ports[i]),
                    presence_interface: "",
                    ..AgentSpec::default()
                };
                TestAgent::start_with(root, spec, old_bin)
            })
            .collect();
        Office {
            agents,
            written: Vec::new(),
            new_bin: PathBuf::from(env!("CARGO_BIN_EXE_officemesh")),
            old_bin: old_bin.to_path_buf(),
        }
    }

    fn running(&self, skip: Option<usize>) -> impl Iterator<Item = &TestAgent> {
        self.agents
            .iter()
            .enumerate()
            .filter(move |(i, _)| Some(*i) != skip)
            .map(|(_, agent)| agent)
    }

    /// A colleague registers a phone on node `node`; the write counts once acknowledged.
    fn write(&mut self, node: usize, who: &str) {
        let mac = format!(
            "02:00:00:00:{:02x}:{:02x}",
            self.written.len() / 256,
            self.written.len() % 256
        );
        let body = format!(r#"{{"name": "{who}", "mac": "{mac}"}}"#);
        let (status, answer) = send(
            "POST",
            &format!("{}/v1/people", self.agents[node].api),
            None,
            Some(&body),
        );
        assert_eq!(
            status, 201,
            "{} refused {who}: {answer}",
            self.agents[node].name
        );
        self.written.push((who.to_string(), mac));
    }

    fn people_on(agent: &TestAgent) -> BTreeSet<String> {
        let answer = agent.get("/v1/people");
        let rows = answer["people"]
            .as_array()
            .or_else(|| answer.as_array())
            .cloned()
            .unwrap_or_default();
        rows.iter()
            .filter_map(|p| p["name"].as_str().map(String::from))
            .collect()
    }

    /// Waits until every running node holds every acknowledged write, then until their state
    /// hashes agree; prints and returns how long each took.
    fn converge(&self, skip: Option<usize>, step: &str) -> (Duration, Duration) {
        let start = Instant::now();
        let wanted: BTreeSet<String> = self.written.iter().map(|(n, _)| n.clone()).collect();
        let reached = eventually(BOUND, || {
            self.running(skip)
                .all(|agent| Self::people_on(agent).is_superset(&wanted))
                .then_some(())
        });
        if reached.is_none() {
            let report: Vec<String> = self
                .running(skip)
                .map(|a| {
                    let missing: Vec<_> = wanted.difference(&Self::people_on(a)).cloned().collect();
                    format!("{} misses {missing:?}", a.name)
                })
                .collect();
            panic!(
                "{step}: writes did not reach every node:\n{}\n{}",
                report.join("\n"),
                self.logs()
            );
        }
        let writes = start.elapsed();
        let agreed = eventually(BOUND, || {
            let hashes: BTreeSet<String> = self.running(skip).map(TestAgent::state_hash).collect();
            (hashes.len() == 1).then_some(())
        });
        if agreed.is_none() {
            let report: Vec<String> = self
                .running(skip)
                .map(|a| format!("{}: {}", a.name, a.get("/v1/state/hash")))
                .collect();
            panic!(
                "{step}: hashes differ:\n{}\n{}",
                report.join("\n"),
                self.logs()
            );
        }
        let hashes = start.elapsed();
        eprintln!("{step}: every write on every node in {writes:?}, hashes agree in {hashes:?}");
        (writes, hashes)
    }

    /// Each node's `/healthz` `protocols` (empty: the release before versioning).
    fn protocols(&self) -> Vec<String> {
        self.agents
            .iter()
            .map(|a| {
                a.get("/healthz")["protocols"]
                    .as_str()
                    .unwrap_or("")
                    .to_string()
            })
            .collect()
    }

    fn logs(&self) -> String {
        self.agents
            .iter()
            .map(|a| format!("--- {} ---\n{}", a.name, tail(&a.log(), 40)))
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// Stops node `node` (SIGTERM), writes on two others meanwhile, starts it on `bin` with
    /// the same data directory and config, and writes on it.
    fn replace(&mut self, node: usize, bin: PathBuf, step: &str) {
        let status = self.agents[node].stop();
        assert!(
            status.success(),
            "{} stopped uncleanly: {status}",
            self.agents[node].name
        );
        let others: Vec<usize> = (0..4).filter(|i| *i != node).take(2).collect();
        for other in others {
            self.write(other, &format!("while {step} {other}"));
        }
        self.converge(Some(node), &format!("{step}: while it is down"));
        self.agents[node].bin = bin;
        self.agents[node].spawn();
        self.write(node, &format!("after {step}"));
    }
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

#[test]
fn four_pis_roll_forward_one_at_a_time_and_one_rolls_back() {
    let Some(old_bin) = previous_release() else {
        return;
    };
    let root = tempfile::tempdir().expect("tempdir");
    let mut office = Office::start(root.path(), &old_bin);
    for node in 0..4 {
        office.write(node, &format!("before {node}"));
    }
    office.converge(None, "all on the previous release");
    // The previous release has no version field: `/healthz` says no protocols.
    assert_eq!(
        office.protocols(),
        [""; 4],
        "every Pi runs the previous release"
    );

    for node in 0..4 {
        let step = format!("upgrade pi-{}", node + 1);
        let new_bin = office.new_bin.clone();
        office.replace(node, new_bin, &step);
        // Writes on an old node (when one is left) and on a new one, after the restart.
        let old = (node + 1..4).next();
        if let Some(old) = old {
            office.write(old, &format!("old side after {step}"));
        }
        office.write(0, &format!("new side after {step}"));
        office.converge(None, &step);
    }
    // pi-1, upgraded first, met the old nodes in protocol 1 (the release before versioning).
    assert!(
        office.agents[0]
            .log()
            .contains("gossip peer speaks protocol 1"),
        "pi-1 never noted a protocol-1 peer:\n{}",
        tail(&office.agents[0].log(), 40)
    );
    assert_eq!(office.protocols(), ["1..3"; 4], "every Pi runs this build");

    // A downgrade: pi-4 goes back to the previous release on the same data directory.
    let old_bin = office.old_bin.clone();
    office.replace(3, old_bin, "downgrade pi-4");
    office.write(3, "on the downgraded pi");
    office.write(1, "new side after the downgrade");
    office.converge(None, "downgrade pi-4");
    assert_eq!(office.protocols(), ["1..3", "1..3", "1..3", ""]);
    let final_hashes: BTreeSet<String> = office.running(None).map(TestAgent::state_hash).collect();
    assert_eq!(final_hashes.len(), 1, "the four agree at the end");
    let everyone = Office::people_on(&office.agents[2]);
    assert_eq!(
        everyone.len(),
        office.written.len(),
        "nothing lost across the restarts"
    );
}
