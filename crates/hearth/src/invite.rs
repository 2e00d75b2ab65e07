//! Invite links: `hearth://HOST:PORT/ROOM_ID`, with `#fp=<hex>` reserved for the
//! certificate fingerprint. Plain `HOST:PORT` or `HOST` are accepted for manual joins.

use std::fmt;

use uuid::Uuid;

use crate::server::DEFAULT_PORT;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invite {
    /// A DNS name, an IPv4 address, or an IPv6 address (without brackets).
    pub host: String,
    pub port: u16,
    pub room_id: Option<Uuid>,
    /// SHA-256 certificate fingerprint: 64 lowercase hex digits.
    pub fingerprint: Option<String>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum InviteError {
    #[error("not an invite link or address: {0}")]
    Malformed(String),
    #[error("invite links start with hearth://, not {0}://")]
    WrongScheme(String),
    #[error("the room id in the link is not a UUID: {0}")]
    BadRoomId(String),
    #[error("the link has no host")]
    NoHost,
    #[error("the port must be 1 to 65535")]
    BadPort,
    #[error("the certificate fingerprint in the link (#fp=) is not 64 hex digits: {0}")]
    BadFingerprint(String),
}

impl Invite {
    pub fn parse(input: &str) -> Result<Invite, InviteError> {
        let input = input.trim();
        let with_scheme = if input.contains("://") {
            input.to_string()
        } else {
            format!("hearth://{input}")
        };
        let url = url::Url::parse(&with_scheme)
            .map_err(|e| InviteError::Malformed(format!("{input}: {e}")))?;
        if url.scheme() != "hearth" {
            return Err(InviteError::WrongScheme(url.scheme().to_string()));
        }
        let host = match url.host() {
            Some(url::Host::Ipv6(a)) => a.to_string(),
            Some(h) => h.to_string(),
            None => return Err(InviteError::NoHost),
        };
        if host.is_empty() {
            return Err(InviteError::NoHost);
        }
        let port = url.port().unwrap_or(DEFAULT_PORT);
        if port == 0 {
            return Err(InviteError::BadPort);
        }
        let path = url.path().trim_matches('/');
        let room_id = if path.is_empty() {
            None
        } else {
            Some(Uuid::parse_str(path).map_err(|_| InviteError::BadRoomId(path.to_string()))?)
        };
        // The fingerprint becomes a pin: a malformed one (a typo, a cut-off link) is an
        // error here rather than a pin that can never match. Empty means absent.
        let fingerprint = match url
            .fragment()
            .and_then(|f| f.split('&').find_map(|kv| kv.strip_prefix("fp=")))
        {
            None | Some("") => None,
            Some(v) => Some(
                crate::tls::normalize_fingerprint(v)
                    .ok_or_else(|| InviteError::BadFingerprint(v.to_string()))?,
            ),
        };
        Ok(Invite {
            host,
            port,
            room_id,
            fingerprint,
        })
    }

    /// `host:port`, with brackets around IPv6 addresses.
    pub fn authority(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }

    pub fn ws_url(&self) -> String {
        format!("ws://{}/", self.authority())
    }
}

/// The address to put in an invite for a listener bound to `bound`: the bound IP, or for
/// a wildcard bind the first non-loopback IPv4 address of an interface that is up.
pub fn advertised_ip(bound: std::net::SocketAddr) -> std::net::IpAddr {
    use std::net::{IpAddr, Ipv4Addr};
    if !bound.ip().is_unspecified() {
        return bound.ip();
    }
    if_addrs::get_if_addrs()
        .ok()
        .and_then(|ifs| {
            ifs.into_iter()
                .filter(|i| !i.is_loopback())
                .map(|i| i.ip())
                .find(|ip| ip.is_ipv4())
        })
        .unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST))
}

impl fmt::Display for Invite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "hearth://{}/", self.authority())?;
        if let Some(r) = self.room_id {
            write!(f, "{r}")?;
        }
        if let Some(fp) = &self.fingerprint {
            write!(f, "#fp={fp}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints() {
        let id = Uuid::new_v4();
        let i = Invite::parse(&format!("hearth://alice-pc.local:9000/{id}")).unwrap();
        assert_eq!(
            (i.host.as_str(), i.port, i.room_id),
            ("alice-pc.local", 9000, Some(id))
        );
        assert_eq!(i.to_string(), format!("hearth://alice-pc.local:9000/{id}"));
        let fp = "AB".repeat(32);
        let v6 = Invite::parse(&format!("hearth://[fe80::1]:7/{id}#fp={fp}")).unwrap();
        assert_eq!(v6.host, "fe80::1");
        assert_eq!(v6.fingerprint, Some("ab".repeat(32)));
        assert_eq!(v6.authority(), "[fe80::1]:7");
        let plain = Invite::parse("192.168.1.20").unwrap();
        assert_eq!((plain.port, plain.room_id), (DEFAULT_PORT, None));
        assert!(matches!(
            Invite::parse("http://x/"),
            Err(InviteError::WrongScheme(_))
        ));
        assert!(matches!(
            Invite::parse("hearth://x:1/not-a-uuid"),
            Err(InviteError::BadRoomId(_))
        ));
        assert!(Invite::parse("hearth://x:99999/").is_err());
        assert_eq!(Invite::parse("hearth://x:0/"), Err(InviteError::BadPort));
        assert!(matches!(
            Invite::parse("hearth://x:1/#fp=ABCD"),
            Err(InviteError::BadFingerprint(_))
        ));
        assert_eq!(
            Invite::parse("hearth://x:1/#fp=").unwrap().fingerprint,
            None
        );
    }
}
