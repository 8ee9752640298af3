//! The hello each side puts in its handshake payload: the gossip protocol versions it speaks
//! and its features, and the choice of the version a connection speaks. Pure: no sockets.
//!
//! Protocol 1 is the release before versioning (db6ff62): its handshake payloads are empty
//! (it writes none and ignores what it reads), so an empty payload means "protocol 1, no
//! features". A peer whose oldest protocol is newer than ours (or ours newer than its newest)
//! is refused by both sides, naming both versions.

use serde::{Deserialize, Serialize};

/// The newest gossip protocol this build speaks (`officemesh_core::PROTOCOL_VERSION`).
pub const PROTOCOL: u16 = crate::gossip::PROTOCOL_VERSION as u16;
/// The oldest gossip protocol this build still speaks (1: the release without a version field).
pub const OLDEST_PROTOCOL: u16 = crate::gossip::LEGACY_PROTOCOL_VERSION as u16;
/// Features this build speaks. `opaque-entries`: entries of key kinds a node does not know
/// travel as bytes and are kept, merged and passed on unchanged.
pub const FEATURES: &[&str] = &["opaque-entries"];

/// The gossip protocols this build speaks, as a literal `deploy/fleet-deploy.sh` finds in the
/// binary (`grep -a`) before a roll-out; `/healthz` shows the part after `=` as `protocols`.
/// A binary without it is the release before versioning: protocol 1 only.
pub const PROTOCOLS_MARKER: &str = "OFFICEMESH_GOSSIP_PROTOCOLS=1..3";

/// `oldest..newest`, as `/healthz` shows it (`1..3`).
pub fn protocols() -> &'static str {
    PROTOCOLS_MARKER
        .split_once('=')
        .map_or(PROTOCOLS_MARKER, |(_, range)| range)
}

/// Marks a hello payload (so a payload of another kind is never mistaken for one).
const MAGIC: &[u8; 4] = b"OMH1";

/// What one side says about itself in the handshake.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hello {
    /// The newest protocol it speaks.
    pub protocol: u16,
    /// The oldest protocol it speaks.
    pub oldest: u16,
    pub features: Vec<String>,
    /// The agent's version (`CARGO_PKG_VERSION`), for log lines.
    pub agent: String,
}

/// What the two sides agreed on for one connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Agreed {
    /// The protocol this connection speaks: the highest both speak.
    pub protocol: u16,
    /// Features both speak.
    pub features: Vec<String>,
    /// The peer's hello (`None`: a protocol-1 peer, which sends none).
    pub peer: Option<Hello>,
}

/// The two sides speak no protocol in common.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "the peer speaks gossip protocol {peer_oldest}–{peer_protocol} (agent {peer_agent}), this \
     node {ours_oldest}–{ours_protocol} (agent {ours_agent}): no version in common; upgrade the \
     older agent (docs/deploy.md, \"Upgrading an office\")"
)]
pub struct NoCommonVersion {
    pub peer_protocol: u16,
    pub peer_oldest: u16,
    pub peer_agent: String,
    pub ours_protocol: u16,
    pub ours_oldest: u16,
    pub ours_agent: String,
}

impl Hello {
    /// This build's hello.
    pub fn ours() -> Hello {
        Hello {
            protocol: PROTOCOL,
            oldest: OLDEST_PROTOCOL,
            features: FEATURES.iter().map(|f| f.to_string()).collect(),
            agent: env!("CARGO_PKG_VERSION").to_string(),
        }
    }

    /// The payload bytes.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = MAGIC.to_vec();
        out.extend(postcard::to_allocvec(self).unwrap_or_default());
        out
    }

    /// Reads a peer's payload: empty is a protocol-1 peer (`None`).
    pub fn decode(payload: &[u8]) -> Result<Option<Hello>, &'static str> {
        if payload.is_empty() {
            return Ok(None);
        }
        let body = payload
            .strip_prefix(MAGIC.as_slice())
            .ok_or("handshake payload is not a hello")?;
        // Trailing bytes are allowed: a later release may add fields at the end.
        let (hello, _) = postcard::take_from_bytes::<Hello>(body).map_err(|_| "malformed hello")?;
        if hello.oldest > hello.protocol || hello.features.len() > 64 {
            return Err("malformed hello");
        }
        Ok(Some(hello))
    }
}

/// Chooses what a connection speaks, from our hello and the peer's (`None`: protocol 1).
pub fn agree(ours: &Hello, peer: Option<Hello>) -> Result<Agreed, NoCommonVersion> {
    let (peer_protocol, peer_oldest) = peer
        .as_ref()
        .map_or((1, 1), |hello| (hello.protocol, hello.oldest));
    let protocol = ours.protocol.min(peer_protocol);
    if protocol < ours.oldest.max(peer_oldest) {
        return Err(NoCommonVersion {
            peer_protocol,
            peer_oldest,
            peer_agent: peer
                .as_ref()
                .map_or_else(|| "without a version".into(), |h| h.agent.clone()),
            ours_protocol: ours.protocol,
            ours_oldest: ours.oldest,
            ours_agent: ours.agent.clone(),
        });
    }
    let features = peer.as_ref().map_or_else(Vec::new, |hello| {
        ours.features
            .iter()
            .filter(|f| hello.features.contains(f))
            .cloned()
            .collect()
    });
    Ok(Agreed {
        protocol,
        features,
        peer,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hello(protocol: u16, oldest: u16) -> Hello {
        Hello {
            protocol,
            oldest,
            features: vec!["opaque-entries".into(), "future".into()],
            agent: format!("{protocol}.0.0"),
        }
    }

    #[test]
    fn the_marker_names_the_protocols_spoken() {
        assert_eq!(protocols(), format!("{OLDEST_PROTOCOL}..{PROTOCOL}"));
    }

    #[test]
    fn an_empty_payload_is_a_protocol_1_peer() {
        assert_eq!(Hello::decode(&[]), Ok(None));
        let agreed = agree(&Hello::ours(), None).expect("protocol 1 is spoken");
        assert_eq!(agreed.protocol, 1);
        assert!(agreed.features.is_empty());
    }

    #[test]
    fn the_highest_common_version_wins_and_features_intersect() {
        let ours = Hello::ours();
        let bytes = hello(7, 2).encode();
        let peer = Hello::decode(&bytes).expect("decodes");
        let agreed = agree(&ours, peer).expect("2 is common");
        assert_eq!(agreed.protocol, PROTOCOL);
        assert_eq!(agreed.features, ["opaque-entries"]);
    }

    #[test]
    fn a_newer_major_that_we_cannot_serve_is_refused_naming_both_versions() {
        let ours = Hello::ours();
        let err = agree(&ours, Some(hello(9, 9))).expect_err("no common version");
        let text = err.to_string();
        assert!(text.contains("9–9") && text.contains(&format!("{OLDEST_PROTOCOL}–{PROTOCOL}")));
        // And the newer node refuses us the same way.
        let err = agree(&hello(9, 9), Some(ours)).expect_err("no common version");
        assert_eq!(err.peer_protocol, PROTOCOL);
    }

    #[test]
    fn garbage_is_refused_never_taken_for_protocol_1() {
        assert!(Hello::decode(b"junk").is_err());
        assert!(Hello::decode(b"OMH1\xff").is_err());
        let mut inverted = hello(2, 3).encode();
        assert!(Hello::decode(&inverted).is_err());
        inverted.extend([1, 2, 3]);
        assert!(Hello::decode(&hello(3, 2).encode()).is_ok());
    }
}
