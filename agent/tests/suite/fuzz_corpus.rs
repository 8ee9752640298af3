//! Keeps the fuzzing corpus honest without the fuzzer: replays every committed seed and every
//! regression input (`fuzz/corpus/<target>/`, `fuzz/regressions/<target>/`) through the same
//! checks the AFL++ targets run (`fuzz/src/lib.rs`, included by path), and checks that the
//! seeds are still what they were made to be (messages that decode, configs that load, chat
//! lines that are commands), so a format change cannot leave the fuzzer starting from junk.
//!
//! `write_seed_corpus` (ignored) rebuilds `fuzz/corpus/` from real encoded messages, configs
//! and chat lines: `cargo test -p officemesh --test suite -- --ignored fuzz_corpus::write_seed_corpus`.
//! Must not touch: anything outside `fuzz/`, the network.

#[path = "../../../fuzz/src/lib.rs"]
#[allow(dead_code)]
mod harness;

use std::path::{Path, PathBuf};

use bytes::BytesMut;
use officemesh::chat::grammar::{self, Command};
use officemesh::config::Config;
use officemesh::crdt::{NodeId, Stamp};
use officemesh::gossip::message::{
    Body, Chunk, Delta, DigestItem, DigestSummary, Heartbeats, MemberInfo, StateSummary,
};
use officemesh::gossip::{self, Message};
use officemesh::net::frame::{self, FrameKind, MAX_BODY};
use officemesh::net::keys::{ClusterKeys, Key};
use officemesh::net::noise::{self, Security};
use officemesh::state::value::{
    AlertValue, MacSeen, NodeInfo, PersonInfo, ReadingStatus, ReadingValue, TargetValue,
};
use officemesh::state::{Entry, Key as StateKey, Value};
use officemesh_sensors::{MacAddr, Quantity};

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz")
}

/// `(file name, bytes)` of every file in `dir`, sorted; empty when `dir` does not exist.
fn files_in(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<(String, Vec<u8>)> = entries
        .filter_map(Result::ok)
        .filter(|entry| entry.path().is_file())
        .map(|entry| {
            let bytes = std::fs::read(entry.path()).expect("corpus file readable");
            (entry.file_name().to_string_lossy().into_owned(), bytes)
        })
        .collect();
    files.sort();
    files
}

fn corpus(target: &str) -> Vec<(String, Vec<u8>)> {
    files_in(&fuzz_dir().join("corpus").join(target))
}

#[test]
fn every_committed_seed_and_regression_passes_its_target() {
    for target in harness::TARGETS {
        let seeds = corpus(target);
        assert!(!seeds.is_empty(), "fuzz/corpus/{target} has no seeds");
        let regressions = files_in(&fuzz_dir().join("regressions").join(target));
        for (name, bytes) in seeds.iter().chain(&regressions) {
            let outcome = std::panic::catch_unwind(|| harness::run(target, bytes));
            assert!(
                matches!(outcome, Ok(true)),
                "{target}/{name} fails the fuzz target's checks"
            );
        }
    }
}

#[test]
fn seeds_are_still_the_inputs_they_were_made_to_be() {
    for (name, bytes) in corpus("gossip_codec") {
        assert!(
            gossip::decode(&bytes).is_ok(),
            "gossip_codec/{name} no longer decodes"
        );
    }
    for (name, bytes) in corpus("frame") {
        let mut stream = BytesMut::from(&bytes[1..]);
        let first = frame::decode(&mut stream, MAX_BODY);
        assert!(
            matches!(first, Ok(Some(_))),
            "frame/{name} holds no frame: {first:?}"
        );
    }
    for (name, bytes) in corpus("config") {
        let text = String::from_utf8(bytes).expect("config seeds are text");
        let parsed = Config::parse(&text, Path::new(&name));
        assert!(parsed.is_ok(), "config/{name} no longer loads: {parsed:?}");
    }
    for (name, bytes) in corpus("chat") {
        let text = String::from_utf8(bytes).expect("chat seeds are text");
        let command = grammar::parse(&text);
        assert!(
            !matches!(command, Command::Unknown { .. }),
            "chat/{name} ({text:?}) is no longer a command"
        );
    }
    let secure = Security::Noise(ClusterKeys::new(Key::from_bytes(harness::NOISE_KEY), []));
    for (name, bytes) in corpus("noise") {
        match bytes.split_first() {
            Some((0, first)) => assert!(
                noise::respond(&secure, harness::NOISE_CLUSTER, first).is_ok(),
                "noise/{name} is no longer a genuine first handshake message"
            ),
            Some((1, hello)) => assert!(
                noise::respond(&Security::Insecure, harness::NOISE_CLUSTER, hello).is_ok(),
                "noise/{name} is no longer our insecure hello"
            ),
            _ => {}
        }
    }
}

