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

/// handshake (found reading `store.rs` while writing the exact-page check of the
/// handshake oracle, which then failed on it): a `history` bound past i64::MAX was cast
/// to a negative SQL integer. `after_seq: 18446744073709551615` returned the room's
/// first page instead of nothing, and `before_seq` that large returned nothing instead
/// of the latest page (§10.3: every page is bounded by the head H).
#[test]
fn history_bounds_past_i64_max_mean_past_every_message() {
    let harness = fuzz::harness();
    let session = |history: &str| {
        let lines = [
            r#"{"type":"hello","payload":{"protocol":1,"user_id":"99e6f449-2bc4-42d9-91d6-1b8d9131d166","name":"Bob"}}"#.to_string(),
            r#"{"type":"join","payload":{"room_id":"00000000-0000-4000-8000-00000000000a"}}"#.to_string(),
            r#"{"type":"send","payload":{"room_id":"00000000-0000-4000-8000-00000000000a","client_msg_id":"regression-1","text":"x"}}"#.to_string(),
            format!(r#"{{"type":"history","payload":{{"room_id":"00000000-0000-4000-8000-00000000000a",{history}}}}}"#),
        ];
        lines.join("\n")
    };
    for bound in [
        r#""after_seq":18446744073709551615"#,
        r#""after_seq":9223372036854775808"#,
        r#""before_seq":18446744073709551615"#,
        r#""before_seq":9223372036854775808"#,
        r#""before_seq":9223372036854775807,"limit":1"#,
    ] {
        // The oracle checks the exact page: nothing after the head, the latest page
        // below any bound past it.
        harness.run(session(bound).as_bytes());
    }
}
