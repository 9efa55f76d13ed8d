//! Unit tests of the exact wire forms; round trips over arbitrary values live in
//! `protocol/tests/chat_props.rs`.

use std::borrow::Cow;

use super::*;
use crate::chat::values::{AgentStatus, ConversationState, Role, SystemKind};
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
        role: Role::Visitor,
    };
    assert_eq!(
        server_bytes(Encoding::Json, welcome),
        br#"{"type":"welcome","conn":1,"shard":0,"user":"alice","role":"visitor"}"#
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
    let unknown = br#"{"type":"subscribe","conv":1}"#;
    let err = decoder.decode_client(Encoding::Json, unknown).unwrap_err();
    assert!(
        matches!(&err, FrameError::UnknownJsonType(name) if name == "subscribe"),
        "{err:?}"
    );
    assert_eq!(err.close_code(), 1007);
    // A server frame sent by a client is just as unknown.
    let welcome = br#"{"type":"welcome","conn":1,"shard":0,"user":"a","role":"agent"}"#;
    assert!(matches!(
        decoder.decode_client(Encoding::Json, welcome),
        Err(FrameError::UnknownJsonType(_))
    ));
}

#[test]
fn json_that_is_not_an_object_is_refused_as_such() {
    let mut decoder = Decoder::default();
    for (bad, kind) in [
        (&br#"["start"]"#[..], "an array"),
        (br#" ["typing",1]"#, "an array"),
        (br#""start""#, "a string"),
        (b"42", "a number"),
        (b"null", "null"),
        (b"true", "a boolean"),
        (b"", "nothing"),
        (b"\n\t ", "nothing"),
    ] {
        let err = decoder.decode_client(Encoding::Json, bad).unwrap_err();
        assert!(
            matches!(err, FrameError::NotAnObject(k) if k == kind),
            "{}: {err:?}",
            String::from_utf8_lossy(bad)
        );
        assert!(err.to_string().contains("must be an object"), "{err}");
        assert_eq!(err.close_code(), 1007);
        assert!(decoder.decode_server(Encoding::Json, bad).is_err());
    }
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
        br#"{"type":"start"#,
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
            role: Role::Agent,
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
    for (frame, tag) in frames.into_iter().zip([0x84, 0x82, 0x83]) {
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
            role: Role::Visitor,
        },
    );
    assert!(matches!(
        decoder.decode_client(Encoding::Binary, &welcome),
        Err(FrameError::UnknownBinaryType(0x84))
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
            role: Role::Visitor,
        },
    );
    // conn @0, user @8, shard @16, role @18, 5 bytes of padding.
    let mut expected = vec![0x84, 0x11, 0x04, 0, 0, 0, 0, 0, 0];
    expected.extend_from_slice(b"alice\xff\xff\xff");
    expected.extend_from_slice(&[0x03, 0, 0x00, 0, 0, 0, 0, 0]);
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

#[test]
fn conversation_frames_have_the_documented_json_form() {
    let cases: [(ClientFrame<'_>, &str); 11] = [
        (ClientFrame::Start, r#"{"type":"start"}"#),
        (
            ClientFrame::Send {
                conv: 7,
                client_msg_id: "c1".into(),
                body: "hi".into(),
            },
            r#"{"type":"send","conv":7,"client_msg_id":"c1","body":"hi"}"#,
        ),
        (
            ClientFrame::Ack { conv: 7, seq: 3 },
            r#"{"type":"ack","conv":7,"seq":3}"#,
        ),
        (
            ClientFrame::Resume {
                conv: 7,
                after_seq: 2,
            },
            r#"{"type":"resume","conv":7,"after_seq":2}"#,
        ),
        (
            ClientFrame::Typing { conv: 7 },
            r#"{"type":"typing","conv":7}"#,
        ),
        (
            ClientFrame::Read { conv: 7, seq: 3 },
            r#"{"type":"read","conv":7,"seq":3}"#,
        ),
        (ClientFrame::End { conv: 7 }, r#"{"type":"end","conv":7}"#),
        (
            ClientFrame::AgentStatus {
                status: AgentStatus::Online,
                capacity: Some(5),
            },
            r#"{"type":"agent_status","status":"online","capacity":5}"#,
        ),
        (
            ClientFrame::Transfer {
                conv: 7,
                to: "bob".into(),
            },
            r#"{"type":"transfer","conv":7,"to":"bob"}"#,
        ),
        (
            ClientFrame::AcceptTransfer { conv: 7 },
            r#"{"type":"accept_transfer","conv":7}"#,
        ),
        (
            ClientFrame::DeclineTransfer { conv: 7 },
            r#"{"type":"decline_transfer","conv":7}"#,
        ),
    ];
    let mut decoder = Decoder::default();
    for (frame, json) in cases {
        assert_eq!(client_bytes(Encoding::Json, &frame), json.as_bytes());
        assert_eq!(
            decoder
                .decode_client(Encoding::Json, json.as_bytes())
                .unwrap(),
            frame
        );
    }
    let system = ServerFrame::System {
        conv: 7,
        seq: 4,
        ts: 1_700_000_000_000,
        event: SystemKind::Ended,
        agent: None,
        position: None,
        reason: Some("inactivity"),
    };
    assert_eq!(
        server_bytes(Encoding::Json, system),
        br#"{"type":"system","conv":7,"seq":4,"ts":1700000000000,"event":"ended","reason":"inactivity"}"#
    );
    let snapshot = ServerFrame::Conversation {
        conv: 7,
        state: ConversationState::Waiting,
        visitor: "alice",
        agent: None,
        last_seq: 1,
    };
    assert_eq!(
        server_bytes(Encoding::Json, snapshot),
        br#"{"type":"conversation","conv":7,"state":"waiting","visitor":"alice","last_seq":1}"#
    );
}

#[test]
fn json_optional_fields_may_be_absent_or_null_and_enums_are_checked() {
    let mut decoder = Decoder::default();
    for json in [
        &br#"{"type":"agent_status","status":"away"}"#[..],
        br#"{"type":"agent_status","status":"away","capacity":null}"#,
    ] {
        assert_eq!(
            decoder.decode_client(Encoding::Json, json).unwrap(),
            ClientFrame::AgentStatus {
                status: AgentStatus::Away,
                capacity: None
            }
        );
    }
    for bad in [
        &br#"{"type":"agent_status","status":"busy"}"#[..],
        br#"{"type":"agent_status","status":"online","capacity":-1}"#,
        br#"{"type":"agent_status","status":"online","capacity":4294967296}"#,
        br#"{"type":"send","conv":1,"body":"no client_msg_id"}"#,
        br#"{"type":"resume","conv":1,"seq":1}"#,
    ] {
        let err = decoder.decode_client(Encoding::Json, bad).unwrap_err();
        assert!(matches!(err, FrameError::InvalidJson(_)), "{err:?}");
        assert_eq!(err.close_code(), 1007);
    }
}

#[test]
fn an_overlong_client_msg_id_is_answered_not_closed() {
    let mut decoder = Decoder::default();
    for (len, ok) in [
        (MAX_CLIENT_MSG_ID_BYTES, true),
        (MAX_CLIENT_MSG_ID_BYTES + 1, false),
    ] {
        let frame = ClientFrame::Send {
            conv: 1,
            client_msg_id: "x".repeat(len).into(),
            body: "hi".into(),
        };
        for encoding in [Encoding::Binary, Encoding::Json] {
            let bytes = client_bytes(encoding, &frame);
            let result = decoder.decode_client(encoding, &bytes);
            if ok {
                assert_eq!(result.unwrap(), frame);
            } else {
                let err = result.unwrap_err();
                assert!(matches!(err, FrameError::ClientMsgIdTooLong { len: 65 }));
                assert_eq!(err.error_code(), Some("client_msg_id_too_long"));
                assert_eq!(err.close_code(), 1008);
                assert_eq!(
                    err.to_string(),
                    "client_msg_id is 65 bytes, over the 64 allowed"
                );
            }
        }
    }
    // Every other error closes.
    let err = decoder.decode_client(Encoding::Json, b"{}").unwrap_err();
    assert_eq!(err.error_code(), None);
}

#[test]
fn binary_enum_codes_are_validated() {
    let mut decoder = Decoder::default();
    let mut bytes = client_bytes(
        Encoding::Binary,
        &ClientFrame::AgentStatus {
            status: AgentStatus::Offline,
            capacity: None,
        },
    );
    // { capacity: ArchivedOption<u32> (8 B), status: u8 } + 3 padding: status @8.
    assert_eq!(bytes.len(), 1 + 12, "{bytes:02x?}");
    assert_eq!(bytes[1 + 8], 2);
    bytes[1 + 8] = 3;
    let err = decoder.decode_client(Encoding::Binary, &bytes).unwrap_err();
    assert!(
        matches!(
            err,
            FrameError::UnknownCode {
                field: "status",
                code: 3
            }
        ),
        "{err:?}"
    );
    assert_eq!(err.close_code(), 1007);
    for (code, name) in [(0, "online"), (1, "away"), (2, "offline")] {
        assert_eq!(AgentStatus::from_code(code).unwrap().as_str(), name);
    }
    assert_eq!(SystemKind::ALL.len(), 9);
    for (i, kind) in SystemKind::ALL.iter().enumerate() {
        assert_eq!(usize::from(kind.code()), i);
        assert_eq!(SystemKind::from_code(kind.code()), Some(*kind));
    }
}

#[test]
fn binary_start_is_a_bare_tag_and_the_retired_welcome_tag_is_refused() {
    let mut decoder = Decoder::default();
    let start = client_bytes(Encoding::Binary, &ClientFrame::Start);
    assert_eq!(start, [0x02]);
    assert_eq!(
        decoder.decode_client(Encoding::Binary, &start).unwrap(),
        ClientFrame::Start
    );
    let mut old_welcome = server_bytes(
        Encoding::Binary,
        ServerFrame::Welcome {
            conn: 1,
            shard: 0,
            user: "u",
            role: Role::Visitor,
        },
    );
    old_welcome[0] = 0x81;
    assert!(matches!(
        decoder.decode_server(Encoding::Binary, &old_welcome),
        Err(FrameError::UnknownBinaryType(0x81))
    ));
}

#[test]
fn binary_message_and_system_bytes_are_pinned() {
    let message = server_bytes(
        Encoding::Binary,
        ServerFrame::Message {
            conv: 7,
            seq: 12,
            ts: 1_700_000_000_000,
            from: "alice",
            client_msg_id: "m-1",
            body: "hi",
        },
    );
    let mut expected = vec![0x86];
    expected.extend_from_slice(&7u64.to_le_bytes());
    expected.extend_from_slice(&12u64.to_le_bytes());
    expected.extend_from_slice(&1_700_000_000_000u64.to_le_bytes());
    expected
        .extend_from_slice(b"alice\xff\xff\xffm-1\xff\xff\xff\xff\xffhi\xff\xff\xff\xff\xff\xff");
    assert_eq!(message, expected);

    let system = server_bytes(
        Encoding::Binary,
        ServerFrame::System {
            conv: 7,
            seq: 13,
            ts: 1_700_000_000_000,
            event: SystemKind::Assigned,
            agent: Some("bob"),
            position: None,
            reason: None,
        },
    );
    let mut expected = vec![0x87];
    expected.extend_from_slice(&7u64.to_le_bytes());
    expected.extend_from_slice(&13u64.to_le_bytes());
    expected.extend_from_slice(&1_700_000_000_000u64.to_le_bytes());
    // agent: Some (tag 1, 3 padding, inline string); reason: None (tag 0, zeroes);
    // position: None (tag 0, zeroes); event: 3; 7 bytes of padding to 64.
    expected.extend_from_slice(&[1, 0, 0, 0]);
    expected.extend_from_slice(b"bob\xff\xff\xff\xff\xff");
    expected.extend_from_slice(&[0; 12]);
    expected.extend_from_slice(&[0; 8]);
    expected.extend_from_slice(&[3, 0, 0, 0, 0, 0, 0, 0]);
    assert_eq!(system, expected, "{system:02x?}");
}

#[test]
fn event_data_is_embedded_as_raw_json_and_decoded_as_its_text() {
    let shipped = ServerFrame::Event {
        name: "order_shipped",
        data: r#"{"order":"A-17"}"#,
    };
    let json = br#"{"type":"event","name":"order_shipped","data":{"order":"A-17"}}"#;
    assert_eq!(server_bytes(Encoding::Json, shipped), json);
    let mut decoder = Decoder::default();
    assert_eq!(
        decoder
            .decode_server(Encoding::Json, json)
            .unwrap()
            .as_frame(),
        shipped
    );
    // Any JSON value, copied byte for byte: nesting, escapes, non-ASCII, numbers as
    // written. The name is an ordinary (escaped) JSON string.
    for data in [
        r#"{"order":{"id":"A-17","lines":[{"sku":"x\"1","qty":2},{"sku":"é\u00e9","qty":1e3}]},"gift":null}"#,
        r#"[[[]],{},[{"a":[true,false,null]}]]"#,
        r#""just a string""#,
        "-0.5",
        "null",
        "true",
    ] {
        let frame = ServerFrame::Event {
            name: "quote\"and\\slash",
            data,
        };
        let bytes = server_bytes(Encoding::Json, frame);
        let expected = format!(r#"{{"type":"event","name":"quote\"and\\slash","data":{data}}}"#);
        assert_eq!(String::from_utf8(bytes.clone()).unwrap(), expected);
        let value: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(
            value["data"],
            serde_json::from_str::<serde_json::Value>(data).unwrap()
        );
        assert_eq!(
            decoder
                .decode_server(Encoding::Json, &bytes)
                .unwrap()
                .as_frame(),
            frame
        );
    }
    // Decoding keeps the value's own text, without the whitespace around it, in any
    // field order, ignoring unknown fields.
    let spaced = br#"{ "data" :  { "order" : [1, 2] }  , "extra": 1, "name":"n", "type":"event"}"#;
    assert_eq!(
        decoder.decode_server(Encoding::Json, spaced).unwrap(),
        OwnedServerFrame::Event {
            name: "n".into(),
            data: r#"{ "order" : [1, 2] }"#.into(),
        }
    );
    // `data` is required (`null` is a value, not an absence) and must be JSON.
    for bad in [
        &br#"{"type":"event","name":"n"}"#[..],
        br#"{"type":"event","data":1}"#,
        br#"{"type":"event","name":"n","data":}"#,
        br#"{"type":"event","name":"n","data":{"a":}}"#,
        br#"{"type":"event","name":"n","data":1,"data":2}"#,
        br#"{"type":"event","name":1,"data":1}"#,
    ] {
        let err = decoder.decode_server(Encoding::Json, bad).unwrap_err();
        assert!(
            matches!(err, FrameError::InvalidJson(_)),
            "{}: {err:?}",
            String::from_utf8_lossy(bad)
        );
    }
    // A server frame sent by a client is unknown.
    assert!(matches!(
        decoder.decode_client(Encoding::Json, json),
        Err(FrameError::UnknownJsonType(_))
    ));
}

#[test]
fn binary_event_bytes_are_pinned() {
    let mut decoder = Decoder::default();
    // Both strings inline: tag 0x8d, then the 16-byte root { name, data }.
    let short = ServerFrame::Event {
        name: "shipped",
        data: r#"{"a":1}"#,
    };
    let bytes = server_bytes(Encoding::Binary, short);
    assert_eq!(bytes, b"\x8dshipped\xff{\"a\":1}\xff");
    assert_eq!(
        decoder
            .decode_server(Encoding::Binary, &bytes)
            .unwrap()
            .as_frame(),
        short
    );
    // Both out of line: name's 13 bytes, data's 16 right after them, 3 bytes of
    // padding to 32, then the root: name (0x80 | 13, offset -32), data (0x80 | 16,
    // offset 13 - 40 = -27).
    let shipped = ServerFrame::Event {
        name: "order_shipped",
        data: r#"{"order":"A-17"}"#,
    };
    let bytes = server_bytes(Encoding::Binary, shipped);
    let mut expected = vec![0x8d];
    expected.extend_from_slice(b"order_shipped{\"order\":\"A-17\"}");
    expected.extend_from_slice(&[0; 3]);
    expected.extend_from_slice(&[0x8d, 0, 0, 0, 0xe0, 0xff, 0xff, 0xff]);
    expected.extend_from_slice(&[0x90, 0, 0, 0, 0xe5, 0xff, 0xff, 0xff]);
    assert_eq!(bytes, expected, "{bytes:02x?}");
    assert_eq!(
        decoder
            .decode_server(Encoding::Binary, &bytes)
            .unwrap()
            .as_frame(),
        shipped
    );
    // Server-only: a client sending the tag gets "unknown type".
    assert!(matches!(
        decoder.decode_client(Encoding::Binary, &bytes),
        Err(FrameError::UnknownBinaryType(0x8d))
    ));
}
