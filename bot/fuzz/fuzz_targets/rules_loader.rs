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
        // YAML (1.1, as libyaml reads it) breaks lines at \n, \r, NEL, LS and PS, and
        // reports an unexpected end of input on the line after the last one.
        let lines = text
            .matches(['\n', '\r', '\u{85}', '\u{2028}', '\u{2029}'])
            .count()
            + 2;
        for at in e.locations() {
            assert!(at.line >= 1 && at.line <= lines, "{e}");
        }
    }
});
