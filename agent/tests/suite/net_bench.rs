//! Figures of the gossip transport on loopback, printed, never asserted (shared noisy machine):
//! wire bytes of one Syn/SynAck/Ack round, time of a round on a fresh vs a pooled connection,
//! time of a 1 MiB payload round trip, secure vs insecure side by side.
//!
//! Run: `cargo test --release -p officemesh --test suite -- --ignored --nocapture net_bench::`

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use officemesh::net::{ClusterKeys, Key, PayloadHandler, Security, Transport, TransportSettings};
use tokio::net::TcpListener;

/// Syn → SynAck (same size) → Ack (same size) → DONE, like an idle gossip round.
struct Gossip;

impl PayloadHandler for Gossip {
    fn on_payload(&self, _peer: SocketAddr, payload: &[u8]) -> Vec<Vec<u8>> {
        match payload.first() {
            Some(b'S') => vec![[b"A".as_slice(), &payload[1..]].concat()],
            Some(b'A') => vec![[b"K".as_slice(), &payload[1..]].concat()],
            _ => Vec::new(),
        }
    }
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

async fn figures(name: &str, security: Security) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    let server = Transport::new(TransportSettings::new("office", security.clone()));
    let handler: Arc<dyn PayloadHandler> = Arc::new(Gossip);
    let serving = server.clone();
    let serve_handler = Arc::clone(&handler);
    let task = tokio::spawn(async move {
        serving
            .serve(listener, serve_handler, std::future::pending::<()>())
            .await
    });
    let syn = [b"S".as_slice(), &[0u8; 63]].concat(); // a 64-byte digest-hash Syn

    let mut fresh = Vec::new();
    for _ in 0..50 {
        let client = Transport::new(TransportSettings::new("office", security.clone()));
        let start = Instant::now();
        client
            .exchange(&addr, syn.clone(), Arc::clone(&handler))
            .await
            .expect("fresh round");
        fresh.push(start.elapsed());
    }
    let client = Transport::new(TransportSettings::new("office", security.clone()));
    let mut pooled = Vec::new();
    let mut round_bytes = 0;
    for _ in 0..500 {
        let start = Instant::now();
        let stats = client
            .exchange(&addr, syn.clone(), Arc::clone(&handler))
            .await
            .expect("pooled round");
        pooled.push(start.elapsed());
        round_bytes = stats.bytes_sent + stats.bytes_received;
    }
    let big = [b"S".as_slice(), &vec![7u8; 1024 * 1024 - 1]].concat();
    let mut large = Vec::new();
    for _ in 0..10 {
        let start = Instant::now();
        client
            .exchange(&addr, big.clone(), Arc::clone(&handler))
            .await
            .expect("1 MiB round");
        large.push(start.elapsed());
    }
    println!(
        "{name:>8}: wire bytes of a 64-byte Syn/SynAck/Ack round (both directions) {round_bytes} B; \
         round median fresh connection {:?}, pooled {:?}; 1 MiB Syn+SynAck+Ack round median {:?}",
        median(fresh),
        median(pooled),
        median(large)
    );
    task.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "prints figures; run with --ignored --nocapture"]
async fn transport_figures() {
    figures(
        "noise",
        Security::Noise(ClusterKeys::new(Key::from_bytes([1; 32]), [])),
    )
    .await;
    figures("insecure", Security::Insecure).await;
}
