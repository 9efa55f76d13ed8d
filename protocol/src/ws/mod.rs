//! WebSocket (RFC 6455) framing with no I/O: the frame format, the close codes, and a
//! [`Reader`] that turns received bytes into messages while enforcing every rule a
//! server must enforce on a client.
//!
//! The engine feeds each received buffer to a connection's [`Reader`]; the reader
//! unmasks payloads in place and hands out borrowed slices, so a message that arrives
//! in one buffer is never copied. Only a frame cut across two buffers, or a fragmented
//! message, makes the reader allocate, and it frees that memory as soon as the message
//! is complete — an idle connection owns no buffer.

pub mod close_code;
mod frame;
mod reader;
mod utf8;

pub use frame::{
    apply_mask, encode_close, encode_frame, encode_header, parse_close_payload, parse_header,
    FrameHeader, Opcode, Role, MAX_CONTROL_PAYLOAD, MAX_HEADER_LEN,
};
pub use reader::{DataKind, Event, Limits, Reader};
pub use utf8::{InvalidUtf8, Utf8Stream};

/// A violation of the protocol by the peer; each maps to the close code to send.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ProtocolError {
    /// RSV1–3 set without a negotiated extension.
    #[error("reserved bits set")]
    ReservedBits,
    /// Opcode 3–7 or 11–15.
    #[error("reserved opcode")]
    ReservedOpcode,
    /// A client frame without a mask.
    #[error("client frame not masked")]
    UnmaskedClientFrame,
    /// A server frame with a mask.
    #[error("server frame masked")]
    MaskedServerFrame,
    /// Close, ping or pong with FIN clear.
    #[error("fragmented control frame")]
    FragmentedControl,
    /// Close, ping or pong with more than 125 bytes of payload.
    #[error("control frame over 125 bytes")]
    ControlTooLong,
    /// 64-bit length with the top bit set.
    #[error("invalid payload length")]
    InvalidLength,
    /// A frame whose payload is over the configured limit.
    #[error("frame over {limit} bytes")]
    FrameTooLarge {
        /// The configured frame limit.
        limit: usize,
    },
    /// A message whose fragments add up to more than the configured limit.
    #[error("message over {limit} bytes")]
    MessageTooLarge {
        /// The configured message limit.
        limit: usize,
    },
    /// A continuation frame with no message in progress.
    #[error("continuation without a message")]
    UnexpectedContinuation,
    /// A new text or binary frame while a fragmented message is unfinished.
    #[error("new message inside a fragmented one")]
    ExpectedContinuation,
    /// A text message (or close reason) that is not UTF-8.
    #[error("invalid utf-8 in text")]
    InvalidUtf8,
    /// A close frame with a one-byte payload.
    #[error("invalid close payload")]
    InvalidClosePayload,
    /// A close code that may not be sent on the wire.
    #[error("invalid close code {0}")]
    InvalidCloseCode(u16),
}

impl ProtocolError {
    /// The close code RFC 6455 prescribes for this violation.
    pub fn close_code(self) -> u16 {
        match self {
            ProtocolError::InvalidUtf8 => close_code::INVALID_PAYLOAD,
            ProtocolError::FrameTooLarge { .. } | ProtocolError::MessageTooLarge { .. } => {
                close_code::MESSAGE_TOO_BIG
            }
            _ => close_code::PROTOCOL_ERROR,
        }
    }
}
