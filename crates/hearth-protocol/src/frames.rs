//! The frames: what a client sends (`ClientFrame`) and what a host sends (`HostFrame`),
//! with their payloads. Each frame's wire name is written once, in the `frames!` lists.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{ErrorFrame, Timestamp};

/// Declares a frame enum from `Variant(Payload) = "wire name"` lines: the serde names,
/// `kind()` and `TYPES` all come from that one list.
macro_rules! frames {
    ($(#[$meta:meta])* pub enum $name:ident { $($(#[$vmeta:meta])* $variant:ident($payload:ty) = $wire:literal,)* }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
        #[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
        #[serde(tag = "type", content = "payload")]
        pub enum $name {
            $($(#[$vmeta])* #[serde(rename = $wire)] $variant($payload),)*
        }

        impl $name {
            /// Every frame type's wire name.
            pub const TYPES: &'static [&'static str] = &[$($wire),*];

            /// The wire name of this frame's type (`error.request` names it).
            pub fn kind(&self) -> &'static str {
                match self {
                    $($name::$variant(_) => $wire,)*
                }
            }
        }
    };
}

frames! {
    /// Frames a client sends to the host.
    pub enum ClientFrame {
        Hello(Hello) = "hello",
        Join(Join) = "join",
        Leave(RoomRef) = "leave",
        Send(Send) = "send",
        Typing(TypingState) = "typing",
        History(HistoryRequest) = "history",
        Rename(Rename) = "rename",
    }
}

impl ClientFrame {
    /// The room a frame refers to, if any.
    pub fn room_id(&self) -> Option<Uuid> {
        match self {
            ClientFrame::Join(j) => Some(j.room_id),
            ClientFrame::Leave(r) => Some(r.room_id),
            ClientFrame::Send(s) => Some(s.room_id),
            ClientFrame::Typing(t) => Some(t.room_id),
            ClientFrame::History(h) => Some(h.room_id),
            ClientFrame::Hello(_) | ClientFrame::Rename(_) => None,
        }
    }
}

frames! {
    /// Frames the host sends to a client.
    pub enum HostFrame {
        Welcome(Welcome) = "welcome",
        Joined(Joined) = "joined",
        Left(Left) = "left",
        Ack(Ack) = "ack",
        Message(ChatMessage) = "message",
        Presence(Presence) = "presence",
        Typing(TypingEvent) = "typing",
        HistoryPage(HistoryPage) = "history_page",
        Error(ErrorFrame) = "error",
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct Hello {
    pub protocol: u32,
    pub user_id: Uuid,
    pub name: String,
    /// Optional features this client understands (§3.6); absent from a v1-only client.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub capabilities: Vec<String>,
    /// Proof that this client holds the key `user_id` is derived from (§3.7); absent
    /// from a client without identity, which is then unverified.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub identity: Option<crate::identity::HelloIdentity>,
}

/// Optional features beyond protocol 1 (docs/protocol.md §3.6). A client offers the names
/// it understands in `hello`; the host answers in `welcome` with those it supports too,
/// and from then on both use only those. Unknown names are ignored on both sides, so a
/// newer client meets an older host (and the reverse) on what both support.

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct Join {
    pub room_id: Uuid,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub passcode: Option<String>,
    /// Resume point: the host replies with the messages whose seq is greater.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(type = "number | null"))]
    pub since_seq: Option<u64>,
    /// Instead of the passcode: the token an earlier `joined` handed out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resume_token: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct RoomRef {
    pub room_id: Uuid,
}

/// The host's `left` (§5.4): the answer to a `leave`, or, with a reason, the host taking
/// this connection out of a room on its own.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct Left {
    pub room_id: Uuid,
    /// Absent: this connection asked to leave.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<LeftReason>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
#[serde(rename_all = "snake_case")]
pub enum LeftReason {
    /// The host stopped hosting the room. The connection stays open for its other
    /// rooms; a `join` works again once the room is hosted again.
    Closed,
    /// The host owner removed this member. Joining again needs the passcode (the
    /// member's resume tokens are revoked), and a members-only room refuses it.
    Removed,
    /// A reason from a newer host.
    #[serde(other)]
    Other,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct Send {
    pub room_id: Uuid,
    /// Chosen by the client; a resend with the same id is answered with the original ack.
    pub client_msg_id: String,
    /// The message, the new text of an edit, or the emoji of a reaction; empty for a
    /// delete.
    pub text: String,
    /// With the `relations` capability (§3.9): absent for a message, or one of the
    /// actions `edit`, `delete`, `react`, `unreact`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub kind: Option<String>,
    /// The seq of the message an action acts on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(type = "number", optional))]
    pub target: Option<u64>,
    /// The seq of the message this one replies to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(type = "number", optional))]
    pub reply_to: Option<u64>,
    /// The user ids this message mentions (verified identities, not names in the text).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[cfg_attr(feature = "ts", ts(optional, as = "Option<Vec<Uuid>>"))]
    pub mentions: Vec<Uuid>,
    /// `@room`: this message mentions everyone in the room.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    #[cfg_attr(feature = "ts", ts(as = "Option<bool>", optional))]
    pub mentions_room: bool,
    /// With the `files` capability (§3.10): files the host already holds for the room.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[cfg_attr(
        feature = "ts",
        ts(optional, as = "Option<Vec<crate::files::Attachment>>")
    )]
    pub attachments: Vec<crate::files::Attachment>,
}

impl Send {
    /// Does this send carry a reply, mentions or an action (§3.9)?
    pub fn has_relation(&self) -> bool {
        self.kind.is_some()
            || self.target.is_some()
            || self.reply_to.is_some()
            || !self.mentions.is_empty()
            || self.mentions_room
    }

    /// Does this send carry files (§3.10)?
    pub fn has_files(&self) -> bool {
        !self.attachments.is_empty()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct TypingState {
    pub room_id: Uuid,
    pub active: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct HistoryRequest {
    pub room_id: Uuid,
    /// Page backwards: messages with seq < before_seq, newest page first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(type = "number | null"))]
    pub before_seq: Option<u64>,
    /// Page forwards: messages with seq > after_seq (used to finish a resume).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(type = "number | null"))]
    pub after_seq: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct Rename {
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct Welcome {
    pub protocol: u32,
    pub host_id: Uuid,
    pub host_name: String,
    pub rooms: Vec<RoomSummary>,
    pub limits: PublicLimits,
    /// The optional features in use on this connection (§3.6): what the client offered
    /// and the host supports. Absent from an older host: none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub capabilities: Vec<String>,
    /// The host checked this connection's key (§3.7): the user id is verified. Absent
    /// (false) without a proof, from a plaintext host, and from an older host.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    #[cfg_attr(feature = "ts", ts(as = "Option<bool>", optional))]
    pub verified: bool,
}

/// The limits a well-behaved client needs to know to stay within them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct PublicLimits {
    pub max_frame_bytes: usize,
    pub max_text_chars: usize,
    pub messages_per_sec: u32,
    pub message_burst: u32,
    pub max_history_page: u32,
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub heartbeat_interval_ms: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct RoomSummary {
    pub room_id: Uuid,
    pub name: String,
    pub has_passcode: bool,
    pub online: u32,
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub head_seq: u64,
    /// Who may see the room listed (§3.8). Absent: public.
    #[serde(default, skip_serializing_if = "Visibility::is_public")]
    #[cfg_attr(feature = "ts", ts(as = "Option<Visibility>", optional))]
    pub visibility: Visibility,
    /// Only identities the host has admitted before may join (§3.8).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    #[cfg_attr(feature = "ts", ts(as = "Option<bool>", optional))]
    pub members_only: bool,
    /// The host owner's verified user id: the only person who can change the room's
    /// passcode, visibility or members. Absent from a plaintext host and older hosts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub owner_id: Option<Uuid>,
}

/// Where a room is listed (§3.8).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
#[serde(rename_all = "snake_case")]
pub enum Visibility {
    /// Listed in every `welcome` and announced on the LAN.
    #[default]
    Public,
    /// Joinable by its link; listed only to its members and never announced.
    Unlisted,
}

impl Visibility {
    pub fn is_public(&self) -> bool {
        *self == Visibility::Public
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Visibility::Public => "public",
            Visibility::Unlisted => "unlisted",
        }
    }

    pub fn parse(s: &str) -> Option<Visibility> {
        match s {
            "public" => Some(Visibility::Public),
            "unlisted" => Some(Visibility::Unlisted),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct Member {
    pub user_id: Uuid,
    pub name: String,
    /// The host checked this member's key (§3.7). False for clients without identity
    /// and for every member of a plaintext host.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    #[cfg_attr(feature = "ts", ts(as = "Option<bool>", optional))]
    pub verified: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct Joined {
    pub room: RoomSummary,
    pub members: Vec<Member>,
    /// In ascending seq order.
    pub messages: Vec<ChatMessage>,
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub head_seq: u64,
    /// True when a resume had more than one page: fetch the rest with `history.after_seq`.
    pub has_more: bool,
    /// For rooms with a passcode: present this in later joins instead of the passcode,
    /// so the client never has to keep the passcode. Valid until the passcode changes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resume_token: Option<String>,
    /// With the `files` capability: the grant for this room's file endpoints (§15).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub files: Option<crate::files::FilesGrant>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct Ack {
    pub room_id: Uuid,
    pub client_msg_id: String,
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub seq: u64,
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub ts: Timestamp,
    /// True when this acknowledges a resend of an already stored message.
    pub duplicate: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct ChatMessage {
    pub room_id: Uuid,
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub seq: u64,
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub ts: Timestamp,
    pub user_id: Uuid,
    pub author: String,
    pub client_msg_id: String,
    pub text: String,
    /// What kind of message this is; absent for plain text, the only kind of protocol 1.
    /// Kinds come with the `message_kinds` capability (§3.6). `text` is always a plain
    /// fallback, shown with "unsupported message" by a client that does not know the
    /// kind.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub kind: Option<String>,
    /// The host checked the author's key when it received this message (§3.7).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    #[cfg_attr(feature = "ts", ts(as = "Option<bool>", optional))]
    pub verified: bool,
    /// For an action (§3.9): the seq of the message it acts on (for an edit, always the
    /// original message, never another edit).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(type = "number", optional))]
    pub target: Option<u64>,
    /// The seq of the message this one replies to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(type = "number", optional))]
    pub reply_to: Option<u64>,
    /// The user ids this message mentions.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[cfg_attr(feature = "ts", ts(optional, as = "Option<Vec<Uuid>>"))]
    pub mentions: Vec<Uuid>,
    /// `@room`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    #[cfg_attr(feature = "ts", ts(as = "Option<bool>", optional))]
    pub mentions_room: bool,
    /// Set on a message that was deleted: its text (and its edits' texts) are gone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub deleted: Option<Deleted>,
    /// With the `files` capability (§3.10): files the host already holds for the room.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[cfg_attr(
        feature = "ts",
        ts(optional, as = "Option<Vec<crate::files::Attachment>>")
    )]
    pub attachments: Vec<crate::files::Attachment>,
}

/// Who deleted a message (§3.9).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct Deleted {
    /// The seq of the `delete` event.
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub seq: u64,
    /// The deleter's user id: the author, or the host owner.
    pub by: Uuid,
    /// The room's host owner removed someone else's message ("removed by the host").
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    #[cfg_attr(feature = "ts", ts(as = "Option<bool>", optional))]
    pub by_owner: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub enum PresenceEvent {
    Join,
    Leave,
    /// The member's connection stopped answering heartbeats.
    Timeout,
    Rename,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct Presence {
    pub room_id: Uuid,
    pub event: PresenceEvent,
    pub member: Member,
    pub online: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct TypingEvent {
    pub room_id: Uuid,
    pub member: Member,
    pub active: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct HistoryPage {
    pub room_id: Uuid,
    /// In ascending seq order, whichever direction was asked for.
    pub messages: Vec<ChatMessage>,
    /// True when more messages exist further in the requested direction.
    pub has_more: bool,
}
