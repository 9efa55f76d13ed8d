//! The rules loader on arbitrary bytes: never panics, and every position an error
//! reports is inside the document.
#![no_main]

use libfuzzer_sys::fuzz_target;
use switchboard_bot::RuleSet;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Err(e) = RuleSet::from_yaml(text) {
        let lines = text.lines().count() + 1;
        for at in e.locations() {
            assert!(at.line >= 1 && at.line <= lines, "{e}");
        }
    }
});
