//! Property tests of the chat frame codecs: every frame survives a round trip in both
//! encodings, and no input bytes make a decoder panic.

use std::borrow::Cow;

use proptest::prelude::*;
use switchboard_protocol::chat::{
    encode_client, encode_server, ClientFrame, Decoder, Encoding, FrameError, OwnedServerFrame,
};

fn encoding() -> impl Strategy<Value = Encoding> {
    prop_oneof![Just(Encoding::Binary), Just(Encoding::Json)]
}

/// Ids across the whole range, with the edges (0, 2^53 boundary, u64::MAX) favoured.
fn id() -> impl Strategy<Value = u64> {
    prop_oneof![
        any::<u64>(),
        Just(0),
        Just(u64::MAX),
        ((1u64 << 53) - 2..(1u64 << 53) + 2),
    ]
}

/// Any Unicode, including quotes, backslashes, control characters and NUL.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[\"\\\\\u{0}-\u{1f}a-z你好]{0,40}",
        ".{0,300}"
    ]
}

fn server_frame() -> impl Strategy<Value = OwnedServerFrame> {
    prop_oneof![
        (id(), any::<u16>(), text()).prop_map(|(conn, shard, user)| OwnedServerFrame::Welcome {
            conn,
            shard,
            user
        }),
        (id(), text()).prop_map(|(from, body)| OwnedServerFrame::Delivered { from, body }),
        (text(), text()).prop_map(|(code, message)| OwnedServerFrame::Error { code, message }),
    ]
}

fn is_decode_error(err: &FrameError) -> bool {
    err.close_code() == 1007 && !matches!(err, FrameError::WrongMessageKind { .. })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn client_frames_round_trip(encoding in encoding(), to in id(), body in text(), prefix in 0usize..9) {
        let frame = ClientFrame::Direct { to, body: Cow::Owned(body) };
        // Bytes already in `out` (a WebSocket header, another frame) must not matter.
        let mut out = vec![0x5A; prefix];
        encode_client(encoding, &frame, &mut out);
        prop_assert!(out[..prefix].iter().all(|&b| b == 0x5A));
        let mut decoder = Decoder::default();
        let decoded = decoder.decode_client(encoding, &out[prefix..]).unwrap();
        prop_assert_eq!(decoded, frame);
    }

    #[test]
    fn server_frames_round_trip(encoding in encoding(), frame in server_frame(), prefix in 0usize..9) {
        let mut out = vec![0xA5; prefix];
        encode_server(encoding, &frame.as_frame(), &mut out);
        let mut decoder = Decoder::default();
        let decoded = decoder.decode_server(encoding, &out[prefix..]).unwrap();
        prop_assert_eq!(decoded, frame);
    }

    #[test]
    fn one_decoder_reused_across_frames_of_both_encodings(
        frames in proptest::collection::vec((encoding(), server_frame()), 1..8),
    ) {
        let mut decoder = Decoder::default();
        for (encoding, frame) in frames {
            let mut out = Vec::new();
            encode_server(encoding, &frame.as_frame(), &mut out);
            prop_assert_eq!(decoder.decode_server(encoding, &out).unwrap(), frame);
        }
    }

    #[test]
    fn json_output_is_a_plain_json_object_with_a_type(frame in server_frame()) {
        let mut out = Vec::new();
        encode_server(Encoding::Json, &frame.as_frame(), &mut out);
        let value: serde_json::Value = serde_json::from_slice(&out).unwrap();
        let expected = match &frame {
            OwnedServerFrame::Welcome { .. } => "welcome",
            OwnedServerFrame::Delivered { .. } => "delivered",
            OwnedServerFrame::Error { .. } => "error",
        };
        prop_assert_eq!(value["type"].as_str(), Some(expected));
    }

    #[test]
    fn arbitrary_bytes_never_panic_and_errors_close_with_1007(
        encoding in encoding(),
        bytes in proptest::collection::vec(any::<u8>(), 0..200),
    ) {
        let mut decoder = Decoder::default();
        if let Err(err) = decoder.decode_client(encoding, &bytes) {
            prop_assert!(is_decode_error(&err), "{err:?}");
        }
        if let Err(err) = decoder.decode_server(encoding, &bytes) {
            prop_assert!(is_decode_error(&err), "{err:?}");
        }
    }

    #[test]
    fn binary_frames_with_the_right_tag_and_random_bodies_never_panic(
        tag in prop_oneof![Just(0x01u8), Just(0x81), Just(0x82), Just(0x83)],
        body in proptest::collection::vec(any::<u8>(), 0..96),
    ) {
        let mut payload = vec![tag];
        payload.extend_from_slice(&body);
        let mut decoder = Decoder::default();
        if let Ok(ClientFrame::Direct { body, .. }) = decoder.decode_client(Encoding::Binary, &payload) {
            // Whatever validated is a real &str inside the payload's copy.
            prop_assert!(body.len() <= payload.len());
        }
        let _ = decoder.decode_server(Encoding::Binary, &payload);
    }

    #[test]
    fn corrupted_valid_frames_never_panic(
        encoding in encoding(),
        to in id(),
        body in text(),
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
    ) {
        let mut out = Vec::new();
        encode_client(encoding, &ClientFrame::Direct { to, body: Cow::Owned(body) }, &mut out);
        for (at, value) in flips {
            let at = at.index(out.len());
            out[at] = value;
        }
        let mut decoder = Decoder::default();
        if let Err(err) = decoder.decode_client(encoding, &out) {
            prop_assert!(is_decode_error(&err), "{err:?}");
        }
    }
}
