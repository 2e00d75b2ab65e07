//! The signal that stops a long-running command (a host, a load generator's server).

use std::io;

/// SIGINT or SIGTERM (Ctrl-C only, off Unix).
pub struct Stop {
    #[cfg(unix)]
    term: tokio::signal::unix::Signal,
    #[cfg(unix)]
    int: tokio::signal::unix::Signal,
}

impl Stop {
    #[cfg(unix)]
    pub fn install() -> io::Result<Stop> {
        use tokio::signal::unix::{signal, SignalKind};
        Ok(Stop {
            term: signal(SignalKind::terminate())?,
            int: signal(SignalKind::interrupt())?,
        })
    }

    #[cfg(not(unix))]
    pub fn install() -> io::Result<Stop> {
        Ok(Stop {})
    }

    #[cfg(unix)]
    pub async fn wait(mut self) {
        tokio::select! {
            _ = self.term.recv() => {}
            _ = self.int.recv() => {}
        }
    }

    #[cfg(not(unix))]
    pub async fn wait(self) {
        let _ = tokio::signal::ctrl_c().await;
    }
}
