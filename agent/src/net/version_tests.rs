//! A node of a newer gossip protocol that this build cannot serve, over real loopback TCP: the
//! serving transport closes the connection and tells its handler (which logs and records the
//! event) naming both versions; the newer node learns ours from the reply and refuses too.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::frame::{self, FrameKind, MAX_HANDSHAKE_BODY};
use super::hello::{Hello, NoCommonVersion, OLDEST_PROTOCOL, PROTOCOL};
use super::noise::{self, NoiseError, Security};
use super::{ClusterKeys, Key, PayloadHandler, Transport, TransportSettings};

#[derive(Default)]
struct Recorder {
    refused: Mutex<Vec<(String, NoCommonVersion)>>,
}

impl PayloadHandler for Recorder {
    fn on_payload(&self, _peer: SocketAddr, _payload: &[u8]) -> Vec<Vec<u8>> {
        Vec::new()
    }

    fn on_version_refused(&self, peer: &str, error: &NoCommonVersion) {
        if let Ok(mut refused) = self.refused.lock() {
            refused.push((peer.to_string(), error.clone()));
        }
    }
}

async fn read_frame(stream: &mut TcpStream) -> Option<frame::Frame> {
    let mut buf = BytesMut::new();
    loop {
        if let Ok(Some(frame)) = frame::decode(&mut buf, MAX_HANDSHAKE_BODY) {
            return Some(frame);
        }
        if stream.read_buf(&mut buf).await.ok()? == 0 {
            return None;
        }
    }
}

#[tokio::test]
async fn a_newer_major_is_refused_on_both_sides_naming_both_versions() {
    for security in [
        Security::Noise(ClusterKeys::new(Key::from_bytes([8; 32]), [])),
        Security::Insecure,
    ] {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let transport = Transport::new(TransportSettings::new("office", security.clone()));
        let recorder = Arc::new(Recorder::default());
        let handler: Arc<dyn PayloadHandler> = recorder.clone();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let serving = tokio::spawn(async move {
            transport.serve(listener, handler, stopped).await;
        });

        // A later release that speaks only protocols 3–4 dials us.
        let future = Hello {
            protocol: PROTOCOL + 2,
            oldest: PROTOCOL + 1,
            features: vec!["opaque-entries".into()],
            agent: "9.0.0".into(),
        };
        let (initiator, first) =
            noise::start_initiator_as(&security, "office", &future).expect("start");
        let mut stream = TcpStream::connect(addr).await.expect("connect");
        let mut out = BytesMut::new();
        frame::encode(FrameKind::Handshake, &first, MAX_HANDSHAKE_BODY, &mut out).expect("frame");
        stream.write_all(&out).await.expect("write");
        let reply = read_frame(&mut stream)
            .await
            .expect("a reply, naming our versions");
        match initiator.finish(&reply.body) {
            Err(NoiseError::Version(error)) => {
                assert_eq!(
                    (error.peer_oldest, error.peer_protocol),
                    (OLDEST_PROTOCOL, PROTOCOL)
                );
            }
            other => panic!("the newer node must refuse us too: {other:?}"),
        }
        // Then the connection closes: nothing more is read.
        let mut rest = [0u8; 16];
        let closed = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut rest)).await;
        assert!(
            matches!(closed, Ok(Ok(0)) | Ok(Err(_))),
            "closed: {closed:?}"
        );

        let refused = recorder.refused.lock().expect("lock").clone();
        assert_eq!(refused.len(), 1, "{refused:?}");
        let (_, error) = &refused[0];
        assert_eq!(
            (error.peer_oldest, error.peer_protocol),
            (PROTOCOL + 1, PROTOCOL + 2)
        );
        let text = error.to_string();
        assert!(
            text.contains(&format!("{}–{}", PROTOCOL + 1, PROTOCOL + 2))
                && text.contains(&format!("{OLDEST_PROTOCOL}–{PROTOCOL}"))
                && text.contains("9.0.0"),
            "{text}"
        );
        let _ = stop.send(());
        serving.await.expect("serve ends");
    }
}
