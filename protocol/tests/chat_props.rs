//! Property tests of the chat frame codecs: every frame survives a round trip in both
//! encodings, and no input bytes make a decoder panic.

use std::borrow::Cow;

use proptest::prelude::*;
use proptest::sample::select;
use switchboard_protocol::chat::{
    encode_client, encode_server, AgentStatus, ClientFrame, ConversationState, Decoder, Encoding,
    FrameError, OwnedServerFrame, Role, SystemKind, MAX_CLIENT_MSG_ID_BYTES,
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

/// The text of any JSON value, as the engine gets it (`serde_json::to_string` of a
/// `Value`): nested arrays and objects, escaped and non-ASCII strings, every kind of
/// number, `null`.
fn json_text() -> impl Strategy<Value = String> {
    use serde_json::Value;
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        text().prop_map(Value::String),
    ];
    let value = leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            proptest::collection::vec((text(), inner), 0..6)
                .prop_map(|fields| Value::Object(fields.into_iter().collect())),
        ]
    });
    value.prop_map(|value| value.to_string())
}

fn opt_text() -> impl Strategy<Value = Option<String>> {
    proptest::option::of(text())
}

/// A client message id within the limit: any text cut to 64 bytes on a char boundary.
fn msg_id() -> impl Strategy<Value = String> {
    text().prop_map(|mut id| {
        let mut end = id.len().min(MAX_CLIENT_MSG_ID_BYTES);
        while !id.is_char_boundary(end) {
            end -= 1;
        }
        id.truncate(end);
        id
    })
}

fn client_frame() -> impl Strategy<Value = ClientFrame<'static>> {
    let owned = |s: String| Cow::<'static, str>::Owned(s);
    prop_oneof![
        (id(), text()).prop_map(move |(to, body)| ClientFrame::Direct {
            to,
            body: owned(body)
        }),
        Just(ClientFrame::Start),
        (id(), msg_id(), text()).prop_map(move |(conv, client_msg_id, body)| ClientFrame::Send {
            conv,
            client_msg_id: owned(client_msg_id),
            body: owned(body)
        }),
        (id(), id()).prop_map(|(conv, seq)| ClientFrame::Ack { conv, seq }),
        (id(), id()).prop_map(|(conv, after_seq)| ClientFrame::Resume { conv, after_seq }),
        id().prop_map(|conv| ClientFrame::Typing { conv }),
        (id(), id()).prop_map(|(conv, seq)| ClientFrame::Read { conv, seq }),
        id().prop_map(|conv| ClientFrame::End { conv }),
        (select(AgentStatus::ALL), any::<Option<u32>>())
            .prop_map(|(status, capacity)| ClientFrame::AgentStatus { status, capacity }),
        (id(), text()).prop_map(move |(conv, to)| ClientFrame::Transfer {
            conv,
            to: owned(to)
        }),
        id().prop_map(|conv| ClientFrame::AcceptTransfer { conv }),
        id().prop_map(|conv| ClientFrame::DeclineTransfer { conv }),
    ]
}

