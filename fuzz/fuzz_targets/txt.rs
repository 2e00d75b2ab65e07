//! (d) The mDNS TXT record parser, `hearth::discovery::parse_txt_record` /
//! `RoomTxt::from_pairs`, with its round trip through `encode_txt_record`.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| hearth_fuzz::check_txt(data));
