//! The gossip transport over real TCP on 127.0.0.1: exchanges with the cluster key, refusal of
//! strangers, key rotation, misbehaving clients that must only lose their own connection,
//! insecure mode, large payloads, connection reuse.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use officemesh::net::frame::{self, FrameKind, MAGIC, PROTOCOL_VERSION};
use officemesh::net::{
    ClusterKeys, Key, NetError, PayloadHandler, Security, Transport, TransportSettings,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// Longest any single step may take before the test gives up (a hang guard, not a speed check).
const STEP: Duration = Duration::from_secs(20);

/// A handler playing one side of Syn → SynAck → Ack, recording every payload it sees.
///
/// - `syn:X`    → answers `synack:X`
/// - `synack:X` → answers `ack:X`
/// - `echo:X`   → answers `X` reversed, prefixed `echoed:`
/// - anything else → no answer.
#[derive(Default)]
struct Recorder {
    seen: Mutex<Vec<(SocketAddr, Vec<u8>)>>,
}

impl Recorder {
    fn payloads(&self) -> Vec<Vec<u8>> {
        self.seen
            .lock()
            .expect("lock")
            .iter()
            .map(|(_, p)| p.clone())
            .collect()
    }
}

impl PayloadHandler for Recorder {
    fn on_payload(&self, peer: SocketAddr, payload: &[u8]) -> Vec<Vec<u8>> {
        self.seen
            .lock()
            .expect("lock")
            .push((peer, payload.to_vec()));
        if let Some(rest) = payload.strip_prefix(b"syn:") {
            return vec![[b"synack:".as_slice(), rest].concat()];
        }
        if let Some(rest) = payload.strip_prefix(b"synack:") {
            return vec![[b"ack:".as_slice(), rest].concat()];
        }
        if let Some(rest) = payload.strip_prefix(b"echo:") {
            let mut reversed = rest.to_vec();
            reversed.reverse();
            return vec![[b"echoed:".as_slice(), &reversed].concat()];
        }
        Vec::new()
    }
}

fn key(byte: u8) -> Key {
    Key::from_bytes([byte; 32])
}

fn noise(send: Key, extra: &[Key]) -> Security {
    Security::Noise(ClusterKeys::new(send, extra.iter().cloned()))
}

/// Generous timeouts: a loaded machine running a debug build must not trip them.
fn settings(cluster: &str, security: Security) -> TransportSettings {
    let mut settings = TransportSettings::new(cluster, security);
    settings.io_timeout = Duration::from_secs(10);
    settings.idle_timeout = Duration::from_secs(30);
    settings
}

/// For servers whose timeouts the test waits for (stalled clients): short, so the test is quick.
fn strict_settings(cluster: &str, security: Security) -> TransportSettings {
    let mut settings = settings(cluster, security);
    settings.io_timeout = Duration::from_millis(1500);
    settings
}

struct Server {
    addr: SocketAddr,
    transport: Transport,
    handler: Arc<Recorder>,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

impl Server {
    async fn start(settings: TransportSettings) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        Server::start_on(listener, settings)
    }

    fn start_on(listener: TcpListener, settings: TransportSettings) -> Server {
        let addr = listener.local_addr().expect("addr");
        let transport = Transport::new(settings);
        let handler = Arc::new(Recorder::default());
        let (stop, stopped) = oneshot::channel::<()>();
        let serving = transport.clone();
        let serve_handler: Arc<dyn PayloadHandler> = handler.clone();
        let task = tokio::spawn(async move {
            serving
                .serve(listener, serve_handler, async {
                    let _ = stopped.await;
                })
                .await;
        });
        Server {
            addr,
            transport,
            handler,
            stop: Some(stop),
            task,
        }
    }

    async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        tokio::time::timeout(STEP, &mut self.task)
            .await
            .expect("serve returns after shutdown")
            .expect("serve task did not panic");
    }

    /// Waits until the server's counters satisfy `done` (they are updated by its tasks).
    async fn wait_for_stats(
        &self,
        what: &str,
        done: impl Fn(&officemesh::net::NetStatsSnapshot) -> bool,
    ) {
        let deadline = tokio::time::Instant::now() + STEP;
        loop {
            let stats = self.transport.stats();
            if done(&stats) {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "server never reached: {what}; stats {stats:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

async fn gossip_round(
    client: &Transport,
    addr: SocketAddr,
    tag: &str,
) -> officemesh::net::ExchangeStats {
    let handler = Arc::new(Recorder::default());
    let stats = tokio::time::timeout(
        STEP,
        client.exchange(
            &addr.to_string(),
            format!("syn:{tag}").into_bytes(),
            handler.clone(),
        ),
    )
    .await
    .expect("exchange finished")
    .expect("exchange succeeded");
    assert_eq!(
        handler.payloads(),
        vec![format!("synack:{tag}").into_bytes()]
    );
    stats
}

/// Waits until the peer closes `stream` (read returns 0 or an error); panics after `STEP`.
async fn assert_closed_by_peer(stream: &mut TcpStream, what: &str) {
    let mut buf = [0u8; 256];
    let closed = tokio::time::timeout(STEP, async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "server never closed the {what} connection");
}

#[tokio::test]
async fn same_key_completes_syn_synack_ack_and_reuses_the_connection() {
    let server = Server::start(settings("office", noise(key(1), &[]))).await;
    let client = Transport::new(settings("office", noise(key(1), &[])));

    let first = gossip_round(&client, server.addr, "one").await;
    assert_eq!(first.turns, 2, "Syn, then Ack");
    assert_eq!((first.payloads_sent, first.payloads_received), (2, 1));
    assert!(!first.reused_connection);
    // Each message costs its payload + 10 (frame header) + 1 (flag) + 16 (Noise tag); the
    // handshake is not part of the exchange. Sent: "syn:one", "ack:one"; received:
    // "synack:one", then the empty DONE.
    assert_eq!(first.bytes_sent, 2 * (7 + 27));
    assert_eq!(first.bytes_received, (10 + 27) + 27);
    assert_eq!(client.pooled_connections(&server.addr.to_string()), 1);

    let second = gossip_round(&client, server.addr, "two").await;
    assert!(
        second.reused_connection,
        "the pooled connection carries round two"
    );

    assert_eq!(
        server.handler.payloads(),
        vec![
            b"syn:one".to_vec(),
            b"ack:one".to_vec(),
            b"syn:two".to_vec(),
            b"ack:two".to_vec()
        ]
    );
    let server_stats = server.transport.stats();
    assert_eq!(server_stats.connections_accepted, 1);
    assert_eq!(server_stats.handshakes_ok, 1);
    let client_stats = client.stats();
    assert_eq!(client_stats.connections_dialed, 1);
    assert_eq!(client_stats.connections_reused, 1);
    assert_eq!(client_stats.exchanges_ok, 2);
    assert!(
        client_stats.bytes_sent > first.bytes_sent + second.bytes_sent,
        "the handshake is counted too"
    );
    let client_received = client_stats.bytes_received;
    server
        .wait_for_stats("every byte the client read was counted as sent", |s| {
            s.bytes_sent == client_received
        })
        .await;
    server.stop().await;
}

#[tokio::test]
async fn a_peer_with_another_key_or_cluster_is_refused_and_never_reaches_the_handler() {
    let server = Server::start(settings("office", noise(key(1), &[]))).await;
    let strangers = [
        (
            "another key",
            Transport::new(settings("office", noise(key(2), &[]))),
        ),
        (
            "another cluster",
            Transport::new(settings("lab", noise(key(1), &[]))),
        ),
        (
            "insecure",
            Transport::new(settings("office", Security::Insecure)),
        ),
    ];
    for (index, (what, stranger)) in strangers.iter().enumerate() {
        let handler = Arc::new(Recorder::default());
        let result = tokio::time::timeout(
            STEP,
            stranger.exchange(
                &server.addr.to_string(),
                b"syn:evil".to_vec(),
                handler.clone(),
            ),
        )
        .await
        .expect("exchange finished");
        let err = result.expect_err(what);
        assert!(
            matches!(
                err,
                NetError::ClosedDuringHandshake { .. } | NetError::Handshake { .. }
            ),
            "{what}: {err}"
        );
        assert!(handler.payloads().is_empty(), "{what}: nothing came back");
        assert_eq!(stranger.stats().handshakes_failed, 1, "{what}");
        server
            .wait_for_stats(what, |s| s.handshakes_failed == index as u64 + 1)
            .await;
    }
    assert!(
        server.handler.payloads().is_empty(),
        "no stranger's payload reached the handler"
    );

    // The server still serves its own cluster.
    let friend = Transport::new(settings("office", noise(key(1), &[])));
    gossip_round(&friend, server.addr, "friend").await;
    server.stop().await;
}

#[tokio::test]
async fn the_initiator_gets_a_clear_error_when_the_server_has_another_key() {
    let server = Server::start(settings("office", noise(key(1), &[]))).await;
    let stranger = Transport::new(settings("office", noise(key(2), &[])));
    let err = stranger
        .exchange(
            &server.addr.to_string(),
            b"syn:x".to_vec(),
            Arc::new(Recorder::default()),
        )
        .await
        .expect_err("refused");
    let message = err.to_string();
    assert!(message.contains("cluster key"), "{message}");
    server.stop().await;
}

#[tokio::test]
async fn during_rotation_a_server_accepting_a_and_b_talks_to_a_client_sending_b() {
    let server = Server::start(settings("office", noise(key(1), &[key(2)]))).await;
    let new_key_client = Transport::new(settings("office", noise(key(2), &[key(1)])));
    let old_key_client = Transport::new(settings("office", noise(key(1), &[])));
    gossip_round(&new_key_client, server.addr, "new").await;
    gossip_round(&old_key_client, server.addr, "old").await;
    // A client that only knows a third key is still refused.
    let third = Transport::new(settings("office", noise(key(3), &[])));
    assert!(third
        .exchange(
            &server.addr.to_string(),
            b"syn:x".to_vec(),
            Arc::new(Recorder::default())
        )
        .await
        .is_err());
    server.stop().await;
}

fn header(kind: FrameKind, len: u32) -> Vec<u8> {
    let mut bytes = MAGIC.to_vec();
    bytes.push(PROTOCOL_VERSION);
    bytes.push(kind as u8);
    bytes.extend_from_slice(&len.to_be_bytes());
    bytes
}

#[tokio::test]
async fn misbehaving_clients_lose_only_their_own_connection() {
    let server = Server::start(strict_settings("office", noise(key(1), &[]))).await;
    let good = Transport::new(settings("office", noise(key(1), &[])));
    gossip_round(&good, server.addr, "before").await;

    // A client that connects and stalls, opened first and kept open while the others run.
    let mut stalled = TcpStream::connect(server.addr).await.expect("connect");

    let mut truncated_then_stalled = TcpStream::connect(server.addr).await.expect("connect");
    let mut partial = header(FrameKind::Handshake, 100);
    partial.extend_from_slice(&[7u8; 10]);
    truncated_then_stalled
        .write_all(&partial)
        .await
        .expect("write");

    let cases: Vec<(&str, Vec<u8>, bool)> = vec![
        (
            "garbage",
            b"GET / HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(),
            false,
        ),
        (
            "oversized length prefix",
            header(FrameKind::Handshake, u32::MAX),
            false,
        ),
        (
            "oversized handshake",
            header(FrameKind::Handshake, 4096),
            false,
        ),
        (
            "wrong version",
            [&MAGIC[..], &[99, 1, 0, 0, 0, 0]].concat(),
            false,
        ),
        ("data before handshake", header(FrameKind::Data, 0), false),
        (
            "truncated frame then EOF",
            [header(FrameKind::Handshake, 50), vec![1; 20]].concat(),
            true,
        ),
        (
            "random handshake bytes",
            [header(FrameKind::Handshake, 49), vec![b'N'; 49]].concat(),
            false,
        ),
    ];
    for (what, bytes, half_close) in cases {
        let mut bad = TcpStream::connect(server.addr).await.expect("connect");
        bad.write_all(&bytes).await.expect("write");
        if half_close {
            bad.shutdown().await.expect("half close");
        }
        assert_closed_by_peer(&mut bad, what).await;
        // The server keeps answering a well-behaved client in between.
        gossip_round(&good, server.addr, what).await;
    }
    server
        .wait_for_stats("frames rejected", |s| s.frames_rejected >= 4)
        .await;

    // The stalled clients are cut off by the handshake timeout, not by the others' errors.
    assert_closed_by_peer(&mut stalled, "stalled").await;
    assert_closed_by_peer(&mut truncated_then_stalled, "truncated then stalled").await;
    gossip_round(&good, server.addr, "after").await;
    let payloads = server.handler.payloads();
    assert!(
        payloads
            .iter()
            .all(|p| p.starts_with(b"syn:") || p.starts_with(b"ack:")),
        "only the good client's payloads reached the handler: {payloads:?}"
    );
    server.stop().await;
}

#[tokio::test]
async fn a_stalled_peer_mid_exchange_is_cut_off_and_the_server_keeps_serving() {
    // Insecure mode lets the test speak the protocol by hand past the handshake.
    let server = Server::start(strict_settings("office", Security::Insecure)).await;
    let mut raw = TcpStream::connect(server.addr).await.expect("connect");
    let mut hello = b"P".to_vec();
    hello.extend_from_slice(&officemesh::net::noise::prologue("office"));
    let mut out = bytes::BytesMut::new();
    frame::encode(FrameKind::Handshake, &hello, 1024, &mut out).expect("encode");
    raw.write_all(&out).await.expect("hello");
    let mut reply = vec![0u8; frame::HEADER_LEN + hello.len()];
    raw.read_exact(&mut reply).await.expect("server hello");
    assert_eq!(&reply[frame::HEADER_LEN..], &hello[..]);

    // Half a data frame, then silence.
    raw.write_all(&header(FrameKind::Data, 100))
        .await
        .expect("partial");
    let client = Transport::new(settings("office", Security::Insecure));
    gossip_round(&client, server.addr, "meanwhile").await;
    assert_closed_by_peer(&mut raw, "stalled mid-frame").await;
    server
        .wait_for_stats("a failed connection", |s| s.connections_failed >= 1)
        .await;

    // An oversized data frame after the handshake is refused too.
    let mut raw = TcpStream::connect(server.addr).await.expect("connect");
    raw.write_all(&out).await.expect("hello");
    raw.read_exact(&mut reply).await.expect("server hello");
    raw.write_all(&header(FrameKind::Data, (frame::MAX_BODY + 1) as u32))
        .await
        .expect("oversized");
    assert_closed_by_peer(&mut raw, "oversized data frame").await;
    gossip_round(&client, server.addr, "after").await;
    server.stop().await;
}

#[tokio::test]
async fn insecure_mode_exchanges_in_plain_frames() {
    let server = Server::start(settings("office", Security::Insecure)).await;
    let client = Transport::new(settings("office", Security::Insecure));
    gossip_round(&client, server.addr, "plain").await;
    assert_eq!(
        server.handler.payloads(),
        vec![b"syn:plain".to_vec(), b"ack:plain".to_vec()]
    );
    // Another cluster name is refused even without encryption.
    let other = Transport::new(settings("lab", Security::Insecure));
    assert!(other
        .exchange(
            &server.addr.to_string(),
            b"syn:x".to_vec(),
            Arc::new(Recorder::default())
        )
        .await
        .is_err());
    server.stop().await;
}

#[tokio::test]
async fn a_large_payload_round_trips_in_both_directions() {
    let server = Server::start(settings("office", noise(key(7), &[]))).await;
    let client = Transport::new(settings("office", noise(key(7), &[])));
    let body: Vec<u8> = (0..700_000u32)
        .map(|i| (i.wrapping_mul(31) % 253) as u8)
        .collect();
    let handler = Arc::new(Recorder::default());
    let stats = tokio::time::timeout(
        STEP,
        client.exchange(
            &server.addr.to_string(),
            [b"echo:".as_slice(), &body].concat(),
            handler.clone(),
        ),
    )
    .await
    .expect("finished")
    .expect("large exchange");
    let mut expected = body.clone();
    expected.reverse();
    assert_eq!(
        handler.payloads(),
        vec![[b"echoed:".as_slice(), &expected].concat()]
    );
    assert!(stats.bytes_sent > 700_000 && stats.bytes_received > 700_000);

    let too_big = vec![0u8; frame::MAX_PAYLOAD + 1];
    let err = client
        .exchange(&server.addr.to_string(), too_big, handler.clone())
        .await
        .expect_err("over the cap");
    assert!(matches!(err, NetError::PayloadTooLarge { .. }), "{err}");
    server.stop().await;
}

#[tokio::test]
async fn a_pooled_connection_to_a_restarted_peer_is_replaced() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let server = Server::start_on(listener, settings("office", noise(key(1), &[])));
    let client = Transport::new(settings("office", noise(key(1), &[])));
    gossip_round(&client, addr, "first").await;
    assert_eq!(client.pooled_connections(&addr.to_string()), 1);
    server.stop().await;

    let listener = TcpListener::bind(addr).await.expect("rebind the same port");
    let server = Server::start_on(listener, settings("office", noise(key(1), &[])));
    let stats = gossip_round(&client, addr, "second").await;
    assert!(!stats.reused_connection, "the dead connection was not used");
    assert_eq!(
        server.handler.payloads(),
        vec![b"syn:second".to_vec(), b"ack:second".to_vec()],
        "the new server got the round exactly once"
    );
    server.stop().await;
}

#[tokio::test]
async fn connections_over_the_inbound_limit_are_closed_at_once() {
    let mut limited = settings("office", noise(key(1), &[]));
    limited.max_inbound_connections = 2;
    let server = Server::start(limited).await;
    let _holders = [
        TcpStream::connect(server.addr).await.expect("connect"),
        TcpStream::connect(server.addr).await.expect("connect"),
    ];
    server
        .wait_for_stats("two accepted", |s| s.connections_accepted == 2)
        .await;
    let mut third = TcpStream::connect(server.addr).await.expect("connect");
    assert_closed_by_peer(&mut third, "over the limit").await;
    server
        .wait_for_stats("one refused", |s| s.connections_refused == 1)
        .await;
    server.stop().await;
}

#[tokio::test]
async fn an_unreachable_peer_is_a_connect_error() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    drop(listener);
    let client = Transport::new(settings("office", noise(key(1), &[])));
    let err = client
        .exchange(
            &addr.to_string(),
            b"syn:x".to_vec(),
            Arc::new(Recorder::default()),
        )
        .await
        .expect_err("nobody listens");
    assert!(matches!(err, NetError::Connect { .. }), "{err}");
    assert_eq!(client.stats().exchanges_failed, 1);
}

/// Reads one frame from `stream` by hand (for the fake peers below).
async fn read_raw_frame(stream: &mut TcpStream) -> (FrameKind, Vec<u8>) {
    let mut buf = bytes::BytesMut::new();
    loop {
        if let Some(frame) = frame::decode(&mut buf, frame::MAX_BODY).expect("valid frame") {
            return (frame.kind, frame.body.to_vec());
        }
        let read = stream.read_buf(&mut buf).await.expect("read");
        assert!(read > 0, "client closed early");
    }
}

async fn write_raw_frame(stream: &mut TcpStream, kind: FrameKind, body: &[u8]) {
    let mut out = bytes::BytesMut::new();
    frame::encode(kind, body, frame::MAX_BODY, &mut out).expect("encode");
    stream.write_all(&out).await.expect("write");
}

/// A hand-written insecure-mode peer: answers the hello, then one Syn → SynAck → Ack → DONE
/// exchange; when `then_drop` it reads the next turn and closes without answering.
async fn fake_insecure_peer(stream: &mut TcpStream, then_drop: bool) -> Vec<Vec<u8>> {
    let (kind, hello) = read_raw_frame(stream).await;
    assert_eq!(kind, FrameKind::Handshake);
    write_raw_frame(stream, FrameKind::Handshake, &hello).await;
    let mut seen = Vec::new();
    let (_, syn) = read_raw_frame(stream).await;
    assert_eq!(syn[0], 1, "LAST flag");
    seen.push(syn[1..].to_vec());
    let synack = [&[1u8][..], b"synack:", &syn[5..]].concat();
    write_raw_frame(stream, FrameKind::Data, &synack).await;
    let (_, ack) = read_raw_frame(stream).await;
    seen.push(ack[1..].to_vec());
    write_raw_frame(stream, FrameKind::Data, &[2u8]).await; // DONE
    if then_drop {
        let (_, next) = read_raw_frame(stream).await;
        seen.push(next[1..].to_vec());
    }
    seen
}

#[tokio::test]
async fn a_pooled_connection_that_dies_after_the_send_is_redialed_once() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let peer = tokio::spawn(async move {
        let (mut first, _) = listener.accept().await.expect("accept");
        let on_first = fake_insecure_peer(&mut first, true).await;
        drop(first); // dies with the client's second Syn unanswered
        let (mut second, _) = listener.accept().await.expect("accept again");
        let on_second = fake_insecure_peer(&mut second, false).await;
        (on_first, on_second)
    });
    let client = Transport::new(settings("office", Security::Insecure));
    let first = gossip_round(&client, addr, "one").await;
    assert!(!first.reused_connection);
    let second = gossip_round(&client, addr, "two").await;
    assert!(
        !second.reused_connection,
        "answered on the redialed connection"
    );
    let (on_first, on_second) = tokio::time::timeout(STEP, peer)
        .await
        .expect("peer finished")
        .expect("peer ok");
    assert_eq!(
        on_first,
        vec![
            b"syn:one".to_vec(),
            b"ack:one".to_vec(),
            b"syn:two".to_vec()
        ]
    );
    assert_eq!(on_second, vec![b"syn:two".to_vec(), b"ack:two".to_vec()]);
    let stats = client.stats();
    assert_eq!((stats.connections_dialed, stats.connections_reused), (2, 1));
    assert_eq!(stats.exchanges_ok, 2);
}