fn stamp(time: u64, node: u64) -> Stamp {
    Stamp::new(time, NodeId(node))
}

fn mac(last: u8) -> MacAddr {
    MacAddr([0xb8, 0x27, 0xeb, 0x10, 0x20, last])
}

/// One entry of every kind of key and value, as a real replica holds them.
fn entries() -> Vec<Entry> {
    let entry = |key, value, time, version| Entry {
        key,
        value,
        stamp: stamp(time, 11),
        version,
    };
    vec![
        entry(
            StateKey::Node(NodeId(11)),
            Some(Value::Node(NodeInfo {
                name: "pi-lobby".into(),
                room: "lobby".into(),
                gossip_addr: "192.0.2.11:7420".into(),
                api_addr: "192.0.2.11:8420".into(),
                version: "0.1.0".into(),
                started_at_ms: 1_764_700_000_000,
            })),
            1_764_700_000_000,
            1,
        ),
        entry(
            StateKey::Reading {
                node: NodeId(11),
                sensor: "desk".into(),
                quantity: Quantity::Temperature,
            },
            Some(Value::Reading(ReadingValue {
                value: 21.5,
                unit: "°C".into(),
                room: "lobby".into(),
                status: ReadingStatus::Ok,
                taken_at_ms: 1_764_700_010_000,
            })),
            1_764_700_010_000,
            2,
        ),
        entry(
            StateKey::Mac {
                mac: mac(1),
                observer: NodeId(11),
            },
            Some(Value::Mac(MacSeen {
                ip: "192.0.2.50".into(),
                first_seen_ms: 1_764_700_000_000,
                last_seen_ms: 1_764_700_030_000,
                present_until_ms: 0,
                randomized: false,
            })),
            1_764_700_030_000,
            3,
        ),
        entry(
            StateKey::Person {
                name: "alice".into(),
                mac: mac(1),
            },
            Some(Value::Person(PersonInfo {
                added_by: "chat".into(),
            })),
            1_764_700_040_000,
            4,
        ),
        entry(
            StateKey::Target {
                room: "meeting room".into(),
                quantity: Quantity::Humidity,
            },
            Some(Value::Target(TargetValue {
                value: 45.0,
                tolerance: 5.0,
            })),
            1_764_700_050_000,
            5,
        ),
        entry(
            StateKey::Alert {
                room: "kitchen".into(),
                quantity: Quantity::Sound,
            },
            Some(Value::Alert(AlertValue {
                raised: true,
                by: NodeId(11),
                since_ms: 1_764_700_060_000,
                message: "kitchen is loud".into(),
            })),
            1_764_700_060_000,
            6,
        ),
        entry(
            StateKey::Person {
                name: "bob".into(),
                mac: mac(2),
            },
            None,
            1_764_700_070_000,
            7,
        ),
    ]
}

fn members() -> Vec<MemberInfo> {
    (11..14)
        .map(|id| MemberInfo {
            id: NodeId(id),
            addr: format!("192.0.2.{id}:7420"),
            incarnation: 1_764_700_000_000,
            heartbeat: 40 + id,
            left: id == 13,
        })
        .collect()
}

