//! What the UI sees: commands' results and events. These types are the contract with
//! `ui/`; their TypeScript twins are generated into `ui/src/bindings` by ts-rs.

use hearth::people::Trust;
use hearth::protocol::relations::Relation;
use hearth::protocol::{ChatMessage, ErrorCode, Member, PresenceEvent, Visibility};
use serde::{Deserialize, Serialize};
use ts_rs::TS;
use uuid::Uuid;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct Profile {
    pub user_id: Uuid,
    pub name: String,
    /// False until the user has confirmed a name (first run).
    pub name_confirmed: bool,
    pub data_dir: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
#[ts(export)]
pub enum Theme {
    #[default]
    System,
    Light,
    Dark,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[serde(default)]
#[ts(export)]
pub struct Settings {
    pub notifications: bool,
    pub theme: Theme,
    /// Rooms hosted when Hearth quit are hosted again when it starts.
    pub resume_hosting: bool,
    /// Closing the window keeps Hearth running (and hosting) in the tray.
    pub background: bool,
    /// Start Hearth when the user logs in.
    pub start_at_login: bool,
    /// Per room, which messages notify (absent: all).
    pub room_notify: std::collections::BTreeMap<Uuid, NotifyLevel>,
    /// What downloaded files may take on this computer; the least recently used go
    /// first (files marked "keep" never).
    #[ts(type = "number")]
    pub file_cache_bytes: u64,
}

/// Which messages of a room notify.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
#[ts(export)]
pub enum NotifyLevel {
    All,
    /// Only messages that mention this install's identity, or `@room`.
    Mentions,
    None,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            notifications: true,
            theme: Theme::System,
            resume_hosting: true,
            // Where closing to the tray is what people expect. On Linux many desktops
            // show no tray icons, and a hidden window could not be brought back.
            background: cfg!(any(windows, target_os = "macos")),
            start_at_login: false,
            room_notify: Default::default(),
            file_cache_bytes: hearth::files::cache::DEFAULT_LIMIT,
        }
    }
}

/// Whether this install can chat in a joined room right now, apart from the connection.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, TS)]
#[serde(tag = "state", rename_all = "snake_case")]
#[ts(export)]
pub enum RoomAccess {
    #[default]
    Ok,
    /// The host refused our rejoin (its passcode changed, or our resume token is no
    /// longer valid): the user has to type the passcode.
    NeedsPasscode { message: String },
    /// The host runs but does not host this room now; rejoined when it does again.
    NotHosted,
    /// The host owner removed us, or the room is for its members only: joined again
    /// only when the user asks (and the host lets us).
    Refused { message: String },
    /// The host presented another certificate than the pinned one: nothing is sent
    /// until the user trusts it (or the genuine host is back).
    IdentityChanged {
        address: String,
        expected: String,
        presented: String,
    },
}

/// The state of the connection to one room's host.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[serde(tag = "state", rename_all = "snake_case")]
#[ts(export)]
pub enum Connection {
    Connecting,
    Connected,
    /// Not connected; the next try is in `retry_in_ms`.
    Reconnecting {
        attempt: u32,
        #[ts(type = "number")]
        retry_in_ms: u64,
        reason: String,
        /// The host is known not to be running (it went away, or refuses connections).
        host_down: bool,
    },
    /// Not trying any more (left, or incompatible host).
    Closed {
        reason: String,
    },
}

/// A room in "Your rooms".
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct RoomView {
    pub room_id: Uuid,
    pub name: String,
    /// `host:port` the room is reached at.
    pub address: String,
    pub host_name: Option<String>,
    pub has_passcode: bool,
    pub unread: u32,
    /// Of the unread, those that mention this install (shown apart, as in Slack).
    pub mentions: u32,
    pub last_message: Option<ChatMessage>,
    /// Messages kept on this computer that the host's history no longer has (it went
    /// back in time): listed apart as "not on the host".
    pub unhosted: u32,
    pub connection: Connection,
    /// Members online, as last heard from the host (0 while offline).
    pub online: u32,
    /// This install hosts the room right now.
    pub hosted_by_me: bool,
    /// This install hosted the room before: hosting a room of the same name here
    /// reopens it with its history (offered when the app restarts).
    pub hostable: bool,
    /// Highest seq the user has seen.
    #[ts(type = "number")]
    pub read_seq: u64,
    /// SHA-256 of the host's certificate, pinned on the first visit (hex).
    pub fingerprint: Option<String>,
    /// The composer's saved draft ("" if none).
    pub draft: String,
    pub access: RoomAccess,
    /// The host's limit for a message's text, in Unicode code points.
    #[ts(type = "number")]
    pub max_text_chars: usize,
}

