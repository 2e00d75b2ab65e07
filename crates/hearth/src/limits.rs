//! Host limits and the small mechanisms that enforce them: a token bucket for sends,
//! a passcode-failure throttle, and connection counting.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use uuid::Uuid;

use crate::protocol::PublicLimits;

/// Every limit the host enforces. The defaults are the documented ones.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Largest WebSocket frame or message a client may send.
    pub max_frame_bytes: usize,
    /// Longest message text, in Unicode scalar values.
    pub max_text_chars: usize,
    /// Token bucket for `send`: sustained rate...
    pub messages_per_sec: u32,
    /// ...and burst size.
    pub message_burst: u32,
    /// After this many consecutive `rate_limited` answers the connection is closed (4008).
    pub flood_close_after: u32,
    /// Connections in total.
    pub max_connections: usize,
    /// Connections from one IP address.
    pub max_connections_per_ip: usize,
    /// Frames waiting to be written to one connection; overflow closes it with 4001. A
    /// backstop: the byte bounds below are the limit that matters.
    pub outgoing_queue: usize,
    /// Bytes waiting to be written to one connection; overflow closes it with 4001. A
    /// member that stalls for a few seconds in a busy room stays (at 9,000 messages/s of
    /// ~250 bytes, 8 MiB is about 3.5 s); one that never reads does not grow the host.
    pub outgoing_bytes: usize,
    /// Bytes waiting to be written to all connections together: a push past it closes
    /// the connection it was for (4001), so memory stays bounded however many connect.
    pub outgoing_bytes_total: usize,
    /// Most messages in a `joined` or `history_page`.
    pub max_history_page: u32,
    /// How often the host pings.
    pub heartbeat_interval: Duration,
    /// Silence after which a connection is dropped and its member times out.
    pub heartbeat_timeout: Duration,
    /// Time allowed for the WebSocket upgrade and the `hello`.
    pub handshake_timeout: Duration,
    /// A typing indicator expires this long after the last `typing` frame.
    pub typing_ttl: Duration,
    /// Typing frames per second per connection (burst the same); excess ones are dropped.
    pub typing_per_sec: u32,
    /// Every frame counts against this bucket (rate per second, burst twice that), so
    /// joins (an Argon2 check each), history reads and junk cannot be sent without bound.
    pub frames_per_sec: u32,
    /// `join` frames per second per connection (burst five times that): each may cost
    /// an Argon2 check, and a real client joins a handful of rooms when it connects.
    pub joins_per_sec: u32,
    /// Wrong passcodes from one address for one room before throttling starts.
    pub passcode_free_failures: u32,
    /// First throttle delay; it doubles with each further failure.
    pub passcode_backoff_base: Duration,
    /// Longest throttle delay.
    pub passcode_backoff_max: Duration,
    /// Argon2 passcode checks running at once, host-wide (each holds 19 MiB and a core
    /// for ~40 ms); further joins with a passcode wait for their turn.
    pub max_concurrent_passcode_checks: usize,
    /// Largest file a member may upload (protocol §15).
    pub max_file_bytes: u64,
    /// What one room's files may take on the host's disk, uploads under way included.
    pub room_quota_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_frame_bytes: 64 * 1024,
            max_text_chars: 4000,
            messages_per_sec: 20,
            message_burst: 40,
            flood_close_after: 200,
            max_connections: 1024,
            max_connections_per_ip: 64,
            outgoing_queue: 16 * 1024,
            outgoing_bytes: 8 * 1024 * 1024,
            outgoing_bytes_total: 256 * 1024 * 1024,
            max_history_page: 200,
            heartbeat_interval: Duration::from_secs(15),
            heartbeat_timeout: Duration::from_secs(40),
            handshake_timeout: Duration::from_secs(10),
            typing_ttl: Duration::from_secs(6),
            typing_per_sec: 4,
            frames_per_sec: 100,
            joins_per_sec: 2,
            passcode_free_failures: 3,
            passcode_backoff_base: Duration::from_secs(1),
            passcode_backoff_max: Duration::from_secs(60),
            max_concurrent_passcode_checks: 2,
            max_file_bytes: 4 * 1024 * 1024 * 1024,
            room_quota_bytes: 20 * 1024 * 1024 * 1024,
        }
    }
}

impl Limits {
    /// The frame bucket's rate: `frames_per_sec`, raised to twice the send rate so that
    /// raising `messages_per_sec` alone is enough (every send is also a frame).
    pub fn frame_rate(&self) -> u32 {
        self.frames_per_sec
            .max(self.messages_per_sec.saturating_mul(2))
    }

    pub fn public(&self) -> PublicLimits {
        PublicLimits {
            max_frame_bytes: self.max_frame_bytes,
            max_text_chars: self.max_text_chars,
            messages_per_sec: self.messages_per_sec,
            message_burst: self.message_burst,
            max_history_page: self.max_history_page,
            heartbeat_interval_ms: self.heartbeat_interval.as_millis() as u64,
        }
    }
}

/// A classic token bucket.
#[derive(Debug)]
pub struct TokenBucket {
    rate: f64,
    burst: f64,
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    pub fn new(rate_per_sec: u32, burst: u32) -> Self {
        let burst = f64::from(burst.max(1));
        TokenBucket {
            rate: f64::from(rate_per_sec.max(1)),
            burst,
            tokens: burst,
            last: Instant::now(),
        }
    }

    /// Takes a token, or says how long until one is available.
    pub fn take(&mut self) -> Result<(), Duration> {
        let now = Instant::now();
        let elapsed = now.duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + elapsed * self.rate).min(self.burst);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - self.tokens) / self.rate))
        }
    }
}

