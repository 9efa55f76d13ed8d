//! The HTTP session routes, cursors and upstream bodies on arbitrary bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use switchboard_protocol::session::{cursor, route, split_frames, SessionId};

fuzz_target!(|data: &[u8]| {
    if let Ok(frames) = split_frames(data, 64) {
        assert!(frames.len() <= 64);
        for frame in frames {
            assert!(frame.trim_start().starts_with('{'));
        }
    }
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = route("GET", text);
    let _ = route("POST", text);
    let _ = cursor(Some(text), Some(text));
    if let Some(id) = SessionId::parse(text) {
        assert_eq!(SessionId::parse(&id.to_string()), Some(id));
    }
});
