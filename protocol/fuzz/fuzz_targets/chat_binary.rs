//! Chat frame decoding (binary encoding) on arbitrary bytes, in both directions.
//!
//! Whatever decodes must encode again and decode to the same frame; every error either
//! closes with 1007 or (a well-formed frame over a limit) is answered with an error
//! frame. Covers every frame type of both directions: the decoder picks it from the
//! input's tag or `"type"`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use switchboard_protocol::chat::{encode_client, encode_server, Decoder, Encoding};

const ENCODING: Encoding = Encoding::Binary;

fuzz_target!(|data: &[u8]| {
    let mut decoder = Decoder::default();
    match decoder.decode_client(ENCODING, data) {
        Ok(frame) => {
            let frame = frame.into_owned();
            let mut out = Vec::new();
            encode_client(ENCODING, &frame, &mut out);
            let again = decoder
                .decode_client(ENCODING, &out)
                .expect("re-encoded client frame");
            assert_eq!(again, frame);
        }
        Err(err) => assert!(
            err.error_code().is_some() || err.close_code() == 1007,
            "{err:?}"
        ),
    }
    match decoder.decode_server(ENCODING, data) {
        Ok(frame) => {
            let mut out = Vec::new();
            encode_server(ENCODING, &frame.as_frame(), &mut out);
            let again = decoder
                .decode_server(ENCODING, &out)
                .expect("re-encoded server frame");
            assert_eq!(again, frame);
        }
        Err(err) => assert_eq!(err.close_code(), 1007, "{err:?}"),
    }
});
