//! Files (docs/protocol.md §3.10, capability `files`): a message may carry attachments,
//! each a file the host already holds, named by the SHA-256 of its bytes. The bytes never
//! travel in frames: they go over HTTP on the host's own port (§15).

use serde::{Deserialize, Serialize};

use crate::ChatMessage;

/// At most this many attachments in one message.
pub const MAX_ATTACHMENTS: usize = 10;
/// A file name is at most this many characters.
pub const MAX_FILE_NAME_CHARS: usize = 255;
/// A media type is at most this many bytes.
pub const MAX_MIME_BYTES: usize = 127;
/// A thumbnail is a small image: at most this many bytes...
pub const MAX_THUMBNAIL_BYTES: u64 = 512 * 1024;
/// ...and this many pixels on its longer side.
pub const THUMBNAIL_EDGE: u32 = 480;
/// What a thumbnail may be.
pub const THUMBNAIL_TYPES: &[&str] = &["image/png", "image/jpeg", "image/webp"];

/// A file a message carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct Attachment {
    /// The SHA-256 of the file's bytes, 64 lowercase hex digits.
    pub file_id: String,
    /// The sender's name for it. Only a label: a client saving it makes it safe first.
    pub name: String,
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub size: u64,
    /// Its media type as the sender saw it (`application/octet-stream` if unknown).
    pub mime: String,
    /// An image's size in pixels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub width: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub height: Option<u32>,
    /// A preview the sender made once, uploaded as a file of its own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub thumbnail: Option<Thumbnail>,
}

/// An image's preview: a file of the room like any other.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct Thumbnail {
    pub file_id: String,
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub size: u64,
    pub mime: String,
    pub width: u32,
    pub height: u32,
}

/// What `joined` tells a client that negotiated `files`: how to reach the room's files.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct FilesGrant {
    /// For `Authorization: Bearer …` on the file endpoints of this room (§15.1). 64 hex
    /// digits, valid while the host runs and the member stays on the room.
    pub token: String,
    /// The largest file the host takes.
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub max_file_bytes: u64,
    /// What the room's files may take on the host in all.
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub room_quota_bytes: u64,
    /// What they take now.
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub room_used_bytes: u64,
}

/// Why a file endpoint refused a request (protocol §15.6): the `code` of its JSON body
/// `{"code", "message"}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
#[serde(rename_all = "snake_case")]
pub enum FileErrorCode {
    /// 400: a malformed request (a bad id, header or body).
    InvalidRequest,
    /// 401: no token, or one this host did not issue or no longer honours: join again.
    TokenInvalid,
    /// 403: the token is for another room, or another member's upload.
    NotAMember,
    /// 404: no such file in this room, or no such upload.
    NotFound,
    /// 409: `Upload-Offset` is not where the upload stands (the answer says where).
    OffsetMismatch,
    /// 409: another request is writing to this upload now.
    UploadBusy,
    /// 413: larger than the host's `max_file_bytes`.
    FileTooLarge,
    /// 416: a `Range` outside the file.
    RangeNotSatisfiable,
    /// 422: the bytes do not hash to the file id: the upload is discarded.
    HashMismatch,
    /// 507: the room's quota would be exceeded.
    QuotaExceeded,
    /// 507: the host's disk is full.
    StorageFull,
    /// 500: anything else on the host.
    StorageError,
    /// Decoding only: a code this build does not know.
    #[serde(other)]
    Unknown,
}

/// The body of a refused file request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct FileErrorBody {
    pub code: FileErrorCode,
    pub message: String,
}

/// `POST …/uploads`: the file to upload (§15.3).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewUpload {
    pub file_id: String,
    pub size: u64,
}

/// The answer to `POST …/uploads`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UploadCreated {
    /// `None` when the room holds the file already: nothing to send.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upload_id: Option<String>,
    pub offset: u64,
    pub complete: bool,
}

/// `GET …/rooms/{room}/usage`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct FilesUsage {
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub max_file_bytes: u64,
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub room_quota_bytes: u64,
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub room_used_bytes: u64,
}

/// The file endpoints' paths (§15.2).
pub mod paths {
    pub const PREFIX: &str = "/files/v1";
}

