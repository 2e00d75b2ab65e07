//! The open-file limit. Every connection is a file descriptor, and a desktop's soft limit
//! is often 1,024: a host that kept it would fail `accept` ("Too many open files") about
//! a thousand members in, without a close code. So the host raises the soft limit to the
//! hard one at start, and admits no more connections than the limit leaves room for.

/// Descriptors kept for everything but connections: the database and its readers, WAL
/// and lock files, the listener, mDNS sockets, the runtime, the UI.
pub const RESERVED: u64 = 128;

/// Raises the soft open-file limit as far as the hard limit allows and returns the soft
/// limit now in effect (`None` where there is no such limit, or it cannot be read).
#[cfg(unix)]
pub fn raise() -> Option<u64> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct we own.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return None;
    }
    // macOS refuses a soft limit above OPEN_MAX even under an unlimited hard limit.
    let ceiling = if cfg!(target_os = "macos") {
        lim.rlim_max.min(10_240)
    } else {
        lim.rlim_max
    };
    if lim.rlim_cur < ceiling {
        let want = libc::rlimit {
            rlim_cur: ceiling,
            rlim_max: lim.rlim_max,
        };
        // SAFETY: setrlimit only reads the struct.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &want) } == 0 {
            lim.rlim_cur = ceiling;
        } else {
            tracing::warn!(
                soft = lim.rlim_cur,
                hard = lim.rlim_max,
                "cannot raise the open-file limit"
            );
        }
    }
    // rlim_t is not u64 on every Unix.
    #[allow(clippy::unnecessary_cast)]
    Some(lim.rlim_cur as u64)
}

/// Windows has no such per-process limit for sockets.
#[cfg(not(unix))]
pub fn raise() -> Option<u64> {
    None
}

/// The connections a soft limit of `soft` descriptors leaves room for.
pub fn connections_allowed(soft: u64) -> usize {
    usize::try_from(soft.saturating_sub(RESERVED))
        .unwrap_or(usize::MAX)
        .max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn room_is_kept_for_everything_else() {
        assert_eq!(connections_allowed(1024), 896);
        assert_eq!(connections_allowed(100), 1);
    }
}
