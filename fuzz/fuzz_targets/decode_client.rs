//! (a) Decoding of every client-to-host frame: `hearth::protocol::decode_client`.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| hearth_fuzz::check_decode(data));