/// A file id: 64 lowercase hex digits.
pub fn is_file_id(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// A media type that is plainly `type/subtype` (RFC 6838 characters, no parameters).
pub fn is_mime(s: &str) -> bool {
    let ok = |p: &str| {
        !p.is_empty()
            && p.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$&-^_.+".contains(&b))
    };
    s.len() <= MAX_MIME_BYTES && s.split_once('/').is_some_and(|(t, st)| ok(t) && ok(st))
}

/// Why an attachment list is refused.
pub fn check_attachments(list: &[Attachment]) -> Result<(), String> {
    if list.len() > MAX_ATTACHMENTS {
        return Err(format!(
            "at most {MAX_ATTACHMENTS} attachments in a message"
        ));
    }
    for a in list {
        if !is_file_id(&a.file_id) {
            return Err("file_id must be 64 lowercase hex digits".into());
        }
        let chars = a.name.chars().count();
        if chars == 0 || chars > MAX_FILE_NAME_CHARS || a.name.chars().any(char::is_control) {
            return Err(format!(
                "a file name has 1 to {MAX_FILE_NAME_CHARS} characters and no control characters"
            ));
        }
        if !is_mime(&a.mime) {
            return Err("mime must be a media type such as image/png".into());
        }
        if let Some(t) = &a.thumbnail {
            if !is_file_id(&t.file_id)
                || t.size > MAX_THUMBNAIL_BYTES
                || !THUMBNAIL_TYPES.contains(&t.mime.as_str())
                || t.width.max(t.height) > THUMBNAIL_EDGE
            {
                return Err(format!(
                    "a thumbnail is a PNG, JPEG or WebP of at most {MAX_THUMBNAIL_BYTES} bytes \
                     and {THUMBNAIL_EDGE} pixels a side"
                ));
            }
        }
    }
    Ok(())
}

/// A size for people: "1.4 MB", "512 bytes".
pub fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["KB", "MB", "GB", "TB"];
    if bytes < 1000 {
        return format!("{bytes} bytes");
    }
    let mut v = bytes as f64 / 1000.0;
    let mut unit = 0;
    while v >= 1000.0 && unit + 1 < UNITS.len() {
        v /= 1000.0;
        unit += 1;
    }
    format!("{v:.1} {}", UNITS[unit])
}

/// What a client without `files` receives in place of a message with attachments: the
/// same message, its files named in its text.
pub fn downgrade(m: &ChatMessage) -> ChatMessage {
    let mut text = m.text.clone();
    for a in &m.attachments {
        if !text.is_empty() {
            text.push('\n');
        }
        text.push_str(&format!("[file: {}, {}]", a.name, human_size(a.size)));
    }
    ChatMessage {
        text,
        attachments: Vec::new(),
        ..m.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn att(name: &str) -> Attachment {
        Attachment {
            file_id: "ab".repeat(32),
            name: name.into(),
            size: 1_500_000,
            mime: "image/png".into(),
            width: None,
            height: None,
            thumbnail: None,
        }
    }

    #[test]
    fn attachments_are_checked() {
        assert!(check_attachments(&[att("shot.png"), att("نص عربي 📎.txt")]).is_ok());
        assert!(check_attachments(&[att("")]).is_err());
        assert!(check_attachments(&[att("a\nb")]).is_err());
        assert!(check_attachments(&[att(&"x".repeat(256))]).is_err());
        let mut bad = att("a");
        bad.file_id = "AB".repeat(32);
        assert!(check_attachments(&[bad]).is_err());
        let mut bad = att("a");
        bad.mime = "text/html; charset=utf-8".into();
        assert!(check_attachments(&[bad]).is_err());
        assert!(check_attachments(&vec![att("a"); MAX_ATTACHMENTS + 1]).is_err());
    }

    #[test]
    fn a_client_without_files_reads_the_names() {
        let m = ChatMessage {
            text: "the plan".into(),
            attachments: vec![att("plan.pdf")],
            ..ChatMessage::default()
        };
        let d = downgrade(&m);
        assert_eq!(d.text, "the plan\n[file: plan.pdf, 1.5 MB]");
        assert!(d.attachments.is_empty());
        assert_eq!(human_size(999), "999 bytes");
        assert_eq!(human_size(2_000_000_000), "2.0 GB");
    }
}
