//! `ClaimBook`: one-time claim codes for "i am <mac>". A code names a person and a MAC and
//! expires after ten minutes; it is redeemed (once) by opening `/claim/<code>` from the device
//! with that MAC. Codes live in memory on the node that issued them: the link points at it.
//!
//! Must not touch: the replica, sockets, SQLite (the API redeems and writes).

use std::collections::BTreeMap;
use std::sync::Mutex;

use officemesh_sensors::MacAddr;
use rand::Rng;

use crate::sync::lock;

/// How long a claim link works.
pub const CLAIM_TTL_MS: u64 = 10 * 60 * 1000;
/// Most codes outstanding at once (the oldest are dropped beyond it).
const MAX_OUTSTANDING: usize = 1024;

/// A pending claim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    pub person: String,
    /// The identity the device is recorded under once claimed (`PersonInfo::added_by`).
    pub by: String,
    pub mac: MacAddr,
    pub expires_ms: u64,
}

/// Outstanding claim codes.
#[derive(Debug, Default)]
pub struct ClaimBook(Mutex<BTreeMap<String, Claim>>);

impl ClaimBook {
    /// The claim link for `person` and `mac`: a new code on this node's API at `public_addr`
    /// (`Shared::api_public_addr`). Used by `POST /v1/claims` and by chat's "i am <mac>".
    pub fn link(&self, public_addr: &str, person: &str, mac: MacAddr, now_ms: u64) -> String {
        let code = self.issue(person, mac, now_ms);
        format!("http://{public_addr}/claim/{code}")
    }

    /// Like [`ClaimBook::link`], recording the device under the identity `by` (a chat
    /// platform's user id, e.g. `matrix:@ada:example.org`) when claimed.
    pub fn link_for(
        &self,
        public_addr: &str,
        person: &str,
        by: &str,
        mac: MacAddr,
        now_ms: u64,
    ) -> String {
        let code = self.issue_by(person, by, mac, now_ms);
        format!("http://{public_addr}/claim/{code}")
    }

    /// A new code for `person` claiming `mac`, valid for [`CLAIM_TTL_MS`] from `now_ms`.
    pub fn issue(&self, person: &str, mac: MacAddr, now_ms: u64) -> String {
        self.issue_by(person, &format!("claim:{person}"), mac, now_ms)
    }

    /// Like [`ClaimBook::issue`], recording the device under the identity `by` (a chat
    /// platform's user id) when claimed.
    pub fn issue_by(&self, person: &str, by: &str, mac: MacAddr, now_ms: u64) -> String {
        const ALPHABET: &[u8] = b"abcdefghijkmnpqrstuvwxyz23456789";
        let mut rng = rand::thread_rng();
        let code: String = (0..20)
            .map(|_| char::from(ALPHABET[rng.gen_range(0..ALPHABET.len())]))
            .collect();
        let mut book = lock(&self.0);
        book.retain(|_, claim| claim.expires_ms > now_ms);
        while book.len() >= MAX_OUTSTANDING {
            let oldest = book
                .iter()
                .min_by_key(|(_, claim)| claim.expires_ms)
                .map(|(code, _)| code.clone());
            match oldest {
                Some(code) => book.remove(&code),
                None => break,
            };
        }
        book.insert(
            code.clone(),
            Claim {
                person: person.to_string(),
                by: by.to_string(),
                mac,
                expires_ms: now_ms + CLAIM_TTL_MS,
            },
        );
        code
    }

    /// The claim behind `code` if it is still valid (not consumed).
    pub fn peek(&self, code: &str, now_ms: u64) -> Option<Claim> {
        lock(&self.0)
            .get(code)
            .filter(|claim| claim.expires_ms > now_ms)
            .cloned()
    }

    /// Consumes `code`: it works once.
    pub fn consume(&self, code: &str) {
        lock(&self.0).remove(code);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_code_works_until_it_expires_or_is_used() {
        let book = ClaimBook::default();
        let mac = MacAddr([0, 0x16, 0x3e, 0, 0, 1]);
        let code = book.issue("ada", mac, 1_000);
        assert_eq!(code.len(), 20);
        let claim = book.peek(&code, 2_000).expect("valid");
        assert_eq!((claim.person.as_str(), claim.mac), ("ada", mac));
        assert!(book.peek(&code, 1_000 + CLAIM_TTL_MS).is_none(), "expired");
        book.consume(&code);
        assert!(book.peek(&code, 2_000).is_none(), "one use");
        assert!(book.peek("nope", 2_000).is_none());
        assert_ne!(book.issue("ada", mac, 0), book.issue("ada", mac, 0));
    }
}
