//! chitchat 0.10.1 measured the way `agent/benches/cluster.rs` measures officemesh: N nodes
//! (in one process, real UDP sockets on 127.0.0.1), 300 ms gossip interval, chitchat's fixed
//! fanout of 3, each node's timer started at a random point of the interval (staggered). Prints,
//! per N: the time for a new key set on one node to reach every node (median / max over
//! several writes; arrival recorded by a key-change listener on each node, in ms and
//! intervals), and bytes sent per node per round (serialized message bytes over 20 rounds) idle
//! and busy (every node setting one key per interval: `busy:person-<node>-<round>`, its value
//! a 17-character MAC, about the size of an officemesh person entry's name and MAC).
//!
//! Run (its own workspace, not part of officemesh's):
//! `cd bench/chitchat && cargo run --release -- 10,30,100` (`CHITCHAT_BENCH_WRITES=15`).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use chitchat::transport::{Socket, Transport, UdpTransport};
use chitchat::{
    spawn_chitchat, ChitchatConfig, ChitchatHandle, ChitchatId, ChitchatMessage,
    FailureDetectorConfig, ListenerHandle, Serializable,
};
use rand::Rng;

const INTERVAL: Duration = Duration::from_millis(300);

/// UDP, counting the bytes of every message sent.
struct CountingTransport {
    sent: Arc<AtomicU64>,
}

struct CountingSocket {
    inner: Box<dyn Socket>,
    sent: Arc<AtomicU64>,
}

#[async_trait]
impl Transport for CountingTransport {
    async fn open(&self, listen_addr: SocketAddr) -> anyhow::Result<Box<dyn Socket>> {
        Ok(Box::new(CountingSocket {
            inner: UdpTransport.open(listen_addr).await?,
            sent: self.sent.clone(),
        }))
    }
}

#[async_trait]
impl Socket for CountingSocket {
    async fn send(&mut self, to: SocketAddr, msg: ChitchatMessage) -> anyhow::Result<()> {
        self.sent
            .fetch_add(msg.serialized_len() as u64, Ordering::Relaxed);
        self.inner.send(to, msg).await
    }
    async fn recv(&mut self) -> anyhow::Result<(SocketAddr, ChitchatMessage)> {
        self.inner.recv().await
    }
}

type Arrivals = Arc<Mutex<HashMap<String, Instant>>>;

struct Node {
    handle: ChitchatHandle,
    arrivals: Arrivals,
    _listener: ListenerHandle,
}

