//! What each fuzz target checks, one function per input kind, shared by the AFL++ targets
//! (`fuzz/fuzz_targets/*.rs`) and by the normal test suite (`agent/tests/suite/fuzz_corpus.rs`
//! includes this file by path and replays the committed corpus through it).
//!
//! Each function takes arbitrary bytes and panics only when the code under test breaks a
//! promise it makes: a decoder that panics, yields a frame over its cap, consumes bytes it did
//! not decode, or decodes a message whose re-encoding does not decode to the same bytes.
//! Must not touch: the file system, sockets, the clock, any global state (AFL++ runs every
//! target in persistent mode, thousands of inputs per process).

use bytes::BytesMut;
use officemesh::config::Config;
use officemesh::gossip;
use officemesh::net::frame::{self, MAX_BODY, MAX_HANDSHAKE_BODY};
use officemesh::net::keys::{ClusterKeys, Key};
use officemesh::net::noise::{self, Security};

/// The fuzz targets, by the name `deploy/fuzz.sh` and the corpus directories use.
pub const TARGETS: [&str; 5] = ["frame", "gossip_codec", "noise", "config", "chat"];

/// Runs the target called `name` on `data`; `false` when there is no such target.
pub fn run(name: &str, data: &[u8]) -> bool {
    match name {
        "frame" => frame_decoder(data),
        "gossip_codec" => gossip_codec(data),
        "noise" => noise_handshake(data),
        "config" => config_parser(data),
        "chat" => chat_grammar(data),
        _ => return false,
    }
    true
}

/// The frame decoder: the first byte picks the body cap (a small one, the handshake cap or the
/// data cap), the rest is the stream. Decoding the whole buffer at once and feeding it one
/// byte at a time must give the same frames and the same kind of error, every frame must be within the
/// cap and re-encode to exactly the bytes it was decoded from, and `Ok(None)` consumes nothing.
pub fn frame_decoder(data: &[u8]) {
    let Some((&selector, stream)) = data.split_first() else {
        return;
    };
    let max_body = match selector % 3 {
        0 => usize::from(selector),
        1 => MAX_HANDSHAKE_BODY,
        _ => MAX_BODY,
    };
    let (frames, error) = decode_all(stream, stream.len(), max_body);
    let (trickled_frames, trickled_error) = decode_all(stream, 1, max_body);
    assert_eq!(
        frames, trickled_frames,
        "feeding byte by byte changes the frames"
    );
    // The same kind of error (a bad magic reports the bytes seen so far, so fewer when they
    // trickle in).
    assert_eq!(
        error.as_ref().map(std::mem::discriminant),
        trickled_error.as_ref().map(std::mem::discriminant),
        "feeding byte by byte changes the error: {error:?} / {trickled_error:?}"
    );
    let mut reencoded = BytesMut::new();
    for decoded in &frames {
        assert!(decoded.body.len() <= max_body, "frame over the cap");
        frame::encode(decoded.kind, &decoded.body, max_body, &mut reencoded)
            .expect("a decoded frame re-encodes");
    }
    assert!(
        stream.starts_with(&reencoded),
        "decoded frames are not the bytes they came from"
    );
}

type Decoded = (Vec<frame::Frame>, Option<frame::FrameError>);

fn decode_all(stream: &[u8], step: usize, max_body: usize) -> Decoded {
    let mut buf = BytesMut::new();
    let mut frames = Vec::new();
    for piece in stream.chunks(step.max(1)) {
        buf.extend_from_slice(piece);
        loop {
            let before = buf.len();
            match frame::decode(&mut buf, max_body) {
                Ok(Some(decoded)) => frames.push(decoded),
                Ok(None) => {
                    assert_eq!(buf.len(), before, "an incomplete frame consumed bytes");
                    break;
                }
                Err(error) => return (frames, Some(error)),
            }
        }
    }
    (frames, None)
}

/// The gossip codec: `decode` must never panic, and a message it accepts must re-encode to
/// bytes that decode and re-encode to the same bytes (byte comparison, since a reading's value
/// may be NaN).
pub fn gossip_codec(data: &[u8]) {
    let Ok(message) = gossip::decode(data) else {
        return;
    };
    let encoded = gossip::encode(&message);
    let again = gossip::decode(&encoded).expect("a re-encoded message decodes");
    assert_eq!(gossip::encode(&again), encoded, "re-encoding is not stable");
}

/// The cluster the Noise target's sessions are in.
pub const NOISE_CLUSTER: &str = "office";
/// The cluster key the Noise target's responder and initiator accept (the seeds in
/// `fuzz/corpus/noise` are made with it, so the fuzzer starts from genuine handshakes).
pub const NOISE_KEY: [u8; 32] = [0x42; 32];