fn server_frame() -> impl Strategy<Value = OwnedServerFrame> {
    prop_oneof![
        (id(), any::<u16>(), text(), select(Role::ALL)).prop_map(|(conn, shard, user, role)| {
            OwnedServerFrame::Welcome {
                conn,
                shard,
                user,
                role,
            }
        }),
        (
            id(),
            select(ConversationState::ALL),
            text(),
            opt_text(),
            id()
        )
            .prop_map(|(conv, state, visitor, agent, last_seq)| {
                OwnedServerFrame::Conversation {
                    conv,
                    state,
                    visitor,
                    agent,
                    last_seq,
                }
            }),
        (id(), id(), id(), text(), msg_id(), text()).prop_map(
            |(conv, seq, ts, from, client_msg_id, body)| OwnedServerFrame::Message {
                conv,
                seq,
                ts,
                from,
                client_msg_id,
                body
            }
        ),
        (
            (id(), id(), id()),
            select(SystemKind::ALL),
            opt_text(),
            any::<Option<u32>>(),
            opt_text()
        )
            .prop_map(|((conv, seq, ts), event, agent, position, reason)| {
                OwnedServerFrame::System {
                    conv,
                    seq,
                    ts,
                    event,
                    agent,
                    position,
                    reason,
                }
            }),
        (id(), msg_id(), id(), id()).prop_map(|(conv, client_msg_id, seq, ts)| {
            OwnedServerFrame::Sent {
                conv,
                client_msg_id,
                seq,
                ts,
            }
        }),
        (id(), text()).prop_map(|(conv, from)| OwnedServerFrame::Typing { conv, from }),
        (id(), text(), id()).prop_map(|(conv, from, seq)| OwnedServerFrame::Read {
            conv,
            from,
            seq
        }),
        (id(), id(), id()).prop_map(|(conv, after_seq, oldest_seq)| OwnedServerFrame::Gap {
            conv,
            after_seq,
            oldest_seq
        }),
        (id(), text(), text()).prop_map(|(conv, from_agent, visitor)| {
            OwnedServerFrame::TransferOffer {
                conv,
                from_agent,
                visitor,
            }
        }),
        (text(), json_text()).prop_map(|(name, data)| OwnedServerFrame::Event { name, data }),
        (id(), text()).prop_map(|(from, body)| OwnedServerFrame::Delivered { from, body }),
        (text(), text()).prop_map(|(code, message)| OwnedServerFrame::Error { code, message }),
        (id(), any::<u32>())
            .prop_map(|(conv, position)| OwnedServerFrame::Queue { conv, position }),
        (id(), text(), select(Role::ALL), any::<bool>()).prop_map(|(conv, user, role, online)| {
            OwnedServerFrame::Presence {
                conv,
                user,
                role,
                online,
            }
        }),
    ]
}

