//! Noise handshakes between this build and the release before versioning (db6ff62, which
//! writes empty payloads and ignores what it reads), and between two builds of this release.

use super::*;

fn keys(byte: u8) -> Security {
    Security::Noise(ClusterKeys::new(Key::from_bytes([byte; 32]), []))
}

fn handshake(security: &Security) -> (Session, Session) {
    let (initiator, first) = start_initiator(security, "office").expect("start");
    let (server, reply, _) = respond(security, "office", &first).expect("respond");
    (initiator.finish(&reply).expect("finish"), server)
}

/// The first message of the release before versioning (db6ff62): an empty payload.
fn legacy_first(key: &Key, cluster: &str) -> (HandshakeState, Vec<u8>) {
    let prologue = prologue(cluster);
    let mut state = builder(key, &prologue)
        .expect("builder")
        .build_initiator()
        .expect("initiator");
    let mut body = vec![0u8; 1 + NOISE_MAX_MESSAGE];
    body[0] = MODE_NOISE;
    let len = state.write_message(&[], &mut body[1..]).expect("write");
    body.truncate(1 + len);
    (state, body)
}

#[test]
fn a_peer_without_a_version_field_speaks_protocol_1_both_ways() {
    let key = Key::from_bytes([4; 32]);
    let security = Security::Noise(ClusterKeys::new(key.clone(), []));
    // db6ff62 dials us: its empty payload means protocol 1.
    let (mut legacy, first) = legacy_first(&key, "office");
    let (server, reply, _) = respond(&security, "office", &first).expect("accepted");
    assert_eq!(server.agreed().protocol, 1);
    assert!(server.agreed().peer.is_none());
    // It reads our reply (with our hello in the payload) and ignores the payload, as
    // db6ff62's `finish` does.
    let mut scratch = vec![0u8; NOISE_MAX_MESSAGE];
    let read = legacy
        .read_message(&reply[1..], &mut scratch)
        .expect("authentic");
    assert!(read > 0 && legacy.is_handshake_finished());
    // We dial db6ff62: it reads our hello into a scratch buffer and answers empty.
    let (ours, first) = start_initiator(&security, "office").expect("start");
    let mut responder = builder(&key, &prologue("office"))
        .expect("builder")
        .build_responder()
        .expect("responder");
    responder
        .read_message(&first[1..], &mut scratch)
        .expect("db6ff62 accepts a non-empty payload");
    let mut reply = vec![0u8; 1 + NOISE_MAX_MESSAGE];
    reply[0] = MODE_NOISE;
    let len = responder
        .write_message(&[], &mut reply[1..])
        .expect("write");
    reply.truncate(1 + len);
    let client = ours.finish(&reply).expect("legacy reply");
    assert_eq!(client.agreed().protocol, 1);
}

#[test]
fn new_peers_agree_on_protocol_2_in_both_modes() {
    for security in [keys(5), Security::Insecure] {
        let (client, server) = handshake(&security);
        assert_eq!(client.agreed().protocol, hello::PROTOCOL);
        assert_eq!(server.agreed().protocol, hello::PROTOCOL);
        assert_eq!(client.agreed().features, ["opaque-entries"]);
    }
    // An insecure protocol-1 hello (the prologue alone) is still answered, in kind.
    let mut legacy = vec![MODE_PLAIN];
    legacy.extend(prologue("office"));
    let (session, reply, _) =
        respond(&Security::Insecure, "office", &legacy).expect("legacy hello");
    assert_eq!(session.agreed().protocol, 1);
    assert_eq!(
        reply, legacy,
        "a protocol-1 initiator compares the reply exactly"
    );
}
