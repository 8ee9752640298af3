//! Authentication and encryption of gossip connections with the cluster key:
//! `Noise_NNpsk0_25519_ChaChaPoly_BLAKE2s` (via `snow`), the cluster key as the pre-shared key
//! and the protocol version plus the cluster name in the prologue, so a peer without the key,
//! or of another office's cluster, fails the first handshake message and learns nothing.
//! Also the insecure (development) mode's plain hello, and sealing/opening of exchange
//! messages (chunked: a Noise message is at most 65535 bytes). Pure: no sockets, no clock.
//!
//! Handshake frame bodies start with one mode byte, so a secure/insecure mismatch gets a clear
//! error: `N` + Noise message, or `P` + the plain prologue.

use snow::{HandshakeState, TransportState};

use super::frame::MAX_PAYLOAD;
use super::hello::{self, Agreed, Hello, NoCommonVersion};
use super::keys::{ClusterKeys, Key};

/// The Noise pattern: no static keys, mutual authentication by the pre-shared cluster key.
pub const NOISE_PARAMS: &str = "Noise_NNpsk0_25519_ChaChaPoly_BLAKE2s";
/// Largest Noise message (ciphertext), fixed by the Noise spec.
pub const NOISE_MAX_MESSAGE: usize = 65535;
/// Authentication tag added to each Noise message.
pub const NOISE_TAG_LEN: usize = 16;
/// Plaintext bytes carried by one full Noise message.
pub const NOISE_MAX_PLAINTEXT: usize = NOISE_MAX_MESSAGE - NOISE_TAG_LEN;

const MODE_NOISE: u8 = b'N';
const MODE_PLAIN: u8 = b'P';

/// How connections are protected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Security {
    /// Noise with the cluster key (the normal mode).
    Noise(ClusterKeys),
    /// No encryption, no authentication: development only.
    Insecure,
}