/// What a decoder may answer to bad bytes: close with 1007, or (a well-formed frame
/// over a limit) an error frame.
fn is_decode_error(err: &FrameError) -> bool {
    err.error_code().is_some()
        || (err.close_code() == 1007 && !matches!(err, FrameError::WrongMessageKind { .. }))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn client_frames_round_trip(encoding in encoding(), frame in client_frame(), prefix in 0usize..9) {
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
    fn binary_client_frames_borrow_every_string(frame in client_frame()) {
        let mut out = Vec::new();
        encode_client(Encoding::Binary, &frame, &mut out);
        let mut decoder = Decoder::default();
        let decoded = decoder.decode_client(Encoding::Binary, &out).unwrap();
        let borrowed = match &decoded {
            ClientFrame::Direct { body, .. } => vec![body],
            ClientFrame::Send { client_msg_id, body, .. } => vec![client_msg_id, body],
            ClientFrame::Transfer { to, .. } => vec![to],
            _ => vec![],
        };
        prop_assert!(borrowed.iter().all(|s| matches!(s, Cow::Borrowed(_))));
    }

    #[test]
    fn overlong_client_msg_ids_are_refused_in_both_encodings(
        encoding in encoding(),
        conv in id(),
        extra in 1usize..200,
        body in text(),
    ) {
        let id = "é".repeat((MAX_CLIENT_MSG_ID_BYTES + extra).div_ceil(2));
        let frame = ClientFrame::Send { conv, client_msg_id: Cow::Owned(id.clone()), body: Cow::Owned(body) };
        let mut out = Vec::new();
        encode_client(encoding, &frame, &mut out);
        let err = Decoder::default().decode_client(encoding, &out).unwrap_err();
        prop_assert!(
            matches!(err, FrameError::ClientMsgIdTooLong { len } if len == id.len()),
            "{:?}", err
        );
        prop_assert_eq!(err.error_code(), Some("client_msg_id_too_long"));
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
    fn json_output_is_a_plain_json_object_with_a_type(frame in server_frame(), client in client_frame()) {
        let mut out = Vec::new();
        encode_server(Encoding::Json, &frame.as_frame(), &mut out);
        let mut value: serde_json::Value = serde_json::from_slice(&out).unwrap();
        prop_assert_eq!(value["type"].as_str(), Some(frame.type_name()));
        if let OwnedServerFrame::Event { data, .. } = &frame {
            // `data` is embedded as the JSON value itself, not as a string holding it
            // (and may be `null`: that is the value, not an absent field).
            let data: serde_json::Value = serde_json::from_str(data).unwrap();
            prop_assert_eq!(value.as_object_mut().unwrap().remove("data"), Some(data));
        }
        // Absent optional fields are left out rather than written as null.
        prop_assert!(value.as_object().unwrap().values().all(|v| !v.is_null()));
        out.clear();
        encode_client(Encoding::Json, &client, &mut out);
        let value: serde_json::Value = serde_json::from_slice(&out).unwrap();
        prop_assert_eq!(value["type"].as_str(), Some(client.type_name()));
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
    fn binary_frames_with_a_known_tag_and_random_bodies_never_panic(
        tag in prop_oneof![0x01u8..=0x0c, 0x81u8..=0x8d],
        body in proptest::collection::vec(any::<u8>(), 0..96),
    ) {
        let mut payload = vec![tag];
        payload.extend_from_slice(&body);
        let mut decoder = Decoder::default();
        match decoder.decode_client(Encoding::Binary, &payload) {
            Ok(ClientFrame::Direct { body, .. }) => {
                // Whatever validated is a real &str inside the payload's copy.
                prop_assert!(body.len() <= payload.len());
            }
            Ok(_) => {}
            Err(err) => prop_assert!(is_decode_error(&err), "{err:?}"),
        }
        if let Err(err) = decoder.decode_server(Encoding::Binary, &payload) {
            prop_assert!(is_decode_error(&err), "{err:?}");
        }
    }

    #[test]
    fn corrupted_valid_frames_never_panic(
        encoding in encoding(),
        client in client_frame(),
        server in server_frame(),
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
    ) {
        let mut decoder = Decoder::default();
        let mut out = Vec::new();
        encode_client(encoding, &client, &mut out);
        for &(at, value) in &flips {
            let at = at.index(out.len());
            out[at] = value;
        }
        if let Err(err) = decoder.decode_client(encoding, &out) {
            prop_assert!(is_decode_error(&err), "{err:?}");
        }
        out.clear();
        encode_server(encoding, &server.as_frame(), &mut out);
        for &(at, value) in &flips {
            let at = at.index(out.len());
            out[at] = value;
        }
        if let Err(err) = decoder.decode_server(encoding, &out) {
            prop_assert!(is_decode_error(&err), "{err:?}");
        }
    }
}

/// JSON texts that are not objects: arrays (also the sequence form of every frame
/// struct, e.g. `["send",1,"m1","hi"]`), strings, numbers, booleans, null.
fn non_object_json() -> impl Strategy<Value = String> {
    let scalar = prop_oneof![
        Just("null".to_owned()),
        any::<bool>().prop_map(|b| b.to_string()),
        any::<i64>().prop_map(|n| n.to_string()),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| f.to_string()),
        "[a-z_]{0,12}".prop_map(|s| format!("{s:?}")),
    ];
    let frame_types = prop_oneof![
        Just("start"),
        Just("send"),
        Just("ack"),
        Just("resume"),
        Just("typing"),
        Just("read"),
        Just("end"),
        Just("agent_status"),
        Just("transfer"),
        Just("accept_transfer"),
        Just("decline_transfer"),
        Just("direct"),
    ];
    let array =
        (frame_types, proptest::collection::vec(scalar.clone(), 0..5)).prop_map(|(kind, rest)| {
            let mut items = vec![format!("{kind:?}")];
            items.extend(rest);
            format!("[{}]", items.join(","))
        });
    (prop_oneof![array, scalar], "[ \t\r\n]{0,3}").prop_map(|(text, ws)| format!("{ws}{text}"))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn json_that_is_not_an_object_is_always_refused(text in non_object_json()) {
        let mut decoder = Decoder::default();
        let err = decoder.decode_client(Encoding::Json, text.as_bytes()).unwrap_err();
        prop_assert!(matches!(err, FrameError::NotAnObject(_)), "{text}: {err:?}");
        prop_assert_eq!(err.close_code(), 1007);
        prop_assert!(decoder.decode_server(Encoding::Json, text.as_bytes()).is_err());
    }
}
