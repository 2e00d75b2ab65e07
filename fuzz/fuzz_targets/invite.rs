//! (c) The invite link parser, `hearth::Invite::parse`, with its Display round trip.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| hearth_fuzz::check_invite(data));
