//! Property tests of the WebSocket reader: whatever a conforming client sends, however
//! TCP cuts it up, is read back as the same messages; no input makes it panic; and each
//! kind of violation closes with the code RFC 6455 prescribes.

use proptest::prelude::*;
use switchboard_protocol::ws::{
    apply_mask, encode_close, encode_frame, encode_header, DataKind, Event, Limits, Opcode, Reader,
    Role,
};

const LIMITS: Limits = Limits {
    max_frame: 1 << 17,
    max_message: 1 << 20,
    role: Role::Server,
};

/// What the reader produced, owned so runs can be compared.
#[derive(Debug, Clone, PartialEq)]
enum Seen {
    Message(DataKind, Vec<u8>),
    Ping(Vec<u8>),
    Pong(Vec<u8>),
    Close(Option<(u16, String)>),
}

/// One thing a client sends.
#[derive(Debug, Clone)]
enum Sent {
    /// A data message cut into fragments at `cuts` (byte offsets, sorted by the test),
    /// with a ping between fragments after each index in `pings`.
    Message {
        kind: DataKind,
        payload: Vec<u8>,
        cuts: Vec<usize>,
        pings: Vec<usize>,
    },
    Ping(Vec<u8>),
    Pong(Vec<u8>),
}

fn control_payload() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(any::<u8>(), 0..=125)
}

fn sent() -> impl Strategy<Value = Sent> {
    let message = (
        prop_oneof![
            any::<String>().prop_map(|s| (DataKind::Text, s.into_bytes())),
            ".{0,600}".prop_map(|s: String| (DataKind::Text, s.into_bytes())),
            proptest::collection::vec(any::<u8>(), 0..300).prop_map(|b| (DataKind::Binary, b)),
            // Lengths that need the 16- and 64-bit length forms.
            (100usize..70_000, any::<u8>())
                .prop_map(|(len, byte)| (DataKind::Binary, vec![byte; len])),
        ],
        proptest::collection::vec(any::<prop::sample::Index>(), 0..5),
        proptest::collection::vec(0usize..5, 0..3),
    )
        .prop_map(|((kind, payload), cuts, pings)| {
            let mut cuts: Vec<usize> = cuts.iter().map(|i| i.index(payload.len() + 1)).collect();
            cuts.sort_unstable();
            Sent::Message {
                kind,
                payload,
                cuts,
                pings,
            }
        });
    prop_oneof![
        6 => message,
        1 => control_payload().prop_map(Sent::Ping),
        1 => control_payload().prop_map(Sent::Pong),
    ]
}

fn masked_frame(out: &mut Vec<u8>, fin: bool, opcode: Opcode, payload: &[u8], key: [u8; 4]) {
    encode_header(out, fin, opcode, payload.len(), Some(key));
    let start = out.len();
    out.extend_from_slice(payload);
    apply_mask(&mut out[start..], key);
}

/// Encodes `items` as a client would, returning the wire bytes and what the server
/// must see, in order.
fn encode(items: &[Sent], keys: &mut impl Iterator<Item = [u8; 4]>) -> (Vec<u8>, Vec<Seen>) {
    let mut wire = Vec::new();
    let mut expected = Vec::new();
    for item in items {
        match item {
            Sent::Ping(p) => {
                encode_frame(&mut wire, Opcode::Ping, p, Some(keys.next().unwrap()));
                expected.push(Seen::Ping(p.clone()));
            }
            Sent::Pong(p) => {
                encode_frame(&mut wire, Opcode::Pong, p, Some(keys.next().unwrap()));
                expected.push(Seen::Pong(p.clone()));
            }
            Sent::Message {
                kind,
                payload,
                cuts,
                pings,
            } => {
                let mut bounds = vec![0];
                bounds.extend(cuts.iter().copied());
                bounds.push(payload.len());
                let fragments: Vec<&[u8]> =
                    bounds.windows(2).map(|w| &payload[w[0]..w[1]]).collect();
                let last = fragments.len() - 1;
                for (i, fragment) in fragments.iter().enumerate() {
                    let opcode = match (i, kind) {
                        (0, DataKind::Text) => Opcode::Text,
                        (0, DataKind::Binary) => Opcode::Binary,
                        _ => Opcode::Continuation,
                    };
                    masked_frame(&mut wire, i == last, opcode, fragment, keys.next().unwrap());
                    if i != last && pings.contains(&i) {
                        let ping = vec![i as u8; i];
                        encode_frame(&mut wire, Opcode::Ping, &ping, Some(keys.next().unwrap()));
                        expected.push(Seen::Ping(ping));
                    }
                }
                expected.push(Seen::Message(*kind, payload.clone()));
            }
        }
    }
    (wire, expected)
}

