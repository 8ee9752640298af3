//! Bytes ↔ `Message`: one protocol-version byte, then the message in postcard. Protocol 1 is
//! the release before versioning (db6ff62); protocol 2 differs only in the form of entries
//! (`wire`: length-prefixed canonical bytes, so unknown kinds travel). Protocol 3 adds a
//! chunk's skipped versions and a `Reset`'s collected ledger (`wire`: written as nothing in
//! older protocols) and, after the message, one section: `Option<ExchangeTimes>` in postcard
//! (the clock times of the exchange; `encode_with` / `decode_with`). A message is encoded in
//! the protocol its connection agreed on (`encode_for`); decoding follows the version byte.
//!
//! Decoding never trusts lengths or counts: the input is capped at `MAX_MESSAGE_BYTES`, postcard
//! reads sequences element by element (serde pre-allocates at most a bounded "cautious" size),
//! and trailing bytes are refused. Must not touch: sockets, framing (the transport's), the
//! replica.

use super::message::{ExchangeTimes, Message};
use super::wire;

/// The newest wire protocol version this build speaks.
pub const PROTOCOL_VERSION: u8 = 3;
/// The first protocol whose messages carry the exchange's clock times (`ExchangeTimes`).
pub const TIMES_PROTOCOL_VERSION: u8 = 3;
/// The oldest it still speaks: the release without a version field in its handshake.
pub const LEGACY_PROTOCOL_VERSION: u8 = 1;

/// The largest encoded message accepted (1 MiB): deltas are cut to `max_delta_bytes` (64 KiB by
/// default) and member lists of 1000 nodes are about 40 KB.
pub const MAX_MESSAGE_BYTES: usize = 1024 * 1024;

/// A message that cannot be decoded. The transport closes that connection, never the node.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("empty gossip message")]
    Empty,
    #[error("gossip message of {0} bytes is over the {MAX_MESSAGE_BYTES}-byte limit")]
    TooLarge(usize),
    #[error(
        "peer speaks gossip protocol version {0}, this node speaks \
         {LEGACY_PROTOCOL_VERSION}–{PROTOCOL_VERSION}: upgrade the older agent"
    )]
    Version(u8),
    #[error("malformed gossip message: {0}")]
    Malformed(String),
    #[error("gossip message has {0} trailing bytes")]
    Trailing(usize),
}

/// Encodes a message in the newest protocol (version byte + postcard).
pub fn encode(message: &Message) -> Vec<u8> {
    encode_for(message, PROTOCOL_VERSION)
}

/// Encodes a message in `protocol` (clamped to the ones this build speaks). In protocol 1,
/// entries of kinds it does not know are left out of their chunks (withheld: `wire`).
pub fn encode_for(message: &Message, protocol: u8) -> Vec<u8> {
    encode_with(message, protocol, None)
}

/// Encodes a message in `protocol` with the exchange's clock times (sent only from protocol
/// 3 on; older protocols have no place for them).
pub fn encode_with(message: &Message, protocol: u8, times: Option<ExchangeTimes>) -> Vec<u8> {
    let protocol = protocol.clamp(LEGACY_PROTOCOL_VERSION, PROTOCOL_VERSION);
    let mut out = vec![protocol];
    // Serializing plain data into a Vec cannot fail; an empty body would be refused on decode.
    let body = wire::with_protocol(protocol, || postcard::to_allocvec(message));
    out.extend(body.unwrap_or_default());
    if protocol >= TIMES_PROTOCOL_VERSION {
        out.extend(postcard::to_allocvec(&times).unwrap_or_default());
    }
    out
}

/// Decodes a message, refusing oversized, other-version, malformed or trailing input.
pub fn decode(bytes: &[u8]) -> Result<Message, DecodeError> {
    decode_with(bytes).map(|(message, _)| message)
}

