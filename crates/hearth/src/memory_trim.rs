//! Giving memory back after a burst. glibc's allocator keeps freed memory for reuse, so
//! after a join storm or a flood of history pages the host's RSS stays near its peak
//! although nothing holds it. Once a burst of outgoing traffic is over (much passed
//! through, then a quiet tick), `malloc_trim` returns the free pages to the system.
//! Elsewhere (other allocators and systems) this is a no-op.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::peer::OutgoingBudget;

const TICK: Duration = Duration::from_secs(1);
/// Traffic since the last trim that makes one worth it.
const BURST: usize = 8 * 1024 * 1024;
/// A tick with less than this passing through is quiet.
const QUIET: usize = 256 * 1024;

/// Runs until `stop`.
pub(crate) async fn run(budget: Arc<OutgoingBudget>, stop: CancellationToken) {
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let (mut last, mut at_trim) = (budget.passed(), budget.passed());
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tick.tick() => {}
        }
        let now = budget.passed();
        let quiet = now.wrapping_sub(last) < QUIET;
        last = now;
        if quiet && now.wrapping_sub(at_trim) >= BURST {
            at_trim = now;
            // It walks the heap: off the runtime.
            let _ = tokio::task::spawn_blocking(trim).await;
        }
    }
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn trim() {
    // SAFETY: malloc_trim only releases free memory; it has no preconditions.
    let released = unsafe { libc::malloc_trim(0) };
    tracing::debug!(
        released = released != 0,
        "free memory returned after a burst"
    );
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn trim() {}
