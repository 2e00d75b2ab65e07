//! Choosing which of a room's resolved addresses to connect to.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use tokio::net::TcpStream;
use tokio::task::JoinSet;

/// One of this machine's interface addresses with its prefix length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LocalNet {
    pub addr: IpAddr,
    pub prefix: u8,
}

impl LocalNet {
    /// The current interface addresses (empty if they cannot be read).
    pub fn current() -> Vec<LocalNet> {
        if_addrs::get_if_addrs()
            .map(|ifs| {
                ifs.into_iter()
                    .map(|i| match i.addr {
                        if_addrs::IfAddr::V4(a) => LocalNet {
                            addr: IpAddr::V4(a.ip),
                            prefix: a.prefixlen,
                        },
                        if_addrs::IfAddr::V6(a) => LocalNet {
                            addr: IpAddr::V6(a.ip),
                            prefix: a.prefixlen,
                        },
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip) {
            (IpAddr::V4(a), IpAddr::V4(b)) => {
                let bits = u32::from(self.prefix.min(32));
                let mask = u32::MAX.checked_shl(32 - bits).unwrap_or(0);
                u32::from(a) & mask == u32::from(b) & mask
            }
            (IpAddr::V6(a), IpAddr::V6(b)) => {
                let bits = u32::from(self.prefix.min(128));
                let mask = u128::MAX.checked_shl(128 - bits).unwrap_or(0);
                u128::from(a) & mask == u128::from(b) & mask
            }
            _ => false,
        }
    }
}

fn is_link_local(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(a) => a.is_link_local(),
        IpAddr::V6(a) => a.segments()[0] & 0xffc0 == 0xfe80,
    }
}

/// Orders candidate addresses for a join: an address on one of our own subnets first,
/// then IPv4, then IPv6, with IPv6 link-local last (every interface "shares" fe80::/64,
/// so it says nothing about reachability). The order within a class is kept.
pub fn connect_order(addrs: &[SocketAddr], local: &[LocalNet]) -> Vec<SocketAddr> {
    let rank = |a: &SocketAddr| {
        let ip = a.ip();
        if is_link_local(ip) && ip.is_ipv6() {
            3
        } else if local.iter().any(|n| n.contains(ip)) {
            0
        } else if ip.is_ipv4() {
            1
        } else {
            2
        }
    };
    let mut out: Vec<SocketAddr> = Vec::with_capacity(addrs.len());
    for a in addrs {
        if !out.contains(a) {
            out.push(*a);
        }
    }
    out.sort_by_key(rank);
    out
}

/// Tries `addrs` in order with a TCP connect, starting the next attempt every `stagger`
/// while earlier ones are still pending, and returns the first that answers. A stale or
/// unreachable address thus costs at most `stagger`, not a full connect timeout.
pub async fn first_reachable(
    addrs: &[SocketAddr],
    stagger: Duration,
    per_try: Duration,
) -> Option<SocketAddr> {
    let mut tries = JoinSet::new();
    for (i, addr) in addrs.iter().copied().enumerate() {
        let delay = stagger * i as u32;
        tries.spawn(async move {
            tokio::time::sleep(delay).await;
            match tokio::time::timeout(per_try, TcpStream::connect(addr)).await {
                Ok(Ok(_stream)) => Some(addr),
                Ok(Err(e)) => {
                    tracing::debug!(%addr, error = %e, "not reachable");
                    None
                }
                Err(_) => {
                    tracing::debug!(%addr, "connect timed out");
                    None
                }
            }
        });
    }
    while let Some(done) = tries.join_next().await {
        if let Ok(Some(addr)) = done {
            return Some(addr);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sa(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn order_is_same_subnet_then_v4_then_v6() {
        let local = [
            LocalNet {
                addr: "192.168.7.10".parse().unwrap(),
                prefix: 24,
            },
            LocalNet {
                addr: "fd00:1::5".parse().unwrap(),
                prefix: 64,
            },
        ];
        let got = connect_order(
            &[
                sa("[fe80::1]:7"),
                sa("[2001:db8::1]:7"),
                sa("10.0.0.9:7"),
                sa("[fd00:1::9]:7"),
                sa("192.168.7.20:7"),
                sa("10.0.0.9:7"),
                sa("192.168.8.20:7"),
            ],
            &local,
        );
        assert_eq!(
            got,
            vec![
                sa("[fd00:1::9]:7"),
                sa("192.168.7.20:7"),
                sa("10.0.0.9:7"),
                sa("192.168.8.20:7"),
                sa("[2001:db8::1]:7"),
                sa("[fe80::1]:7"),
            ]
        );
        assert!(connect_order(&[], &local).is_empty());
        let all = LocalNet {
            addr: "10.1.2.3".parse().unwrap(),
            prefix: 0,
        };
        assert!(all.contains("8.8.8.8".parse().unwrap()));
    }

    #[tokio::test]
    async fn skips_dead_addresses() {
        let live = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let live_addr = live.local_addr().unwrap();
        // A port that was just free: connecting is refused.
        let dead_addr = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap()
        };
        let got = first_reachable(
            &[dead_addr, live_addr],
            Duration::from_millis(50),
            Duration::from_secs(2),
        )
        .await;
        assert_eq!(got, Some(live_addr));
        assert_eq!(
            first_reachable(
                &[dead_addr],
                Duration::from_millis(50),
                Duration::from_secs(2)
            )
            .await,
            None
        );
    }
}
