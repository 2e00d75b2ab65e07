//! One hosted room: who is in it, how far its log is committed, who is typing, and
//! fan-out to its members.
//!
//! The state sits behind a short `std::sync::Mutex`. Fan-out happens under that lock
//! so that a joining member sees `joined` strictly before any later `message`.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use tokio_tungstenite::tungstenite::Utf8Bytes;
use uuid::Uuid;

use crate::peer::{ConnId, Peer, Reads};
use crate::protocol::{
    encode, ChatMessage, HostFrame, Left, LeftReason, Member, Presence, PresenceEvent, RoomSummary,
    TypingEvent, Visibility,
};
use crate::store::RoomPolicy;

pub struct Room {
    pub id: Uuid,
    pub name: String,
    pub pass_hash: Option<String>,
    /// The host owner's user id (`None` on a plaintext host, which verifies nobody).
    owner_id: Option<Uuid>,
    state: Mutex<RoomState>,
}

/// A join that passed admission (protocol §3.8). Joining awaits the store and Argon2
/// before it adds the member; the ticket lets that last step see whether the host owner
/// removed the person meanwhile, so a removal always wins over a join racing it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JoinTicket {
    removals: u64,
}

/// Why a join cannot enter, passcode aside.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// A members-only room, and this is not a verified identity on its roster.
    NotAMember,
    /// The host owner removed this person while their join was under way.
    Removed,
}

pub struct RoomState {
    /// The highest seq committed and fanned out.
    pub committed_head: u64,
    members: HashMap<ConnId, (Member, Arc<Peer>)>,
    /// user id -> how many of its connections are here: who is online, in O(1) per
    /// join and leave (a join storm asks this once per join, and once per room in
    /// every `welcome`).
    users: HashMap<Uuid, u32>,
    /// user id -> (name, expiry)
    typing: HashMap<Uuid, (Member, Instant)>,
    /// No longer hosted: nobody joins it again (the host makes a new `Room` when it
    /// hosts it again).
    closed: bool,
    policy: RoomPolicy,
    /// Verified identities admitted before (the store's roster, mirrored).
    roster: HashSet<Uuid>,
    /// How many removals by the host owner this room has seen, and the count at each
    /// person's last one. One entry per removal the owner made, by hand.
    removals: u64,
    removed_at: HashMap<Uuid, u64>,
}

impl Room {
    pub fn new(id: Uuid, name: String, pass_hash: Option<String>, head_seq: u64) -> Room {
        Room {
            id,
            name,
            pass_hash,
            owner_id: None,
            state: Mutex::new(RoomState {
                committed_head: head_seq,
                members: HashMap::new(),
                users: HashMap::new(),
                typing: HashMap::new(),
                closed: false,
                policy: RoomPolicy::default(),
                roster: HashSet::new(),
                removals: 0,
                removed_at: HashMap::new(),
            }),
        }
    }

    /// The host owner's verified user id; None on a plaintext host.
    pub fn owner_id(&self) -> Option<Uuid> {
        self.owner_id
    }

    /// The room's owner, policy and roster, as the store has them.
    pub fn with_access(
        mut self,
        owner_id: Option<Uuid>,
        policy: RoomPolicy,
        roster: impl IntoIterator<Item = Uuid>,
    ) -> Room {
        self.owner_id = owner_id;
        let st = self.state.get_mut().unwrap_or_else(|p| p.into_inner());
        st.policy = policy;
        st.roster = roster.into_iter().collect();
        self
    }

    pub fn policy(&self) -> RoomPolicy {
        self.lock().policy
    }

    /// Whether `user` may join, passcode aside; the ticket is checked again by
    /// [`Room::may_enter`] when the join ends.
    pub fn admission(&self, user: &Member) -> Result<JoinTicket, Refusal> {
        let st = self.lock();
        if !st.policy.members_only || self.is_admitted(&st, user) {
            Ok(JoinTicket {
                removals: st.removals,
            })
        } else {
            Err(Refusal::NotAMember)
        }
    }

