//! This install's identity: an Ed25519 key pair, created on first run and kept in the
//! data directory (`identity.key`, PKCS#8, readable by its owner only). The user id is
//! derived from the public key (docs/protocol.md §3.7), and `hello` proves the key.
//! Signing and verifying are ring's.

use std::path::{Path, PathBuf};

use ring::rand::SystemRandom;
use ring::signature::{Ed25519KeyPair, KeyPair, UnparsedPublicKey, ED25519};
use uuid::Uuid;

use crate::protocol::identity::{
    from_hex, hello_challenge, identity_code, to_hex, user_id_for, HelloIdentity, PUBLIC_KEY_LEN,
    SIGNATURE_LEN,
};

pub const KEY_FILE: &str = "identity.key";

#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    #[error("cannot read or write the identity key {path}: {detail}")]
    Io { path: PathBuf, detail: String },
    #[error("the identity key {path} is damaged ({detail}); restore it from a backup, or move it away to start as a new person (members will see a new key)")]
    Damaged { path: PathBuf, detail: String },
    #[error("cannot create an identity key: {0}")]
    Generate(String),
}

/// Why a `hello` proof was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProofError {
    #[error("the public key is not 64 hex digits")]
    BadKey,
    #[error("the signature is not 128 hex digits")]
    BadSignature,
    #[error("the user id is not the one this key gives ({expected})")]
    WrongUserId { expected: Uuid },
    #[error("the signature does not verify for this key and host")]
    Forged,
}

pub struct Identity {
    key: Ed25519KeyPair,
    public: [u8; PUBLIC_KEY_LEN],
    user_id: Uuid,
}

impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Identity")
            .field("user_id", &self.user_id)
            .finish_non_exhaustive()
    }
}

impl Identity {
    /// This install's identity, created on first use. Two processes starting at once
    /// on a fresh directory end up with the same key: the file is published with a
    /// link that fails if another got there first, and the loser reads the winner's.
    pub fn load_or_create(data_dir: &Path) -> Result<Identity, IdentityError> {
        let path = data_dir.join(KEY_FILE);
        let io = |e: std::io::Error| IdentityError::Io {
            path: path.clone(),
            detail: e.to_string(),
        };
        match std::fs::read(&path) {
            Ok(pkcs8) => return Self::from_pkcs8(&pkcs8, &path),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io(e)),
        }
        let pkcs8 = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new())
            .map_err(|e| IdentityError::Generate(e.to_string()))?;
        std::fs::create_dir_all(data_dir).map_err(io)?;
        let tmp = data_dir.join(format!("{KEY_FILE}.{}.tmp", Uuid::new_v4().simple()));
        crate::tls::write_private(&tmp, pkcs8.as_ref()).map_err(io)?;
        let published = std::fs::hard_link(&tmp, &path);
        let _ = std::fs::remove_file(&tmp);
        match published {
            Ok(()) => {
                let id = Self::from_pkcs8(pkcs8.as_ref(), &path)?;
                tracing::info!(user_id = %id.user_id, "created this install's identity");
                Ok(id)
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                let pkcs8 = std::fs::read(&path).map_err(io)?;
                Self::from_pkcs8(&pkcs8, &path)
            }
            Err(e) => Err(io(e)),
        }
    }

    fn from_pkcs8(pkcs8: &[u8], path: &Path) -> Result<Identity, IdentityError> {
        let key = Ed25519KeyPair::from_pkcs8(pkcs8).map_err(|e| IdentityError::Damaged {
            path: path.to_path_buf(),
            detail: e.to_string(),
        })?;
        let mut public = [0u8; PUBLIC_KEY_LEN];
        public.copy_from_slice(key.public_key().as_ref());
        Ok(Identity {
            user_id: user_id_for(&public),
            key,
            public,
        })
    }

    pub fn user_id(&self) -> Uuid {
        self.user_id
    }

    pub fn public_key_hex(&self) -> String {
        to_hex(&self.public)
    }

    /// The identity code people compare (§3.7).
    pub fn code(&self) -> String {
        identity_code(self.user_id)
    }

    /// The proof for a `hello` to the host with this certificate (`None`: plaintext).
    pub fn prove(&self, host_fingerprint: Option<&str>) -> HelloIdentity {
        let sig = self
            .key
            .sign(&hello_challenge(host_fingerprint, self.user_id));
        HelloIdentity {
            public_key: self.public_key_hex(),
            signature: to_hex(sig.as_ref()),
        }
    }
}

/// Checks a `hello` proof: the key gives `user_id`, and signed the challenge for this
/// host's certificate.
pub fn verify(
    proof: &HelloIdentity,
    user_id: Uuid,
    host_fingerprint: Option<&str>,
) -> Result<(), ProofError> {
    let public = from_hex::<PUBLIC_KEY_LEN>(&proof.public_key).ok_or(ProofError::BadKey)?;
    let sig = from_hex::<SIGNATURE_LEN>(&proof.signature).ok_or(ProofError::BadSignature)?;
    let expected = user_id_for(&public);
    if expected != user_id {
        return Err(ProofError::WrongUserId { expected });
    }
    UnparsedPublicKey::new(&ED25519, public)
        .verify(&hello_challenge(host_fingerprint, user_id), &sig)
        .map_err(|_| ProofError::Forged)
}

