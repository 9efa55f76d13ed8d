//! The echo client's reply check on arbitrary bytes, as if a broken or hostile server
//! sent them.
//!
//! The first five bytes pick the connection id and the expected size, so libFuzzer
//! explores replies of the right and the wrong length for any connection. Besides "no
//! panic": whatever passes must be exactly what `write` produces for its stamp.
#![no_main]

use libfuzzer_sys::fuzz_target;
use switchboard_bench::echo_payload::{check, write};

fuzz_target!(|data: &[u8]| {
    let [c0, c1, c2, c3, size, reply @ ..] = data else {
        return;
    };
    let conn = u32::from_le_bytes([*c0, *c1, *c2, *c3]);
    let size = usize::from(*size);
    if let Ok(stamp) = check(reply, conn, size) {
        let mut again = vec![0u8; size];
        write(&mut again, conn, stamp.seq, stamp.sent_ns);
        assert_eq!(again.as_slice(), reply, "a reply passed that write would not produce");
    }
});
