//! Encoding a chat frame allocates nothing once `out` has room: the engine encodes
//! every delivered message, so a per-call allocation would show up at 20k msgs/s.
//!
//! A counting global allocator sees every allocation of this test binary, so this file
//! holds a single test.

#![expect(
    unsafe_code,
    reason = "a counting GlobalAlloc (test only) is an unsafe trait impl by definition"
)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use switchboard_protocol::chat::{
    encode_client, encode_server, AgentStatus, ClientFrame, ConversationState, Decoder, Encoding,
    Role, ServerFrame, SystemKind,
};

struct Counting;

thread_local! {
    // Per thread: the test harness's own threads allocate now and then, and a global
    // count picked those up (4 allocations once in a loaded run).
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

fn count_one() {
    ALLOCATIONS.with(|n| n.set(n.get() + 1));
}

// SAFETY: forwards every call to the system allocator unchanged; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count_one();
        // SAFETY: same contract as our caller's.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as our caller's.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count_one();
        // SAFETY: same contract as our caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocations_during(f: impl FnOnce()) -> usize {
    let before = ALLOCATIONS.with(Cell::get);
    f();
    ALLOCATIONS.with(Cell::get) - before
}

#[test]
fn encoding_and_binary_decoding_allocate_nothing_after_warm_up() {
    let body = "a typical chat line of forty characters.";
    let frames = [
        ServerFrame::Welcome {
            conn: 1,
            shard: 0,
            user: "alice",
            role: Role::Visitor,
        },
        ServerFrame::Conversation {
            conv: 7,
            state: ConversationState::Serving,
            visitor: "alice",
            agent: Some("agent-bob"),
            last_seq: 12,
        },
        ServerFrame::Message {
            conv: 7,
            seq: 13,
            ts: 1_700_000_000_000,
            from: "alice",
            client_msg_id: "5f0c8d1e-6a0b-4f7e-9b1f-2d6a4c3e8f10",
            body,
        },
        ServerFrame::System {
            conv: 7,
            seq: 14,
            ts: 1_700_000_000_000,
            event: SystemKind::TransferFailed,
            agent: Some("agent-bob"),
            position: Some(3),
            reason: Some("timed_out"),
        },
        ServerFrame::Sent {
            conv: 7,
            client_msg_id: "5f0c8d1e-6a0b-4f7e-9b1f-2d6a4c3e8f10",
            seq: 13,
            ts: 1_700_000_000_000,
        },
        ServerFrame::Typing {
            conv: 7,
            from: "alice",
        },
        ServerFrame::Read {
            conv: 7,
            from: "alice",
            seq: 13,
        },
        ServerFrame::Gap {
            conv: 7,
            after_seq: 1,
            oldest_seq: 5,
        },
        ServerFrame::TransferOffer {
            conv: 7,
            from_agent: "agent-bob",
            visitor: "alice",
        },
        ServerFrame::Event {
            name: "order_shipped",
            data: r#"{"order":{"id":"A-17","lines":[{"sku":"x-1","qty":2}]},"note":"caf\u00e9 \"ok\""}"#,
        },
        ServerFrame::Event {
            name: "needs \"escaping\"",
            data: "null",
        },
        ServerFrame::Delivered { from: 1, body },
        ServerFrame::Error {
            code: "unknown_connection",
            message: "no such connection",
        },
    ];
    let clients = [
        ClientFrame::Direct {
            to: 5,
            body: body.into(),
        },
        ClientFrame::Start,
        ClientFrame::Send {
            conv: 7,
            client_msg_id: "5f0c8d1e-6a0b-4f7e-9b1f-2d6a4c3e8f10".into(),
            body: body.into(),
        },
        ClientFrame::Ack { conv: 7, seq: 13 },
        ClientFrame::Resume {
            conv: 7,
            after_seq: 13,
        },
        ClientFrame::Typing { conv: 7 },
        ClientFrame::Read { conv: 7, seq: 13 },
        ClientFrame::End { conv: 7 },
        ClientFrame::AgentStatus {
            status: AgentStatus::Online,
            capacity: Some(4),
        },
        ClientFrame::Transfer {
            conv: 7,
            to: "agent-carol".into(),
        },
        ClientFrame::AcceptTransfer { conv: 7 },
        ClientFrame::DeclineTransfer { conv: 7 },
    ];
    let mut out = Vec::with_capacity(4096);
    let mut decoder = Decoder::default();
    let encoded: Vec<(Encoding, Vec<u8>)> = [Encoding::Binary, Encoding::Json]
        .into_iter()
        .flat_map(|encoding| {
            clients.iter().map(move |frame| {
                let mut bytes = Vec::new();
                encode_client(encoding, frame, &mut bytes);
                (encoding, bytes)
            })
        })
        .collect();
    // Warm up: the thread's rkyv arena and the decoder's scratch buffer.
    for encoding in [Encoding::Binary, Encoding::Json] {
        for frame in &frames {
            encode_server(encoding, frame, &mut out);
        }
    }
    for (encoding, bytes) in &encoded {
        decoder.decode_client(*encoding, bytes).unwrap();
    }

    for encoding in [Encoding::Binary, Encoding::Json] {
        for frame in &frames {
            out.clear();
            let count = allocations_during(|| encode_server(encoding, frame, &mut out));
            assert_eq!(count, 0, "{encoding:?} {frame:?}");
        }
        for frame in &clients {
            out.clear();
            let count = allocations_during(|| encode_client(encoding, frame, &mut out));
            assert_eq!(count, 0, "{encoding:?} {frame:?}");
        }
    }
    // Decoding borrows: binary from the warm scratch buffer, JSON from the payload
    // (none of these strings has escapes).
    for ((encoding, bytes), expected) in encoded.iter().zip(clients.iter().cycle()) {
        let count = allocations_during(|| {
            let frame = decoder.decode_client(*encoding, bytes).unwrap();
            assert_eq!(&frame, expected);
        });
        assert_eq!(count, 0, "{encoding:?} decode of {expected:?}");
    }
}
