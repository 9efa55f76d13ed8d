//! Chat frame decoding (json encoding) on arbitrary bytes, in both directions.
//!
//! Whatever decodes must encode again and decode to the same frame; every error either
//! closes with 1007 or (a well-formed frame over a limit) is answered with an error
//! frame. Covers every frame type of both directions: the decoder picks it from the
//! input's tag or `"type"`. The check is shared with the other encoding's target.
#![no_main]

use libfuzzer_sys::fuzz_target;
use switchboard_protocol::chat::Encoding;

#[path = "common/chat.rs"]
mod common;

fuzz_target!(|data: &[u8]| common::round_trip(Encoding::Json, data));