/// Feeds `wire` in pieces of the given sizes (cycled), collecting events until the
/// reader stops or fails.
fn read(wire: &[u8], pieces: &[usize], limits: &Limits) -> (Vec<Seen>, Result<bool, u16>, Reader) {
    let mut reader = Reader::default();
    let mut seen = Vec::new();
    let mut pos = 0;
    let mut sizes = pieces.iter().copied().cycle();
    while pos < wire.len() {
        let size = sizes
            .next()
            .unwrap_or(wire.len())
            .max(1)
            .min(wire.len() - pos);
        let mut piece = wire[pos..pos + size].to_vec();
        pos += size;
        let result = reader.feed(&mut piece, limits, &mut |event| {
            seen.push(match event {
                Event::Message { kind, payload } => Seen::Message(kind, payload.to_vec()),
                Event::Ping(p) => Seen::Ping(p.to_vec()),
                Event::Pong(p) => Seen::Pong(p.to_vec()),
                Event::Close(c) => Seen::Close(c.map(|(code, r)| (code, r.to_owned()))),
            });
            true
        });
        match result {
            Ok(true) => return (seen, Ok(true), reader),
            Ok(false) => {}
            Err(err) => return (seen, Err(err.close_code()), reader),
        }
    }
    (seen, Ok(false), reader)
}

fn pieces() -> impl Strategy<Value = Vec<usize>> {
    prop_oneof![
        Just(vec![usize::MAX]),
        proptest::collection::vec(1usize..40, 1..8),
        proptest::collection::vec(1usize..5000, 1..8),
    ]
}