/// Decodes a message and, from protocol 3 on, the exchange's clock times it carries.
pub fn decode_with(bytes: &[u8]) -> Result<(Message, Option<ExchangeTimes>), DecodeError> {
    if bytes.len() > MAX_MESSAGE_BYTES {
        return Err(DecodeError::TooLarge(bytes.len()));
    }
    let (&version, rest) = bytes.split_first().ok_or(DecodeError::Empty)?;
    if !(LEGACY_PROTOCOL_VERSION..=PROTOCOL_VERSION).contains(&version) {
        return Err(DecodeError::Version(version));
    }
    let (message, mut trailing) =
        wire::with_protocol(version, || postcard::take_from_bytes::<Message>(rest))
            .map_err(|error| DecodeError::Malformed(error.to_string()))?;
    let mut times = None;
    if version >= TIMES_PROTOCOL_VERSION {
        (times, trailing) = postcard::take_from_bytes::<Option<ExchangeTimes>>(trailing)
            .map_err(|error| DecodeError::Malformed(error.to_string()))?;
    }
    if !trailing.is_empty() {
        return Err(DecodeError::Trailing(trailing.len()));
    }
    Ok((message, times))
}

#[cfg(test)]
mod tests {
    use officemesh_types::MacAddr;
    use proptest::prelude::*;

    use super::*;
    use crate::crdt::{NodeId, Stamp};
    use crate::gossip::message::*;
    use crate::state::{Entry, Key, MacSeen, PersonInfo, ReadingStatus, ReadingValue, Value};

    fn entry() -> impl Strategy<Value = Entry> {
        (
            "[a-z]{1,8}",
            any::<u8>(),
            any::<bool>(),
            any::<u64>(),
            any::<u64>(),
            any::<u64>(),
        )
            .prop_map(|(name, mac, live, time, node, version)| Entry {
                key: Key::Person {
                    name,
                    mac: MacAddr([2, 0, 0, 0, 0, mac]),
                },
                value: match (live, mac % 3) {
                    (false, _) => None,
                    (true, 0) => Some(Value::Person(PersonInfo {
                        added_by: "api".into(),
                    })),
                    (true, 1) => Some(Value::Reading(ReadingValue {
                        value: f64::from(mac) / 3.0,
                        unit: "°C".into(),
                        room: "kitchen".into(),
                        status: ReadingStatus::Stale,
                        taken_at_ms: time,
                    })),
                    (true, _) => Some(Value::Mac(MacSeen {
                        ip: "192.168.1.20".into(),
                        first_seen_ms: time,
                        last_seen_ms: time,
                        randomized: true,
                        present_until_ms: 0,
                    })),
                },
                stamp: Stamp::new(time, NodeId(node)),
                version,
            })
    }

    fn delta() -> impl Strategy<Value = Delta> {
        (
            proptest::collection::vec(
                (
                    any::<u64>(),
                    any::<u64>(),
                    proptest::collection::vec(entry(), 0..3),
                ),
                0..3,
            ),
            any::<bool>(),
        )
            .prop_map(|(chunks, truncated)| Delta {
                chunks: chunks
                    .into_iter()
                    .map(|(origin, complete_to, entries)| Chunk {
                        origin: NodeId(origin),
                        after: complete_to / 2,
                        complete_to,
                        skipped: entries
                            .iter()
                            .map(|by| Skipped {
                                version: by.version / 2,
                                by: by.clone(),
                            })
                            .collect(),
                        entries,
                    })
                    .collect(),
                truncated,
            })
    }

    fn items() -> impl Strategy<Value = Vec<DigestItem>> {
        proptest::collection::vec(
            (any::<u64>(), any::<u64>(), any::<u64>()).prop_map(|(o, w, f)| DigestItem {
                origin: NodeId(o),
                watermark: w,
                floor: f,
            }),
            0..5,
        )
    }

