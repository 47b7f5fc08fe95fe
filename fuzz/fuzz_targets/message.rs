//! Whole-message decoding with an arbitrary session context: no input may panic, the decoder's
//! promises (see `evpnd_wire_fuzz::check_decode`) hold, and the JSON rendering of the result
//! (the `evpnctl decode` schema) does not panic either.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (ctx, bytes) = evpnd_wire_fuzz::split(data);
    let json = match evpnd_wire_fuzz::check_decode(&ctx, bytes) {
        Ok(d) => evpnd_wire::json::message_json(&d),
        Err(e) => evpnd_wire::json::reset_json(0, &e),
    };
    assert!(!json.to_string().is_empty());
});
