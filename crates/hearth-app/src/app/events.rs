//! The event pump of a session: each client event becomes app state and an
//! [`AppEvent`] for the UI.

use hearth::client::ClientEvent;
use hearth::protocol::{ErrorCode, PresenceEvent};
use hearth::ConnectionState;
use tokio::sync::mpsc;
use uuid::Uuid;

use crate::views::*;

use super::*;

pub(super) fn connection_view(s: &ConnectionState) -> Connection {
    match s {
        ConnectionState::Connecting => Connection::Connecting,
        ConnectionState::Connected => Connection::Connected,
        ConnectionState::Reconnecting {
            attempt,
            retry_in,
            reason,
            host_down,
        } => Connection::Reconnecting {
            attempt: *attempt,
            retry_in_ms: retry_in.as_millis() as u64,
            reason: reason.clone(),
            host_down: *host_down,
        },
        ConnectionState::Closed { reason } => Connection::Closed {
            reason: reason.clone(),
        },
    }
}

/// Turns one client's events into app events, keeping the live room state current.
pub(super) async fn pump(
    app: App,
    address: String,
    id: u64,
    mut events: mpsc::Receiver<ClientEvent>,
) {
    while let Some(ev) = events.recv().await {
        let inner = &app.inner;
        // A replaced session's last words ("closed", a stale member list) must not
        // overwrite the state of the session that replaced it at the same address; the
        // messages it stored are still news.
        let current = lock(&inner.sessions)
            .get(&address)
            .is_some_and(|s| s.id == id);
        if !current
            && !matches!(
                ev,
                ClientEvent::Message(_) | ClientEvent::Ack { .. } | ClientEvent::SendFailed { .. }
            )
        {
            continue;
        }
        match ev {
            ClientEvent::State(s) => {
                let connection = connection_view(&s);
                let rooms: Vec<Uuid> = {
                    let mut sessions = lock(&inner.sessions);
                    match sessions.get_mut(&address) {
                        Some(sess) => {
                            sess.connection = connection.clone();
                            sess.rooms.iter().copied().collect()
                        }
                        None => continue,
                    }
                };
                app.emit(AppEvent::Connection {
                    address: address.clone(),
                    rooms,
                    connection,
                });
            }
            ClientEvent::Welcome(w) => {
                if let Some(s) = lock(&inner.sessions).get_mut(&address) {
                    s.max_text_chars = w.limits.max_text_chars;
                }
            }
            ClientEvent::Secured { .. } => {}
            ClientEvent::FingerprintMismatch {
                address: addr,
                expected,
                presented,
            } => {
                let rooms: Vec<Uuid> = lock(&inner.sessions)
                    .get(&address)
                    .map(|s| s.rooms.iter().copied().collect())
                    .unwrap_or_default();
                for r in &rooms {
                    app.set_access(
                        *r,
                        RoomAccess::IdentityChanged {
                            address: addr.clone(),
                            expected: expected.clone(),
                            presented: presented.clone(),
                        },
                    );
                }
                app.emit(AppEvent::FingerprintMismatch {
                    address: addr,
                    rooms,
                    expected,
                    presented,
                });
            }
            ClientEvent::Joined { room, members } => {
                lock(&inner.live).insert(
                    room.room_id,
                    RoomLive {
                        members: members.clone(),
                        online: room.online,
                        owner_id: room.owner_id,
                    },
                );
                lock(&inner.user_joins).remove(&room.room_id);
                app.set_access(room.room_id, RoomAccess::Ok);
                let hosted = app.hosted_ids();
                let (reader, room_id) = (app.clone(), room.room_id);
                // SQLite off the runtime: this task pumps every event of the session.
                let read = tokio::task::spawn_blocking(move || {
                    let hostable = reader.hostable_ids().unwrap_or_default();
                    let store = &reader.inner.store;
                    let overview = store.room_overview(room_id, reader.inner.user_id, draft_key);
                    (hostable, overview)
                })
                .await;
                if let Ok((hostable, Ok(Some(overview)))) = read {
                    app.emit(AppEvent::Joined {
                        room: Box::new(app.room_view(overview, &hosted, &hostable)),
                        members,
                    });
                }
            }
            ClientEvent::Synced { room_id, head_seq } => {
                app.emit(AppEvent::Synced { room_id, head_seq })
            }
            ClientEvent::HistoryDiverged { room_id, set_aside } => {
                app.emit(AppEvent::HistoryDiverged {
                    room_id,
                    set_aside: u32::try_from(set_aside).unwrap_or(u32::MAX),
                })
            }
            ClientEvent::Message(message) => app.emit(AppEvent::Message { message }),
            ClientEvent::Ack {
                room_id,
                client_msg_id,
                seq,
                ts,
            } => app.emit(AppEvent::Ack {
                room_id,
                client_msg_id,
                seq,
                ts,
            }),
            ClientEvent::SendFailed {
                room_id,
                client_msg_id,
                error,
            } => app.emit(AppEvent::SendFailed {
                room_id,
                client_msg_id,
                code: error.code,
                message: error.message,
            }),
            ClientEvent::Presence(p) => {
                {
                    let mut live = lock(&inner.live);
                    let l = live.entry(p.room_id).or_default();
                    l.online = p.online;
                    l.members.retain(|m| m.user_id != p.member.user_id);
                    if p.event != PresenceEvent::Leave && p.event != PresenceEvent::Timeout {
                        l.members.push(p.member.clone());
                        l.members.sort_by_key(|m| m.name.to_lowercase());
                    }
                }
                // Never wait for a host that is starting or stopping: every room's events
                // come through here. The re-announce ticker refreshes it later anyway.
                if let Ok(hosting) = inner.hosting.try_lock() {
                    if let Some(h) = &*hosting {
                        h.refresh().await;
                    }
                }
                app.emit(AppEvent::Presence {
                    room_id: p.room_id,
                    event: p.event,
                    member: p.member,
                    online: p.online,
                });
            }
            ClientEvent::Typing(t) => app.emit(AppEvent::Typing {
                room_id: t.room_id,
                member: t.member,
                active: t.active,
            }),
            ClientEvent::HistoryPage(p) => app.emit(AppEvent::HistoryLoaded {
                room_id: p.room_id,
                has_more: p.has_more,
            }),
            ClientEvent::JoinFailed { room_id, error } => {
                let asked = lock(&inner.user_joins).remove(&room_id);
                let known = inner.store.joined_room(room_id).ok().flatten().is_some();
                if known {
                    // A room of "Your rooms" stays there, saying what it needs.
                    let access = match error.code {
                        ErrorCode::UnknownRoom => Some(RoomAccess::NotHosted),
                        ErrorCode::NotAMember => Some(RoomAccess::Refused {
                            message: error.message.clone(),
                        }),
                        ErrorCode::PasscodeRequired
                        | ErrorCode::WrongPasscode
                        | ErrorCode::Throttled => Some(RoomAccess::NeedsPasscode {
                            message: error.message.clone(),
                        }),
                        _ => None,
                    };
                    if let Some(a) = access {
                        app.set_access(room_id, a);
                    }
                } else if let Some(s) = lock(&inner.sessions).get_mut(&address) {
                    // A refused new room is not ours to keep trying.
                    s.rooms.remove(&room_id);
                }
                if asked || !known {
                    app.emit(AppEvent::JoinFailed {
                        room_id: Some(room_id),
                        code: error.code,
                        message: error.message,
                        retry_after_ms: error.retry_after_ms,
                    });
                }
            }
            ClientEvent::Left { .. } => {}
            ClientEvent::Removed { room_id } => {
                // Kept in "Your rooms" with its history; joined again only when asked.
                app.set_access(
                    room_id,
                    RoomAccess::Refused {
                        message: "The host removed you from this room.".into(),
                    },
                );
                if let Some(live) = lock(&app.inner.live).get_mut(&room_id) {
                    live.members.clear();
                    live.online = 0;
                }
            }
            ClientEvent::RoomClosed { room_id } => {
                // As a refused join would say; the not-hosted retry joins it again.
                app.set_access(room_id, RoomAccess::NotHosted);
                if let Some(live) = lock(&app.inner.live).get_mut(&room_id) {
                    live.members.clear();
                    live.online = 0;
                }
            }
            // A rate-limited send is retried by the client and loses nothing: not news.
            ClientEvent::Error(e)
                if e.code == ErrorCode::RateLimited && e.request.as_deref() == Some("send") => {}
            ClientEvent::Error(e) => app.emit(AppEvent::Error {
                room_id: e.room_id,
                code: Some(e.code),
                message: e.message,
            }),
        }
    }
}
