//! Real-cluster figures: N `officemesh` processes on loopback (127.0.0.11…), encrypted gossip
//! with one cluster key, no sensors changing after start and presence off, so the mesh is idle.
//! Prints, per N: the time for a new write (`POST /v1/people` on one node) to reach every
//! node (median / max over several writes, in ms and in gossip intervals; arrival as each agent
//! recorded it in `officemesh_gossip_last_merge_unix_ms`, so polling adds nothing), and bytes sent
//! per node per round idle and busy (every node writing one person per interval), transport
//! bytes: frames, Noise and handshakes included, from each node's `/metrics`.
//!
//! Run: `cargo bench -p officemesh --bench cluster` (N = 10 and 30, 300 ms interval, about two
//! minutes). `OFFICEMESH_BENCH_NODES=5,10`, `OFFICEMESH_BENCH_INTERVAL_MS=1000` and
//! `OFFICEMESH_BENCH_WRITES=15` (default 7) change it;
//! `OFFICEMESH_BENCH_PRESENCE=sim` turns presence on (simulated LAN of 6 devices per node,
//! scanned every second), as real offices run it; idle is then measured once no state changed
//! for `OFFICEMESH_BENCH_QUIET_S` (default 30 s: the LAN is quiet).
//! Traffic stays on 127.0.0.0/8.

#[path = "../tests/suite/support/mod.rs"]
mod support;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Barrier;
use std::time::{Duration, Instant};

use support::{eventually, free_port, get, send, AgentSpec, TestAgent};

fn env_list(name: &str, default: &[usize]) -> Vec<usize> {
    std::env::var(name)
        .ok()
        .map(|text| {
            text.split(',')
                .filter_map(|n| n.trim().parse().ok())
                .collect()
        })
        .unwrap_or_else(|| default.to_vec())
}

fn metric(agent: &TestAgent, name: &str) -> f64 {
    let text = ureq::get(&format!("{}/metrics", agent.api))
        .call()
        .ok()
        .and_then(|r| r.into_string().ok())
        .unwrap_or_default();
    text.lines()
        .find(|line| line.starts_with(name) && !line.starts_with('#'))
        .and_then(|line| line.rsplit(' ').next())
        .and_then(|value| value.parse().ok())
        .unwrap_or(0.0)
}

fn start(root: &Path, count: usize, interval_ms: u64, presence: &str) -> Vec<TestAgent> {
    let key = root.join("cluster.key");
    let status = Command::new(env!("CARGO_BIN_EXE_officemesh"))
        .args(["keygen", "--out"])
        .arg(&key)
        .status()
        .expect("keygen");
    assert!(status.success());
    let ips: Vec<String> = (0..count).map(|i| format!("127.0.0.{}", 11 + i)).collect();
    let ports: Vec<u16> = (0..count).map(|_| free_port()).collect();
    let seeds: Vec<String> = (0..2.min(count))
        .map(|i| format!("\"{}:{}\"", ips[i], ports[i]))
        .collect();
    (0..count)
        .map(|i| {
            let gossip = format!(
                "seeds = [{}]\nkey_file = \"{}\"\ninterval_ms = {interval_ms}\n",
                seeds.join(", "),
                key.display()
            );
            TestAgent::start(
                root,
                AgentSpec {
                    name: &format!("pi-{}", i + 1),
                    gossip_extra: &gossip,
                    extra:
                        "[[sensors]]\ndriver = \"sim\"\nname = \"desk\"\npoll_interval_s = 86400\n",
                    ip: &ips[i],
                    gossip_port: Some(ports[i]),
                    presence_interface: presence,
                    ..AgentSpec::default()
                },
            )
        })
        .collect()
}

/// GET with a patient timeout (30 debug-built agents on a busy 2-core machine answer slowly);
/// `Null` on failure, so the caller's `eventually` retries.
fn patient_get(agent: &TestAgent, path: &str) -> serde_json::Value {
    ureq::get(&format!("{}{path}", agent.api))
        .timeout(Duration::from_secs(30))
        .call()
        .ok()
        .and_then(|response| response.into_json().ok())
        .unwrap_or(serde_json::Value::Null)
}

fn state_hashes(agents: &[TestAgent]) -> Vec<String> {
    agents
        .iter()
        .map(|a| patient_get(a, "/v1/state/hash")["hash"].to_string())
        .collect()
}

fn converged(agents: &[TestAgent]) -> bool {
    let hashes: BTreeSet<String> = agents
        .iter()
        .map(|a| patient_get(a, "/v1/state/hash")["hash"].to_string())
        .collect();
    hashes.len() == 1
}