fn keys() -> impl Strategy<Value = Vec<[u8; 4]>> {
    proptest::collection::vec(any::<[u8; 4]>(), 1..8)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn every_sequence_of_client_frames_is_read_back_whatever_the_chunking(
        items in proptest::collection::vec(sent(), 0..6),
        keys in keys(),
        pieces in pieces(),
        close in proptest::option::of((1000u16..=1003, ".{0,20}")),
    ) {
        let mut key_cycle = keys.iter().copied().cycle();
        let (mut wire, mut expected) = encode(&items, &mut key_cycle);
        if let Some((code, reason)) = &close {
            encode_close(&mut wire, *code, reason, Some(key_cycle.next().unwrap()));
            expected.push(Seen::Close(Some((*code, reason.clone()))));
            // Nothing after a close is read.
            encode_frame(&mut wire, Opcode::Text, b"after close", Some([1, 2, 3, 4]));
        }
        let (seen, result, reader) = read(&wire, &pieces, &LIMITS);
        prop_assert_eq!(result, Ok(close.is_some()));
        prop_assert_eq!(seen, expected);
        if close.is_none() {
            prop_assert!(reader.is_idle(), "reader holds {} bytes after whole messages", reader.buffered_bytes());
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic_and_close_with_1002_1007_or_1009(
        bytes in proptest::collection::vec(any::<u8>(), 0..600),
        pieces in pieces(),
        max_frame in 0usize..300,
        max_message in 0usize..600,
    ) {
        let limits = Limits { max_frame, max_message, role: Role::Server };
        let (_, result, _) = read(&bytes, &pieces, &limits);
        if let Err(code) = result {
            prop_assert!(matches!(code, 1002 | 1007 | 1009), "close code {code}");
        }
    }

    #[test]
    fn chunking_never_changes_what_is_read(
        items in proptest::collection::vec(sent(), 0..4),
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..3),
        pieces in pieces(),
    ) {
        // Mostly-valid streams with a few corrupted bytes reach deep into the reader.
        let (mut wire, _) = encode(&items, &mut std::iter::repeat([9, 8, 7, 6]));
        if !wire.is_empty() {
            for (at, value) in flips {
                let at = at.index(wire.len());
                wire[at] = value;
            }
        }
        let limits = Limits { max_frame: 1 << 17, max_message: 100_000, role: Role::Server };
        let (whole, whole_result, _) = read(&wire, &[usize::MAX], &limits);
        let (chunked, chunked_result, _) = read(&wire, &pieces, &limits);
        prop_assert_eq!(whole_result, chunked_result);
        prop_assert_eq!(whole, chunked);
    }

    #[test]
    fn invalid_utf8_text_closes_with_1007_however_fragmented(
        prefix in ".{0,40}",
        cuts in proptest::collection::vec(any::<prop::sample::Index>(), 0..4),
        pieces in pieces(),
    ) {
        let mut payload = prefix.into_bytes();
        payload.push(0xFF);
        let mut cuts: Vec<usize> = cuts.iter().map(|i| i.index(payload.len() + 1)).collect();
        cuts.sort_unstable();
        let message = Sent::Message { kind: DataKind::Text, payload, cuts, pings: vec![] };
        let (wire, _) = encode(&[message], &mut std::iter::repeat([1, 2, 3, 4]));
        let (seen, result, _) = read(&wire, &pieces, &LIMITS);
        prop_assert_eq!(result, Err(1007));
        prop_assert!(seen.is_empty());
    }

    #[test]
    fn a_message_over_the_limit_closes_with_1009_however_fragmented(
        extra in 1usize..300,
        cuts in proptest::collection::vec(any::<prop::sample::Index>(), 0..6),
        pieces in pieces(),
    ) {
        let limits = Limits { max_frame: 1 << 16, max_message: 500, role: Role::Server };
        let payload = vec![b'x'; 500 + extra];
        let mut cuts: Vec<usize> = cuts.iter().map(|i| i.index(payload.len() + 1)).collect();
        cuts.sort_unstable();
        let message = Sent::Message { kind: DataKind::Binary, payload, cuts, pings: vec![] };
        let (wire, _) = encode(&[message], &mut std::iter::repeat([1, 2, 3, 4]));
        let (_, result, _) = read(&wire, &pieces, &limits);
        prop_assert_eq!(result, Err(1009));
    }

    #[test]
    fn rfc_violations_close_with_1002(
        violation in 0u8..5,
        reserved in prop_oneof![3u8..=7, 11u8..=15],
        rsv in 1u8..8,
        payload in proptest::collection::vec(any::<u8>(), 0..10),
    ) {
        let mut wire = Vec::new();
        match violation {
            // Unmasked client frame.
            0 => encode_frame(&mut wire, Opcode::Binary, &payload, None),
            // Reserved opcode.
            1 => wire.extend_from_slice(&[0x80 | reserved, 0x80, 0, 0, 0, 0]),
            // RSV bits without an extension.
            2 => wire.extend_from_slice(&[0x82 | (rsv << 4), 0x80, 0, 0, 0, 0]),
            // Fragmented ping.
            3 => masked_frame(&mut wire, false, Opcode::Ping, &payload, [1, 2, 3, 4]),
            // Continuation with no message started.
            _ => masked_frame(&mut wire, true, Opcode::Continuation, &payload, [1, 2, 3, 4]),
        }
        let (seen, result, _) = read(&wire, &[usize::MAX], &LIMITS);
        prop_assert_eq!(result, Err(1002));
        prop_assert!(seen.is_empty());
    }
}

/// Where a text stops being a possible prefix of valid UTF-8: the index of the byte
/// that decides it (the standard library's strict validator is the oracle).
fn deciding_byte(text: &[u8]) -> Option<usize> {
    (1..=text.len()).find_map(|end| match std::str::from_utf8(&text[..end]) {
        Err(err) if err.error_len().is_some() => Some(end - 1),
        _ => None,
    })
}

/// Text that is mostly valid UTF-8 with an invalid byte or sequence somewhere.
fn broken_text() -> impl Strategy<Value = Vec<u8>> {
    (
        ".{0,80}",
        prop_oneof![
            Just(vec![0xff]),
            Just(vec![0xc0, 0x80]),
            Just(vec![0xed, 0xa0, 0x80]),
            Just(vec![0xf4, 0x90, 0x80, 0x80]),
            Just(vec![0xe2, 0x82]),
            proptest::collection::vec(0x80u8..=0xff, 1..4),
        ],
        ".{0,80}",
    )
        .prop_map(|(head, bad, tail): (String, Vec<u8>, String)| {
            let mut text = head.into_bytes();
            text.extend_from_slice(&bad);
            text.extend_from_slice(tail.as_bytes());
            text
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn streamed_utf8_check_agrees_with_the_standard_library(
        text in prop_oneof![
            any::<String>().prop_map(String::into_bytes),
            broken_text(),
            proptest::collection::vec(any::<u8>(), 0..40),
        ],
        cuts in proptest::collection::vec(any::<prop::sample::Index>(), 0..6),
    ) {
        let mut cuts: Vec<usize> = cuts.iter().map(|i| i.index(text.len() + 1)).collect();
        cuts.sort_unstable();
        let mut stream = switchboard_protocol::ws::Utf8Stream::default();
        let mut start = 0;
        let mut failed_at = None;
        for &end in cuts.iter().chain(std::iter::once(&text.len())) {
            if stream.feed(&text[start..end]).is_err() {
                failed_at = Some((start, end));
                break;
            }
            start = end;
        }
        let valid = std::str::from_utf8(&text).is_ok();
        prop_assert_eq!(failed_at.is_none() && stream.is_complete(), valid);
        if let (Some((from, to)), Some(at)) = (failed_at, deciding_byte(&text)) {
            prop_assert!(from <= at && at < to, "failed in {from}..{to}, decided at {at}");
        }
    }

    #[test]
    fn invalid_text_fails_in_the_read_that_brings_the_deciding_byte(
        text in broken_text(),
        cuts in proptest::collection::vec(any::<prop::sample::Index>(), 0..4),
        pieces in pieces(),
        key in any::<[u8; 4]>(),
    ) {
        let at = deciding_byte(&text);
        prop_assume!(at.is_some());
        let at = at.unwrap();
        let mut cuts: Vec<usize> = cuts.iter().map(|i| i.index(text.len() + 1)).collect();
        cuts.sort_unstable();
        cuts.dedup();
        let mut bounds = vec![0];
        bounds.extend(cuts.iter().copied().filter(|&c| c > 0 && c < text.len()));
        bounds.push(text.len());
        // The wire, and where on it the deciding payload byte travels.
        let mut wire = Vec::new();
        let mut deciding_wire = None;
        let last = bounds.len() - 2;
        for (i, w) in bounds.windows(2).enumerate() {
            let opcode = if i == 0 { Opcode::Text } else { Opcode::Continuation };
            encode_header(&mut wire, i == last, opcode, w[1] - w[0], Some(key));
            if (w[0]..w[1]).contains(&at) {
                deciding_wire = Some(wire.len() + at - w[0]);
            }
            let start = wire.len();
            wire.extend_from_slice(&text[w[0]..w[1]]);
            apply_mask(&mut wire[start..], key);
        }
        let deciding_wire = deciding_wire.unwrap();
        let mut reader = Reader::default();
        let mut pos = 0;
        let mut sizes = pieces.iter().copied().cycle();
        let mut failed = None;
        while pos < wire.len() {
            let size = sizes.next().unwrap_or(usize::MAX).max(1).min(wire.len() - pos);
            let mut piece = wire[pos..pos + size].to_vec();
            let result = reader.feed(&mut piece, &LIMITS, &mut |_| true);
            if let Err(err) = result {
                failed = Some((pos, pos + size, err.close_code()));
                break;
            }
            pos += size;
        }
        let (from, to, code) = failed.expect("invalid text was accepted");
        prop_assert_eq!(code, 1007);
        prop_assert!(
            from <= deciding_wire && deciding_wire < to,
            "failed in read {from}..{to}, deciding byte at {deciding_wire}"
        );
    }
}