/// A room announced on the LAN.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct DiscoveredView {
    pub room_id: Uuid,
    pub name: String,
    pub host_name: Option<String>,
    pub has_passcode: bool,
    pub online: Option<u32>,
    /// The address a join would try first.
    pub address: Option<String>,
    /// Hosted by this install.
    pub ours: bool,
    /// Already in "Your rooms".
    pub joined: bool,
    /// The host speaks this app's protocol.
    pub compatible: bool,
}

/// A room this install is hosting.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct HostedView {
    pub room_id: Uuid,
    pub name: String,
    pub has_passcode: bool,
    pub invite: String,
    pub online: u32,
    pub visibility: Visibility,
    pub members_only: bool,
}

/// Someone seen in a room, as this user knows them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct PersonView {
    pub user_id: Uuid,
    /// The current name (online), else the last one seen.
    pub name: String,
    /// The identity code (protocol §3.7), compared aloud to verify someone.
    pub code: String,
    pub trust: Trust,
    pub online: bool,
    /// The room's host owner.
    pub owner: bool,
}

/// A message typed here that the host has not stored yet.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct PendingView {
    pub room_id: Uuid,
    pub client_msg_id: String,
    pub text: String,
    #[ts(type = "number")]
    pub created_at: i64,
    /// A reply, mentions, or an action (edit, delete, reaction) waiting to be stored.
    pub relation: Relation,
}

impl PendingView {
    pub fn of(e: hearth::store::OutboxEntry) -> PendingView {
        PendingView {
            room_id: e.room_id,
            client_msg_id: e.client_msg_id,
            text: e.text,
            created_at: e.created_at,
            relation: e.relation,
        }
    }
}

/// What the search box asks for (protocol-free: the local cache only).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct SearchRequest {
    pub text: String,
    #[ts(optional)]
    pub room_id: Option<Uuid>,
    #[ts(optional)]
    pub author: Option<Uuid>,
    /// Messages at or after this time (ms).
    #[ts(type = "number", optional)]
    pub since: Option<i64>,
    #[ts(type = "number", optional)]
    pub until: Option<i64>,
    /// The next page: hits older than this hit's `doc`.
    #[ts(optional)]
    pub before_doc: Option<String>,
}

/// One search result, newest first. `snippet` marks matches between U+E000 and U+E001.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct SearchHitView {
    pub room_id: Uuid,
    pub room: String,
    #[ts(type = "number")]
    pub seq: u64,
    #[ts(type = "number")]
    pub ts: i64,
    pub user_id: Uuid,
    pub author: String,
    pub snippet: String,
    /// Where this hit is in the index, for the next page. A string: the number is past
    /// JavaScript's safe integers (2^53), where neighbours would round to one value.
    pub doc: String,
}

/// A page of a room's history from the local cache.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct MessagePage {
    pub room_id: Uuid,
    /// Ascending by seq.
    pub messages: Vec<ChatMessage>,
    /// Nothing older exists (seq 1 is in the page, or the room is empty).
    pub at_start: bool,
    /// Not yet acknowledged by the host, in the order typed.
    pub pending: Vec<PendingView>,
}

