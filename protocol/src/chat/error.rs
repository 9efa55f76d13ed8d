//! Why a received chat frame was refused, and the close code that answers it.

use crate::ws::{close_code, DataKind};

/// A chat frame that cannot be accepted. Every variant closes the connection with
/// [`FrameError::close_code`]; the reason sent with it is the error's message.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// A binary payload with no bytes at all (not even the frame-type byte).
    #[error("empty frame")]
    Empty,
    /// A binary frame-type byte this version does not know (a newer peer, or garbage).
    #[error("unknown binary frame type 0x{0:02x}")]
    UnknownBinaryType(u8),
    /// A JSON `"type"` this version does not know, or one that only flows the other way.
    #[error("unknown frame type {0:?}")]
    UnknownJsonType(String),
    /// The bytes after the frame-type byte failed rkyv/bytecheck validation: out-of-range
    /// pointers, invalid UTF-8 in a string, a truncated archive, and so on.
    #[error("invalid binary frame: {0}")]
    InvalidBinary(rkyv::rancor::Error),
    /// The payload is not a JSON object of the expected shape (syntax error, missing
    /// or duplicate field, wrong field type, number out of range).
    #[error("invalid json frame: {0}")]
    InvalidJson(#[from] serde_json::Error),
    /// A text message on the binary subprotocol, or a binary message on the JSON one.
    #[error("{got:?} message on a {expected:?} subprotocol")]
    WrongMessageKind {
        /// The WebSocket message type the negotiated encoding uses.
        expected: DataKind,
        /// The WebSocket message type that arrived.
        got: DataKind,
    },
}

impl FrameError {
    /// The WebSocket close code to send: 1003 (unsupported data) for a message of the
    /// wrong WebSocket type, 1007 (invalid payload) for everything that does not parse
    /// or fails validation.
    pub fn close_code(&self) -> u16 {
        match self {
            FrameError::WrongMessageKind { .. } => close_code::UNSUPPORTED_DATA,
            FrameError::Empty
            | FrameError::UnknownBinaryType(_)
            | FrameError::UnknownJsonType(_)
            | FrameError::InvalidBinary(_)
            | FrameError::InvalidJson(_) => close_code::INVALID_PAYLOAD,
        }
    }
}
