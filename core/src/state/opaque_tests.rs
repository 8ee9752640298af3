//! Opaque entries: a kind this build does not know (hand-built bytes of a "later release")
//! is stored, merged by stamp, re-encoded unchanged, hashed as a knowing node hashes it, and
//! answered nowhere; protocol 1 never sees it.

use officemesh_types::MacAddr;

use super::*;
use crate::crdt::{NodeId, Stamp};
use crate::gossip::codec::{decode, encode, encode_for};
use crate::gossip::message::{Body, Chunk, Delta, Heartbeats, Message};
use crate::state::{query, Entry, PersonInfo, Replica};

/// A key of kind 12 (say `badge/<name>`) as a later release encodes it: index, then a string.
fn badge_key(name: &str) -> Vec<u8> {
    let mut bytes = postcard::to_allocvec(&12u32).expect("varint");
    bytes.extend(postcard::to_allocvec(name).expect("string"));
    bytes
}

/// Its value: the kind's name, then the fields (here a number and a string).
fn badge_value(door: &str) -> Vec<u8> {
    postcard::to_allocvec(&("badge", 7u64, door)).expect("value")
}

fn badge(name: &str, door: &str, time: u64, node: u64, version: u64) -> Entry {
    let key = key_from_bytes(&badge_key(name)).expect("a later kind decodes as opaque");
    let value = value_from_bytes(&key, &badge_value(door)).expect("opaque value");
    Entry {
        key,
        value: Some(value),
        stamp: Stamp::new(time, NodeId(node)),
        version,
    }
}

fn message(entries: Vec<Entry>) -> Message {
    Message {
        cluster: "office".into(),
        from: NodeId(3),
        from_addr: "127.0.0.3:7420".into(),
        body: Body::Ack {
            delta: Delta {
                chunks: vec![Chunk {
                    origin: NodeId(3),
                    after: 0,
                    complete_to: 2,
                    entries,
                    skipped: Vec::new(),
                }],
                truncated: false,
            },
            members: Heartbeats::None,
        },
    }
}

fn chunk_entries(message: &Message) -> &[Entry] {
    match &message.body {
        Body::Ack { delta, .. } => &delta.chunks[0].entries,
        other => panic!("not an ack: {other:?}"),
    }
}

#[test]
fn an_unknown_kind_is_kept_as_bytes_and_its_text_form_round_trips() {
    let entry = badge("ada", "front", 10, 3, 1);
    let Key::Opaque(key) = &entry.key else {
        panic!("opaque expected, got {:?}", entry.key);
    };
    assert_eq!(key.kind_index(), 12);
    assert_eq!(key_bytes(&entry.key), badge_key("ada"));
    let text = entry.key.to_string();
    assert!(text.starts_with("opaque/"), "{text}");
    assert_eq!(text.parse::<Key>(), Ok(entry.key.clone()));
    // The store keeps the value as JSON; it reads back to the same bytes.
    let json = serde_json::to_string(&entry.value).expect("json");
    let back: Option<Value> = serde_json::from_str(&json).expect("back");
    assert_eq!(back, entry.value);
}

#[test]
fn a_known_kind_must_decode_exactly_and_oversized_opaque_bytes_are_refused() {
    let mut person = postcard::to_allocvec(&3u32).expect("varint"); // Key::Person, cut short
    person.push(1);
    assert!(key_from_bytes(&person).is_err());
    let mut huge = badge_key("x");
    huge.extend(vec![0u8; MAX_OPAQUE_BYTES]);
    assert_eq!(
        key_from_bytes(&huge),
        Err(OpaqueError::TooLarge(huge.len()))
    );
    let key = Key::Node(NodeId(1));
    let unknown_kind = postcard::to_allocvec(&("badge", "api")).expect("bytes");
    assert!(value_from_bytes(&key, &unknown_kind).is_err());
    let trailing = postcard::to_allocvec(&("person", "api", 1u8)).expect("bytes");
    assert!(value_from_bytes(&key, &trailing).is_err());
}

#[test]
fn opaque_entries_merge_by_stamp_like_any_other() {
    let mut replica = Replica::new(NodeId(1));
    assert!(replica.merge(badge("ada", "front", 10, 3, 1)));
    assert!(
        replica.merge(badge("ada", "back", 20, 4, 1)),
        "a newer stamp wins"
    );
    assert!(
        !replica.merge(badge("ada", "side", 15, 5, 1)),
        "an older stamp loses"
    );
    let held = replica.get(&badge("ada", "", 0, 0, 0).key).expect("held");
    assert_eq!(held.value, badge("ada", "back", 0, 0, 0).value);
    assert_eq!(held.stamp, Stamp::new(20, NodeId(4)));
}

#[test]
fn protocol_2_passes_opaque_entries_on_unchanged() {
    let entries = vec![
        badge("ada", "front", 10, 3, 1),
        badge("bob", "back", 11, 3, 2),
    ];
    let bytes = encode(&message(entries.clone()));
    let decoded = decode(&bytes).expect("decodes");
    assert_eq!(chunk_entries(&decoded), entries.as_slice());
    assert_eq!(encode(&decoded), bytes, "re-encoded byte for byte");
}

#[test]
fn protocol_1_withholds_opaque_entries_and_keeps_the_rest() {
    let person = Entry {
        key: Key::Person {
            name: "ada".into(),
            mac: MacAddr([2, 0, 0, 0, 0, 1]),
        },
        value: Some(Value::Person(PersonInfo {
            added_by: "api".into(),
        })),
        stamp: Stamp::new(12, NodeId(3)),
        version: 2,
    };
    let bytes = encode_for(
        &message(vec![badge("ada", "x", 10, 3, 1), person.clone()]),
        1,
    );
    assert_eq!(bytes[0], 1);
    let decoded = decode(&bytes).expect("a protocol-1 message");
    assert_eq!(chunk_entries(&decoded), [person]);
}

