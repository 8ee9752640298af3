//! One established gossip connection: a TCP stream, its read buffer and its Noise session.
//! The only code that turns socket bytes into frames and messages and back. Every read, write
//! and handshake has a deadline. Holds the per-turn message protocol (see below), never the
//! meaning of payloads, never the pool or the accept loop.
//!
//! An exchange is a series of turns on one connection. A turn is either `MORE* LAST` (payloads,
//! the last one flagged) or a single `DONE` (this side has nothing to answer: the exchange is
//! over and the connection is idle again). Each message is one `Data` frame whose (encrypted)
//! body is a flag byte and the payload.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::frame::{self, FrameKind, MAX_BODY, MAX_HANDSHAKE_BODY};
use super::noise::{self, Security, Session};
use super::stats::NetStats;
use super::transport::PayloadHandler;
use super::NetError;

/// Flag: more payloads of this turn follow.
pub(crate) const FLAG_MORE: u8 = 0;
/// Flag: the last payload of this turn.
pub(crate) const FLAG_LAST: u8 = 1;
/// Flag: no payload; this side ends the exchange.
pub(crate) const FLAG_DONE: u8 = 2;

/// Most payloads one turn may carry (a bound on what one peer can make us do per turn).
const MAX_PAYLOADS_PER_TURN: usize = 1024;

/// What the peer's turn amounted to.
#[derive(Debug)]
pub(crate) enum TurnOutcome {
    /// The peer closed the connection cleanly before starting a turn.
    Closed,
    /// Nothing arrived within the idle wait.
    Idle,
    /// The peer sent `DONE`: the exchange is over.
    PeerDone,
    /// The peer sent payloads; these are the handler's answers to them (possibly none).
    Replies(Vec<Vec<u8>>),
}

/// Wire bytes and payloads moved on one connection since it opened.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct ConnCounters {
    pub bytes_sent: u64,
    pub bytes_received: u64,
    pub payloads_sent: u64,
    pub payloads_received: u64,
}

pub(crate) struct Connection {
    stream: TcpStream,
    read_buf: BytesMut,
    /// `None` until the handshake is done; data is never sent or read without it.
    session: Option<Session>,
    peer: SocketAddr,
    io_timeout: Duration,
    stats: Arc<NetStats>,
    pub counters: ConnCounters,
}

/// The parts of the transport a connection needs for its handshake.
pub(crate) struct HandshakeParams<'a> {
    pub security: &'a Security,
    pub cluster: &'a str,
    pub io_timeout: Duration,
    pub stats: &'a Arc<NetStats>,
}

impl Connection {
    /// Dials `addr` and runs the initiator handshake, all within the I/O timeout each.
    pub async fn connect(addr: &str, params: HandshakeParams<'_>) -> Result<Connection, NetError> {
        let stream = tokio::time::timeout(params.io_timeout, TcpStream::connect(addr))
            .await
            .map_err(|_| NetError::Timeout {
                peer: addr.to_string(),
                what: "connecting",
                after: params.io_timeout,
            })?
            .map_err(|source| NetError::Connect {
                addr: addr.to_string(),
                source,
            })?;
        let _ = stream.set_nodelay(true);
        let peer = stream.peer_addr().map_err(|source| NetError::Connect {
            addr: addr.to_string(),
            source,
        })?;
        params.stats.connections_dialed(1);
        let mut conn = Connection::new(stream, peer, &params);
        let result = tokio::time::timeout(params.io_timeout, conn.initiate(&params)).await;
        conn.finish_handshake(result, &params)?;
        Ok(conn)
    }

    /// Runs the responder handshake on an accepted stream, within the I/O timeout.
    pub async fn accept(
        stream: TcpStream,
        peer: SocketAddr,
        params: HandshakeParams<'_>,
    ) -> Result<(Connection, usize), NetError> {
        let _ = stream.set_nodelay(true);
        let mut conn = Connection::new(stream, peer, &params);
        let result = tokio::time::timeout(params.io_timeout, conn.answer_handshake(&params)).await;
        let key_index = conn.finish_handshake(result, &params)?;
        Ok((conn, key_index))
    }

    fn new(stream: TcpStream, peer: SocketAddr, params: &HandshakeParams<'_>) -> Connection {
        Connection {
            stream,
            read_buf: BytesMut::with_capacity(4096),
            session: None,
            peer,
            io_timeout: params.io_timeout,
            stats: Arc::clone(params.stats),
            counters: ConnCounters::default(),
        }
    }

    fn finish_handshake<T>(
        &mut self,
        result: Result<Result<T, NetError>, tokio::time::error::Elapsed>,
        params: &HandshakeParams<'_>,
    ) -> Result<T, NetError> {
        let outcome = result.unwrap_or_else(|_| {
            Err(NetError::Timeout {
                peer: self.peer.to_string(),
                what: "handshake",
                after: params.io_timeout,
            })
        });
        match &outcome {
            Ok(_) => params.stats.handshakes_ok(1),
            Err(_) => params.stats.handshakes_failed(1),
        }
        outcome
    }

