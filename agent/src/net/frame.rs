//! Wire framing of the gossip transport: a 10-byte header (magic, protocol version, frame kind,
//! body length) followed by the body. Pure: works on `&[u8]` / `BytesMut`, never touches a
//! socket, never knows whether the body is encrypted.
//!
//! Decoding never trusts a length before checking it against the cap the caller passes, and
//! rejects garbage as early as the bytes allow (a wrong first byte is refused at once). An
//! incomplete buffer is `Ok(None)`, not an error.
//!
//! ```text
//! offset 0  magic   4 bytes  b"OMSH"
//! offset 4  version 1 byte   PROTOCOL_VERSION
//! offset 5  kind    1 byte   FrameKind
//! offset 6  length  4 bytes  big-endian body length, at most the cap
//! offset 10 body    `length` bytes
//! ```

use bytes::{Buf, BufMut, Bytes, BytesMut};

/// First four bytes of every frame; lets a peer spot a non-officemesh client at once.
pub const MAGIC: [u8; 4] = *b"OMSH";
/// Wire protocol version; a peer with another version is refused with a clear error.
pub const PROTOCOL_VERSION: u8 = 1;
/// Bytes before the body.
pub const HEADER_LEN: usize = 10;
/// The largest payload the gossip layer may hand to the transport (plaintext, 1 MiB).
pub const MAX_PAYLOAD: usize = 1024 * 1024;
/// The largest frame body accepted once a connection is established: a [`MAX_PAYLOAD`]
/// payload plus its message flag plus the encryption overhead (see `noise::sealed_len`).
pub const MAX_BODY: usize = MAX_PAYLOAD + 64 * 1024;
/// The largest frame body accepted before the handshake is done (handshake messages are tiny);
/// an unauthenticated peer cannot make us buffer more than this.
pub const MAX_HANDSHAKE_BODY: usize = 1024;

/// What a frame's body holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameKind {
    /// A handshake message (Noise or the insecure-mode hello).
    Handshake = 1,
    /// One message of an exchange (encrypted unless insecure).
    Data = 2,
}

impl FrameKind {
    fn from_byte(byte: u8) -> Option<FrameKind> {
        match byte {
            1 => Some(FrameKind::Handshake),
            2 => Some(FrameKind::Data),
            _ => None,
        }
    }
}

/// One decoded frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    pub kind: FrameKind,
    pub body: Bytes,
}

/// A frame that can never become valid, however many more bytes arrive: close the connection.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    #[error("bad magic {found:02x?} (not an officemesh gossip peer, or a corrupted stream)")]
    BadMagic { found: Vec<u8> },
    #[error(
        "peer speaks gossip protocol version {found}, this node speaks {supported}; \
         upgrade the older agent"
    )]
    UnsupportedVersion { found: u8, supported: u8 },
    #[error("unknown frame kind {0}")]
    UnknownKind(u8),
    #[error("frame body of {len} bytes exceeds the limit of {max} bytes")]
    TooLarge { len: usize, max: usize },
}

/// Appends one frame to `dst`. Refuses a body longer than `max_body`.
pub fn encode(
    kind: FrameKind,
    body: &[u8],
    max_body: usize,
    dst: &mut BytesMut,
) -> Result<(), FrameError> {
    if body.len() > max_body {
        return Err(FrameError::TooLarge {
            len: body.len(),
            max: max_body,
        });
    }
    let len = u32::try_from(body.len()).map_err(|_| FrameError::TooLarge {
        len: body.len(),
        max: max_body,
    })?;
    dst.reserve(HEADER_LEN + body.len());
    dst.put_slice(&MAGIC);
    dst.put_u8(PROTOCOL_VERSION);
    dst.put_u8(kind as u8);
    dst.put_u32(len);
    dst.put_slice(body);
    Ok(())
}

/// Checks the start of `buf`: `Ok(Some((kind, total frame length)))` when a whole frame is
/// there, `Ok(None)` when more bytes are needed and nothing seen so far is wrong.
pub fn check(buf: &[u8], max_body: usize) -> Result<Option<(FrameKind, usize)>, FrameError> {
    let magic_seen = buf.len().min(MAGIC.len());
    if buf[..magic_seen] != MAGIC[..magic_seen] {
        return Err(FrameError::BadMagic {
            found: buf[..magic_seen].to_vec(),
        });
    }
    let Some(&version) = buf.get(4) else {
        return Ok(None);
    };
    if version != PROTOCOL_VERSION {
        return Err(FrameError::UnsupportedVersion {
            found: version,
            supported: PROTOCOL_VERSION,
        });
    }
    let Some(&kind_byte) = buf.get(5) else {
        return Ok(None);
    };
    let kind = FrameKind::from_byte(kind_byte).ok_or(FrameError::UnknownKind(kind_byte))?;
    let Some(len_bytes) = buf.get(6..HEADER_LEN) else {
        return Ok(None);
    };
    let mut len_array = [0u8; 4];
    len_array.copy_from_slice(len_bytes);
    let len = u32::from_be_bytes(len_array) as usize;
    if len > max_body {
        return Err(FrameError::TooLarge { len, max: max_body });
    }
    let total = HEADER_LEN + len;
    if buf.len() < total {
        return Ok(None);
    }
    Ok(Some((kind, total)))
}

