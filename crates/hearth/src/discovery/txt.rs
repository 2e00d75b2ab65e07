//! The TXT record of a `_hearth._tcp` instance: what a browser needs to list and join a
//! room without connecting first. Parsing is a pure function over untrusted bytes.
//!
//! Keys are short, as RFC 6763 §6.4 asks, and matched case-insensitively; the first
//! occurrence of a key wins (§6.4); unknown keys are ignored so later versions can add some.

use std::fmt;

use uuid::Uuid;

use crate::protocol::normalize_name;

/// Wire protocol version the host speaks (`protocol::PROTOCOL_VERSION`). Required.
pub const KEY_VERSION: &str = "v";
/// Room id, a UUID. Required.
pub const KEY_ROOM_ID: &str = "id";
/// Room name. Required.
pub const KEY_ROOM_NAME: &str = "rn";
/// Host display name. Optional.
pub const KEY_HOST_NAME: &str = "hn";
/// Host id (stable per install), a UUID. Optional; used to mark one's own rooms.
pub const KEY_HOST_ID: &str = "hid";
/// `1` if a passcode is required, `0` if not. Optional, absent means `0`.
pub const KEY_PASSCODE: &str = "pc";
/// SHA-256 fingerprint of the host's TLS certificate, 64 lowercase hex digits.
/// Reserved: absent until TLS exists.
pub const KEY_FINGERPRINT: &str = "fp";
/// Members online when last announced. Optional and advisory.
pub const KEY_ONLINE: &str = "on";
/// Present (with any value but `0`) in the last announcement before a goodbye: the room
/// is closing. RFC 6762 §10.1 makes browsers keep a record for 1 s after its goodbye;
/// a TXT change is applied at once, so Hearth browsers drop the room without that wait.
pub const KEY_BYE: &str = "bye";
/// A random value chosen each time a host process starts advertising. Optional and
/// advisory. A host restarted within a second of its goodbye would otherwise publish
/// records identical to ones still in browsers' caches (kept 1 s, RFC 6762 §10.1),
/// which browsers treat as a refresh and never report as a room coming back.
pub const KEY_EPOCH: &str = "ep";

/// One TXT string is at most 255 bytes: `key=value` with the length byte outside.
const MAX_TXT_STRING: usize = 255;

