//! Argon2 passcode checks on a few threads of their own.

use std::sync::{Arc, Mutex};

use tokio::sync::oneshot;

use crate::passcode;

type CheckJob = (String, String, oneshot::Sender<bool>);

/// Argon2 passcode checks run on a few threads of their own, one check per thread at a
/// time: at most `Limits::max_concurrent_passcode_checks` run at once however many
/// connections join, and the 19 MiB each takes is reused by the same threads (on the
/// blocking pool it would be kept by every thread's allocator arena in turn).
pub(crate) struct PasscodeChecks {
    turns: tokio::sync::Semaphore,
    jobs: std::sync::mpsc::Sender<CheckJob>,
}

impl PasscodeChecks {
    pub(crate) fn start(threads: usize) -> std::io::Result<PasscodeChecks> {
        let threads = threads.max(1);
        let (tx, rx) = std::sync::mpsc::channel::<CheckJob>();
        let rx = Arc::new(Mutex::new(rx));
        for i in 0..threads {
            let rx = Arc::clone(&rx);
            // The threads end when the host is dropped (the channel closes).
            std::thread::Builder::new()
                .name(format!("hearth-passcode-{i}"))
                .spawn(move || loop {
                    let job = rx.lock().unwrap_or_else(|p| p.into_inner()).recv();
                    let Ok((hash, pass, reply)) = job else { break };
                    let _ = reply.send(passcode::verify(&hash, &pass));
                })?;
        }
        Ok(PasscodeChecks {
            turns: tokio::sync::Semaphore::new(threads),
            jobs: tx,
        })
    }

    /// Waits for a free checking thread; the check must be made while this is held.
    pub async fn turn(&self) -> Option<tokio::sync::SemaphorePermit<'_>> {
        self.turns.acquire().await.ok()
    }

    /// Checks a passcode against a stored hash on a checking thread.
    pub async fn verify(&self, hash: String, pass: String) -> bool {
        let (tx, rx) = oneshot::channel();
        if self.jobs.send((hash, pass, tx)).is_err() {
            return false;
        }
        rx.await.unwrap_or(false)
    }
}