#[test]
fn a_node_that_does_not_know_a_kind_hashes_it_as_a_node_that_does() {
    // A node that knows `person` holds a typed entry; one that does not would hold the same
    // entry as bytes (what protocol 2 carries). Their state hashes must agree.
    let typed = Entry {
        key: Key::Person {
            name: "ada".into(),
            mac: MacAddr([2, 0, 0, 0, 0, 1]),
        },
        value: Some(Value::Person(PersonInfo {
            added_by: "api".into(),
        })),
        stamp: Stamp::new(12, NodeId(3)),
        version: 1,
    };
    let Some(typed_value) = typed.value.as_ref() else {
        panic!("live entry");
    };
    let as_bytes = Entry {
        key: Key::Opaque(OpaqueKey(key_bytes(&typed.key))),
        value: Some(Value::Opaque(OpaqueValue {
            bytes: value_bytes(typed_value),
        })),
        ..typed.clone()
    };
    let mut knows = Replica::new(NodeId(1));
    let mut does_not = Replica::new(NodeId(2));
    knows.merge(typed.clone());
    does_not.merge(as_bytes);
    assert_eq!(knows.state_hash(), does_not.state_hash());
    // And a known entry hashes as the release before versioning hashed it.
    let old_formula = blake3::hash(
        &postcard::to_allocvec(&(&typed.key, &typed.value, &typed.stamp)).expect("pc"),
    );
    let mut expected = crate::state::StateHash::default();
    for (lane, chunk) in expected
        .0
        .iter_mut()
        .zip(old_formula.as_bytes().chunks_exact(8))
    {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        *lane = u64::from_le_bytes(word);
    }
    assert_eq!(knows.state_hash(), expected);
}

#[test]
fn queries_answer_nothing_from_opaque_entries() {
    let mut replica = Replica::new(NodeId(1));
    replica.merge(badge("ada", "front", 10, 3, 1));
    assert_eq!(replica.live().count(), 1);
    let people = query::people(&replica);
    assert!(format!("{people:?}").find("ada").is_none(), "{people:?}");
}

#[test]
fn chat_adapter_entries_travel_in_protocol_2_and_are_withheld_from_protocol_1() {
    let adapter = Entry {
        key: Key::ChatAdapter {
            node: NodeId(3),
            platform: "slack".into(),
        },
        value: Some(Value::ChatAdapter(crate::state::ChatAdapterState {
            connected: true,
            since_ms: 11,
        })),
        stamp: Stamp::new(11, NodeId(3)),
        version: 1,
    };
    assert_eq!(key_kind_index(&adapter.key), PROTOCOL_1_KEY_KINDS);
    let decoded = decode(&encode(&message(vec![adapter.clone()]))).expect("protocol 2");
    assert_eq!(chunk_entries(&decoded), std::slice::from_ref(&adapter));
    // A protocol-2 build that predates the kind keeps it as bytes, unchanged.
    let older = key_from_bytes(&key_bytes(&adapter.key)).expect("known here");
    assert_eq!(older, adapter.key);
    let decoded = decode(&encode_for(&message(vec![adapter]), 1)).expect("protocol 1");
    assert!(
        chunk_entries(&decoded).is_empty(),
        "withheld from protocol 1"
    );
}

#[test]
fn the_protocol_1_hash_leaves_out_what_protocol_1_is_never_sent() {
    // An old node (protocol 1) gets the person but never the chat adapter nor the badge: its
    // whole hash must equal a new node's hash for protocol 1, and the new node's own whole
    // hash still covers everything.
    let person = Entry {
        key: Key::Person {
            name: "ada".into(),
            mac: MacAddr([2, 0, 0, 0, 0, 1]),
        },
        value: Some(Value::Person(PersonInfo {
            added_by: "api".into(),
        })),
        stamp: Stamp::new(12, NodeId(3)),
        version: 1,
    };
    let adapter = |connected: bool, time: u64, version: u64| Entry {
        key: Key::ChatAdapter {
            node: NodeId(3),
            platform: "mattermost".into(),
        },
        value: Some(Value::ChatAdapter(crate::state::ChatAdapterState {
            connected,
            since_ms: time,
        })),
        stamp: Stamp::new(time, NodeId(3)),
        version,
    };
    let mut old = Replica::new(NodeId(1));
    old.merge(person.clone());
    let mut new = Replica::new(NodeId(2));
    new.merge(person);
    new.merge(adapter(true, 13, 2));
    new.merge(badge("ada", "front", 14, 3, 3));
    assert_ne!(
        new.state_hash(),
        old.state_hash(),
        "the new node holds more"
    );
    assert_eq!(new.state_hash_for(1), old.state_hash());
    assert_eq!(new.state_hash_for(1), old.state_hash_for(1));
    assert_eq!(new.state_hash_for(2), new.state_hash());
    // Replacing and dropping withheld entries keeps it so.
    new.merge(adapter(false, 15, 4));
    assert_eq!(new.state_hash_for(1), old.state_hash());
    assert_eq!(new.gc_tombstones(u64::MAX), 0);
    new.reset_foreign();
    old.reset_foreign();
    assert_eq!(new.state_hash_for(1), old.state_hash());
    assert_eq!(new.state_hash(), new.state_hash_for(1));
}
