//! Who wrote what, as `hearth join` prints it: a name is only a label, so an author's
//! identity code (protocol §3.7) is shown on their first appearance, and every time
//! for a name that two people in the output share.

use std::collections::{HashMap, HashSet};

use hearth::protocol::identity::identity_code;
use uuid::Uuid;

/// Names and people seen so far. Bounded by the people in the room's output.
#[derive(Default)]
pub struct Authors {
    seen: HashSet<Uuid>,
    by_name: HashMap<String, HashSet<Uuid>>,
}

impl Authors {
    /// The label for an author: the name, with `[CODE]` (and `unverified` when the host
    /// did not check their key) where a reader needs it to know who this is.
    pub fn label(&mut self, user_id: Uuid, name: &str, verified: bool) -> String {
        let first = self.seen.insert(user_id);
        let sharers = self.by_name.entry(name.to_lowercase()).or_default();
        sharers.insert(user_id);
        let shared = sharers.len() > 1;
        if !(first || shared) {
            return name.to_string();
        }
        let code = identity_code(user_id);
        if verified {
            format!("{name} [{code}]")
        } else {
            format!("{name} [{code} unverified]")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_show_on_first_appearance_and_for_shared_names() {
        let mut a = Authors::default();
        let (alice, impostor) = (Uuid::from_u128(1 << 100), Uuid::from_u128(2 << 100));
        let first = a.label(alice, "Alice", true);
        assert_eq!(first, format!("Alice [{}]", identity_code(alice)));
        assert_eq!(a.label(alice, "Alice", true), "Alice");
        // Someone else takes the name: both are told apart from now on.
        let other = a.label(impostor, "alice", false);
        assert_eq!(
            other,
            format!("alice [{} unverified]", identity_code(impostor))
        );
        assert_eq!(
            a.label(alice, "Alice", true),
            format!("Alice [{}]", identity_code(alice))
        );
        assert_ne!(identity_code(alice), identity_code(impostor));
    }
}