async fn start(count: usize, base_port: u16, sent: Arc<AtomicU64>) -> Vec<Node> {
    let addr = move |i: usize| -> SocketAddr { ([127, 0, 0, 1], base_port + i as u16).into() };
    let seeds: Vec<String> = (0..2.min(count)).map(|i| addr(i).to_string()).collect();
    let mut tasks = Vec::new();
    for i in 0..count {
        let seeds = seeds.clone();
        let sent = sent.clone();
        let delay = rand::thread_rng().gen_range(0..INTERVAL.as_millis() as u64);
        tasks.push(tokio::spawn(async move {
            // Staggered: each node's gossip timer starts at its own point of the interval.
            tokio::time::sleep(Duration::from_millis(delay)).await;
            let id = ChitchatId::new(format!("node-{i}"), 1, addr(i));
            let config = ChitchatConfig {
                chitchat_id: id,
                cluster_id: "bench".into(),
                gossip_interval: INTERVAL,
                listen_addr: addr(i),
                seed_nodes: seeds,
                failure_detector_config: FailureDetectorConfig::default(),
                marked_for_deletion_grace_period: Duration::from_secs(3600),
                catchup_callback: None,
                extra_liveness_predicate: None,
            };
            let transport = CountingTransport { sent };
            let handle = spawn_chitchat(config, Vec::new(), &transport)
                .await
                .expect("spawn chitchat");
            let arrivals: Arrivals = Arc::default();
            let record = arrivals.clone();
            let listener = handle
                .with_chitchat(|c| {
                    let record = record.clone();
                    c.subscribe_event("bench:", move |event| {
                        record
                            .lock()
                            .unwrap()
                            .entry(event.key.to_string())
                            .or_insert_with(Instant::now);
                    })
                })
                .await;
            Node {
                handle,
                arrivals,
                _listener: listener,
            }
        }));
    }
    let mut nodes = Vec::new();
    for task in tasks {
        nodes.push(task.await.expect("node task"));
    }
    nodes
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(|a, b| a.total_cmp(b));
    values[values.len() / 2]
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let sizes: Vec<usize> = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "10,30,100".into())
        .split(',')
        .filter_map(|n| n.trim().parse().ok())
        .collect();
    let writes: usize = std::env::var("CHITCHAT_BENCH_WRITES")
        .ok()
        .and_then(|w| w.parse().ok())
        .unwrap_or(15);
    let interval_ms = INTERVAL.as_millis() as f64;
    println!(
        "chitchat 0.10.1, in-process UDP on 127.0.0.1, interval 300 ms, fanout 3, staggered timers"
    );
    println!("| N | write to every node: median ms (intervals) | max ms (intervals) | idle B/node/round | busy B/node/round |");
    println!("|---|---|---|---|---|");
    for (run, &count) in sizes.iter().enumerate() {
        let sent = Arc::new(AtomicU64::new(0));
        let nodes = start(count, 21_000 + run as u16 * 200, sent.clone()).await;
        let settle = Instant::now();
        loop {
            let mut all = true;
            for node in &nodes {
                let live = node.handle.with_chitchat(|c| c.live_nodes().count()).await;
                all &= live >= count;
            }
            if all {
                break;
            }
            assert!(
                settle.elapsed() < Duration::from_secs(120),
                "N={count}: did not settle"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        tokio::time::sleep(INTERVAL * 10).await;

        let before = sent.load(Ordering::Relaxed);
        tokio::time::sleep(INTERVAL * 20).await;
        let idle = (sent.load(Ordering::Relaxed) - before) as f64 / (count as f64 * 20.0);

        let mut times_ms = Vec::new();
        for write in 0..writes {
            let writer = write * 7 % count;
            let key = format!("bench:person-{write}");
            let stripped = format!("person-{write}");
            let started = Instant::now();
            nodes[writer]
                .handle
                .with_chitchat(|c| c.self_node_state().set(key.clone(), "1"))
                .await;
            let deadline = Instant::now() + Duration::from_secs(60);
            let last = loop {
                tokio::time::sleep(INTERVAL * 5).await;
                let arrived: Vec<Option<Instant>> = nodes
                    .iter()
                    .enumerate()
                    .map(|(i, n)| {
                        if i == writer {
                            Some(started)
                        } else {
                            n.arrivals.lock().unwrap().get(&stripped).copied()
                        }
                    })
                    .collect();
                if arrived.iter().all(Option::is_some) {
                    break arrived.into_iter().flatten().max().unwrap_or(started);
                }
                assert!(
                    Instant::now() < deadline,
                    "N={count}: write {write} did not spread"
                );
            };
            times_ms.push(last.duration_since(started).as_secs_f64() * 1000.0);
            tokio::time::sleep(INTERVAL * 3).await;
        }
        // Busy: every node sets one key per interval for 20 intervals.
        let before = sent.load(Ordering::Relaxed);
        let start = tokio::time::Instant::now();
        for round in 0..20u32 {
            for (i, node) in nodes.iter().enumerate() {
                node.handle
                    .with_chitchat(|c| {
                        c.self_node_state().set(
                            format!("busy:person-{i}-{round}"),
                            format!("02:bb:{:02x}:{:02x}:{round:02x}:01", i >> 8, i & 0xff),
                        )
                    })
                    .await;
            }
            tokio::time::sleep_until(start + INTERVAL * (round + 1)).await;
        }
        let busy = (sent.load(Ordering::Relaxed) - before) as f64 / (count as f64 * 20.0);

        let max = times_ms.iter().cloned().fold(0.0, f64::max);
        let med = median(&mut times_ms);
        println!(
            "| {count} | {med:.0} ({:.2}) | {max:.0} ({:.2}) | {idle:.0} | {busy:.0} |",
            med / interval_ms,
            max / interval_ms
        );
        for node in nodes {
            node.handle.abort();
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}
