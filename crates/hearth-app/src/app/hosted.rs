//! The rooms hosted here: hosting and stopping, resuming them at start, and which are
//! hosted now.

use std::collections::HashSet;
use std::sync::Arc;

use hearth::protocol::normalize_name;
use uuid::Uuid;

use crate::views::*;
use crate::AppError;
use hearth::protocol::Visibility;
use hearth::store::RoomPolicy;
use hearth::PasscodeSetting;

use super::*;

impl App {
    /// Hosts again the rooms that were hosted when the app last quit.
    pub(super) async fn resume_hosting(&self) {
        let ids = self.hosting_list();
        let Ok(hosted) = self.inner.store.hosted_rooms() else {
            return;
        };
        for room in hosted.iter().filter(|r| ids.contains(&r.room_id)) {
            if let Err(e) = self.host_room(&room.name, None, true).await {
                tracing::warn!(room = %room.name, error = %e, "cannot host the room again");
                self.emit(AppEvent::Error {
                    room_id: Some(room.room_id),
                    code: None,
                    message: format!("Could not host {} again: {}", room.name, e.message()),
                });
            }
        }
    }

    pub(super) fn hosting_list(&self) -> Vec<Uuid> {
        self.inner
            .store
            .setting(HOSTING_KEY)
            .ok()
            .flatten()
            .and_then(|s| serde_json::from_str(&s).ok())
            .unwrap_or_default()
    }

    pub(super) fn set_hosting_list(&self, ids: &[Uuid]) -> Result<(), AppError> {
        let json = serde_json::to_string(ids).map_err(|e| AppError::Invalid(e.to_string()))?;
        Ok(self.inner.store.set_setting(HOSTING_KEY, &json)?)
    }

    pub(super) fn hostable_ids(&self) -> Result<HashSet<Uuid>, AppError> {
        Ok(self
            .inner
            .store
            .hosted_rooms()?
            .into_iter()
            .map(|h| h.room_id)
            .collect())
    }

    pub(super) fn hosted_ids(&self) -> HashSet<Uuid> {
        lock(&self.inner.hosted_now).clone()
    }

    /// Records which rooms are hosted now (after a room opened or closed).
    pub(super) fn set_hosted_now(&self, views: &[HostedView]) {
        *lock(&self.inner.hosted_now) = views.iter().map(|v| v.room_id).collect();
    }

    /// Hosts a room (reopening it, with its history, if one of that name was hosted
    /// here before) and joins it. Returns its invite link. `keep_passcode` reopens a
    /// room with the passcode it had (`passcode` is then ignored); otherwise `passcode`
    /// replaces it (`None`: no passcode).
    pub async fn host_room(
        &self,
        name: &str,
        passcode: Option<String>,
        keep_passcode: bool,
    ) -> Result<HostedView, AppError> {
        let name = normalize_name(name).ok_or(AppError::InvalidName)?;
        let passcode = passcode.filter(|p| !p.is_empty() && !keep_passcode);
        let mut hosting = self.inner.hosting.lock().await;
        if hosting.is_none() {
            let host_name = lock(&self.inner.name).clone();
            *hosting = Some(
                crate::hosting::start(
                    Arc::clone(&self.inner.store),
                    &self.inner.config.data_dir,
                    host_name,
                    self.inner.config.bind,
                    self.inner.config.mdns.clone(),
                )
                .await?,
            );
        }
        let h = hosting.as_ref().ok_or(AppError::NotFound)?;
        let setting = match (&passcode, keep_passcode) {
            (Some(p), _) => PasscodeSetting::Set(p),
            (None, true) => PasscodeSetting::Keep,
            (None, false) => PasscodeSetting::Open,
        };
        let summary = h.open(&name, setting).await?;
        let view = HostedView {
            room_id: summary.room_id,
            name: summary.name.clone(),
            has_passcode: summary.has_passcode,
            invite: h.invite(summary.room_id).to_string(),
            online: summary.online,
            visibility: summary.visibility,
            members_only: summary.members_only,
        };
        let local = h.local_address();
        let fingerprint = h.host().fingerprint().map(str::to_string);
        let views = crate::hosting::views(h);
        drop(hosting);
        self.set_hosted_now(&views);
        // Our own host's certificate is known, not learned: pin it, so a certificate made
        // anew (a lost key file) is not mistaken for an impostor by our own client.
        if let Some(fp) = &fingerprint {
            self.pin_host(summary.room_id, &local, fp)?;
        }
        // A session to our own host from before it ran (restored at start) may have
        // stopped at the old certificate or be waiting out its backoff: start afresh.
        let stale = self.end_session(&local, true).unwrap_or_default();
        for r in stale.into_iter().filter(|r| *r != summary.room_id) {
            self.attach(r, &local, None, fingerprint.clone());
        }
        if keep_passcode && summary.has_passcode {
            // We kept the hash, not the passcode: our own client gets in by a token the
            // host issues to us (host and client share this store).
            let token = hearth::passcode::new_token();
            let store = &self.inner.store;
            store.put_room_token(
                summary.room_id,
                self.inner.user_id,
                &hearth::passcode::token_hash(&token),
            )?;
            store.set_resume_token(summary.room_id, Some(&token))?;
        }
        self.set_access(summary.room_id, RoomAccess::Ok);
        // Our own client joins with the passcode typed, or (kept) with its token.
        self.attach(summary.room_id, &local, Some(passcode), fingerprint);
        if let Some(c) = lock(&self.inner.sessions).get(&local) {
            // A try in progress that fails (the host only just bound) must not wait out
            // a backoff.
            let _ = c.client.reconnect_now();
        }
        let mut ids = self.hosting_list();
        if !ids.contains(&summary.room_id) {
            ids.push(summary.room_id);
            self.set_hosting_list(&ids)?;
        }
        self.emit(AppEvent::Hosting { rooms: views });
        Ok(view)
    }

