//! The check both chat fuzz targets run, for one encoding: whatever decodes must
//! encode again and decode to the same frame; every error either closes with 1007 or
//! (a well-formed frame over a limit) is answered with an error frame.

use switchboard_protocol::chat::{encode_client, encode_server, Decoder, Encoding};

/// Decodes `data` as a client and as a server frame in `encoding` and checks both.
pub fn round_trip(encoding: Encoding, data: &[u8]) {
    let mut decoder = Decoder::default();
    match decoder.decode_client(encoding, data) {
        Ok(frame) => {
            let frame = frame.into_owned();
            let mut out = Vec::new();
            encode_client(encoding, &frame, &mut out);
            let again = decoder
                .decode_client(encoding, &out)
                .expect("re-encoded client frame");
            assert_eq!(again, frame);
        }
        Err(err) => assert!(
            err.error_code().is_some() || err.close_code() == 1007,
            "{err:?}"
        ),
    }
    match decoder.decode_server(encoding, data) {
        Ok(frame) => {
            let mut out = Vec::new();
            encode_server(encoding, &frame.as_frame(), &mut out);
            let again = decoder
                .decode_server(encoding, &out)
                .expect("re-encoded server frame");
            assert_eq!(again, frame);
        }
        Err(err) => assert_eq!(err.close_code(), 1007, "{err:?}"),
    }
}