    /// Admission once more, under the lock the join adds its member under: the policy may
    /// have changed, or the owner removed this person, while the join awaited.
    pub fn may_enter(
        &self,
        st: &RoomState,
        user: &Member,
        ticket: JoinTicket,
    ) -> Result<(), Refusal> {
        if st
            .removed_at
            .get(&user.user_id)
            .is_some_and(|&at| at > ticket.removals)
        {
            Err(Refusal::Removed)
        } else if st.policy.members_only && !self.is_admitted(st, user) {
            Err(Refusal::NotAMember)
        } else {
            Ok(())
        }
    }

    fn is_admitted(&self, st: &RoomState, user: &Member) -> bool {
        user.verified && (Some(user.user_id) == self.owner_id || st.roster.contains(&user.user_id))
    }

    /// Whether `welcome` lists the room to `user`: a public room to everyone, an
    /// unlisted one to its owner and roster only.
    pub fn listed_to(&self, user: &Member) -> bool {
        let st = self.lock();
        st.policy.visibility == Visibility::Public || self.is_admitted(&st, user)
    }

    /// Puts a verified identity on the roster; true if it was not on it (the caller
    /// stores it). Unverified identities are never put on it: anyone can claim them.
    pub fn admit(&self, user: &Member) -> bool {
        user.verified && self.lock().roster.insert(user.user_id)
    }

    /// A new policy, at once. Turning members-only on removes whoever is here
    /// without being admitted (unverified connections).
    pub fn set_policy(&self, policy: RoomPolicy) {
        let mut st = self.lock();
        st.policy = policy;
        if policy.members_only {
            let outsiders: Vec<Uuid> = st
                .members
                .values()
                .filter(|(m, _)| !self.is_admitted(&st, m))
                .map(|(m, _)| m.user_id)
                .collect();
            for user in outsiders {
                self.remove_user_locked(&mut st, user);
            }
        }
    }

    /// The host owner removes a person: off the roster, and every connection of theirs
    /// out of the room (`left`, reason `removed`). True if they were here or listed.
    pub fn remove_user(&self, user_id: Uuid) -> bool {
        let mut st = self.lock();
        st.removals += 1;
        let at = st.removals;
        st.removed_at.insert(user_id, at);
        let listed = st.roster.remove(&user_id);
        self.remove_user_locked(&mut st, user_id) || listed
    }

    fn remove_user_locked(&self, st: &mut RoomState, user_id: Uuid) -> bool {
        let conns: Vec<ConnId> = st
            .members
            .iter()
            .filter(|(_, (m, _))| m.user_id == user_id)
            .map(|(c, _)| *c)
            .collect();
        let removed = Utf8Bytes::from(encode(&HostFrame::Left(Left {
            room_id: self.id,
            reason: Some(LeftReason::Removed),
        })));
        let mut last = None;
        for conn in &conns {
            if let Some((member, peer)) = st.members.remove(conn) {
                peer.push(removed.clone());
                last = Some(member);
            }
        }
        let Some(member) = last else {
            return false;
        };
        st.users.remove(&user_id);
        if let Some((typist, _)) = st.typing.remove(&user_id) {
            let ev = self.typing_frame(typist, false);
            st.broadcast(&ev, None);
        }
        let online = st.online();
        let f = presence_frame(self.id, PresenceEvent::Leave, member, online);
        st.broadcast(&f, None);
        true
    }

