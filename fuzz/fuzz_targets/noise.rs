//! AFL++ target `noise`: feeds each input to `officemesh_fuzz::run("noise", …)` in persistent
//! mode. What it checks lives in `fuzz/src/lib.rs`. Must not touch anything but that call.

fn main() {
    afl::fuzz!(|data: &[u8]| {
        officemesh_fuzz::run("noise", data);
    });
}
