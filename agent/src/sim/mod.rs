//! Deterministic simulator: many gossip cores in one process, driven from a seed through a
//! simulated network (latency, loss, partitions, crash/restart, clock skew). Used by the tests
//! and the `bench` binary. Must not touch sockets, the wall clock or the global RNG.
