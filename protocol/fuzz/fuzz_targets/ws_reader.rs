//! The server's WebSocket reader on arbitrary client bytes, cut into arbitrary pieces.
//!
//! The first three bytes choose the limits and how the stream is cut, so libFuzzer
//! explores the frame-size and message-size limits and frames split across reads.
#![no_main]

use libfuzzer_sys::fuzz_target;
use switchboard_protocol::ws::{DataKind, Event, Limits, Reader, Role};

fuzz_target!(|data: &[u8]| {
    let [frame_knob, message_knob, piece_knob, stream @ ..] = data else {
        return;
    };
    let limits = Limits {
        max_frame: usize::from(*frame_knob) * 64,
        max_message: usize::from(*message_knob) * 256,
        role: Role::Server,
    };
    let piece = usize::from(*piece_knob).max(1);
    let mut reader = Reader::default();
    for chunk in stream.chunks(piece) {
        let mut chunk = chunk.to_vec();
        let result = reader.feed(&mut chunk, &limits, &mut |event| {
            match event {
                Event::Message { kind, payload } => {
                    assert!(
                        payload.len() <= limits.max_message,
                        "message over the limit"
                    );
                    if kind == DataKind::Text {
                        assert!(std::str::from_utf8(payload).is_ok(), "text not utf-8");
                    }
                }
                Event::Ping(p) | Event::Pong(p) => {
                    assert!(p.len() <= 125, "control frame over 125")
                }
                Event::Close(_) => {}
            }
            true
        });
        match result {
            Ok(true) => return,
            Ok(false) => {}
            Err(err) => {
                assert!(matches!(err.close_code(), 1002 | 1007 | 1009), "{err:?}");
                return;
            }
        }
        // A reader never buffers more than one frame's worth of leftover plus a message.
        assert!(reader.buffered_bytes() <= 2 * (limits.max_frame + 14) + limits.max_message + 4096);
    }
});
