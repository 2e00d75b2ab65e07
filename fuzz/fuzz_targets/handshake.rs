//! (b) The handshake and join state machine of a real in-process `Host`: each input is
//! a sequence of client text frames (one per line) sent over an in-memory WebSocket;
//! every answer must be a well-formed, correct host frame, the connection slot must be
//! released, and the host must keep serving. One host and runtime per process.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| hearth_fuzz::harness().run(data));