/// Exponential backoff after wrong passcodes, per (address, room). Keyed by address so
/// that one guesser cannot lock anyone else out.
#[derive(Debug)]
pub struct PasscodeThrottle {
    free: u32,
    base: Duration,
    max: Duration,
    entries: Mutex<HashMap<(IpAddr, Uuid), Failures>>,
}

#[derive(Debug, Clone, Copy)]
struct Failures {
    count: u32,
    until: Instant,
    last: Instant,
}

impl PasscodeThrottle {
    pub fn new(limits: &Limits) -> Self {
        PasscodeThrottle {
            free: limits.passcode_free_failures,
            base: limits.passcode_backoff_base,
            max: limits.passcode_backoff_max,
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// `Err(wait)` while this address must wait before trying this room again.
    pub fn check(&self, ip: IpAddr, room: Uuid) -> Result<(), Duration> {
        let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        match entries.get(&(ip, room)) {
            Some(f) if f.until > Instant::now() => Err(f.until - Instant::now()),
            _ => Ok(()),
        }
    }

    /// Records a wrong passcode and returns the delay now imposed (zero while free).
    pub fn fail(&self, ip: IpAddr, room: Uuid) -> Duration {
        let now = Instant::now();
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        // Forget addresses that have been quiet for a while, so the map stays small.
        let max = self.max;
        entries.retain(|_, f| now.duration_since(f.last) < max * 4);
        let f = entries.entry((ip, room)).or_insert(Failures {
            count: 0,
            until: now,
            last: now,
        });
        // A long quiet period forgives earlier failures.
        if now.duration_since(f.last) > self.max * 2 {
            f.count = 0;
        }
        f.count += 1;
        f.last = now;
        let delay = if f.count <= self.free {
            Duration::ZERO
        } else {
            let exp = (f.count - self.free - 1).min(16);
            (self.base * 2u32.pow(exp)).min(self.max)
        };
        f.until = now + delay;
        delay
    }

    pub fn succeed(&self, ip: IpAddr, room: Uuid) {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries.remove(&(ip, room));
    }
}

/// Counts open connections in total and per address.
#[derive(Debug, Default)]
pub struct ConnectionCounter {
    inner: Mutex<(usize, HashMap<IpAddr, usize>)>,
}

/// Releases its connection slot when dropped.
#[derive(Debug)]
pub struct ConnectionSlot {
    counter: Arc<ConnectionCounter>,
    ip: IpAddr,
}

impl ConnectionCounter {
    /// Takes a slot, or says which limit is reached.
    pub fn acquire(
        self: &Arc<Self>,
        ip: IpAddr,
        limits: &Limits,
    ) -> Result<ConnectionSlot, &'static str> {
        let mut g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        if g.0 >= limits.max_connections {
            return Err("too many connections to this host");
        }
        let per_ip = g.1.get(&ip).copied().unwrap_or(0);
        if per_ip >= limits.max_connections_per_ip {
            return Err("too many connections from your address");
        }
        g.0 += 1;
        *g.1.entry(ip).or_insert(0) += 1;
        Ok(ConnectionSlot {
            counter: Arc::clone(self),
            ip,
        })
    }

    pub fn total(&self) -> usize {
        self.inner.lock().unwrap_or_else(|p| p.into_inner()).0
    }
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        let mut g = self.counter.inner.lock().unwrap_or_else(|p| p.into_inner());
        g.0 = g.0.saturating_sub(1);
        if let Some(n) = g.1.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                g.1.remove(&self.ip);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_allows_burst_then_limits() {
        let mut b = TokenBucket::new(10, 5);
        for _ in 0..5 {
            assert!(b.take().is_ok());
        }
        let wait = b.take().unwrap_err();
        assert!(
            wait > Duration::ZERO && wait <= Duration::from_millis(100),
            "{wait:?}"
        );
    }

    #[test]
    fn throttle_backs_off_per_address() {
        let limits = Limits {
            passcode_free_failures: 2,
            passcode_backoff_base: Duration::from_millis(100),
            ..Limits::default()
        };
        let t = PasscodeThrottle::new(&limits);
        let (a, b): (IpAddr, IpAddr) = ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap());
        let room = Uuid::new_v4();
        assert_eq!(t.fail(a, room), Duration::ZERO);
        assert_eq!(t.fail(a, room), Duration::ZERO);
        assert_eq!(t.fail(a, room), Duration::from_millis(100));
        assert_eq!(t.fail(a, room), Duration::from_millis(200));
        assert!(t.check(a, room).is_err());
        assert!(
            t.check(b, room).is_ok(),
            "another address is not locked out"
        );
        t.succeed(a, room);
        assert!(t.check(a, room).is_ok());
    }

    #[test]
    fn counter_enforces_both_limits() {
        let limits = Limits {
            max_connections: 3,
            max_connections_per_ip: 2,
            ..Limits::default()
        };
        let c = Arc::new(ConnectionCounter::default());
        let a: IpAddr = "127.0.0.1".parse().unwrap();
        let b: IpAddr = "127.0.0.2".parse().unwrap();
        let s1 = c.acquire(a, &limits).unwrap();
        let _s2 = c.acquire(a, &limits).unwrap();
        assert!(c.acquire(a, &limits).is_err());
        let _s3 = c.acquire(b, &limits).unwrap();
        assert!(c.acquire(b, &limits).is_err());
        drop(s1);
        assert!(c.acquire(a, &limits).is_ok());
    }
}