    async fn initiate(&mut self, params: &HandshakeParams<'_>) -> Result<(), NetError> {
        let (handshake, first) = noise::start_initiator(params.security, params.cluster)
            .map_err(|source| self.handshake_error(source))?;
        self.write_frame(FrameKind::Handshake, &first).await?;
        let reply = self.read_handshake_frame().await?;
        let session = handshake
            .finish(&reply)
            .map_err(|source| self.handshake_error(source))?;
        self.session = Some(session);
        Ok(())
    }

    async fn answer_handshake(&mut self, params: &HandshakeParams<'_>) -> Result<usize, NetError> {
        let first = self.read_handshake_frame().await?;
        let response = noise::answer(params.security, params.cluster, &first)
            .map_err(|source| self.handshake_error(source))?;
        // The reply goes out even when the versions do not agree: the peer learns ours.
        self.write_frame(FrameKind::Handshake, &response.reply)
            .await?;
        let session = response
            .session
            .map_err(|source| self.handshake_error(source.into()))?;
        self.session = Some(session);
        Ok(response.key_index)
    }

    async fn read_handshake_frame(&mut self) -> Result<Vec<u8>, NetError> {
        match self.read_frame(MAX_HANDSHAKE_BODY).await? {
            Some(frame) if frame.kind == FrameKind::Handshake => Ok(frame.body.to_vec()),
            Some(_) => Err(self.protocol_error("expected a handshake frame")),
            None => Err(NetError::ClosedDuringHandshake {
                peer: self.peer.to_string(),
            }),
        }
    }

    fn handshake_error(&self, source: noise::NoiseError) -> NetError {
        NetError::Handshake {
            peer: self.peer.to_string(),
            source,
        }
    }

    fn protocol_error(&self, reason: &str) -> NetError {
        self.stats.messages_rejected(1);
        NetError::Protocol {
            peer: self.peer.to_string(),
            reason: reason.to_string(),
        }
    }

    pub fn peer(&self) -> SocketAddr {
        self.peer
    }

    /// The gossip protocol version this connection speaks (1 before the handshake).
    pub fn protocol(&self) -> u16 {
        self.session
            .as_ref()
            .map_or(1, |session| session.agreed().protocol)
    }

    /// Whether the peer has closed (or sent unexpected bytes on) an idle connection, checked
    /// without waiting: an idle pooled connection must have nothing to read.
    pub fn is_stale(&self) -> bool {
        if !self.read_buf.is_empty() {
            return true;
        }
        let mut probe = [0u8; 1];
        !matches!(
            self.stream.try_read(&mut probe),
            Err(err) if err.kind() == std::io::ErrorKind::WouldBlock
        )
    }

    /// Reads one frame; `Ok(None)` when the peer closed cleanly between frames. The whole
    /// frame must arrive within the I/O timeout (a trickling peer is cut off too).
    async fn read_frame(&mut self, max_body: usize) -> Result<Option<frame::Frame>, NetError> {
        let timeout = self.io_timeout;
        match tokio::time::timeout(timeout, self.read_frame_unbounded(max_body)).await {
            Ok(result) => result,
            Err(_) => Err(NetError::Timeout {
                peer: self.peer.to_string(),
                what: "reading a frame",
                after: timeout,
            }),
        }
    }

    /// One read from the socket into the buffer; returns the bytes read (0: closed).
    async fn fill_read_buf(&mut self) -> Result<usize, NetError> {
        self.read_buf.reserve(16 * 1024);
        let read = self
            .stream
            .read_buf(&mut self.read_buf)
            .await
            .map_err(|source| NetError::Io {
                peer: self.peer.to_string(),
                source,
            })?;
        self.stats.bytes_received(read as u64);
        self.counters.bytes_received += read as u64;
        Ok(read)
    }

    async fn read_frame_unbounded(
        &mut self,
        max_body: usize,
    ) -> Result<Option<frame::Frame>, NetError> {
        loop {
            match frame::decode(&mut self.read_buf, max_body) {
                Ok(Some(frame)) => {
                    self.stats.frames_received(1);
                    return Ok(Some(frame));
                }
                Ok(None) => {}
                Err(source) => {
                    self.stats.frames_rejected(1);
                    return Err(NetError::Frame {
                        peer: self.peer.to_string(),
                        source,
                    });
                }
            }
            if self.fill_read_buf().await? == 0 {
                if self.read_buf.is_empty() {
                    return Ok(None);
                }
                return Err(NetError::Protocol {
                    peer: self.peer.to_string(),
                    reason: format!(
                        "connection closed in the middle of a frame ({} bytes of it received)",
                        self.read_buf.len()
                    ),
                });
            }
        }
    }

