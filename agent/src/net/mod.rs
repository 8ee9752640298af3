//! Gossip transport: tokio TCP, length-prefixed frames with a hard cap, Noise encryption and
//! authentication with the cluster key. Turns bytes into gossip messages and back; knows nothing
//! of CRDTs.