    fn heartbeats() -> impl Strategy<Value = Heartbeats> {
        prop_oneof![
            Just(Heartbeats::None),
            (any::<u64>(), proptest::collection::vec(any::<u64>(), 0..6)).prop_map(
                |(members_hash, counters)| Heartbeats::Dense {
                    members_hash,
                    counters
                }
            ),
            (
                any::<u64>(),
                proptest::collection::vec((any::<u32>(), any::<u64>()), 0..6)
            )
                .prop_map(|(members_hash, newer)| Heartbeats::Sparse {
                    members_hash,
                    newer
                }),
            (
                any::<u64>(),
                proptest::collection::vec(
                    (
                        any::<u64>(),
                        "[0-9.:]{0,21}",
                        any::<u64>(),
                        any::<u64>(),
                        any::<bool>()
                    ),
                    0..4
                )
            )
                .prop_map(|(members_hash, members)| Heartbeats::Full {
                    members_hash,
                    members: members
                        .into_iter()
                        .map(|(id, addr, incarnation, heartbeat, left)| MemberInfo {
                            id: NodeId(id),
                            addr,
                            incarnation,
                            heartbeat,
                            left,
                        })
                        .collect(),
                }),
        ]
    }

    fn body() -> impl Strategy<Value = Body> {
        prop_oneof![
            (any::<u64>(), heartbeats()).prop_map(|(hash, members)| Body::Syn {
                state: StateSummary::Hash(hash),
                members
            }),
            (items(), any::<u64>(), heartbeats()).prop_map(|(items, gc_mark, members)| {
                Body::Syn {
                    state: StateSummary::Full(DigestSummary {
                        items,
                        gc_mark: Stamp::new(gc_mark, NodeId(gc_mark / 3)),
                    }),
                    members,
                }
            }),
            (
                any::<u64>(),
                items(),
                any::<bool>(),
                any::<u64>(),
                delta(),
                heartbeats()
            )
                .prop_map(|(state_hash, want, full, gc_mark, delta, members)| {
                    Body::SynAck {
                        state_hash,
                        want,
                        want_is_full_digest: full,
                        gc_mark: Stamp::new(gc_mark, NodeId(7)),
                        delta,
                        members,
                    }
                }),
            (delta(), heartbeats()).prop_map(|(delta, members)| Body::Ack { delta, members }),
            (
                proptest::collection::vec((any::<u64>(), any::<u64>()), 0..4),
                any::<u64>(),
                any::<u64>(),
                proptest::collection::vec(any::<u64>(), 0..4),
            )
                .prop_map(|(floors, gc_mark, your_watermark, your_versions)| {
                    Body::Reset {
                        watermarks: floors.iter().map(|(o, f)| (NodeId(*f), *o)).collect(),
                        floors: floors.into_iter().map(|(o, f)| (NodeId(o), f)).collect(),
                        gc_mark: Stamp::new(gc_mark, NodeId(9)),
                        your_watermark,
                        collected: your_versions
                            .iter()
                            .map(|v| (Key::Node(NodeId(*v)), Stamp::new(*v, NodeId(*v))))
                            .collect(),
                        your_versions,
                    }
                }),
            Just(Body::BadCluster),
        ]
    }

    fn message() -> impl Strategy<Value = Message> {
        ("[a-z]{0,12}", any::<u64>(), "[0-9.:]{0,21}", body()).prop_map(
            |(cluster, from, from_addr, body)| Message {
                cluster,
                from: NodeId(from),
                from_addr,
                body,
            },
        )
    }

