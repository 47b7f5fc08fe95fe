//! decode → encode → decode: every message the decoder accepts must encode again and decode to
//! the same value, accepted.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (ctx, bytes) = evpnd_wire_fuzz::split(data);
    if let Ok(d) = evpnd_wire_fuzz::check_decode(&ctx, bytes) {
        evpnd_wire_fuzz::check_round_trip(&ctx, &d);
    }
});