/// The decoded contents of a Hearth TXT record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomTxt {
    pub protocol_version: u32,
    pub room_id: Uuid,
    pub room_name: String,
    pub host_name: Option<String>,
    pub host_id: Option<Uuid>,
    pub has_passcode: bool,
    pub fingerprint: Option<String>,
    pub online: Option<u32>,
    /// The host is withdrawing the room (see [`KEY_BYE`]).
    pub closing: bool,
    /// See [`KEY_EPOCH`].
    pub epoch: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TxtError {
    #[error("TXT key {0:?} is missing")]
    Missing(&'static str),
    #[error("TXT key {key:?} has an invalid value")]
    Invalid { key: &'static str },
    #[error("TXT record is truncated: a string claims {claimed} bytes, {left} are left")]
    Truncated { claimed: usize, left: usize },
}

impl RoomTxt {
    /// `key=value` pairs in the order they are published. Values that would not fit
    /// in one 255-byte TXT string are cut at a character boundary.
    pub fn to_pairs(&self) -> Vec<(String, String)> {
        let mut out = vec![
            (KEY_VERSION, self.protocol_version.to_string()),
            (KEY_ROOM_ID, self.room_id.to_string()),
            (KEY_ROOM_NAME, self.room_name.clone()),
        ];
        if let Some(h) = &self.host_name {
            out.push((KEY_HOST_NAME, h.clone()));
        }
        if let Some(h) = self.host_id {
            out.push((KEY_HOST_ID, h.to_string()));
        }
        out.push((
            KEY_PASSCODE,
            if self.has_passcode { "1" } else { "0" }.into(),
        ));
        if let Some(fp) = &self.fingerprint {
            out.push((KEY_FINGERPRINT, fp.clone()));
        }
        if let Some(n) = self.online {
            out.push((KEY_ONLINE, n.to_string()));
        }
        if let Some(e) = self.epoch {
            out.push((KEY_EPOCH, format!("{e:08x}")));
        }
        if self.closing {
            out.push((KEY_BYE, "1".into()));
        }
        out.into_iter()
            .map(|(k, v)| {
                let room = MAX_TXT_STRING - k.len() - 1;
                (k.to_string(), truncate_bytes(&v, room).to_string())
            })
            .collect()
    }

    /// Decodes `key[=value]` pairs (values as raw bytes; `None` for a bare key).
    pub fn from_pairs<'a, I>(pairs: I) -> Result<RoomTxt, TxtError>
    where
        I: IntoIterator<Item = (&'a str, Option<&'a [u8]>)>,
    {
        let mut seen = Fields::default();
        for (key, value) in pairs {
            let slot = match key.to_ascii_lowercase().as_str() {
                KEY_VERSION => &mut seen.version,
                KEY_ROOM_ID => &mut seen.room_id,
                KEY_ROOM_NAME => &mut seen.room_name,
                KEY_HOST_NAME => &mut seen.host_name,
                KEY_HOST_ID => &mut seen.host_id,
                KEY_PASSCODE => &mut seen.passcode,
                KEY_FINGERPRINT => &mut seen.fingerprint,
                KEY_ONLINE => &mut seen.online,
                KEY_BYE => &mut seen.bye,
                KEY_EPOCH => &mut seen.epoch,
                _ => continue,
            };
            if slot.is_none() {
                *slot = Some(value);
            }
        }
        seen.finish()
    }
}

/// Each field: `None` if the key is absent, `Some(None)` for a bare key (a boolean
/// attribute in RFC 6763 terms), `Some(Some(v))` for `key=v`.
#[derive(Default)]
struct Fields<'a> {
    version: Option<Option<&'a [u8]>>,
    room_id: Option<Option<&'a [u8]>>,
    room_name: Option<Option<&'a [u8]>>,
    host_name: Option<Option<&'a [u8]>>,
    host_id: Option<Option<&'a [u8]>>,
    passcode: Option<Option<&'a [u8]>>,
    fingerprint: Option<Option<&'a [u8]>>,
    online: Option<Option<&'a [u8]>>,
    bye: Option<Option<&'a [u8]>>,
    epoch: Option<Option<&'a [u8]>>,
}

fn text<'a>(key: &'static str, v: Option<&'a [u8]>) -> Result<&'a str, TxtError> {
    std::str::from_utf8(v.unwrap_or_default()).map_err(|_| TxtError::Invalid { key })
}

impl Fields<'_> {
    fn finish(self) -> Result<RoomTxt, TxtError> {
        let version = self.version.ok_or(TxtError::Missing(KEY_VERSION))?;
        let protocol_version = text(KEY_VERSION, version)?
            .parse::<u32>()
            .map_err(|_| TxtError::Invalid { key: KEY_VERSION })?;
        let id = self.room_id.ok_or(TxtError::Missing(KEY_ROOM_ID))?;
        let room_id = Uuid::parse_str(text(KEY_ROOM_ID, id)?)
            .map_err(|_| TxtError::Invalid { key: KEY_ROOM_ID })?;
        let name = self.room_name.ok_or(TxtError::Missing(KEY_ROOM_NAME))?;
        // Names end up on terminals and in the UI: the same rules as names on the wire.
        let room_name = normalize_name(text(KEY_ROOM_NAME, name)?)
            .ok_or(TxtError::Invalid { key: KEY_ROOM_NAME })?;
        let host_name = match self.host_name {
            None => None,
            Some(v) => Some(
                normalize_name(text(KEY_HOST_NAME, v)?)
                    .ok_or(TxtError::Invalid { key: KEY_HOST_NAME })?,
            ),
        };
        let host_id = match self.host_id {
            None => None,
            Some(v) => Some(
                Uuid::parse_str(text(KEY_HOST_ID, v)?)
                    .map_err(|_| TxtError::Invalid { key: KEY_HOST_ID })?,
            ),
        };
        let has_passcode = match self.passcode {
            None | Some(Some(b"0")) => false,
            // A bare `pc` is a present boolean attribute (RFC 6763 §6.4).
            Some(None) | Some(Some(b"1")) => true,
            Some(Some(_)) => return Err(TxtError::Invalid { key: KEY_PASSCODE }),
        };
        // The fingerprint is what a client will pin, so a malformed one rejects the record.
        let fingerprint = match self.fingerprint {
            None | Some(None) | Some(Some(b"")) => None,
            Some(v) => {
                let fp = text(KEY_FINGERPRINT, v)?.to_ascii_lowercase();
                if fp.len() != 64 || !fp.bytes().all(|b| b.is_ascii_hexdigit()) {
                    return Err(TxtError::Invalid {
                        key: KEY_FINGERPRINT,
                    });
                }
                Some(fp)
            }
        };
        // Advisory only: a bad count is dropped rather than hiding the room.
        let online = self
            .online
            .flatten()
            .and_then(|v| std::str::from_utf8(v).ok())
            .and_then(|s| s.parse::<u32>().ok());
        let closing = !matches!(self.bye, None | Some(Some(b"0")));
        // Advisory too: only ever compared by the mDNS cache, never trusted.
        let epoch = self
            .epoch
            .flatten()
            .and_then(|v| std::str::from_utf8(v).ok())
            .and_then(|s| u32::from_str_radix(s, 16).ok());
        Ok(RoomTxt {
            protocol_version,
            room_id,
            room_name,
            host_name,
            host_id,
            has_passcode,
            fingerprint,
            online,
            closing,
            epoch,
        })
    }
}

