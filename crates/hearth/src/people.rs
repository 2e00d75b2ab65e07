//! Who someone is to this user (protocol §3.7): verified by comparing identity codes,
//! someone else under a verified person's name (a changed key), new in the room, or
//! simply known. The app and the CLI show these; the rules live here once.

use uuid::Uuid;

use crate::protocol::identity::identity_code;
use crate::store::VerifiedPerson;

/// How long after their first appearance in a room an identity is marked "new".
pub const NEW_FOR_MS: i64 = 24 * 60 * 60 * 1000;

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Trust {
    /// The user verified this identity, and the host checked its key.
    Verified,
    /// Not the identity the user verified under this name: another key. Never shown
    /// with the verified mark; the app warns.
    KeyChanged { verified_name: String },
    /// First seen in this room after we joined it, within the last day.
    New,
    /// Seen before, or present when we first joined.
    Known,
    /// The host could not check this identity's key (a client without identity, or a
    /// plaintext host): its user id is only a claim.
    Unverified,
}

/// What is known of one identity in one room.
#[derive(Debug, Clone)]
pub struct Sighting<'a> {
    pub user_id: Uuid,
    /// Every name it has been seen with here (the current one first).
    pub names: Vec<&'a str>,
    /// The host checked its key on its latest appearance.
    pub host_verified: bool,
    pub first_seen_at: Option<i64>,
    /// This install's own identity: never new, nor a changed key, to itself.
    pub is_me: bool,
}

/// The trust marks for a room: `joined_at` is when this install first joined it.
pub fn assess(
    s: &Sighting<'_>,
    verified: &[VerifiedPerson],
    joined_at: Option<i64>,
    now: i64,
) -> Trust {
    if !s.host_verified {
        return Trust::Unverified;
    }
    if s.is_me {
        return Trust::Known;
    }
    if verified.iter().any(|v| v.user_id == s.user_id) {
        return Trust::Verified;
    }
    let impersonated = verified.iter().find(|v| {
        s.names
            .iter()
            .any(|n| same_name(n, &v.name) && v.user_id != s.user_id)
    });
    if let Some(v) = impersonated {
        return Trust::KeyChanged {
            verified_name: v.name.clone(),
        };
    }
    match (s.first_seen_at, joined_at) {
        (Some(first), Some(joined)) if first > joined && now - first < NEW_FOR_MS => Trust::New,
        _ => Trust::Known,
    }
}

/// Names compared as a reader would: case and surrounding space do not tell people apart.
pub fn same_name(a: &str, b: &str) -> bool {
    a.trim().to_lowercase() == b.trim().to_lowercase()
}

/// The identity code to show for a user id.
pub fn code(user_id: Uuid) -> String {
    identity_code(user_id)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verified(id: Uuid, name: &str) -> VerifiedPerson {
        VerifiedPerson {
            user_id: id,
            name: name.into(),
            verified_at: 0,
        }
    }

    fn seen(id: Uuid, names: &[&'static str], first: i64) -> Sighting<'static> {
        Sighting {
            user_id: id,
            names: names.to_vec(),
            host_verified: true,
            first_seen_at: Some(first),
            is_me: false,
        }
    }

    #[test]
    fn another_key_under_a_verified_name_is_flagged_never_verified() {
        let (alice, mallory) = (Uuid::new_v4(), Uuid::new_v4());
        let book = [verified(alice, "Alice")];
        assert_eq!(
            assess(&seen(alice, &["Alice"], 5), &book, Some(1), 10),
            Trust::Verified
        );
        // Any of the names it used, compared without case.
        assert_eq!(
            assess(
                &seen(mallory, &["Mallory", " alice "], 5),
                &book,
                Some(1),
                10
            ),
            Trust::KeyChanged {
                verified_name: "Alice".into()
            }
        );
        // Unverified by the host: never verified, whatever the book says.
        let mut s = seen(alice, &["Alice"], 5);
        s.host_verified = false;
        assert_eq!(assess(&s, &book, Some(1), 10), Trust::Unverified);
    }

    #[test]
    fn new_means_first_seen_after_we_joined_and_within_a_day() {
        let id = Uuid::new_v4();
        let joined = 1_000;
        assert_eq!(
            assess(&seen(id, &["نور"], 2_000), &[], Some(joined), 3_000),
            Trust::New
        );
        assert_eq!(
            assess(&seen(id, &["نور"], 500), &[], Some(joined), 3_000),
            Trust::Known
        );
        let later = 2_000 + NEW_FOR_MS;
        assert_eq!(
            assess(&seen(id, &["نور"], 2_000), &[], Some(joined), later),
            Trust::Known
        );
        // Our own identity, first seen a moment after our join row was written.
        let me = Sighting {
            is_me: true,
            ..seen(id, &["نور"], 2_000)
        };
        assert_eq!(assess(&me, &[], Some(joined), 3_000), Trust::Known);
    }
}
