//! The `Switchboard-Signature` header parser and verifier on arbitrary values.
#![no_main]

use libfuzzer_sys::fuzz_target;
use switchboard_channels::webhook::signature::{parse_header, sign, verify, MAX_SIGNATURES};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(header) = parse_header(text) {
        assert!(!header.signatures.is_empty() && header.signatures.len() <= MAX_SIGNATURES);
    }
    let _ = verify(text, b"secret", data, 1_700_000_000, 300);
    // A header we make always verifies against its own body.
    let made = sign(b"secret", 1_700_000_000, data);
    assert_eq!(verify(&made, b"secret", data, 1_700_000_000, 0), Ok(1_700_000_000));
});
