//! Unit tests of the gossip core.
