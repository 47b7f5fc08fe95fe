//! The whole receive path of one router: a randomised session context, an Established session,
//! then arbitrary bytes, time and peer events; no panic, and the node's invariants hold after
//! every step (see `evpnd_wire_fuzz::node_receive`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    evpnd_wire_fuzz::node_receive::run(data);
});