/// Takes one whole frame off the front of `buf`, or returns `Ok(None)` (leaving `buf` as it
/// was) when the frame is not complete yet.
pub fn decode(buf: &mut BytesMut, max_body: usize) -> Result<Option<Frame>, FrameError> {
    let Some((kind, total)) = check(buf, max_body)? else {
        return Ok(None);
    };
    let mut frame = buf.split_to(total);
    frame.advance(HEADER_LEN);
    Ok(Some(Frame {
        kind,
        body: frame.freeze(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn encoded(kind: FrameKind, body: &[u8]) -> BytesMut {
        let mut buf = BytesMut::new();
        encode(kind, body, MAX_BODY, &mut buf).expect("fits");
        buf
    }

    #[test]
    fn header_layout_is_as_documented() {
        let buf = encoded(FrameKind::Data, b"hi");
        assert_eq!(&buf[..], b"OMSH\x01\x02\x00\x00\x00\x02hi");
    }

    #[test]
    fn two_frames_in_one_buffer_decode_in_order() {
        let mut buf = encoded(FrameKind::Handshake, b"one");
        buf.extend_from_slice(&encoded(FrameKind::Data, b"two"));
        let first = decode(&mut buf, MAX_BODY).expect("ok").expect("whole");
        let second = decode(&mut buf, MAX_BODY).expect("ok").expect("whole");
        assert_eq!(
            (first.kind, &first.body[..]),
            (FrameKind::Handshake, &b"one"[..])
        );
        assert_eq!(
            (second.kind, &second.body[..]),
            (FrameKind::Data, &b"two"[..])
        );
        assert!(buf.is_empty());
        assert_eq!(decode(&mut buf, MAX_BODY), Ok(None));
    }

    #[test]
    fn oversized_length_is_refused_from_the_header_alone() {
        let mut header = BytesMut::new();
        header.put_slice(&MAGIC);
        header.put_u8(PROTOCOL_VERSION);
        header.put_u8(FrameKind::Data as u8);
        header.put_u32(u32::MAX);
        assert_eq!(
            decode(&mut header, MAX_BODY),
            Err(FrameError::TooLarge {
                len: u32::MAX as usize,
                max: MAX_BODY
            })
        );
        // The handshake cap is smaller than the data cap.
        let mut buf = encoded(FrameKind::Handshake, &[0u8; MAX_HANDSHAKE_BODY + 1]);
        assert!(matches!(
            decode(&mut buf, MAX_HANDSHAKE_BODY),
            Err(FrameError::TooLarge { .. })
        ));
    }

    #[test]
    fn encode_refuses_a_body_over_the_cap() {
        let mut buf = BytesMut::new();
        let err = encode(FrameKind::Data, &[0u8; 11], 10, &mut buf).expect_err("too big");
        assert_eq!(err, FrameError::TooLarge { len: 11, max: 10 });
        assert!(buf.is_empty(), "nothing written on error");
    }

    #[test]
    fn bad_magic_version_and_kind_are_typed_errors() {
        assert!(matches!(
            check(b"GET / HTTP/1.1\r\n", MAX_BODY),
            Err(FrameError::BadMagic { .. })
        ));
        assert!(matches!(
            check(b"X", MAX_BODY),
            Err(FrameError::BadMagic { .. })
        ));
        assert_eq!(
            check(b"OMSH\x02", MAX_BODY),
            Err(FrameError::UnsupportedVersion {
                found: 2,
                supported: 1
            })
        );
        assert_eq!(
            check(b"OMSH\x01\x09", MAX_BODY),
            Err(FrameError::UnknownKind(9))
        );
        let message = FrameError::UnsupportedVersion {
            found: 2,
            supported: 1,
        }
        .to_string();
        assert!(message.contains("upgrade"), "{message}");
    }

    fn kind_strategy() -> impl Strategy<Value = FrameKind> {
        prop_oneof![Just(FrameKind::Handshake), Just(FrameKind::Data)]
    }

    proptest! {
        #[test]
        fn round_trip(kind in kind_strategy(), body in proptest::collection::vec(any::<u8>(), 0..4096)) {
            let mut buf = encoded(kind, &body);
            let frame = decode(&mut buf, MAX_BODY).expect("valid").expect("whole");
            prop_assert_eq!(frame.kind, kind);
            prop_assert_eq!(&frame.body[..], &body[..]);
            prop_assert!(buf.is_empty());
        }

        #[test]
        fn every_truncation_is_incomplete(kind in kind_strategy(), body in proptest::collection::vec(any::<u8>(), 0..512)) {
            let whole = encoded(kind, &body);
            for cut in 0..whole.len() {
                let mut prefix = BytesMut::from(&whole[..cut]);
                prop_assert_eq!(decode(&mut prefix, MAX_BODY), Ok(None), "cut at {}", cut);
                prop_assert_eq!(prefix.len(), cut, "an incomplete decode consumes nothing");
            }
        }

        #[test]
        fn garbage_never_panics_and_never_yields_an_unchecked_frame(
            bytes in proptest::collection::vec(any::<u8>(), 0..256),
            max_body in 0usize..128,
        ) {
            let mut buf = BytesMut::from(&bytes[..]);
            match decode(&mut buf, max_body) {
                Ok(Some(frame)) => {
                    prop_assert!(bytes.starts_with(&MAGIC));
                    prop_assert!(frame.body.len() <= max_body);
                }
                Ok(None) => prop_assert_eq!(buf.len(), bytes.len()),
                Err(_) => {}
            }
        }

        #[test]
        fn garbage_not_starting_with_magic_is_an_error(
            first in any::<u8>().prop_filter("not the magic's first byte", |b| *b != MAGIC[0]),
            rest in proptest::collection::vec(any::<u8>(), 0..64),
        ) {
            let mut bytes = vec![first];
            bytes.extend(rest);
            let is_bad_magic = matches!(check(&bytes, MAX_BODY), Err(FrameError::BadMagic { .. }));
            prop_assert!(is_bad_magic);
        }
    }
}
