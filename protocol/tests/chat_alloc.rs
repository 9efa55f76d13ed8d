//! Encoding a chat frame allocates nothing once `out` has room: the engine encodes
//! every delivered message, so a per-call allocation would show up at 20k msgs/s.
//!
//! A counting global allocator sees every allocation of this test binary, so this file
//! holds a single test.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use switchboard_protocol::chat::{
    encode_client, encode_server, ClientFrame, Decoder, Encoding, ServerFrame,
};

struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards every call to the system allocator unchanged; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as our caller's.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as our caller's.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as our caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocations_during(f: impl FnOnce()) -> usize {
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    f();
    ALLOCATIONS.load(Ordering::Relaxed) - before
}

#[test]
fn encoding_and_binary_decoding_allocate_nothing_after_warm_up() {
    let body = "a typical chat line of forty characters.";
    let frames = [
        ServerFrame::Welcome {
            conn: 1,
            shard: 0,
            user: "alice",
        },
        ServerFrame::Delivered { from: 1, body },
        ServerFrame::Error {
            code: "unknown_connection",
            message: "no such connection",
        },
    ];
    let direct = ClientFrame::Direct {
        to: 5,
        body: body.into(),
    };
    let mut out = Vec::with_capacity(4096);
    let mut decoder = Decoder::default();
    let mut encoded_direct = Vec::new();
    encode_client(Encoding::Binary, &direct, &mut encoded_direct);
    // Warm up: the thread's rkyv arena and the decoder's scratch buffer.
    for encoding in [Encoding::Binary, Encoding::Json] {
        for frame in &frames {
            encode_server(encoding, frame, &mut out);
        }
    }
    decoder
        .decode_client(Encoding::Binary, &encoded_direct)
        .unwrap();

    for encoding in [Encoding::Binary, Encoding::Json] {
        for frame in &frames {
            out.clear();
            let count = allocations_during(|| encode_server(encoding, frame, &mut out));
            assert_eq!(count, 0, "{encoding:?} {frame:?}");
        }
        out.clear();
        let count = allocations_during(|| encode_client(encoding, &direct, &mut out));
        assert_eq!(count, 0, "{encoding:?} direct");
    }
    let count = allocations_during(|| {
        let frame = decoder
            .decode_client(Encoding::Binary, &encoded_direct)
            .unwrap();
        assert_eq!(frame, direct);
    });
    assert_eq!(count, 0, "binary decode after warm-up");
    let json = br#"{"type":"direct","to":5,"body":"a typical chat line of forty characters."}"#;
    let count = allocations_during(|| {
        let frame = decoder.decode_client(Encoding::Json, json).unwrap();
        assert_eq!(frame, direct);
    });
    assert_eq!(count, 0, "json decode of a frame without escapes");
}
