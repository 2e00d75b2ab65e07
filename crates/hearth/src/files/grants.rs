//! Who may use a room's file endpoints: the bearer tokens `joined` hands out (protocol
//! §15.1). Kept in memory only: a host restart makes every client join again anyway,
//! and each join brings a fresh grant.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use uuid::Uuid;

/// A token is good for this long after it was issued (a client joins again far sooner).
pub const GRANT_TTL: Duration = Duration::from_secs(24 * 60 * 60);
/// Tokens kept per member of a room (one per device, as for resume tokens).
const PER_MEMBER: usize = 8;

/// Who a token speaks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Grant {
    pub room_id: Uuid,
    pub user_id: Uuid,
}

#[derive(Default)]
pub struct Grants {
    /// By the SHA-256 of the token, so a lookup's timing says nothing of the token.
    inner: Mutex<HashMap<[u8; 32], (Grant, Instant)>>,
}

fn key(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

impl Grants {
    /// A new token for `grant`; the member's oldest beyond [`PER_MEMBER`] lapse.
    pub fn issue(&self, grant: Grant) -> String {
        let token: [u8; 32] = rand::random();
        let token: String = token.iter().map(|b| format!("{b:02x}")).collect();
        let mut map = self.lock();
        let now = Instant::now();
        map.retain(|_, (_, at)| now.duration_since(*at) < GRANT_TTL);
        let mut mine: Vec<([u8; 32], Instant)> = map
            .iter()
            .filter(|(_, (g, _))| *g == grant)
            .map(|(k, (_, at))| (*k, *at))
            .collect();
        if mine.len() >= PER_MEMBER {
            mine.sort_by_key(|(_, at)| *at);
            for (k, _) in &mine[..=mine.len() - PER_MEMBER] {
                map.remove(k);
            }
        }
        map.insert(key(&token), (grant, now));
        token
    }

    /// The grant a token carries, if it is current.
    pub fn check(&self, token: &str) -> Option<Grant> {
        let map = self.lock();
        map.get(&key(token))
            .filter(|(_, at)| at.elapsed() < GRANT_TTL)
            .map(|(g, _)| *g)
    }

    /// A member removed from a room loses its files at once.
    pub fn revoke(&self, room_id: Uuid, user_id: Option<Uuid>) {
        self.lock()
            .retain(|_, (g, _)| !(g.room_id == room_id && user_id.is_none_or(|u| u == g.user_id)));
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<[u8; 32], (Grant, Instant)>> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_name_their_room_and_member_and_can_be_revoked() {
        let g = Grants::default();
        let a = Grant {
            room_id: Uuid::new_v4(),
            user_id: Uuid::new_v4(),
        };
        let b = Grant {
            room_id: Uuid::new_v4(),
            ..a
        };
        let ta = g.issue(a);
        let tb = g.issue(b);
        assert_eq!(ta.len(), 64);
        assert_eq!(g.check(&ta), Some(a));
        assert_eq!(g.check(&tb), Some(b));
        assert_eq!(g.check("0".repeat(64).as_str()), None);
        g.revoke(a.room_id, Some(a.user_id));
        assert_eq!(g.check(&ta), None);
        assert_eq!(g.check(&tb), Some(b), "another room's grant stays");
        let many: Vec<String> = (0..PER_MEMBER + 2).map(|_| g.issue(a)).collect();
        assert_eq!(g.check(&many[0]), None, "the oldest lapse");
        assert_eq!(g.check(many.last().unwrap()), Some(a));
    }
}
