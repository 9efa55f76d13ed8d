//! Why a received chat frame was refused, and the close code that answers it.

use crate::ws::{close_code, DataKind};

/// A chat frame that cannot be accepted.
///
/// Most variants mean the bytes are not a frame of this protocol: the connection is
/// closed with [`FrameError::close_code`] and the error's message as the reason. A
/// frame that parsed but breaks a limit ([`FrameError::ClientMsgIdTooLong`]) has an
/// [`FrameError::error_code`] instead: answer it with an `error` frame and keep the
/// connection.
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
    /// A JSON text that is not an object (an array, a string, a number, ...): serde's
    /// derived decoders would take an array for a struct, so it is refused up front.
    #[error("a json frame must be an object, got {0}")]
    NotAnObject(&'static str),
    /// A binary frame whose one-byte enum field (role, status, state, system event)
    /// holds a code this version does not know.
    #[error("invalid {field} code {code} in binary frame")]
    UnknownCode {
        /// The field, e.g. `status`.
        field: &'static str,
        /// The code received.
        code: u8,
    },
    /// A `send` whose `client_msg_id` is longer than
    /// [`MAX_CLIENT_MSG_ID_BYTES`](super::MAX_CLIENT_MSG_ID_BYTES). Well formed, so
    /// the connection may stay: see [`FrameError::error_code`].
    #[error("client_msg_id is {len} bytes, over the {max} allowed", max = super::MAX_CLIENT_MSG_ID_BYTES)]
    ClientMsgIdTooLong {
        /// Its length in bytes.
        len: usize,
    },
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
    /// or fails validation, 1008 (policy violation) for a well-formed frame over a limit
    /// (if the engine closes for it at all rather than answering [`Self::error_code`]).
    pub fn close_code(&self) -> u16 {
        match self {
            FrameError::WrongMessageKind { .. } => close_code::UNSUPPORTED_DATA,
            FrameError::ClientMsgIdTooLong { .. } => close_code::POLICY_VIOLATION,
            FrameError::Empty
            | FrameError::UnknownBinaryType(_)
            | FrameError::UnknownJsonType(_)
            | FrameError::InvalidBinary(_)
            | FrameError::UnknownCode { .. }
            | FrameError::InvalidJson(_)
            | FrameError::NotAnObject(_) => close_code::INVALID_PAYLOAD,
        }
    }

    /// For a well-formed frame refused by a limit, the code of the `error` frame to
    /// answer with (the connection stays open): `client_msg_id_too_long`. `None` for
    /// bytes that are not a frame: close with [`Self::close_code`].
    pub fn error_code(&self) -> Option<&'static str> {
        match self {
            FrameError::ClientMsgIdTooLong { .. } => Some("client_msg_id_too_long"),
            _ => None,
        }
    }
}