    pub fn lock(&self) -> MutexGuard<'_, RoomState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn summary(&self) -> RoomSummary {
        let st = self.lock();
        self.summary_locked(&st)
    }

    pub fn summary_locked(&self, st: &RoomState) -> RoomSummary {
        RoomSummary {
            room_id: self.id,
            name: self.name.clone(),
            has_passcode: self.pass_hash.is_some(),
            online: st.online(),
            head_seq: st.committed_head,
            visibility: st.policy.visibility,
            members_only: st.policy.members_only,
            owner_id: self.owner_id,
        }
    }

    /// Fans a committed message out to every member, in commit order.
    pub fn publish(&self, msg: &ChatMessage) {
        let frame = Utf8Bytes::from(encode(&HostFrame::Message(msg.clone())));
        // Encoded once for each kind of connection that reads it differently (protocol
        // §3.9, §3.10).
        let encode_as = |reads| {
            crate::peer::readable_as(msg, reads)
                .map(|m| Utf8Bytes::from(encode(&HostFrame::Message(m))))
        };
        let relations_only = encode_as(Reads::Relations);
        let plain = encode_as(Reads::Plain);
        let mut st = self.lock();
        st.committed_head = st.committed_head.max(msg.seq);
        // Sending a message ends its author's typing indicator, as in every chat app.
        let stop = st.typing.remove(&msg.user_id);
        if relations_only.is_none() && plain.is_none() {
            st.broadcast(&frame, None);
        } else {
            for (_, peer) in st.members.values() {
                let f = match peer.reads() {
                    Reads::Everything => &frame,
                    Reads::Relations => relations_only.as_ref().unwrap_or(&frame),
                    Reads::Plain => plain.as_ref().unwrap_or(&frame),
                };
                peer.push(f.clone());
            }
        }
        if let Some((typist, _)) = stop {
            let ev = self.typing_frame(typist, false);
            st.broadcast(&ev, None);
        }
    }

    /// Removes a connection; announces `leave` (or `timeout`) if it was the user's last.
    pub fn remove(&self, conn: ConnId, event: PresenceEvent) {
        let mut st = self.lock();
        let Some((member, _)) = st.members.remove(&conn) else {
            return;
        };
        if st.leave_user(member.user_id) {
            if let Some((typist, _)) = st.typing.remove(&member.user_id) {
                let ev = self.typing_frame(typist, false);
                st.broadcast(&ev, None);
            }
            let online = st.online();
            let f = presence_frame(self.id, event, member, online);
            st.broadcast(&f, None);
        }
    }

    /// Renames a member everywhere it is connected from.
    pub fn rename(&self, user_id: Uuid, name: &str) {
        let mut st = self.lock();
        let mut changed = None;
        for (m, _) in st.members.values_mut() {
            if m.user_id == user_id && m.name != name {
                m.name = name.to_string();
                changed = Some(m.clone());
            }
        }
        if let Some(member) = changed {
            let online = st.online();
            let f = presence_frame(self.id, PresenceEvent::Rename, member, online);
            st.broadcast(&f, None);
        }
    }

    /// Starts or stops a typing indicator. Returns false if nothing changed.
    pub fn set_typing(&self, member: &Member, active: bool, ttl: std::time::Duration) {
        let mut st = self.lock();
        let was = st.typing.contains_key(&member.user_id);
        if active {
            st.typing
                .insert(member.user_id, (member.clone(), Instant::now() + ttl));
        } else {
            st.typing.remove(&member.user_id);
        }
        if was != active {
            let f = self.typing_frame(member.clone(), active);
            st.broadcast(&f, None);
        }
    }

    /// Expires typing indicators whose owner went quiet.
    pub fn expire_typing(&self, now: Instant) {
        let mut st = self.lock();
        let expired: Vec<Member> = st
            .typing
            .values()
            .filter(|(_, until)| *until <= now)
            .map(|(m, _)| m.clone())
            .collect();
        for typist in expired {
            st.typing.remove(&typist.user_id);
            let f = self.typing_frame(typist, false);
            st.broadcast(&f, None);
        }
    }

    /// The host stopped hosting this room: every member is told (`left` with reason
    /// `closed`) and taken out, and their connections stay open for their other rooms.
    pub fn close(&self) {
        let left = Utf8Bytes::from(encode(&HostFrame::Left(Left {
            room_id: self.id,
            reason: Some(LeftReason::Closed),
        })));
        let mut st = self.lock();
        st.closed = true;
        st.broadcast(&left, None);
        st.members.clear();
        st.users.clear();
        st.typing.clear();
    }

    pub fn is_closed(&self) -> bool {
        self.lock().closed
    }

    /// Closes every member connection (room replaced, or host shutting down).
    pub fn kick_all(&self, code: u16) {
        let st = self.lock();
        for (_, p) in st.members.values() {
            p.kick(code);
        }
    }

    fn typing_frame(&self, member: Member, active: bool) -> Utf8Bytes {
        Utf8Bytes::from(encode(&HostFrame::Typing(TypingEvent {
            room_id: self.id,
            member,
            active,
        })))
    }
}

impl RoomState {
    /// Distinct users online.
    pub fn online(&self) -> u32 {
        u32::try_from(self.users.len()).unwrap_or(u32::MAX)
    }

