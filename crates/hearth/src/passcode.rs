//! Room passcodes: stored only as Argon2id hashes (PHC strings).
//!
//! Parameters are the `argon2` crate defaults, which follow OWASP's recommendation for
//! Argon2id: m = 19 MiB, t = 2, p = 1. The PHC string records them, so raising them later
//! keeps old hashes verifiable.

use argon2::password_hash::{
    rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString,
};
use argon2::Argon2;

#[derive(Debug, thiserror::Error)]
#[error("cannot hash passcode: {0}")]
pub struct HashError(String);

/// Hashes a passcode with a fresh random salt.
pub fn hash(passcode: &str) -> Result<String, HashError> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(passcode.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| HashError(e.to_string()))
}

/// Checks a passcode against a stored hash. A malformed hash never verifies.
pub fn verify(stored_hash: &str, passcode: &str) -> bool {
    match PasswordHash::new(stored_hash) {
        Ok(parsed) => Argon2::default()
            .verify_password(passcode.as_bytes(), &parsed)
            .is_ok(),
        Err(e) => {
            tracing::error!(error = %e, "stored passcode hash is malformed");
            false
        }
    }
}

/// A fresh resume token: 256 random bits, hex.
pub fn new_token() -> String {
    let bytes: [u8; 32] = rand::random();
    hex(&bytes)
}

/// Tokens are random, so a plain SHA-256 is enough to keep them out of the host's file.
pub fn token_hash(token: &str) -> String {
    use sha2::Digest;
    hex(&sha2::Sha256::digest(token.as_bytes()))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn round_trip() {
        let h = super::hash("open sesame").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(super::verify(&h, "open sesame"));
        assert!(!super::verify(&h, "open sesam"));
        assert!(!super::verify("garbage", "open sesame"));
    }
}
