//! The dead-link probe.

use std::time::Duration;

use tokio::time::Instant;

/// The dead-link probe: after a send, silence for `probe_after` sends a ping; silence
/// for `probe_after` more means the link is dead.
#[derive(Default)]
pub(super) struct Probe {
    ping_at: Option<Instant>,
    dead_at: Option<Instant>,
}

pub(super) enum ProbeStep {
    Wait,
    Ping,
    Dead,
}

impl Probe {
    pub(super) fn next_wake(&self) -> Option<Instant> {
        self.dead_at.or(self.ping_at)
    }

    pub(super) fn sent(&mut self, now: Instant, after: Duration) {
        if self.ping_at.is_none() && self.dead_at.is_none() {
            self.ping_at = Some(now + after);
        }
    }

    /// Anything from the host shows the link works.
    pub(super) fn heard(&mut self, now: Instant, awaiting: bool, after: Duration) {
        self.dead_at = None;
        self.ping_at = awaiting.then(|| now + after);
    }

    pub(super) fn due(&mut self, now: Instant, awaiting: bool, after: Duration) -> ProbeStep {
        if self.dead_at.is_some_and(|t| now >= t) {
            return ProbeStep::Dead;
        }
        match self.ping_at {
            Some(t) if now >= t && awaiting => {
                self.ping_at = None;
                self.dead_at = Some(now + after);
                ProbeStep::Ping
            }
            Some(t) if now >= t => {
                self.ping_at = None;
                ProbeStep::Wait
            }
            _ => ProbeStep::Wait,
        }
    }
}
