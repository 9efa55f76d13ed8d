//! The HTTP request-head parser on arbitrary bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use switchboard_protocol::http::{accept_key, is_valid_key, parse_request};

fuzz_target!(|data: &[u8]| {
    let Ok(Some(request)) = parse_request(data) else {
        return;
    };
    assert!(request.head_len <= data.len());
    // A complete head stays complete, and parses the same, whatever follows it.
    let again = parse_request(&data[..request.head_len]).unwrap().unwrap();
    assert_eq!(again, request);
    let _ = request.token();
    if let Some(header) = request.cookie {
        // Whatever cookie is found is a part of the header.
        if let Some(value) = request.cookie("sid") {
            assert!(header.contains(value));
        }
    }
    let _ = request.offers_protocol("switchboard.v1.bin");
    if let Some(key) = request.websocket_key {
        if is_valid_key(key) {
            assert_eq!(accept_key(key).len(), 28);
        }
    }
});
