//! Golden files of what a store keeps: today's v1 records are written byte for byte as
//! pinned in `tests/golden/v1-*`, and the v0 form (the serde image of the in-memory
//! types before versions existed, `tests/golden/v0-*`) is still read — a node upgraded
//! in place reads what its predecessor wrote to Redis.

use switchboard_protocol::chat::Encoding;
use switchboard_protocol::conversation::{EndReason, Phase};
use switchboard_service::records::{
    decode_item, decode_state, encode_item, encode_state, RecordError,
};

/// Writes `content` as golden file `name` when `SWITCHBOARD_BLESS=1` (after a
/// deliberate format change, reviewed in the diff); otherwise does nothing.
fn bless(name: &str, content: &str) {
    if std::env::var("SWITCHBOARD_BLESS").as_deref() == Ok("1") {
        let path = format!("{}/tests/golden/{name}", env!("CARGO_MANIFEST_DIR"));
        std::fs::write(path, format!("{content}\n")).unwrap();
    }
}

fn golden(name: &str) -> String {
    let path = format!("{}/tests/golden/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{path}: {e}"))
        .trim_end()
        .to_owned()
}

#[test]
fn v0_states_of_every_phase_are_read() {
    let serving = decode_state(&golden("v0-state.json")).unwrap();
    assert_eq!(serving.fsm.id, 7);
    assert_eq!(
        serving.fsm.phase,
        Phase::Serving {
            agent: "bob".into()
        }
    );
    assert!(serving.fsm.vip);
    assert_eq!((serving.next_seq, serving.queue_position), (5, Some(1)));
    assert_eq!(serving.followers.len(), 2);
    assert_eq!(serving.followers[1].peer.encoding, Encoding::Binary);
    assert_eq!(serving.followers[1].peer.conn.node(), 3);
    let transferring = decode_state(&golden("v0-state-transferring.json")).unwrap();
    assert!(matches!(
        transferring.fsm.phase,
        Phase::Transferring { ref to, origin_available: true, since_ms: 1_796_000_000_100, .. } if to == "ann"
    ));
    let ended = decode_state(&golden("v0-state-ended.json")).unwrap();
    assert_eq!(
        ended.fsm.phase,
        Phase::Ended {
            reason: EndReason::Inactivity
        }
    );
    let waiting = decode_state(&golden("v0-state-waiting.json")).unwrap();
    assert_eq!(waiting.fsm.phase, Phase::Waiting);
}

#[test]
fn states_are_written_as_the_pinned_v1_records_and_read_back_unchanged() {
    for (v0, v1) in [
        ("v0-state.json", "v1-state.json"),
        ("v0-state-transferring.json", "v1-state-transferring.json"),
        ("v0-state-ended.json", "v1-state-ended.json"),
        ("v0-state-waiting.json", "v1-state-waiting.json"),
    ] {
        let state = decode_state(&golden(v0)).unwrap();
        let written = encode_state(&state);
        bless(v1, &written);
        assert_eq!(written, golden(v1), "{v1}");
        assert_eq!(decode_state(&written).unwrap(), state, "{v1} round trip");
    }
}

#[test]
fn items_of_both_versions_are_read_and_v1_is_written() {
    let v0: Vec<String> = golden("v0-items.jsonl")
        .lines()
        .map(str::to_owned)
        .collect();
    let blessed: Vec<String> = v0
        .iter()
        .map(|old| encode_item(&decode_item(old).unwrap()))
        .collect();
    bless("v1-items.jsonl", &blessed.join("\n"));
    let v1: Vec<String> = golden("v1-items.jsonl")
        .lines()
        .map(str::to_owned)
        .collect();
    assert_eq!(v0.len(), v1.len());
    for (old, new) in v0.iter().zip(&v1) {
        let item = decode_item(old).unwrap();
        assert_eq!(&encode_item(&item), new);
        let again = decode_item(new).unwrap();
        assert_eq!(
            (again.seq(), again.ts(), again.kind()),
            (item.seq(), item.ts(), item.kind())
        );
    }
    assert_eq!(decode_item(&v0[3]).unwrap().kind(), "message");
    assert_eq!(decode_item(&v1[1]).unwrap().kind(), "queued");
}

#[test]
fn records_from_a_newer_node_or_with_unknown_names_are_refused_not_guessed() {
    assert_eq!(
        decode_item(
            r#"{"v":2,"seq":1,"ts":1,"kind":"message","from":"a","client_msg_id":"b","body":"c"}"#
        )
        .unwrap_err(),
        RecordError::UnknownVersion(2)
    );
    assert!(matches!(
        decode_item(r#"{"v":1,"seq":1,"ts":1,"kind":"system","event":"exploded"}"#),
        Err(RecordError::UnknownName {
            field: "system event",
            ..
        })
    ));
    assert!(matches!(
        decode_item(r#"{"v":1,"seq":1,"ts":1,"kind":"sticker"}"#),
        Err(RecordError::Malformed(_))
    ));
    assert!(matches!(
        decode_state("[1,2]"),
        Err(RecordError::Malformed(_))
    ));
}