/// A handshake or message that must end the connection.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NoiseError {
    #[error(
        "the peer's handshake matches none of our accepted cluster keys, or it is in another \
         cluster (compare `gossip.key_file`/`accept_key_files` fingerprints and `gossip.cluster`)"
    )]
    NoAcceptedKey,
    #[error(
        "the peer's handshake reply does not verify: it does not accept our sending key \
         (`gossip.key_file`), or it is in another cluster (`gossip.cluster`)"
    )]
    ReplyNotAuthentic,
    #[error(
        "the peer runs with `gossip.insecure = true` but this node requires the cluster key; \
         use the same setting on every node"
    )]
    PeerInsecure,
    #[error(
        "the peer uses a cluster key but this node runs with `gossip.insecure = true`; \
         use the same setting on every node"
    )]
    PeerSecure,
    #[error("the peer is in cluster {peer:?}, this node in {ours:?} (`gossip.cluster`)")]
    ClusterMismatch { peer: String, ours: String },
    #[error("malformed handshake message: {0}")]
    Malformed(&'static str),
    #[error("a message failed authentication (corrupted or forged)")]
    Decrypt,
    #[error("malformed message: {0}")]
    MalformedMessage(&'static str),
    #[error("payload of {len} bytes exceeds the transport limit of {max} bytes")]
    TooLarge { len: usize, max: usize },
    #[error("noise library error: {0}")]
    Library(String),
    #[error(transparent)]
    Version(#[from] NoCommonVersion),
}

fn library(err: snow::Error) -> NoiseError {
    NoiseError::Library(err.to_string())
}

/// Bytes both sides mix into the handshake: the protocol and its version, then the cluster.
pub fn prologue(cluster: &str) -> Vec<u8> {
    let mut bytes = b"officemesh gossip v1\n".to_vec();
    bytes.extend_from_slice(cluster.as_bytes());
    bytes
}

fn builder<'a>(key: &'a Key, prologue: &'a [u8]) -> Result<snow::Builder<'a>, NoiseError> {
    let params = NOISE_PARAMS
        .parse()
        .map_err(|err: snow::Error| NoiseError::Library(err.to_string()))?;
    Ok(snow::Builder::new(params)
        .psk(0, key.as_bytes())
        .prologue(prologue))
}

/// An established session: encrypts and decrypts exchange messages (or passes them through in
/// insecure mode).
pub struct Session {
    transport: Option<TransportState>,
    /// The protocol version and features this connection speaks.
    agreed: Agreed,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mode = if self.transport.is_some() {
            "noise"
        } else {
            "insecure"
        };
        write!(f, "Session({mode})")
    }
}

/// The initiator's half-done handshake, waiting for the responder's reply.
pub struct InitiatorHandshake {
    state: Option<HandshakeState>,
    prologue: Vec<u8>,
    cluster: String,
    /// What we said (checked against the responder's hello).
    hello: Hello,
}

/// Starts a handshake as the side that opened the connection. Returns the state and the first
/// handshake frame body to send.
pub fn start_initiator(
    security: &Security,
    cluster: &str,
) -> Result<(InitiatorHandshake, Vec<u8>), NoiseError> {
    start_initiator_as(security, cluster, &Hello::ours())
}

/// [`start_initiator`] saying `hello` (tests play other releases with it).
pub fn start_initiator_as(
    security: &Security,
    cluster: &str,
    hello: &Hello,
) -> Result<(InitiatorHandshake, Vec<u8>), NoiseError> {
    let prologue = prologue(cluster);
    match security {
        Security::Insecure => {
            let mut body = vec![MODE_PLAIN];
            body.extend_from_slice(&prologue);
            body.extend(hello.encode());
            let handshake = InitiatorHandshake {
                state: None,
                prologue,
                cluster: cluster.to_string(),
                hello: hello.clone(),
            };
            Ok((handshake, body))
        }
        Security::Noise(keys) => {
            let mut state = builder(&keys.send, &prologue)?
                .build_initiator()
                .map_err(library)?;
            let mut body = vec![0u8; 1 + NOISE_MAX_MESSAGE];
            body[0] = MODE_NOISE;
            let len = state
                .write_message(&hello.encode(), &mut body[1..])
                .map_err(library)?;
            body.truncate(1 + len);
            let handshake = InitiatorHandshake {
                state: Some(state),
                prologue,
                cluster: cluster.to_string(),
                hello: hello.clone(),
            };
            Ok((handshake, body))
        }
    }
}

impl InitiatorHandshake {
    /// Checks the responder's reply and returns the session.
    pub fn finish(self, reply: &[u8]) -> Result<Session, NoiseError> {
        let (&mode, rest) = reply
            .split_first()
            .ok_or(NoiseError::Malformed("empty handshake reply"))?;
        match (self.state, mode) {
            (None, MODE_PLAIN) => {
                let peer = check_plain_hello(rest, &self.prologue, &self.cluster)?;
                let agreed = hello::agree(&self.hello, peer)?;
                Ok(Session {
                    transport: None,
                    agreed,
                })
            }
            (None, MODE_NOISE) => Err(NoiseError::PeerSecure),
            (Some(_), MODE_PLAIN) => Err(NoiseError::PeerInsecure),
            (Some(mut state), MODE_NOISE) => {
                let mut scratch = vec![0u8; NOISE_MAX_MESSAGE];
                let len = state
                    .read_message(rest, &mut scratch)
                    .map_err(|_| NoiseError::ReplyNotAuthentic)?;
                if !state.is_handshake_finished() {
                    return Err(NoiseError::Malformed("handshake did not finish"));
                }
                let peer = Hello::decode(&scratch[..len]).map_err(NoiseError::Malformed)?;
                let agreed = hello::agree(&self.hello, peer)?;
                let transport = state.into_transport_mode().map_err(library)?;
                Ok(Session {
                    transport: Some(transport),
                    agreed,
                })
            }
            _ => Err(NoiseError::Malformed("unknown handshake mode")),
        }
    }
}

/// A responder's answer: the reply frame body to send (always, even when the versions do not
/// agree, so the initiator learns ours), the index of the accepted key that matched (0 =
/// `send`), and the session, or why the versions do not agree.
pub struct Response {
    pub reply: Vec<u8>,
    pub key_index: usize,
    pub session: Result<Session, NoCommonVersion>,
}

fn response(
    transport: Option<TransportState>,
    peer: Option<Hello>,
    reply: Vec<u8>,
    key_index: usize,
) -> Response {
    let session = hello::agree(&Hello::ours(), peer).map(|agreed| Session { transport, agreed });
    Response {
        reply,
        key_index,
        session,
    }
}

/// [`answer`] for callers that send no reply when the versions do not agree: the session, the
/// reply frame body and the index of the accepted key that matched (0 = `send`).
pub fn respond(
    security: &Security,
    cluster: &str,
    first: &[u8],
) -> Result<(Session, Vec<u8>, usize), NoiseError> {
    let response = answer(security, cluster, first)?;
    Ok((response.session?, response.reply, response.key_index))
}

/// Answers a handshake as the side that accepted the connection. Tries every accepted key on
/// the first message (trial decryption) and uses the one that works.
pub fn answer(security: &Security, cluster: &str, first: &[u8]) -> Result<Response, NoiseError> {
    let prologue = prologue(cluster);
    let (&mode, rest) = first
        .split_first()
        .ok_or(NoiseError::Malformed("empty handshake message"))?;
    match (security, mode) {
        (Security::Insecure, MODE_PLAIN) => {
            let peer = check_plain_hello(rest, &prologue, cluster)?;
            let mut reply = vec![MODE_PLAIN];
            reply.extend_from_slice(&prologue);
            // A protocol-1 initiator compares the reply with its prologue: no hello for it.
            if peer.is_some() {
                reply.extend(Hello::ours().encode());
            }
            Ok(response(None, peer, reply, 0))
        }
        (Security::Insecure, MODE_NOISE) => Err(NoiseError::PeerSecure),
        (Security::Noise(_), MODE_PLAIN) => Err(NoiseError::PeerInsecure),
        (Security::Noise(keys), MODE_NOISE) => {
            let mut scratch = vec![0u8; NOISE_MAX_MESSAGE];
            for (index, key) in keys.accept.iter().enumerate() {
                let mut state = builder(key, &prologue)?
                    .build_responder()
                    .map_err(library)?;
                let Ok(read) = state.read_message(rest, &mut scratch) else {
                    continue;
                };
                let peer = Hello::decode(&scratch[..read]).map_err(NoiseError::Malformed)?;
                let mut reply = vec![0u8; 1 + NOISE_MAX_MESSAGE];
                reply[0] = MODE_NOISE;
                // A protocol-1 initiator reads the reply's payload and ignores it.
                let len = state
                    .write_message(&Hello::ours().encode(), &mut reply[1..])
                    .map_err(library)?;
                reply.truncate(1 + len);
                let transport = state.into_transport_mode().map_err(library)?;
                return Ok(response(Some(transport), peer, reply, index));
            }
            Err(NoiseError::NoAcceptedKey)
        }
        _ => Err(NoiseError::Malformed("unknown handshake mode")),
    }
}

/// Checks a plain hello: the prologue, then our hello (none from a protocol-1 peer).
fn check_plain_hello(
    hello: &[u8],
    expected: &[u8],
    ours: &str,
) -> Result<Option<Hello>, NoiseError> {
    if hello == expected {
        return Ok(None);
    }
    if let Some(payload) = hello.strip_prefix(expected) {
        if let Ok(Some(peer)) = Hello::decode(payload) {
            return Ok(Some(peer));
        }
    }
    let version_line = prologue("");
    match hello.strip_prefix(version_line.as_slice()) {
        Some(peer_cluster) => Err(NoiseError::ClusterMismatch {
            peer: {
                // The cluster name ends where a hello starts (none from a protocol-1 peer).
                let end = peer_cluster
                    .windows(4)
                    .position(|w| w == b"OMH1")
                    .unwrap_or(peer_cluster.len())
                    .min(64);
                String::from_utf8_lossy(&peer_cluster[..end]).into_owned()
            },
            ours: ours.to_string(),
        }),
        None => Err(NoiseError::Malformed(
            "plain hello of another protocol version",
        )),
    }
}

/// Encrypted size of a plaintext of `plain_len` bytes (plain size in insecure mode is the same
/// as the input). The last Noise message of a body is never a full one (a plaintext that fills
/// its chunks exactly gets an empty last chunk), so a body cut at a chunk boundary is refused.
pub fn sealed_len(plain_len: usize) -> usize {
    let chunks = plain_len / NOISE_MAX_PLAINTEXT + 1;
    plain_len + chunks * NOISE_TAG_LEN
}

impl Session {
    /// The protocol version and features this connection speaks.
    pub fn agreed(&self) -> &Agreed {
        &self.agreed
    }

    /// Whether this session encrypts (false in insecure mode).
    pub fn is_encrypted(&self) -> bool {
        self.transport.is_some()
    }

    /// Turns one exchange message (`flag` byte + payload) into a frame body: the plaintext in
    /// insecure mode, else a run of Noise messages, each 65535 bytes except the last, which is
    /// always shorter (empty when the plaintext fills the others exactly): that marks the end.
    pub fn seal(&mut self, flag: u8, payload: &[u8]) -> Result<Vec<u8>, NoiseError> {
        if payload.len() > MAX_PAYLOAD {
            return Err(NoiseError::TooLarge {
                len: payload.len(),
                max: MAX_PAYLOAD,
            });
        }
        let mut plain = Vec::with_capacity(1 + payload.len());
        plain.push(flag);
        plain.extend_from_slice(payload);
        let Some(transport) = self.transport.as_mut() else {
            return Ok(plain);
        };
        let mut body = vec![0u8; sealed_len(plain.len())];
        let mut written = 0;
        let last_is_full = plain.len() % NOISE_MAX_PLAINTEXT == 0;
        let terminator: &[u8] = &[];
        let chunks = plain
            .chunks(NOISE_MAX_PLAINTEXT)
            .chain(last_is_full.then_some(terminator));
        for chunk in chunks {
            let end = (written + NOISE_MAX_MESSAGE).min(body.len());
            written += transport
                .write_message(chunk, &mut body[written..end])
                .map_err(library)?;
        }
        body.truncate(written);
        Ok(body)
    }

    /// Reverses [`Session::seal`]: returns the flag and the payload. Any tampering, reordering,
    /// truncation or replay of a message is [`NoiseError::Decrypt`].
    pub fn open(&mut self, body: &[u8]) -> Result<(u8, Vec<u8>), NoiseError> {
        let plain = match self.transport.as_mut() {
            None => body.to_vec(),
            Some(transport) => {
                if body.is_empty() {
                    return Err(NoiseError::MalformedMessage("empty encrypted message"));
                }
                // A full last chunk means the body was cut at a chunk boundary (found by
                // fuzzing: each chunk authenticates on its own).
                if body.len() % NOISE_MAX_MESSAGE == 0 {
                    return Err(NoiseError::Decrypt);
                }
                let mut plain = vec![0u8; body.len()];
                let mut written = 0;
                for chunk in body.chunks(NOISE_MAX_MESSAGE) {
                    if chunk.len() < NOISE_TAG_LEN {
                        return Err(NoiseError::MalformedMessage("truncated encrypted chunk"));
                    }
                    written += transport
                        .read_message(chunk, &mut plain[written..])
                        .map_err(|_| NoiseError::Decrypt)?;
                }
                plain.truncate(written);
                plain
            }
        };
        let (&flag, payload) = plain.split_first().ok_or(NoiseError::MalformedMessage(
            "message without its flag byte",
        ))?;
        if payload.len() > MAX_PAYLOAD {
            return Err(NoiseError::TooLarge {
                len: payload.len(),
                max: MAX_PAYLOAD,
            });
        }
        Ok((flag, payload.to_vec()))
    }
}

#[cfg(test)]
#[path = "noise_compat_tests.rs"]
mod compat_tests;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::frame::MAX_BODY;

    fn keys(byte: u8) -> Security {
        Security::Noise(ClusterKeys::new(Key::from_bytes([byte; 32]), []))
    }

    fn handshake(
        client: &Security,
        client_cluster: &str,
        server: &Security,
        server_cluster: &str,
    ) -> Result<(Session, Session, usize), NoiseError> {
        let (initiator, first) = start_initiator(client, client_cluster)?;
        let (server_session, reply, index) = respond(server, server_cluster, &first)?;
        let client_session = initiator.finish(&reply)?;
        Ok((client_session, server_session, index))
    }

    #[test]
    fn same_key_and_cluster_talk_both_ways() {
        let (mut client, mut server, index) =
            handshake(&keys(1), "office", &keys(1), "office").expect("handshake");
        assert_eq!(index, 0);
        assert!(client.is_encrypted() && server.is_encrypted());
        let sealed = client.seal(1, b"syn").expect("seal");
        assert!(
            !sealed.windows(3).any(|w| w == b"syn"),
            "ciphertext hides it"
        );
        assert_eq!(server.open(&sealed).expect("open"), (1, b"syn".to_vec()));
        let sealed = server.seal(0, b"synack").expect("seal");
        assert_eq!(client.open(&sealed).expect("open"), (0, b"synack".to_vec()));
    }

    #[test]
    fn wrong_key_or_cluster_fails_on_the_first_message() {
        let first_only = |client: &Security, cc: &str, server: &Security, sc: &str| {
            let (_, first) = start_initiator(client, cc).expect("start");
            respond(server, sc, &first)
                .map(|_| ())
                .expect_err("refused")
        };
        assert_eq!(
            first_only(&keys(1), "office", &keys(2), "office"),
            NoiseError::NoAcceptedKey
        );
        assert_eq!(
            first_only(&keys(1), "office", &keys(1), "lab"),
            NoiseError::NoAcceptedKey
        );
        assert_eq!(
            first_only(&Security::Insecure, "office", &keys(1), "office"),
            NoiseError::PeerInsecure
        );
        assert_eq!(
            first_only(&keys(1), "office", &Security::Insecure, "office"),
            NoiseError::PeerSecure
        );
        assert_eq!(
            first_only(&Security::Insecure, "lab", &Security::Insecure, "office"),
            NoiseError::ClusterMismatch {
                peer: "lab".into(),
                ours: "office".into()
            }
        );
    }

    #[test]
    fn a_forged_reply_does_not_authenticate_the_responder() {
        let (initiator, first) = start_initiator(&keys(1), "office").expect("start");
        // A reply with one flipped bit (an on-path forger) is refused.
        let (_, reply, _) = respond(&keys(1), "office", &first).expect("genuine");
        let mut forged = reply.clone();
        let last = forged.len() - 1;
        forged[last] ^= 1;
        assert_eq!(
            initiator.finish(&forged).map(|_| ()).expect_err("forged"),
            NoiseError::ReplyNotAuthentic
        );
    }

    #[test]
    fn rotation_accepts_any_listed_key_and_reports_which() {
        let old = Key::from_bytes([1; 32]);
        let new = Key::from_bytes([2; 32]);
        let server = Security::Noise(ClusterKeys::new(old.clone(), [new.clone()]));
        let client = Security::Noise(ClusterKeys::new(new, [old]));
        let (mut client, mut server, index) =
            handshake(&client, "office", &server, "office").expect("rotated key accepted");
        assert_eq!(index, 1);
        let sealed = client.seal(1, b"x").expect("seal");
        assert_eq!(server.open(&sealed).expect("open").1, b"x");
    }

    #[test]
    fn large_payloads_are_chunked_and_tampering_is_caught() {
        let (mut client, mut server, _) =
            handshake(&keys(3), "office", &keys(3), "office").expect("handshake");
        let payload: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
        let sealed = client.seal(1, &payload).expect("seal");
        assert_eq!(sealed.len(), sealed_len(payload.len() + 1));
        assert_eq!(server.open(&sealed).expect("open"), (1, payload.clone()));
        let mut tampered = client.seal(1, &payload).expect("seal");
        tampered[100_000] ^= 0x40;
        assert_eq!(server.open(&tampered), Err(NoiseError::Decrypt));
    }

    #[test]
    fn a_message_cut_at_a_chunk_boundary_is_refused() {
        let (mut client, mut server, _) =
            handshake(&keys(6), "office", &keys(6), "office").expect("handshake");
        let payload = vec![7u8; NOISE_MAX_PLAINTEXT + 100];
        let sealed = client.seal(1, &payload).expect("seal");
        assert!(sealed.len() > NOISE_MAX_MESSAGE, "two chunks");
        assert_eq!(
            server.open(&sealed[..NOISE_MAX_MESSAGE]),
            Err(NoiseError::Decrypt),
            "the first chunk alone authenticates; the cut must still be refused"
        );
    }

    #[test]
    fn plaintexts_that_fill_whole_chunks_still_open() {
        let (mut client, mut server, _) =
            handshake(&keys(7), "office", &keys(7), "office").expect("handshake");
        for chunks in 1..=2 {
            // flag byte + payload = exactly `chunks` full Noise messages of plaintext.
            let payload = vec![9u8; chunks * NOISE_MAX_PLAINTEXT - 1];
            let sealed = client.seal(1, &payload).expect("seal");
            assert_eq!(sealed.len(), sealed_len(payload.len() + 1));
            assert_ne!(
                sealed.len() % NOISE_MAX_MESSAGE,
                0,
                "the last chunk is short"
            );
            assert_eq!(server.open(&sealed).expect("open"), (1, payload));
        }
    }

    #[test]
    fn replayed_message_is_refused() {
        let (mut client, mut server, _) =
            handshake(&keys(4), "office", &keys(4), "office").expect("handshake");
        let sealed = client.seal(1, b"once").expect("seal");
        server.open(&sealed).expect("first time");
        assert_eq!(server.open(&sealed), Err(NoiseError::Decrypt));
    }

    #[test]
    fn the_biggest_payload_fits_in_the_biggest_frame() {
        assert!(sealed_len(MAX_PAYLOAD + 1) <= MAX_BODY);
        let (mut client, _, _) =
            handshake(&keys(5), "office", &keys(5), "office").expect("handshake");
        let too_big = vec![0u8; MAX_PAYLOAD + 1];
        assert!(matches!(
            client.seal(1, &too_big),
            Err(NoiseError::TooLarge { .. })
        ));
    }

    #[test]
    fn insecure_mode_passes_plaintext_through() {
        let (mut client, mut server, _) =
            handshake(&Security::Insecure, "office", &Security::Insecure, "office")
                .expect("handshake");
        assert!(!client.is_encrypted());
        let sealed = client.seal(2, b"plain").expect("seal");
        assert_eq!(sealed, b"\x02plain");
        assert_eq!(server.open(&sealed).expect("open"), (2, b"plain".to_vec()));
    }
}