    pub async fn hosted(&self) -> Vec<HostedView> {
        match &*self.inner.hosting.lock().await {
            Some(h) => crate::hosting::views(h),
            None => Vec::new(),
        }
    }

    /// Stops hosting a room: members are disconnected, goodbyes go out, history stays.
    pub async fn stop_hosting(&self, room_id: Uuid) -> Result<(), AppError> {
        let mut hosting = self.inner.hosting.lock().await;
        let Some(h) = hosting.as_ref() else {
            return Err(AppError::NotFound);
        };
        if !h.close(room_id).await {
            return Err(AppError::NotFound);
        }
        let views = crate::hosting::views(h);
        if views.is_empty() {
            if let Some(h) = hosting.take() {
                h.shutdown().await;
            }
        }
        drop(hosting);
        self.set_hosted_now(&views);
        let mut ids = self.hosting_list();
        ids.retain(|r| *r != room_id);
        self.set_hosting_list(&ids)?;
        // Said at once: our own client learns it only after its reconnect.
        self.set_access(room_id, RoomAccess::NotHosted);
        self.emit(AppEvent::Hosting { rooms: views });
        Ok(())
    }

    /// The host owner changes who may see and join a hosted room (protocol §3.8).
    pub async fn set_room_policy(
        &self,
        room_id: Uuid,
        visibility: Visibility,
        members_only: bool,
    ) -> Result<HostedView, AppError> {
        let hosting = self.inner.hosting.lock().await;
        let h = hosting.as_ref().ok_or(AppError::NotFound)?;
        let policy = RoomPolicy {
            visibility,
            members_only,
        };
        h.set_policy(room_id, policy).await?;
        let views = crate::hosting::views(h);
        drop(hosting);
        let view = views.iter().find(|v| v.room_id == room_id).cloned();
        self.emit(AppEvent::Hosting { rooms: views });
        view.ok_or(AppError::NotFound)
    }

    /// The host owner removes someone from a hosted room (protocol §3.8).
    pub async fn remove_member(&self, room_id: Uuid, user_id: Uuid) -> Result<(), AppError> {
        if user_id == self.inner.user_id {
            return Err(AppError::Invalid("you cannot remove yourself".into()));
        }
        let hosting = self.inner.hosting.lock().await;
        let h = hosting.as_ref().ok_or(AppError::NotFound)?;
        if h.remove_member(room_id, user_id).await? {
            Ok(())
        } else {
            Err(AppError::NotFound)
        }
    }
}
