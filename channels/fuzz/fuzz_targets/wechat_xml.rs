//! WeChat's XML parsers (envelope and message) on arbitrary text.
#![no_main]

use libfuzzer_sys::fuzz_target;
use switchboard_channels::wechat::xml::{parse_envelope, parse_message};
use switchboard_channels::VisitorContent;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = parse_envelope(text);
    if let Ok(message) = parse_message(text) {
        assert!(!message.from_user.is_empty() && !message.to_user.is_empty());
        if let VisitorContent::Location { latitude, longitude, .. } = message.body {
            assert!(latitude.abs() <= 90.0 && longitude.abs() <= 180.0);
        }
    }
});
