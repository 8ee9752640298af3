//! AFL++ target `gossip_codec`: feeds each input to `officemesh_fuzz::run("gossip_codec", …)` in persistent
//! mode. What it checks lives in `fuzz/src/lib.rs`. Must not touch anything but that call.

fn main() {
    afl::fuzz!(|data: &[u8]| {
        officemesh_fuzz::run("gossip_codec", data);
    });
}