    /// One connection of `user` left; true if it was the user's last.
    fn leave_user(&mut self, user: Uuid) -> bool {
        match self.users.get_mut(&user) {
            Some(n) if *n > 1 => {
                *n -= 1;
                false
            }
            Some(_) => {
                self.users.remove(&user);
                true
            }
            None => true,
        }
    }

    pub fn members(&self) -> Vec<Member> {
        let mut seen = HashMap::new();
        for (m, _) in self.members.values() {
            seen.entry(m.user_id).or_insert_with(|| m.clone());
        }
        let mut v: Vec<Member> = seen.into_values().collect();
        v.sort_by(|a, b| {
            a.name
                .to_lowercase()
                .cmp(&b.name.to_lowercase())
                .then(a.user_id.cmp(&b.user_id))
        });
        v
    }

    pub fn is_closed(&self) -> bool {
        self.closed
    }

    pub fn contains(&self, conn: ConnId) -> bool {
        self.members.contains_key(&conn)
    }

    /// Adds a connection (the caller has already queued `joined` to it). Announces the
    /// user to the others if this is their first connection.
    pub fn add(&mut self, room_id: Uuid, member: Member, peer: Arc<Peer>) {
        let id = peer.id;
        if self.members.insert(id, (member.clone(), peer)).is_some() {
            // Joined again on the same connection: nobody new.
            return;
        }
        let connections = self.users.entry(member.user_id).or_insert(0);
        *connections += 1;
        if *connections == 1 {
            let online = self.online();
            let f = presence_frame(room_id, PresenceEvent::Join, member, online);
            self.broadcast(&f, Some(id));
        }
    }

    fn broadcast(&self, frame: &Utf8Bytes, except: Option<ConnId>) {
        for (id, (_, peer)) in &self.members {
            if Some(*id) != except {
                // A full queue kicks that peer; the others are unaffected.
                peer.push(frame.clone());
            }
        }
    }
}

fn presence_frame(room_id: Uuid, event: PresenceEvent, member: Member, online: u32) -> Utf8Bytes {
    Utf8Bytes::from(encode(&HostFrame::Presence(Presence {
        room_id,
        event,
        member,
        online,
    })))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::peer::OutgoingBudget;

    fn member(user_id: Uuid, name: &str) -> Member {
        Member {
            user_id,
            name: name.into(),
            verified: false,
        }
    }

    /// Online counts people, not connections: a second device, a join repeated on the same
    /// connection, and leaving one of two devices change nothing for the others.
    #[test]
    fn online_counts_people_and_presence_goes_out_once_per_person() {
        let room = Room::new(Uuid::new_v4(), "Design".into(), None, 0);
        let budget = OutgoingBudget::new(1 << 20);
        let (watcher, mut watched) = Peer::new(64, 1 << 20, Arc::clone(&budget));
        let (laptop, _l) = Peer::new(64, 1 << 20, Arc::clone(&budget));
        let (phone, _p) = Peer::new(64, 1 << 20, Arc::clone(&budget));
        let (w, n) = (Uuid::new_v4(), Uuid::new_v4());
        room.lock()
            .add(room.id, member(w, "Watcher"), Arc::clone(&watcher));
        room.lock()
            .add(room.id, member(n, "نور"), Arc::clone(&laptop));
        room.lock()
            .add(room.id, member(n, "نور"), Arc::clone(&laptop));
        room.lock()
            .add(room.id, member(n, "نور"), Arc::clone(&phone));
        assert_eq!(room.lock().online(), 2);
        assert_eq!(room.lock().members().len(), 2);
        room.remove(laptop.id, PresenceEvent::Leave);
        assert_eq!(room.lock().online(), 2, "the phone is still here");
        room.remove(phone.id, PresenceEvent::Leave);
        assert_eq!(room.lock().online(), 1);
        let mut frames = Vec::new();
        while let Some(f) = watched.try_recv() {
            frames.push(f.to_string());
        }
        assert_eq!(frames.len(), 2, "one join and one leave: {frames:?}");
        assert!(frames[0].contains(r#""event":"join""#) && frames[0].contains(r#""online":2"#));
        assert!(frames[1].contains(r#""event":"leave""#) && frames[1].contains(r#""online":1"#));
    }
}