fn messages() -> Vec<(&'static str, Message)> {
    let digest = vec![
        DigestItem {
            origin: NodeId(11),
            watermark: 7,
            floor: 0,
        },
        DigestItem {
            origin: NodeId(12),
            watermark: 3,
            floor: 1,
        },
    ];
    let delta = Delta {
        chunks: vec![Chunk {
            origin: NodeId(11),
            after: 0,
            complete_to: 7,
            entries: entries(),
            skipped: Vec::new(),
        }],
        truncated: false,
    };
    let bodies = vec![
        (
            "syn_hash_dense",
            Body::Syn {
                state: StateSummary::Hash(0x1234_5678_9abc_def0),
                members: Heartbeats::Dense {
                    members_hash: 77,
                    counters: vec![51, 52, 53],
                },
            },
        ),
        (
            "syn_full_sparse",
            Body::Syn {
                state: StateSummary::Full(DigestSummary {
                    items: digest.clone(),
                    gc_mark: stamp(1_764_600_000_000, 12),
                }),
                members: Heartbeats::Sparse {
                    members_hash: 77,
                    newer: vec![(0, 52), (2, 54)],
                },
            },
        ),
        (
            "synack_delta_full_members",
            Body::SynAck {
                state_hash: 99,
                want: digest.clone(),
                want_is_full_digest: true,
                gc_mark: stamp(1_764_600_000_000, 12),
                delta: delta.clone(),
                members: Heartbeats::Full {
                    members_hash: 77,
                    members: members(),
                },
            },
        ),
        (
            "ack_delta",
            Body::Ack {
                delta: Delta {
                    truncated: true,
                    ..delta
                },
                members: Heartbeats::None,
            },
        ),
        (
            "reset",
            Body::Reset {
                floors: vec![(NodeId(11), 2), (NodeId(12), 1)],
                gc_mark: stamp(1_764_600_000_000, 12),
                your_watermark: 3,
                your_versions: vec![1, 2, 3],
                watermarks: vec![(NodeId(11), 7), (NodeId(12), 3)],
                collected: Vec::new(),
            },
        ),
        ("bad_cluster", Body::BadCluster),
    ];
    bodies
        .into_iter()
        .map(|(name, body)| {
            let message = Message {
                cluster: "office".into(),
                from: NodeId(11),
                from_addr: "192.0.2.11:7420".into(),
                body,
            };
            (name, message)
        })
        .collect()
}

fn framed(kind: FrameKind, body: &[u8]) -> Vec<u8> {
    let mut buf = BytesMut::new();
    frame::encode(kind, body, MAX_BODY, &mut buf).expect("a seed frame fits");
    buf.to_vec()
}

/// A `transport_records` record: op, arg, then the length-prefixed payload.
fn record(op: u8, arg: u16, payload: &[u8]) -> Vec<u8> {
    let len = u16::try_from(payload.len()).expect("small payload");
    let mut out = vec![op];
    out.extend(arg.to_be_bytes());
    out.extend(len.to_be_bytes());
    out.extend(payload);
    out
}

const CHAT_LINES: [&str; 16] = [
    "who's at the office?",
    "who's in the meeting room?",
    "@officemesh whos in teh office",
    "i am aa:bb:cc:dd:ee:ff",
    "my mac address is aa-bb-cc-dd-ee-01",
    "register aabb.ccdd.eeff",
    "forget me",
    "forget aa:bb:cc:dd:ee:ff",
    "meeting room temp",
    "what's the temperature in the meeting room",
    "kitchen noise",
    "set meeting room temperature to 22",
    "set kitchen humidity to 45%",
    "set lobby to 21,5°C",
    "stauts",
    "what can you do",
];