    proptest! {
        #[test]
        fn every_message_round_trips(message in message()) {
            let bytes = encode(&message);
            prop_assert_eq!(bytes[0], PROTOCOL_VERSION);
            prop_assert_eq!(decode(&bytes), Ok(message));
        }

        #[test]
        fn older_protocols_carry_no_protocol_3_fields(message in message(), protocol in 1u8..3) {
            let bytes = encode_for(&message, protocol);
            prop_assert_eq!(bytes[0], protocol);
            let back = decode(&bytes).expect("decodes");
            prop_assert_eq!(back, without_protocol_3_fields(message, protocol));
        }

        #[test]
        fn truncated_or_extended_messages_are_refused(message in message(), cut in 1usize..64) {
            let bytes = encode(&message);
            let cut = cut.min(bytes.len() - 1);
            prop_assert!(decode(&bytes[..bytes.len() - cut]).is_err());
            let mut longer = bytes.clone();
            longer.push(0);
            prop_assert_eq!(decode(&longer), Err(DecodeError::Trailing(1)));
        }

        #[test]
        fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
            let _ = decode(&bytes);
        }
    }

    /// What a peer on `protocol` (1 or 2) receives of `message`: no skipped versions, no
    /// collected ledger, and in protocol 1 no entries of kinds it does not know (the strategy
    /// makes none).
    fn without_protocol_3_fields(mut message: Message, _protocol: u8) -> Message {
        match &mut message.body {
            Body::SynAck { delta, .. } | Body::Ack { delta, .. } => {
                for chunk in &mut delta.chunks {
                    chunk.skipped.clear();
                }
            }
            Body::Reset { collected, .. } => collected.clear(),
            _ => {}
        }
        message
    }

    #[test]
    fn protocol_3_carries_exchange_times_and_older_protocols_do_not() {
        let message = Message {
            cluster: "office".into(),
            from: NodeId(7),
            from_addr: "127.0.0.7:7420".into(),
            body: Body::Ack {
                delta: Delta::default(),
                members: Heartbeats::None,
            },
        };
        let times = ExchangeTimes {
            sent_ms: 1_800_000_020_000,
            echo_ms: Some(1_800_000_000_000),
            received_ms: Some(1_800_000_020_000),
            your_offset: Some(OffsetSample {
                offset_ms: -20_000,
                delay_ms: 3,
            }),
        };
        let bytes = encode_with(&message, 3, Some(times));
        assert_eq!(decode_with(&bytes), Ok((message.clone(), Some(times))));
        assert_eq!(decode(&bytes), Ok(message.clone()));
        let none = encode_with(&message, 3, None);
        assert_eq!(decode_with(&none), Ok((message.clone(), None)));
        for old in [1, 2] {
            let bytes = encode_with(&message, old, Some(times));
            assert_eq!(
                bytes,
                encode_for(&message, old),
                "protocol {old} has no times"
            );
            assert_eq!(decode_with(&bytes), Ok((message.clone(), None)));
        }
    }

    #[test]
    fn wrong_version_empty_and_oversized_input_are_refused() {
        let message = Message {
            cluster: "office".into(),
            from: NodeId(7),
            from_addr: "127.0.0.7:7420".into(),
            body: Body::BadCluster,
        };
        let mut bytes = encode(&message);
        bytes[0] = PROTOCOL_VERSION + 1;
        assert_eq!(
            decode(&bytes),
            Err(DecodeError::Version(PROTOCOL_VERSION + 1))
        );
        assert_eq!(decode(&[]), Err(DecodeError::Empty));
        let huge = vec![PROTOCOL_VERSION; MAX_MESSAGE_BYTES + 1];
        assert_eq!(
            decode(&huge),
            Err(DecodeError::TooLarge(MAX_MESSAGE_BYTES + 1))
        );
    }

    #[test]
    fn a_huge_declared_count_does_not_allocate_it() {
        // A Syn whose Dense counter list claims u32::MAX elements but holds three bytes.
        let message = Message {
            cluster: "o".into(),
            from: NodeId(1),
            from_addr: "a".into(),
            body: Body::Syn {
                state: StateSummary::Hash(0),
                members: Heartbeats::Dense {
                    members_hash: 0,
                    counters: vec![],
                },
            },
        };
        let mut bytes = encode(&message);
        // The last byte is the empty Vec's length (0); replace it with varint u32::MAX.
        bytes.pop();
        bytes.extend([0xff, 0xff, 0xff, 0xff, 0x0f, 1, 2, 3]);
        assert!(matches!(decode(&bytes), Err(DecodeError::Malformed(_))));
    }
}