    async fn write_frame(&mut self, kind: FrameKind, body: &[u8]) -> Result<(), NetError> {
        let mut out = BytesMut::with_capacity(frame::HEADER_LEN + body.len());
        frame::encode(kind, body, MAX_BODY, &mut out).map_err(|source| NetError::Frame {
            peer: self.peer.to_string(),
            source,
        })?;
        let timeout = self.io_timeout;
        match tokio::time::timeout(timeout, self.stream.write_all(&out)).await {
            Ok(Ok(())) => {}
            Ok(Err(source)) => {
                return Err(NetError::Io {
                    peer: self.peer.to_string(),
                    source,
                })
            }
            Err(_) => {
                return Err(NetError::Timeout {
                    peer: self.peer.to_string(),
                    what: "writing",
                    after: timeout,
                })
            }
        }
        self.stats.frames_sent(1);
        self.stats.bytes_sent(out.len() as u64);
        self.counters.bytes_sent += out.len() as u64;
        Ok(())
    }

    async fn send_message(&mut self, flag: u8, payload: &[u8]) -> Result<(), NetError> {
        let session = self.session.as_mut().ok_or_else(|| NetError::Protocol {
            peer: self.peer.to_string(),
            reason: "no session: handshake not done".into(),
        })?;
        let body = session
            .seal(flag, payload)
            .map_err(|source| NetError::Message {
                peer: self.peer.to_string(),
                source,
            })?;
        self.write_frame(FrameKind::Data, &body).await
    }

    /// Ends the exchange from this side: one `DONE` message.
    pub async fn send_done(&mut self) -> Result<(), NetError> {
        self.send_message(FLAG_DONE, &[]).await
    }

    /// Sends one turn: the payloads, the last flagged `LAST`; nothing to send means `DONE`.
    pub async fn send_turn<P: AsRef<[u8]>>(&mut self, payloads: &[P]) -> Result<(), NetError> {
        if payloads.is_empty() {
            return self.send_done().await;
        }
        for (index, payload) in payloads.iter().enumerate() {
            let flag = if index + 1 == payloads.len() {
                FLAG_LAST
            } else {
                FLAG_MORE
            };
            self.send_message(flag, payload.as_ref()).await?;
            self.counters.payloads_sent += 1;
        }
        Ok(())
    }

    /// Reads the peer's whole turn, feeding each payload to `handler` as it arrives, and
    /// returns the answers. With `idle_wait`, the first byte of the turn may take that long (the
    /// wait between exchanges on an inbound connection) and running out of it is
    /// [`TurnOutcome::Idle`]; every frame then has the I/O timeout.
    pub async fn answer_turn(
        &mut self,
        handler: &dyn PayloadHandler,
        idle_wait: Option<Duration>,
    ) -> Result<TurnOutcome, NetError> {
        if let (Some(wait), true) = (idle_wait, self.read_buf.is_empty()) {
            match tokio::time::timeout(wait, self.fill_read_buf()).await {
                Err(_) => return Ok(TurnOutcome::Idle),
                Ok(Ok(0)) => return Ok(TurnOutcome::Closed),
                Ok(Ok(_)) => {}
                Ok(Err(err)) => return Err(err),
            }
        }
        let mut replies = Vec::new();
        let mut received = 0usize;
        loop {
            let Some(frame) = self.read_frame(MAX_BODY).await? else {
                if received == 0 {
                    return Ok(TurnOutcome::Closed);
                }
                return Err(NetError::Closed {
                    peer: self.peer.to_string(),
                });
            };
            if frame.kind != FrameKind::Data {
                return Err(self.protocol_error("handshake frame after the handshake"));
            }
            let session = self.session.as_mut().ok_or_else(|| NetError::Protocol {
                peer: self.peer.to_string(),
                reason: "no session: handshake not done".into(),
            })?;
            let (flag, payload) = session.open(&frame.body).map_err(|source| {
                self.stats.messages_rejected(1);
                NetError::Message {
                    peer: self.peer.to_string(),
                    source,
                }
            })?;
            match flag {
                FLAG_DONE if received == 0 && payload.is_empty() => {
                    return Ok(TurnOutcome::PeerDone);
                }
                FLAG_MORE | FLAG_LAST => {
                    received += 1;
                    self.counters.payloads_received += 1;
                    if received > MAX_PAYLOADS_PER_TURN {
                        return Err(self.protocol_error("too many payloads in one turn"));
                    }
                    let protocol = self.protocol();
                    replies.extend(handler.on_payload_in(self.peer, protocol, &payload));
                    if flag == FLAG_LAST {
                        return Ok(TurnOutcome::Replies(replies));
                    }
                }
                _ => return Err(self.protocol_error("unexpected message flag")),
            }
        }
    }
}
