//! Support for the desktop end-to-end tests: network namespaces joined by veth pairs
//! (so discovery crosses a real link), one Xvfb, and one `tauri-driver` per namespace,
//! reachable from the test through a control link.
//!
//! Everything here is torn down on drop, also when a test panics.

pub mod desktop;
pub mod netns;
pub mod person;
pub mod seed;