/// One `key[=value]` string of a TXT record; `None` for a bare key.
pub type TxtPair<'a> = (&'a str, Option<&'a [u8]>);

/// Splits TXT RDATA (RFC 6763 §6.1: a sequence of length-prefixed strings) into
/// `(key, value)` pairs. Strings that are empty, start with `=`, or have a key that is
/// not printable ASCII are skipped as §6.4 says.
pub fn split_txt_rdata(rdata: &[u8]) -> Result<Vec<TxtPair<'_>>, TxtError> {
    let mut out = Vec::new();
    let mut rest = rdata;
    while let Some((&len, tail)) = rest.split_first() {
        let len = usize::from(len);
        if len > tail.len() {
            return Err(TxtError::Truncated {
                claimed: len,
                left: tail.len(),
            });
        }
        let (s, tail) = tail.split_at(len);
        rest = tail;
        let (key, value) = match s.iter().position(|&b| b == b'=') {
            Some(i) => (&s[..i], Some(&s[i + 1..])),
            None => (s, None),
        };
        if key.is_empty() || !key.iter().all(|b| (0x20..=0x7e).contains(b)) {
            continue;
        }
        // All bytes are printable ASCII here, so this cannot fail.
        if let Ok(key) = std::str::from_utf8(key) {
            out.push((key, value));
        }
    }
    Ok(out)
}

/// Parses raw TXT RDATA into a [`RoomTxt`]. Pure, total and panic-free on any input.
pub fn parse_txt_record(rdata: &[u8]) -> Result<RoomTxt, TxtError> {
    RoomTxt::from_pairs(split_txt_rdata(rdata)?)
}

/// Encodes a [`RoomTxt`] as TXT RDATA, the inverse of [`parse_txt_record`].
pub fn encode_txt_record(txt: &RoomTxt) -> Vec<u8> {
    let mut out = Vec::new();
    for (k, v) in txt.to_pairs() {
        let s = format!("{k}={v}");
        out.push(s.len() as u8);
        out.extend_from_slice(s.as_bytes());
    }
    out
}

