//! One client cannot starve the API: a script on one address holds and keeps reopening 300
//! idle connections (more than the global cap of 256) while a colleague's machine — another
//! source address on loopback, 127.0.0.2 — asks `/healthz` every half second for longer than
//! the head timeout (so the hog's connections are cut and reopened meanwhile). Every one of the
//! colleague's requests is answered 200; the hog's connections beyond its per-address share are
//! answered 503.

use crate::support;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use support::{AgentSpec, TestAgent};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

const HOG_CONNECTIONS: usize = 300;

/// `GET /healthz` from `source` (an address of this machine): the status code.
async fn healthz_from(source: &str, agent: SocketAddr) -> std::io::Result<u16> {
    let socket = TcpSocket::new_v4()?;
    socket.bind(format!("{source}:0").parse().expect("source address"))?;
    let mut stream = socket.connect(agent).await?;
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: pi\r\nConnection: close\r\n\r\n")
        .await?;
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await?;
    let text = String::from_utf8_lossy(&answer);
    Ok(text
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or(0))
}

/// Keeps `HOG_CONNECTIONS` idle connections open from 127.0.0.1, reopening each one the agent
/// answers or closes; counts the 503 answers.
async fn hog(agent: SocketAddr, stop: Arc<AtomicBool>, busy: Arc<AtomicUsize>) {
    let mut streams: Vec<Option<TcpStream>> = Vec::new();
    for _ in 0..HOG_CONNECTIONS {
        streams.push(TcpStream::connect(agent).await.ok());
    }
    while !stop.load(Ordering::Relaxed) {
        for slot in streams.iter_mut() {
            let mut buffer = [0u8; 256];
            let ended = match slot {
                None => true,
                Some(stream) => match stream.try_read(&mut buffer) {
                    Ok(0) => true,
                    Ok(n) => {
                        if String::from_utf8_lossy(&buffer[..n]).contains(" 503 ") {
                            busy.fetch_add(1, Ordering::Relaxed);
                        }
                        true
                    }
                    Err(err) => err.kind() != std::io::ErrorKind::WouldBlock,
                },
            };
            if ended {
                *slot = TcpStream::connect(agent).await.ok();
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_address_holding_many_idle_connections_cannot_keep_healthz_from_another() {
    let root = tempfile::tempdir().expect("tempdir");
    let agent = TestAgent::start(
        root.path(),
        AgentSpec {
            name: "pi-fair",
            ip: "127.0.0.1",
            ..AgentSpec::default()
        },
    );
    let address: SocketAddr = agent
        .api
        .trim_start_matches("http://")
        .parse()
        .expect("api address");
    let stop = Arc::new(AtomicBool::new(false));
    let busy = Arc::new(AtomicUsize::new(0));
    let hogging = tokio::spawn(hog(address, stop.clone(), busy.clone()));
    // Until the hog has been refused: it holds its share of connections.
    let started = Instant::now();
    while busy.load(Ordering::Relaxed) == 0 && started.elapsed() < Duration::from_secs(30) {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        busy.load(Ordering::Relaxed) > 0,
        "the hog's connections beyond its share are answered 503; log:\n{}",
        agent.log()
    );
    // Longer than the 10 s head timeout: the hog's idle connections are cut and reopened.
    let mut answers = Vec::new();
    let watching = Instant::now();
    while watching.elapsed() < Duration::from_secs(14) {
        answers.push(
            healthz_from("127.0.0.2", address)
                .await
                .map_err(|e| e.to_string()),
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    stop.store(true, Ordering::Relaxed);
    let _ = hogging.await;
    let refused: Vec<_> = answers.iter().filter(|a| **a != Ok(200)).collect();
    println!(
        "{} /healthz checks from 127.0.0.2 while 127.0.0.1 held {HOG_CONNECTIONS} connections: {} not 200; the hog got {} answers 503",
        answers.len(),
        refused.len(),
        busy.load(Ordering::Relaxed)
    );
    assert!(refused.is_empty(), "refused checks: {refused:?}");
}