const CONFIGS: [(&str, &str); 4] = [
    ("empty.toml", ""),
    (
        "small.toml",
        "[node]\nname = \"pi-3\"\nroom = \"kitchen\"\n\n[gossip]\nseeds = [\"192.0.2.11:7420\"]\ninsecure = true\n",
    ),
    (
        "sensors.toml",
        "[[sensors]]\ndriver = \"bme280\"\nname = \"desk\"\ni2c_bus = 1\ni2c_address = 0x77\n\n\
         [[sensors]]\ndriver = \"mcp3008-sound\"\nname = \"mic\"\nadc_channel = 2\npoll_interval_s = 5\n",
    ),
    (
        "mqtt.toml",
        "[mqtt]\nurl = \"mqtts://broker.example.invalid:8883\"\nusername = \"pi\"\npassword = \"secret\"\nbuffer_max = 500\n\n\
         [chat]\nslack_signing_secret = \"abc\"\nalert_after_s = 60\n",
    ),
];

#[test]
#[ignore = "writes fuzz/corpus; run by hand after a wire or config format change"]
fn write_seed_corpus() {
    let mut written: Vec<(String, Vec<u8>)> = Vec::new();
    let mut put = |target: &str, name: &str, bytes: Vec<u8>| {
        written.push((format!("{target}/{name}"), bytes));
    };
    for (name, message) in messages() {
        put("gossip_codec", name, gossip::encode(&message));
    }
    let secure = Security::Noise(ClusterKeys::new(Key::from_bytes(harness::NOISE_KEY), []));
    let (initiator, first) =
        noise::start_initiator(&secure, harness::NOISE_CLUSTER).expect("handshake starts");
    let (mut server, reply, _) =
        noise::respond(&secure, harness::NOISE_CLUSTER, &first).expect("genuine");
    let mut client = initiator.finish(&reply).expect("genuine reply");
    let (_, hello) =
        noise::start_initiator(&Security::Insecure, harness::NOISE_CLUSTER).expect("hello");
    put("noise", "respond_noise", [&[0][..], &first].concat());
    put("noise", "respond_plain", [&[1][..], &hello].concat());
    put("noise", "finish_noise", [&[2][..], &reply].concat());
    put("noise", "finish_plain", [&[3][..], &hello].concat());
    let syn = gossip::encode(&messages()[0].1);
    let records = [
        record(0, 0, &syn),
        record(0, 0, b"ack"),
        record(1, 40, b"flipped"),
    ]
    .concat();
    put("noise", "transport_noise", [&[4][..], &records].concat());
    put("noise", "transport_plain", [&[5][..], &records].concat());
    put(
        "noise",
        "transport_long",
        [&[4][..], &record(0x80, 9, b"long")].concat(),
    );
    let sealed = client.seal(1, &syn).expect("seal");
    assert!(server.open(&sealed).is_ok());
    put(
        "frame",
        "handshake",
        [&[1][..], &framed(FrameKind::Handshake, &first)].concat(),
    );
    put(
        "frame",
        "data_sealed",
        [&[2][..], &framed(FrameKind::Data, &sealed)].concat(),
    );
    put(
        "frame",
        "two_frames",
        [
            &[2][..],
            &framed(FrameKind::Handshake, &reply),
            &framed(FrameKind::Data, &[&[1][..], &syn].concat()),
        ]
        .concat(),
    );
    put(
        "frame",
        "small_cap",
        [&[30][..], &framed(FrameKind::Data, b"tiny"), b"OMSH\x01"].concat(),
    );
    let example =
        std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("../config.example.toml"))
            .expect("config.example.toml");
    put("config", "example.toml", example);
    for (name, text) in CONFIGS {
        put("config", name, text.as_bytes().to_vec());
    }
    for (index, line) in CHAT_LINES.iter().enumerate() {
        put("chat", &format!("line{index:02}"), line.as_bytes().to_vec());
    }
    for (path, bytes) in written {
        let path = fuzz_dir().join("corpus").join(path);
        std::fs::create_dir_all(path.parent().expect("has a parent")).expect("mkdir");
        std::fs::write(&path, bytes).expect("write seed");
    }
    for target in harness::TARGETS {
        assert!(!corpus(target).is_empty(), "no seeds written for {target}");
    }
}