/// The longest prefix of `s` of at most `max` bytes that ends on a character boundary.
pub(crate) fn truncate_bytes(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

impl fmt::Display for RoomTxt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.room_name, self.room_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> RoomTxt {
        RoomTxt {
            protocol_version: 1,
            room_id: Uuid::new_v4(),
            room_name: "Design team".into(),
            host_name: Some("Alice".into()),
            host_id: Some(Uuid::new_v4()),
            has_passcode: true,
            fingerprint: Some("ab".repeat(32)),
            online: Some(3),
            closing: true,
            epoch: Some(0x0a1b_2c3d),
        }
    }

    fn rdata(strings: &[&[u8]]) -> Vec<u8> {
        let mut out = Vec::new();
        for s in strings {
            out.push(s.len() as u8);
            out.extend_from_slice(s);
        }
        out
    }

    #[test]
    fn round_trips() {
        let t = sample();
        assert_eq!(parse_txt_record(&encode_txt_record(&t)).unwrap(), t);
        let minimal = RoomTxt {
            host_name: None,
            host_id: None,
            has_passcode: false,
            fingerprint: None,
            online: None,
            closing: false,
            epoch: None,
            ..sample()
        };
        assert_eq!(
            parse_txt_record(&encode_txt_record(&minimal)).unwrap(),
            minimal
        );
    }

    #[test]
    fn required_keys_and_values() {
        let id = Uuid::new_v4().to_string();
        let ok = |extra: &[&[u8]]| {
            let mut v: Vec<Vec<u8>> = vec![
                b"v=1".to_vec(),
                format!("id={id}").into_bytes(),
                b"rn=General".to_vec(),
            ];
            v.extend(extra.iter().map(|s| s.to_vec()));
            let refs: Vec<&[u8]> = v.iter().map(|s| s.as_slice()).collect();
            parse_txt_record(&rdata(&refs))
        };
        let t = ok(&[]).unwrap();
        assert_eq!((t.room_name.as_str(), t.has_passcode), ("General", false));
        assert_eq!(t.host_name, None);
        assert_eq!(
            parse_txt_record(&rdata(&[b"v=1", b"rn=x"])),
            Err(TxtError::Missing(KEY_ROOM_ID))
        );
        assert_eq!(
            parse_txt_record(&rdata(&[format!("id={id}").as_bytes(), b"rn=x"])),
            Err(TxtError::Missing(KEY_VERSION))
        );
        assert_eq!(
            ok(&[b"pc=yes"]),
            Err(TxtError::Invalid { key: KEY_PASSCODE })
        );
        assert_eq!(
            ok(&[b"fp=zz"]),
            Err(TxtError::Invalid {
                key: KEY_FINGERPRINT
            })
        );
        assert_eq!(ok(&[b"fp="]).unwrap().fingerprint, None);
        assert_eq!(
            ok(&[b"hn=\x1b[31mevil"]),
            Err(TxtError::Invalid { key: KEY_HOST_NAME })
        );
        assert_eq!(ok(&[b"on=lots"]).unwrap().online, None);
        assert!(!ok(&[]).unwrap().closing);
        assert!(ok(&[b"bye"]).unwrap().closing);
        assert!(ok(&[b"bye=1"]).unwrap().closing);
        assert!(!ok(&[b"bye=0"]).unwrap().closing);
        // The epoch is advisory: a bad one is dropped, never fatal.
        assert_eq!(ok(&[b"ep=00c0ffee"]).unwrap().epoch, Some(0xc0ffee));
        assert_eq!(ok(&[b"ep=zz"]).unwrap().epoch, None);
        assert_eq!(
            ok(&[b"hid=nope"]),
            Err(TxtError::Invalid { key: KEY_HOST_ID })
        );
        assert!(matches!(
            parse_txt_record(&rdata(&[b"v=one", format!("id={id}").as_bytes(), b"rn=x"])),
            Err(TxtError::Invalid { key: KEY_VERSION })
        ));
    }

    #[test]
    fn rfc6763_rules() {
        let id = Uuid::new_v4().to_string();
        // Keys are case-insensitive, the first occurrence wins, unknown keys and
        // strings without a key are ignored, a bare key has an empty value.
        let t = parse_txt_record(&rdata(&[
            b"",
            b"=orphan",
            b"V=2",
            b"v=9",
            format!("ID={id}").as_bytes(),
            b"rn=First",
            b"rn=Second",
            b"future=1",
            b"pc",
        ]))
        .unwrap();
        assert!(
            t.has_passcode,
            "a bare key is a boolean attribute that is present"
        );
        assert_eq!(
            parse_txt_record(&rdata(&[
                b"v=1",
                format!("id={id}").as_bytes(),
                b"rn=x",
                b"pc="
            ])),
            Err(TxtError::Invalid { key: KEY_PASSCODE })
        );
        let t = parse_txt_record(&rdata(&[
            b"V=2",
            b"v=9",
            format!("ID={id}").as_bytes(),
            b"rn=First",
            b"rn=Second",
            b"future",
        ]))
        .unwrap();
        assert_eq!((t.protocol_version, t.room_name.as_str()), (2, "First"));
        assert_eq!(
            parse_txt_record(&[5, b'v', b'=']),
            Err(TxtError::Truncated {
                claimed: 5,
                left: 2
            })
        );
        assert_eq!(parse_txt_record(&[]), Err(TxtError::Missing(KEY_VERSION)));
    }

    #[test]
    fn long_names_fit_one_string() {
        // 64 four-byte characters are 256 bytes: more than a TXT string can hold.
        let t = RoomTxt {
            room_name: "😀".repeat(64),
            ..sample()
        };
        let pairs = t.to_pairs();
        let (_, rn) = pairs.iter().find(|(k, _)| k == KEY_ROOM_NAME).unwrap();
        assert!(rn.len() + 3 <= 255 && rn.chars().all(|c| c == '😀'));
        let back = parse_txt_record(&encode_txt_record(&t)).unwrap();
        assert_eq!(back.room_name, *rn);
    }

    #[test]
    fn never_panics_on_garbage() {
        // A cheap stand-in for the fuzzer: every prefix and some bit flips.
        let good = encode_txt_record(&sample());
        for n in 0..=good.len() {
            let _ = parse_txt_record(&good[..n]);
        }
        for i in 0..good.len() {
            let mut b = good.clone();
            b[i] ^= 0xA5;
            let _ = parse_txt_record(&b);
        }
    }
}
