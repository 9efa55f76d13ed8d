//! Unit tests of the exact wire forms; round trips over arbitrary values live in
//! `protocol/tests/chat_props.rs`.

use std::borrow::Cow;

use super::*;
use crate::ws::DataKind;

fn server_bytes(encoding: Encoding, frame: ServerFrame<'_>) -> Vec<u8> {
    let mut out = Vec::new();
    encode_server(encoding, &frame, &mut out);
    out
}

fn client_bytes(encoding: Encoding, frame: &ClientFrame<'_>) -> Vec<u8> {
    let mut out = Vec::new();
    encode_client(encoding, frame, &mut out);
    out
}

#[test]
fn json_frames_have_the_documented_form() {
    let welcome = ServerFrame::Welcome {
        conn: 1,
        shard: 0,
        user: "alice",
    };
    assert_eq!(
        server_bytes(Encoding::Json, welcome),
        br#"{"type":"welcome","conn":1,"shard":0,"user":"alice"}"#
    );
    let delivered = ServerFrame::Delivered {
        from: 1,
        body: "hi",
    };
    assert_eq!(
        server_bytes(Encoding::Json, delivered),
        br#"{"type":"delivered","from":1,"body":"hi"}"#
    );
    let error = ServerFrame::Error {
        code: "unknown_connection",
        message: "no connection 5",
    };
    assert_eq!(
        server_bytes(Encoding::Json, error),
        br#"{"type":"error","code":"unknown_connection","message":"no connection 5"}"#
    );
    let direct = ClientFrame::Direct {
        to: 5,
        body: "hi".into(),
    };
    assert_eq!(
        client_bytes(Encoding::Json, &direct),
        br#"{"type":"direct","to":5,"body":"hi"}"#
    );
}

#[test]
fn json_strings_are_borrowed_unless_escaped() {
    let mut decoder = Decoder::default();
    let plain = br#"{"type":"direct","to":5,"body":"hi there"}"#;
    match decoder.decode_client(Encoding::Json, plain).unwrap() {
        ClientFrame::Direct {
            to: 5,
            body: Cow::Borrowed("hi there"),
        } => {}
        other => panic!("not borrowed: {other:?}"),
    }
    let escaped = br#"{"type":"direct","to":5,"body":"line\nbreak \u00e9"}"#;
    match decoder.decode_client(Encoding::Json, escaped).unwrap() {
        ClientFrame::Direct {
            body: Cow::Owned(body),
            ..
        } => assert_eq!(body, "line\nbreak é"),
        other => panic!("escapes not decoded: {other:?}"),
    }
}

#[test]
fn json_ignores_unknown_fields_in_any_order_and_refuses_unknown_types() {
    let mut decoder = Decoder::default();
    let reordered =
        br#"{"body":"hi","future":{"nested":[1,2]},"to":18446744073709551615,"type":"direct"}"#;
    assert_eq!(
        decoder.decode_client(Encoding::Json, reordered).unwrap(),
        ClientFrame::Direct {
            to: u64::MAX,
            body: "hi".into()
        }
    );
    let unknown = br#"{"type":"typing","conv":1}"#;
    let err = decoder.decode_client(Encoding::Json, unknown).unwrap_err();
    assert!(
        matches!(&err, FrameError::UnknownJsonType(name) if name == "typing"),
        "{err:?}"
    );
    assert_eq!(err.close_code(), 1007);
    // A server frame sent by a client is just as unknown.
    let welcome = br#"{"type":"welcome","conn":1,"shard":0,"user":"a"}"#;
    assert!(matches!(
        decoder.decode_client(Encoding::Json, welcome),
        Err(FrameError::UnknownJsonType(_))
    ));
}

#[test]
fn json_refuses_malformed_frames_with_1007() {
    let mut decoder = Decoder::default();
    for bad in [
        &br#"{"type":"direct","body":"hi"}"#[..],
        br#"{"type":"direct","to":-1,"body":"hi"}"#,
        br#"{"type":"direct","to":18446744073709551616,"body":"hi"}"#,
        br#"{"type":"direct","to":1.5,"body":"hi"}"#,
        br#"{"type":"direct","to":"5","body":"hi"}"#,
        br#"{"type":"direct","to":5,"body":"hi","to":6}"#,
        br#"{"to":5,"body":"hi"}"#,
        br#"{"type":"direct","to":5,"body":"hi"} trailing"#,
        br#"[1,2]"#,
        b"",
    ] {
        let err = decoder.decode_client(Encoding::Json, bad).unwrap_err();
        assert!(
            matches!(err, FrameError::InvalidJson(_)),
            "{}: {err:?}",
            String::from_utf8_lossy(bad)
        );
        assert_eq!(err.close_code(), 1007);
    }
}

