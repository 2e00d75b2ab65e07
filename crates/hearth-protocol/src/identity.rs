//! Verified identity (docs/protocol.md §3.7): a person is an Ed25519 key. The user id
//! is derived from the public key, so nobody else can claim it, and `hello` carries a
//! signature that proves the key is held. The signing itself lives with the keys, in the
//! core; this module is what both sides compute the same way.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

/// An Ed25519 public key is 32 bytes, a signature 64.
pub const PUBLIC_KEY_LEN: usize = 32;
pub const SIGNATURE_LEN: usize = 64;

/// The proof in `hello.identity`: the key, and its signature over [`hello_challenge`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct HelloIdentity {
    /// The Ed25519 public key, 64 lowercase hex digits.
    pub public_key: String,
    /// The Ed25519 signature of [`hello_challenge`], 128 lowercase hex digits.
    pub signature: String,
}

/// The user id of a public key: the first 16 bytes of
/// SHA-256("hearth-user-id-v1" ‖ key), made a version 8 (custom) UUID.
pub fn user_id_for(public_key: &[u8; PUBLIC_KEY_LEN]) -> Uuid {
    let digest = Sha256::new()
        .chain_update(b"hearth-user-id-v1")
        .chain_update(public_key)
        .finalize();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    uuid::Builder::from_custom_bytes(bytes).into_uuid()
}

/// Whether a user id has the derived form, i.e. can only be used with its key. A host
/// refuses such an id in a `hello` without a valid proof; random (version 4) ids of
/// clients without identity are accepted and marked unverified.
pub fn is_key_derived(user_id: Uuid) -> bool {
    user_id.get_version_num() == 8
}

/// The bytes a client signs in `hello`. They name the host certificate the client is
/// talking to, so a host that receives a hello cannot replay it to another host (it
/// cannot present that host's certificate); `plaintext` when there is none, where a
/// man in the middle could relay it, which is why plaintext identities are unverified.
pub fn hello_challenge(host_fingerprint: Option<&str>, user_id: Uuid) -> Vec<u8> {
    format!(
        "hearth-hello-v1\n{}\n{}\n",
        host_fingerprint.unwrap_or("plaintext"),
        user_id.hyphenated()
    )
    .into_bytes()
}

/// Crockford's base32 alphabet: no I, L, O or U, so a code read aloud is not misheard.
const CROCKFORD: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// A person's identity code, for comparing by eye or aloud: 16 characters in groups of
/// four (`7KQ2-M9XD-41FZ-HC0P`), 80 bits of the user id (its version and variant bits
/// left out). Stable for as long as the key is, and the same on every client.
pub fn identity_code(user_id: Uuid) -> String {
    let v = user_id.as_u128();
    // Drop the version (bits 76..80) and variant (bits 62..64) fields: 122 bits left.
    let high = v >> 80; // 48 bits
    let mid = (v >> 64) & 0x0fff; // 12 bits
    let low = v & ((1u128 << 62) - 1); // 62 bits
    let packed = (high << 74) | (mid << 62) | low;
    let bits80 = packed >> (122 - 80);
    let mut out = String::with_capacity(19);
    for i in 0..16 {
        if i > 0 && i % 4 == 0 {
            out.push('-');
        }
        let shift = 75 - 5 * i;
        out.push(CROCKFORD[((bits80 >> shift) & 31) as usize] as char);
    }
    out
}

/// Lowercase hex of `bytes`.
pub fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `N` bytes from exactly `2N` hex digits (either case).
pub fn from_hex<const N: usize>(hex: &str) -> Option<[u8; N]> {
    let h = hex.as_bytes();
    if h.len() != 2 * N {
        return None;
    }
    let digit = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    let mut out = [0u8; N];
    for (i, pair) in h.chunks(2).enumerate() {
        out[i] = digit(pair[0])? << 4 | digit(pair[1])?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_ids_are_derived_and_marked() {
        let a = user_id_for(&[7u8; 32]);
        assert_eq!(a, user_id_for(&[7u8; 32]));
        assert_ne!(a, user_id_for(&[8u8; 32]));
        assert!(is_key_derived(a));
        assert!(!is_key_derived(Uuid::new_v4()));
        // The worked example of docs/protocol.md §3.7.
        assert_eq!(
            user_id_for(&[0u8; 32]).to_string(),
            "9b35fc9f-5e1a-859f-be76-31b958d6e808"
        );
    }

    #[test]
    fn identity_codes_are_short_stable_and_distinct() {
        let id = user_id_for(&[0u8; 32]);
        let code = identity_code(id);
        assert_eq!(code.len(), 19, "{code}");
        assert_eq!(code.matches('-').count(), 3, "{code}");
        assert!(code
            .chars()
            .all(|c| c == '-' || CROCKFORD.contains(&(c as u8))));
        assert_eq!(code, identity_code(id));
        let other = identity_code(user_id_for(&[1u8; 32]));
        assert_ne!(code, other);
        // Every bit of the first 80 counts: ids one bit apart get different codes.
        let v = id.as_u128();
        for bit in [127u32, 100, 81, 70, 64, 61, 45] {
            let flipped = Uuid::from_u128(v ^ (1u128 << bit));
            assert_ne!(identity_code(flipped), code, "bit {bit}");
        }
    }

    #[test]
    fn hex_round_trips_and_rejects_bad_input() {
        let bytes = [0xabu8, 0x01, 0xff];
        assert_eq!(to_hex(&bytes), "ab01ff");
        assert_eq!(from_hex::<3>("ab01ff"), Some(bytes));
        assert_eq!(from_hex::<3>("AB01FF"), Some(bytes));
        assert_eq!(from_hex::<3>("ab01f"), None);
        assert_eq!(from_hex::<3>("ab01fg"), None);
        assert_eq!(from_hex::<3>("ab01ffee"), None);
        assert_eq!(from_hex::<1>("é1"), None);
    }
}
