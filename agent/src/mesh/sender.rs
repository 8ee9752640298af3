//! Who sent a gossip message, read from its head alone (version byte, cluster, node id: the
//! fields every protocol puts first, before any entry), so the driver can record which protocol
//! each peer speaks (`MeshView::note_peer_protocol`) without decoding the message twice.
//! Pure: no sockets, no replica.

use serde::Deserialize;

use crate::crdt::NodeId;

/// The leading fields of `gossip::Message`, in its order (a test pins them to it).
#[derive(Deserialize)]
struct Head {
    _cluster: String,
    from: NodeId,
}

/// The sending node of an encoded message (`None`: too short or not a message).
pub fn sender(payload: &[u8]) -> Option<NodeId> {
    let (_version, body) = payload.split_first()?;
    postcard::take_from_bytes::<Head>(body)
        .ok()
        .map(|(head, _)| head.from)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gossip::message::{Body, Message};
    use crate::gossip::{encode_for, LEGACY_PROTOCOL_VERSION, PROTOCOL_VERSION};

    #[test]
    fn the_sender_is_read_in_every_protocol() {
        let message = Message {
            cluster: "office".to_string(),
            from: NodeId(0x1234_5678_9abc),
            from_addr: "10.0.0.7:7946".to_string(),
            body: Body::BadCluster,
        };
        for protocol in LEGACY_PROTOCOL_VERSION..=PROTOCOL_VERSION {
            let bytes = encode_for(&message, protocol);
            assert_eq!(sender(&bytes), Some(message.from), "protocol {protocol}");
        }
        assert_eq!(sender(&[]), None);
        assert_eq!(sender(&[3]), None);
    }
}