#[test]
fn json_unknown_type_names_are_cut_for_the_close_reason() {
    let long = format!(r#"{{"type":"{}","to":1}}"#, "é".repeat(100));
    let err = Decoder::default()
        .decode_client(Encoding::Json, long.as_bytes())
        .unwrap_err();
    let FrameError::UnknownJsonType(name) = err else {
        panic!("{err:?}")
    };
    assert!(name.len() <= 32 && name.chars().all(|c| c == 'é'), "{name}");
}

#[test]
fn binary_frames_round_trip_and_start_with_their_type_tag() {
    let mut decoder = Decoder::default();
    let frames = [
        ServerFrame::Welcome {
            conn: 42,
            shard: 3,
            user: "alice",
        },
        ServerFrame::Delivered {
            from: u64::MAX,
            body: "a longer body than eight bytes",
        },
        ServerFrame::Error {
            code: "unknown_connection",
            message: "",
        },
    ];
    for (frame, tag) in frames.into_iter().zip([0x81, 0x82, 0x83]) {
        let bytes = server_bytes(Encoding::Binary, frame);
        assert_eq!(bytes[0], tag);
        assert_eq!(
            decoder
                .decode_server(Encoding::Binary, &bytes)
                .unwrap()
                .as_frame(),
            frame
        );
    }
    let direct = ClientFrame::Direct {
        to: 9,
        body: "你好".into(),
    };
    let bytes = client_bytes(Encoding::Binary, &direct);
    assert_eq!(bytes[0], 0x01);
    let decoded = decoder.decode_client(Encoding::Binary, &bytes).unwrap();
    assert!(matches!(
        decoded,
        ClientFrame::Direct {
            body: Cow::Borrowed(_),
            ..
        }
    ));
    assert_eq!(decoded, direct);
}

#[test]
fn binary_short_direct_has_the_expected_layout() {
    // tag, then the 8-byte id and an inline ArchivedString (<= 8 bytes inline).
    let bytes = client_bytes(
        Encoding::Binary,
        &ClientFrame::Direct {
            to: 5,
            body: "hi".into(),
        },
    );
    assert_eq!(bytes.len(), 1 + 16, "{bytes:02x?}");
    assert_eq!(&bytes[1..9], &5u64.to_le_bytes());
}

#[test]
fn binary_encoding_after_other_bytes_and_decoding_at_odd_addresses_work() {
    // The archive is aligned relative to its own start, not to `out`'s.
    let mut out = vec![0xAA; 3];
    let frame = ServerFrame::Delivered {
        from: 7,
        body: "misaligned on purpose",
    };
    encode_server(Encoding::Binary, &frame, &mut out);
    let mut decoder = Decoder::default();
    assert_eq!(
        decoder
            .decode_server(Encoding::Binary, &out[3..])
            .unwrap()
            .as_frame(),
        frame
    );
    // And a payload that itself sits at an odd address.
    let mut shifted = vec![0u8];
    shifted.extend_from_slice(&out[3..]);
    assert_eq!(
        decoder
            .decode_server(Encoding::Binary, &shifted[1..])
            .unwrap()
            .as_frame(),
        frame
    );
}

#[test]
fn binary_refuses_empty_unknown_truncated_and_corrupt_frames() {
    let mut decoder = Decoder::default();
    let err = decoder.decode_client(Encoding::Binary, &[]).unwrap_err();
    assert!(matches!(err, FrameError::Empty));
    assert_eq!(err.close_code(), 1007);

    let direct = client_bytes(
        Encoding::Binary,
        &ClientFrame::Direct {
            to: 1,
            body: "hello world!".into(),
        },
    );
    let mut unknown = direct.clone();
    unknown[0] = 0x7f;
    assert!(matches!(
        decoder.decode_client(Encoding::Binary, &unknown),
        Err(FrameError::UnknownBinaryType(0x7f))
    ));
    // A server frame type sent by a client.
    let welcome = server_bytes(
        Encoding::Binary,
        ServerFrame::Welcome {
            conn: 1,
            shard: 0,
            user: "u",
        },
    );
    assert!(matches!(
        decoder.decode_client(Encoding::Binary, &welcome),
        Err(FrameError::UnknownBinaryType(0x81))
    ));
    // An archive shorter than the 16-byte root struct cannot validate. (A longer cut
    // can: rkyv reads the root from the end, and validation proves memory safety and
    // type validity, not that these are the bytes the peer meant — WebSocket and TCP
    // deliver whole messages, so a cut never reaches the decoder.)
    for cut in 1..17 {
        let err = decoder
            .decode_client(Encoding::Binary, &direct[..cut])
            .unwrap_err();
        assert!(
            matches!(err, FrameError::InvalidBinary(_)),
            "cut {cut}: {err:?}"
        );
    }
    // Invalid UTF-8 in the out-of-line body: the 12 body bytes come first.
    let mut bad_utf8 = direct.clone();
    bad_utf8[1] = 0xFF;
    let err = decoder
        .decode_client(Encoding::Binary, &bad_utf8)
        .unwrap_err();
    assert!(matches!(err, FrameError::InvalidBinary(_)), "{err:?}");
    assert_eq!(err.close_code(), 1007);
    // A relative pointer aimed outside the buffer (the string's offset field).
    let mut wild = direct;
    let ptr = wild.len() - 4;
    wild[ptr..].copy_from_slice(&0x4000_0000i32.to_le_bytes());
    assert!(matches!(
        decoder.decode_client(Encoding::Binary, &wild),
        Err(FrameError::InvalidBinary(_))
    ));
}

#[test]
fn subprotocol_negotiation_follows_the_client_preference() {
    assert_eq!(Encoding::negotiate(None), (Encoding::Json, None));
    assert_eq!(
        Encoding::negotiate(Some("chat, superchat")),
        (Encoding::Json, None)
    );
    assert_eq!(
        Encoding::negotiate(Some("x, switchboard.v1.bin ,switchboard.v1.json")),
        (Encoding::Binary, Some("switchboard.v1.bin"))
    );
    assert_eq!(
        Encoding::negotiate(Some("switchboard.v1.json,switchboard.v1.bin")),
        (Encoding::Json, Some("switchboard.v1.json"))
    );
    assert_eq!(Encoding::Binary.subprotocol(), Encoding::BINARY_SUBPROTOCOL);
    assert_eq!(
        Encoding::from_subprotocol(Encoding::JSON_SUBPROTOCOL),
        Some(Encoding::Json)
    );
}

#[test]
fn a_message_of_the_wrong_websocket_type_closes_with_1003() {
    assert!(Encoding::Binary.check_data_kind(DataKind::Binary).is_ok());
    assert!(Encoding::Json.check_data_kind(DataKind::Text).is_ok());
    let err = Encoding::Json
        .check_data_kind(DataKind::Binary)
        .unwrap_err();
    assert_eq!(err.close_code(), 1003);
    assert_eq!(err.to_string(), "Binary message on a Text subprotocol");
}

#[test]
fn binary_format_1_bytes_are_pinned() {
    // The hex dumps of docs/protocol.md. If an rkyv upgrade or a field change moves a
    // byte, this fails: that is a new format version, not a refactor.
    let direct = client_bytes(
        Encoding::Binary,
        &ClientFrame::Direct {
            to: 1042,
            body: "hi".into(),
        },
    );
    assert_eq!(
        direct,
        [0x01, 0x12, 0x04, 0, 0, 0, 0, 0, 0, b'h', b'i', 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]
    );
    let welcome = server_bytes(
        Encoding::Binary,
        ServerFrame::Welcome {
            conn: 1041,
            shard: 3,
            user: "alice",
        },
    );
    let mut expected = vec![0x81, 0x11, 0x04, 0, 0, 0, 0, 0, 0];
    expected.extend_from_slice(b"alice\xff\xff\xff");
    expected.extend_from_slice(&[0x03, 0, 0, 0, 0, 0, 0, 0]);
    assert_eq!(welcome, expected);
    // Out of line: the bytes, padding to 8, then {to, len | 0x80 marker, offset back}.
    let body = "Hi, I'd like to change my delivery date.";
    let long = client_bytes(
        Encoding::Binary,
        &ClientFrame::Direct {
            to: 1042,
            body: body.into(),
        },
    );
    assert_eq!(&long[1..41], body.as_bytes());
    assert_eq!(
        &long[41..],
        [0x12, 0x04, 0, 0, 0, 0, 0, 0, 0xa8, 0, 0, 0, 0xd0, 0xff, 0xff, 0xff]
    );
}