#[cfg(test)]
mod tests {
    use super::*;

    const FP: &str = "aa00000000000000000000000000000000000000000000000000000000000000";

    /// The worked example of docs/protocol.md §3.7, whose values were computed with
    /// Python's `cryptography`, independently of this code.
    #[test]
    fn the_documented_worked_example_holds() {
        let seed: Vec<u8> = (0u8..32).collect();
        let key = Ed25519KeyPair::from_seed_unchecked(&seed).unwrap();
        let mut public = [0u8; PUBLIC_KEY_LEN];
        public.copy_from_slice(key.public_key().as_ref());
        let id = Identity {
            user_id: user_id_for(&public),
            key,
            public,
        };
        assert_eq!(
            id.public_key_hex(),
            "03a107bff3ce10be1d70dd18e74bc09967e4d6309ba50d5f1ddc8664125531b8"
        );
        assert_eq!(
            id.user_id().to_string(),
            "79712b87-6281-84e0-879d-0d5e7a3e576a"
        );
        assert_eq!(id.code(), "F5RJ-Q1V2-G570-3ST3");
        let fp = "5e8a3d1f".repeat(8);
        let proof = id.prove(Some(&fp));
        assert_eq!(proof.signature, "3e12ce153f01bb0d5a1e152ddab4ccf5fa920b627f3cae217d980dc0e86acdca93a3c0988a9d27b2df5098e40dbd0614cfcf19ee4d5603487aea48bcc2508002");
        assert_eq!(verify(&proof, id.user_id(), Some(&fp)), Ok(()));
    }

    #[test]
    fn an_identity_is_created_once_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        let a = Identity::load_or_create(dir.path()).unwrap();
        let b = Identity::load_or_create(dir.path()).unwrap();
        assert_eq!(a.user_id(), b.user_id());
        assert_eq!(a.public_key_hex(), b.public_key_hex());
        assert!(crate::protocol::identity::is_key_derived(a.user_id()));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join(KEY_FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o077, 0, "the key is private: {mode:o}");
        }
        let other = Identity::load_or_create(tempfile::tempdir().unwrap().path()).unwrap();
        assert_ne!(a.user_id(), other.user_id());
    }

    #[test]
    fn processes_starting_together_share_one_identity() {
        let dir = tempfile::tempdir().unwrap();
        let ids: Vec<Uuid> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..8)
                .map(|_| s.spawn(|| Identity::load_or_create(dir.path()).unwrap().user_id()))
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert!(ids.windows(2).all(|w| w[0] == w[1]), "{ids:?}");
        let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(left.len(), 1, "temporary files left behind: {left:?}");
    }

    #[test]
    fn a_damaged_key_is_named_not_replaced() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(KEY_FILE), b"not a key").unwrap();
        let err = Identity::load_or_create(dir.path()).unwrap_err();
        assert!(matches!(err, IdentityError::Damaged { .. }), "{err}");
        assert_eq!(
            std::fs::read(dir.path().join(KEY_FILE)).unwrap(),
            b"not a key"
        );
    }

    #[test]
    fn proofs_verify_only_for_their_key_id_and_host() {
        let dir = tempfile::tempdir().unwrap();
        let alice = Identity::load_or_create(dir.path()).unwrap();
        let mallory = Identity::load_or_create(tempfile::tempdir().unwrap().path()).unwrap();
        let proof = alice.prove(Some(FP));
        assert_eq!(verify(&proof, alice.user_id(), Some(FP)), Ok(()));
        // Replayed to another host.
        let other_fp = FP.replace("aa", "bb");
        assert_eq!(
            verify(&proof, alice.user_id(), Some(&other_fp)),
            Err(ProofError::Forged)
        );
        assert_eq!(
            verify(&proof, alice.user_id(), None),
            Err(ProofError::Forged)
        );
        // Mallory's own key with Alice's id: the id does not match the key.
        assert!(matches!(
            verify(&mallory.prove(Some(FP)), alice.user_id(), Some(FP)),
            Err(ProofError::WrongUserId { .. })
        ));
        // Alice's key with Mallory's signature.
        let forged = HelloIdentity {
            public_key: alice.public_key_hex(),
            signature: mallory.prove(Some(FP)).signature,
        };
        assert_eq!(
            verify(&forged, alice.user_id(), Some(FP)),
            Err(ProofError::Forged)
        );
        let junk = HelloIdentity {
            public_key: "zz".into(),
            signature: proof.signature.clone(),
        };
        assert_eq!(
            verify(&junk, alice.user_id(), Some(FP)),
            Err(ProofError::BadKey)
        );
        let short = HelloIdentity {
            public_key: proof.public_key.clone(),
            signature: "00".into(),
        };
        assert_eq!(
            verify(&short, alice.user_id(), Some(FP)),
            Err(ProofError::BadSignature)
        );
    }
}