/// Waits until the (converged) state hash stays the same for `quiet_for`; returns how long that
/// took, or `None` when `limit` passed first.
fn wait_quiet(agents: &[TestAgent], quiet_for: Duration, limit: Duration) -> Option<Duration> {
    let start = Instant::now();
    let mut last = String::new();
    let mut since = Instant::now();
    while start.elapsed() < limit {
        let hashes: BTreeSet<String> = agents
            .iter()
            .map(|a| patient_get(a, "/v1/state/hash")["hash"].to_string())
            .collect();
        let now = hashes.into_iter().collect::<Vec<_>>().join(",");
        if now != last {
            last = now;
            since = Instant::now();
        } else if since.elapsed() >= quiet_for {
            return Some(start.elapsed());
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    None
}

/// Now on the wall clock, ms since the Unix epoch (what the agents' merge gauge uses).
fn unix_ms() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as f64)
        .unwrap_or(0.0)
}

/// `(bytes sent, rounds started)` of one agent, read from one `/metrics` answer.
fn bytes_and_rounds(agent: &TestAgent) -> (f64, f64) {
    let text = ureq::get(&format!("{}/metrics", agent.api))
        .timeout(Duration::from_secs(30))
        .call()
        .ok()
        .and_then(|r| r.into_string().ok())
        .unwrap_or_default();
    let value = |name: &str| -> f64 {
        text.lines()
            .find(|line| line.starts_with(name) && !line.starts_with('#'))
            .and_then(|line| line.rsplit(' ').next())
            .and_then(|value| value.parse().ok())
            .unwrap_or(0.0)
    };
    (
        value("officemesh_gossip_bytes_sent_total"),
        value("officemesh_gossip_rounds_total"),
    )
}

