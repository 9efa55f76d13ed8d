//! Routing conditions on arbitrary text: parsing never panics, and a parsed
//! condition evaluates without panicking on a few attribute shapes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use switchboard_bot::routing::{holds, parse_condition, AttrValue, RouteAttributes};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(condition) = parse_condition(text) else {
        return;
    };
    let mut attrs = RouteAttributes::default();
    let _ = holds(&condition, &attrs);
    for value in [
        AttrValue::Num(5000.0),
        AttrValue::Text("vip".into()),
        AttrValue::List(vec!["a".into(), "b".into()]),
    ] {
        attrs.set(&condition.attribute, value);
        let _ = holds(&condition, &attrs);
    }
});