/// The Noise handshake and transport: the first byte picks what the rest is.
/// - `0`: the initiator's first handshake message, answered by a Noise responder;
/// - `1`: the same, answered by an insecure (plain hello) responder;
/// - `2`: the responder's reply, checked by a Noise initiator;
/// - `3`: the responder's reply, checked by an insecure initiator;
/// - `4`: transport messages between two sessions of a genuine Noise handshake (see
///   [`transport_records`]); anything else: the same in insecure mode.
///
/// Nothing may panic; a Noise responder accepts only a message made with the key (the seeds
/// hold a genuine one), an insecure responder only our own hello, and an initiator never a
/// reply that was not made for its fresh ephemeral key.
pub fn noise_handshake(data: &[u8]) {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let secure = Security::Noise(ClusterKeys::new(Key::from_bytes(NOISE_KEY), []));
    let insecure = Security::Insecure;
    match selector {
        0 => {
            if let Ok((mut session, reply, index)) = noise::respond(&secure, NOISE_CLUSTER, rest) {
                assert_eq!(index, 0, "only one key is accepted");
                assert!(session.is_encrypted() && !reply.is_empty());
                session
                    .seal(1, b"syn")
                    .expect("an established session seals");
            }
        }
        1 => {
            if noise::respond(&insecure, NOISE_CLUSTER, rest).is_ok() {
                let mut ours = vec![b'P'];
                ours.extend(noise::prologue(NOISE_CLUSTER));
                assert!(
                    rest.starts_with(&ours),
                    "an insecure responder accepted a hello that is not ours"
                );
            }
        }
        2 | 3 => {
            let security = if selector == 2 { &secure } else { &insecure };
            let (initiator, _) =
                noise::start_initiator(security, NOISE_CLUSTER).expect("a handshake starts");
            if let Ok(session) = initiator.finish(rest) {
                // A fresh ephemeral key per run: no fixed input can complete a Noise handshake.
                assert!(!session.is_encrypted(), "a forged Noise reply was accepted");
            }
        }
        _ => transport_records(if selector == 4 { &secure } else { &insecure }, rest),
    }
}

/// Transport messages after a genuine handshake. `data` is a run of records
/// `op (1 byte) arg (2 bytes) len (2 bytes) payload (len bytes)`: the client seals the payload
/// (stretched across the 65,519-byte chunk boundary first when `op` has its high bit set) and
/// the server opens what `op % 8` makes of it: 0 the sealed body as is, 1 with one bit flipped
/// at `arg`, 2 cut to `arg` bytes, 3 the raw payload instead of a sealed body, 4 the previous
/// body again (a replay), 5 and up as is. A genuine body must open to what was sealed; in Noise
/// mode a changed, cut, forged or replayed one must be refused, and the first refusal ends the
/// run (the connection would close).
pub fn transport_records(security: &Security, data: &[u8]) {
    let (initiator, first) =
        noise::start_initiator(security, NOISE_CLUSTER).expect("a handshake starts");
    let (mut server, reply, _) =
        noise::respond(security, NOISE_CLUSTER, &first).expect("a genuine handshake");
    let mut client = initiator.finish(&reply).expect("a genuine reply");
    let encrypted = client.is_encrypted();
    let mut previous: Option<Vec<u8>> = None;
    let mut records = data;
    while records.len() >= 5 {
        let op = records[0];
        let arg = usize::from(u16::from_be_bytes([records[1], records[2]]));
        let len = usize::from(u16::from_be_bytes([records[3], records[4]]));
        let payload = &records[5..][..len.min(records.len() - 5)];
        records = &records[5 + payload.len()..];
        let payload: Vec<u8> = if op & 0x80 != 0 {
            let target = noise::NOISE_MAX_PLAINTEXT - 32 + payload.len() % 64;
            let filler = if payload.is_empty() {
                &[0u8][..]
            } else {
                payload
            };
            filler.iter().copied().cycle().take(target).collect()
        } else {
            payload.to_vec()
        };
        let sealed = client
            .seal(7, &payload)
            .expect("a payload within the cap seals");
        let (body, genuine) = match op % 8 {
            1 => {
                let mut body = sealed.clone();
                let bit = arg % (body.len() * 8);
                body[bit / 8] ^= 1 << (bit % 8);
                (body, false)
            }
            2 => (sealed[..arg % sealed.len()].to_vec(), false),
            3 => (payload.clone(), false),
            4 => match previous.take() {
                Some(body) => (body, false),
                None => (sealed.clone(), true),
            },
            _ => (sealed.clone(), true),
        };
        previous = Some(sealed);
        let opened = server.open(&body);
        if genuine {
            assert_eq!(opened, Ok((7, payload)), "a genuine message did not open");
        } else if encrypted {
            assert!(
                opened.is_err(),
                "a changed, cut, forged or replayed message opened"
            );
            return;
        } else if let Ok((flag, plain)) = opened {
            assert_eq!(
                body,
                [&[flag][..], &plain].concat(),
                "insecure mode changed bytes"
            );
        }
    }
}

/// The insecure-mode hello of [`NOISE_CLUSTER`] (mode byte included), as an insecure
/// initiator sends it.
pub fn insecure_hello() -> Vec<u8> {
    match noise::start_initiator(&Security::Insecure, NOISE_CLUSTER) {
        Ok((_, body)) => body,
        Err(error) => panic!("insecure hello: {error}"),
    }
}

/// The config parser: TOML text to a validated `Config`. Never panics, whatever the text.
pub fn config_parser(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let path = std::path::Path::new("/etc/officemesh/config.toml");
    match Config::parse(text, path) {
        Ok(config) => {
            assert!(
                config.gossip.interval_ms > 0,
                "validation let a zero interval through"
            );
        }
        Err(error) => {
            assert!(!error.to_string().is_empty());
        }
    }
}

/// The chat grammar: any text becomes a command, without panicking, and the same text always
/// becomes the same command.
pub fn chat_grammar(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let command = officemesh::chat::grammar::parse(&text);
    let again = officemesh::chat::grammar::parse(&text);
    // `Debug` comparison: a parsed number may be NaN, which `PartialEq` never equates.
    assert_eq!(
        format!("{command:?}"),
        format!("{again:?}"),
        "parse is not deterministic"
    );
}