/// Busy traffic: every node writes one person per interval for `rounds` intervals (one thread
/// per node, each reading its node's counters just before and just after its writes, so the
/// window holds no idle stretch). Returns bytes sent per node per round started and the writes
/// made per node per round (below 1 when the API answered slower than the interval).
fn busy_traffic(agents: &[TestAgent], interval_ms: u64, rounds: u64) -> (f64, f64) {
    let barrier = Barrier::new(agents.len());
    let written = AtomicUsize::new(0);
    let windows: Vec<(f64, f64)> = std::thread::scope(|scope| {
        let handles: Vec<_> = agents
            .iter()
            .enumerate()
            .map(|(i, agent)| {
                let barrier = &barrier;
                let written = &written;
                scope.spawn(move || {
                    let (bytes_before, rounds_before) = bytes_and_rounds(agent);
                    barrier.wait();
                    let start = Instant::now();
                    for round in 0..rounds {
                        let body = format!(
                            r#"{{"name": "busy {i} {round}", "mac": "02:bb:{:02x}:{:02x}:{round:02x}:01"}}"#,
                            i >> 8,
                            i & 0xff
                        );
                        let url = format!("{}/v1/people", agent.api);
                        if send("POST", &url, None, Some(&body)).0 == 201 {
                            written.fetch_add(1, Ordering::Relaxed);
                        }
                        let next = Duration::from_millis(interval_ms * (round + 1));
                        std::thread::sleep(next.saturating_sub(start.elapsed()));
                    }
                    let (bytes_after, rounds_after) = bytes_and_rounds(agent);
                    (bytes_after - bytes_before, rounds_after - rounds_before)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("busy writer"))
            .collect()
    });
    let bytes: f64 = windows.iter().map(|w| w.0).sum();
    let started: f64 = windows.iter().map(|w| w.1).sum();
    let per_round = bytes / started.max(1.0);
    let writes = written.load(Ordering::Relaxed) as f64 / (agents.len() as f64 * rounds as f64);
    (per_round, writes)
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(|a, b| a.total_cmp(b));
    values[values.len() / 2]
}

fn main() {
    let nodes = env_list("OFFICEMESH_BENCH_NODES", &[10, 30]);
    let interval_ms = env_list("OFFICEMESH_BENCH_INTERVAL_MS", &[300])[0] as u64;
    let presence = std::env::var("OFFICEMESH_BENCH_PRESENCE").unwrap_or_default();
    println!(
        "real cluster on loopback: gossip interval {interval_ms} ms, fanout 3, Noise encryption, presence {}",
        if presence.is_empty() { "off" } else { presence.as_str() }
    );
    println!("| N | write to every node: median ms (intervals) | max ms (intervals) | idle B/node/round | busy B/node/round (writes/node/round) |");
    println!("|---|---|---|---|---|");
    for count in nodes {
        let root = tempfile::tempdir().expect("tempdir");
        let agents = start(root.path(), count, interval_ms, &presence);
        let settle = Duration::from_millis(interval_ms * 200);
        let ready = eventually(settle, || {
            agents
                .iter()
                .all(|a| {
                    patient_get(a, "/v1/nodes")["nodes"]
                        .as_array()
                        .map(Vec::len)
                        == Some(count)
                })
                .then_some(())
        });
        assert!(ready.is_some(), "N={count}: membership did not settle");
        assert!(eventually(settle, || converged(&agents).then_some(())).is_some());
        // Let a few rounds pass so the failure detectors and digests are warm.
        std::thread::sleep(Duration::from_millis(interval_ms * 10));
        if !presence.is_empty() {
            // Idle means a quiet LAN: wait until no node's state has changed for
            // OFFICEMESH_BENCH_QUIET_S (default 30 s): the simulated phones keep arriving for
            // the first minutes; departures start only consider_home_s = 600 s later.
            let quiet_s = env_list("OFFICEMESH_BENCH_QUIET_S", &[30])[0] as u64;
            let quiet = wait_quiet(
                &agents,
                Duration::from_secs(quiet_s),
                Duration::from_secs(540),
            );
            eprintln!("N={count}: LAN quiet after {quiet:?}");
        }

        // Idle traffic over 20 rounds; with presence on, a window in which some node's state
        // changed (a simulated phone arrived) is not idle: measured again, up to 5 times.
        let mut idle = 0.0;
        for attempt in 1..=5 {
            let hash_before = state_hashes(&agents);
            let bytes_before: f64 = agents
                .iter()
                .map(|a| metric(a, "officemesh_gossip_bytes_sent_total"))
                .sum();
            let rounds_before: f64 = agents
                .iter()
                .map(|a| metric(a, "officemesh_gossip_rounds_total"))
                .sum();
            std::thread::sleep(Duration::from_millis(interval_ms * 20));
            let bytes_after: f64 = agents
                .iter()
                .map(|a| metric(a, "officemesh_gossip_bytes_sent_total"))
                .sum();
            let rounds_after: f64 = agents
                .iter()
                .map(|a| metric(a, "officemesh_gossip_rounds_total"))
                .sum();
            idle = (bytes_after - bytes_before) / (rounds_after - rounds_before).max(1.0);
            let unchanged = state_hashes(&agents) == hash_before;
            eprintln!("N={count}: idle window {attempt}: {idle:.0} B/node/round, state unchanged: {unchanged}");
            if unchanged || presence.is_empty() {
                break;
            }
        }

        // New writes: time until every node merged the person, as each agent recorded it
        // (`officemesh_gossip_last_merge_unix_ms`, its wall clock; all agents share this
        // machine's clock). Read once the write had time to spread, so the bench's requests
        // do not compete with the gossip they measure.
        let writes = env_list("OFFICEMESH_BENCH_WRITES", &[7])[0];
        let mut times_ms = Vec::new();
        for write in 0..writes {
            let writer = write * 7 % count;
            let name = format!("person {write}");
            let body = format!(r#"{{"name": "{name}", "mac": "b8:27:eb:00:10:{write:02x}"}}"#);
            let started = Instant::now();
            let written_at = unix_ms();
            let (status, _) = send(
                "POST",
                &format!("{}/v1/people", agents[writer].api),
                None,
                Some(&body),
            );
            assert_eq!(status, 201);
            let mut arrivals: Vec<Option<f64>> = vec![None; count];
            arrivals[writer] = Some(written_at);
            while arrivals.iter().any(Option::is_none)
                && started.elapsed() < Duration::from_secs(60)
            {
                std::thread::sleep(Duration::from_millis(interval_ms * 5));
                for (i, agent) in agents.iter().enumerate() {
                    if arrivals[i].is_none() {
                        let merged = metric(agent, "officemesh_gossip_last_merge_unix_ms");
                        if merged >= written_at {
                            arrivals[i] = Some(merged);
                        }
                    }
                }
            }
            let pending: Vec<usize> = (0..count).filter(|i| arrivals[*i].is_none()).collect();
            assert!(
                pending.is_empty(),
                "N={count}: write {write} did not reach {pending:?}"
            );
            // Also make sure it is the person that arrived (not some other merge).
            for (i, agent) in agents.iter().enumerate() {
                let listed = get(&format!("{}/v1/people", agent.api))
                    .map(|j| j.to_string().contains(&name))
                    .unwrap_or(false);
                assert!(
                    listed,
                    "N={count}: node {i} merged something but not {name}"
                );
            }
            let last = arrivals.iter().flatten().fold(0.0, |a: f64, b| a.max(*b));
            times_ms.push(last - written_at);
            std::thread::sleep(Duration::from_millis(interval_ms * 3));
        }
        // Busy traffic, after the latency writes (measured on an idle mesh).
        let (busy, busy_writes) = busy_traffic(&agents, interval_ms, 20);
        eprintln!(
            "N={count}: busy window: {busy:.0} B/node/round, {busy_writes:.2} writes/node/round"
        );
        let max = times_ms.iter().cloned().fold(0.0, f64::max);
        let med = median(&mut times_ms);
        println!(
            "| {count} | {med:.0} ({:.1}) | {max:.0} ({:.1}) | {idle:.0} | {busy:.0} ({busy_writes:.2}) |",
            med / interval_ms as f64,
            max / interval_ms as f64
        );
        drop(agents);
    }
}
