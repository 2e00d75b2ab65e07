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
