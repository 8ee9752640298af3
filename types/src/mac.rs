//! `MacAddr`: a 48-bit MAC address, parsed strictly (six hex pairs, `:` or `-`) because people
//! type MACs into chat, printed lowercase with colons, serialized as that text.
//!
//! Must not touch: anything but parsing and printing.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A 48-bit MAC address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MacAddr(pub [u8; 6]);

/// A MAC address that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{0}' is not a MAC address (expected six hex pairs like aa:bb:cc:dd:ee:ff)")]
pub struct MacParseError(pub String);

impl MacAddr {
    /// True for locally administered addresses — what phones use when they randomize their MAC
    /// per network (iOS 14+, Android 10+). Such a MAC may change, so presence by it is fragile.
    pub fn is_locally_administered(&self) -> bool {
        self.0[0] & 0x02 != 0
    }

    /// True for multicast/broadcast addresses, which never identify a device.
    pub fn is_multicast(&self) -> bool {
        self.0[0] & 0x01 != 0
    }
}

impl FromStr for MacAddr {
    type Err = MacParseError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let trimmed = text.trim();
        let err = || MacParseError(trimmed.to_string());
        let parts: Vec<&str> = trimmed.split([':', '-']).collect();
        if parts.len() != 6 {
            return Err(err());
        }
        let mut bytes = [0u8; 6];
        for (slot, part) in bytes.iter_mut().zip(parts) {
            if part.len() != 2 {
                return Err(err());
            }
            *slot = u8::from_str_radix(part, 16).map_err(|_| err())?;
        }
        Ok(MacAddr(bytes))
    }
}

impl fmt::Display for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = self.0;
        write!(
            f,
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            b[0], b[1], b[2], b[3], b[4], b[5]
        )
    }
}

impl Serialize for MacAddr {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for MacAddr {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_colon_and_dash_forms_and_prints_lowercase() {
        let mac: MacAddr = "AA-bb-CC-dd-EE-0f".parse().expect("valid mac");
        assert_eq!(mac.to_string(), "aa:bb:cc:dd:ee:0f");
        assert_eq!("aa:bb:cc:dd:ee:0f".parse::<MacAddr>(), Ok(mac));
    }

    #[test]
    fn rejects_malformed_macs() {
        for bad in [
            "",
            "aa:bb:cc:dd:ee",
            "aa:bb:cc:dd:ee:ff:00",
            "aa:bb:cc:dd:ee:gg",
            "aabb.ccdd.eeff",
            "a:bb:cc:dd:ee:fff",
        ] {
            assert!(bad.parse::<MacAddr>().is_err(), "{bad} should not parse");
        }
    }

    #[test]
    fn flags_randomized_macs() {
        let random: MacAddr = "da:a1:19:00:00:01".parse().expect("valid mac");
        let vendor: MacAddr = "b8:27:eb:00:00:01".parse().expect("valid mac");
        assert!(random.is_locally_administered());
        assert!(!vendor.is_locally_administered());
    }
}