/// Everything the core tells the UI, as it happens.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[serde(tag = "type", rename_all = "snake_case")]
#[ts(export)]
pub enum AppEvent {
    /// A file transfer started, progressed, or ended.
    Transfer { transfer: TransferView },
    /// A message newly in the local cache (live, resumed, or an older page).
    Message { message: ChatMessage },
    /// The host stored one of our messages.
    Ack {
        room_id: Uuid,
        client_msg_id: String,
        #[ts(type = "number")]
        seq: u64,
        #[ts(type = "number")]
        ts: i64,
    },
    /// The host refused one of our messages for good.
    SendFailed {
        room_id: Uuid,
        client_msg_id: String,
        code: ErrorCode,
        message: String,
    },
    Presence {
        room_id: Uuid,
        event: PresenceEvent,
        member: Member,
        online: u32,
    },
    Typing {
        room_id: Uuid,
        member: Member,
        active: bool,
    },
    /// A room was joined (or rejoined after a reconnect).
    Joined {
        // Boxed: a RoomView is several times the size of every other event.
        room: Box<RoomView>,
        members: Vec<Member>,
    },
    /// The cache is complete up to the host's head.
    Synced {
        room_id: Uuid,
        #[ts(type = "number")]
        head_seq: u64,
    },
    /// A join was refused (wrong passcode, throttled, unknown room...).
    JoinFailed {
        room_id: Option<Uuid>,
        code: ErrorCode,
        message: String,
        #[ts(type = "number | null")]
        retry_after_ms: Option<u64>,
    },
    /// The connection to a host changed; `rooms` are the rooms reached through it.
    Connection {
        address: String,
        rooms: Vec<Uuid>,
        connection: Connection,
    },
    /// An older page arrived from the host and is now in the cache.
    HistoryLoaded { room_id: Uuid, has_more: bool },
    /// The rooms on the LAN changed.
    Discovery { rooms: Vec<DiscoveredView> },
    /// A host presented another certificate than the pinned one. Nothing was sent; the
    /// rooms stay offline until the user trusts the new fingerprint (or it goes back).
    FingerprintMismatch {
        address: String,
        rooms: Vec<Uuid>,
        expected: String,
        presented: String,
    },
    /// The host's history for a room went back in time (a restored backup, a database
    /// copied without its -wal file). `set_aside` messages it no longer has are kept on
    /// this computer, apart, as "not on the host"; the room shows the host's history.
    HistoryDiverged { room_id: Uuid, set_aside: u32 },
    /// Events were dropped because the UI fell behind: read everything afresh.
    Resync,
    /// The rooms hosted here changed.
    Hosting { rooms: Vec<HostedView> },
    /// Whether a room can be chatted in changed (see [`RoomAccess`]).
    RoomAccess { room_id: Uuid, access: RoomAccess },
    /// Anything else worth showing.
    Error {
        room_id: Option<Uuid>,
        code: Option<ErrorCode>,
        message: String,
    },
}

/// A file transfer as the UI shows it: an upload of one message's files, or a download.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct TransferView {
    #[ts(type = "number")]
    pub id: u64,
    pub room_id: Uuid,
    pub direction: TransferDirection,
    /// The file's name (the first file's, with "+ N more", for several).
    pub name: String,
    #[ts(type = "number")]
    pub done: u64,
    #[ts(type = "number")]
    pub total: u64,
    pub state: TransferState,
    /// Downloads: the file.
    pub file_id: Option<String>,
    /// Uploads: the files, to try again with.
    pub paths: Vec<String>,
    /// Uploads: the message's text.
    pub caption: String,
    /// Why it failed.
    pub error: Option<TransferFailure>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
#[ts(export)]
pub enum TransferDirection {
    Upload,
    Download,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
#[ts(export)]
pub enum TransferState {
    /// Hashing the files and making previews.
    Preparing,
    Running,
    Done,
    Failed,
    Cancelled,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct TransferFailure {
    pub code: String,
    pub message: String,
}

/// A room's file limits, to show before a transfer starts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct FileLimitsView {
    #[ts(type = "number")]
    pub max_file_bytes: u64,
    #[ts(type = "number")]
    pub room_quota_bytes: u64,
    #[ts(type = "number")]
    pub room_used_bytes: u64,
}
