//! The people of a room as this user knows them: identity codes, whom they verified,
//! a changed key under a verified name, newcomers (rules in `hearth::people`).

use hearth::people::{assess, Sighting};
use hearth::protocol::now_ms;
use uuid::Uuid;

use crate::views::PersonView;
use crate::AppError;

use super::*;

impl App {
    /// Everyone seen in a room: online members first, then the authors of its history.
    /// Store reads: call it off the UI thread.
    pub fn people(&self, room_id: Uuid) -> Result<Vec<PersonView>, AppError> {
        let store = &self.inner.store;
        let verified = store.verified_people()?;
        let seen = store.seen_in_room(room_id)?;
        let joined_at = store.joined_at(room_id)?;
        let online = self.members(room_id);
        let owner_id = lock(&self.inner.live)
            .get(&room_id)
            .and_then(|l| l.owner_id);
        let verified_authors = store.verified_authors(room_id)?;
        let now = now_ms();
        // Trust from everything known of one identity: its current name, the name it was
        // first seen with, and when that was.
        let view = |user_id: Uuid, name: &str, host_verified: bool| {
            let sighting = seen.iter().find(|s| s.user_id == user_id);
            let mut names = vec![name];
            names.extend(sighting.map(|s| s.name.as_str()).filter(|n| *n != name));
            let trust = assess(
                &Sighting {
                    user_id,
                    names,
                    host_verified,
                    first_seen_at: sighting.map(|s| s.first_seen_at),
                    is_me: user_id == self.inner.user_id,
                },
                &verified,
                joined_at,
                now,
            );
            PersonView {
                user_id,
                name: name.to_string(),
                code: hearth::people::code(user_id),
                trust,
                online: false,
                owner: Some(user_id) == owner_id,
            }
        };
        let mut out: Vec<PersonView> = online
            .iter()
            .map(|m| PersonView {
                online: true,
                ..view(m.user_id, &m.name, m.verified)
            })
            .collect();
        for s in &seen {
            if out.iter().all(|p| p.user_id != s.user_id) {
                out.push(view(
                    s.user_id,
                    &s.name,
                    verified_authors.contains(&s.user_id),
                ));
            }
        }
        Ok(out)
    }

    /// Marks someone verified, after comparing identity codes with them.
    pub fn verify_person(&self, user_id: Uuid, name: &str) -> Result<(), AppError> {
        Ok(self.inner.store.set_verified(user_id, Some(name))?)
    }

    pub fn unverify_person(&self, user_id: Uuid) -> Result<(), AppError> {
        Ok(self.inner.store.set_verified(user_id, None)?)
    }
}
