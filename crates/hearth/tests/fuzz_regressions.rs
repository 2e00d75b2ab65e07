//! Every input a fuzz target (fuzz/) found failing, replayed through the same check
//! (fuzz/src/lib.rs), plus an assertion of the behaviour the fix established.
//! docs/security.md ("Fuzzing") lists them with their fixes.

#[allow(dead_code)]
#[path = "../../../fuzz/src/lib.rs"]
mod fuzz;

use hearth::invite::{Invite, InviteError};

/// invite, crash-aedd7bb4758c18ef8b30adab302310c4269ca3b5: a control character inside
/// the `#fp=` of a real link was accepted as part of the fingerprint. The client would
/// pin a value no certificate can have and refuse the host as an impostor, instead of
/// saying that the link is broken.
#[test]
fn invite_with_a_malformed_fingerprint_is_refused() {
    let input = b"hearth://127.0.0.1:40425/6526fe2b-4304-478d-9735-ba5b898c0058#fp=5119c6a038\x1ae435ef07c9e25083c31e3feee471f7807271428e8420ba795ffb68";
    fuzz::check_invite(input);
    let text = std::str::from_utf8(input).unwrap();
    assert!(matches!(
        Invite::parse(text),
        Err(InviteError::BadFingerprint(_))
    ));
    // Fingerprints are still accepted as people paste them: any case, `:`-separated.
    let fp = "5119c6a038e435ef07c9e25083c31e3feee471f7807271428e8420ba795ffb68";
    let grouped = hearth::tls::display_fingerprint(&fp.to_ascii_uppercase());
    let i = Invite::parse(&format!("hearth://127.0.0.1:1/#fp={grouped}")).unwrap();
    assert_eq!(i.fingerprint.as_deref(), Some(fp));
}
