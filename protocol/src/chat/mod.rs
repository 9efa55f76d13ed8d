//! Chat frames of the `/v1/ws` endpoint, in two encodings chosen per connection by
//! the WebSocket subprotocol: rkyv binary ([`Encoding::Binary`]) and JSON
//! ([`Encoding::Json`]). `docs/protocol.md` is the wire reference.
//!
//! ```
//! use switchboard_protocol::chat::{self, ClientFrame, Decoder, Encoding};
//!
//! let mut decoder = Decoder::default(); // one per shard
//! let mut payload = Vec::new();
//! let sent = ClientFrame::Direct { to: 7, body: "hi".into() };
//! chat::encode_client(Encoding::Binary, &sent, &mut payload);
//! let received = decoder.decode_client(Encoding::Binary, &payload).unwrap();
//! assert_eq!(received, sent);
//! ```
//!
//! Layout: [`frames`](ClientFrame) are the encoding-independent values; `binary` and
//! `json` each turn them into bytes and back and know nothing of each other; errors
//! carry their close code.

mod binary;
mod encoding;
mod error;
mod frames;
mod json;
mod values;

pub use binary::BINARY_FORMAT_VERSION;
pub use encoding::Encoding;
pub use error::FrameError;
pub use frames::{
    ClientFrame, OwnedServerFrame, ServerFrame, ServerFrameOf, MAX_CLIENT_MSG_ID_BYTES,
};
pub use json::value_kind as json_value_kind;
pub use values::{AgentStatus, ConversationState, Role, SystemKind};

/// The largest integer a JavaScript number holds exactly (2^53 - 1). JSON carries ids
/// as plain numbers and decodes the whole `u64` range exactly, but a browser client
/// rounds ids above this; the engine must hand out connection ids below it.
pub const MAX_SAFE_JSON_ID: u64 = (1 << 53) - 1;

/// Decoding state reused for every frame of a shard: the aligned scratch buffer that
/// binary frames are copied into for validation (a WebSocket payload sits at an
/// arbitrary address; rkyv reads fields in place, so they must be aligned).
///
/// It grows to the largest binary frame decoded and keeps that memory.
#[derive(Debug, Default)]
pub struct Decoder {
    scratch: binary::Scratch,
}

impl Decoder {
    /// Decodes a client frame and checks its limits. Binary frames borrow from this
    /// decoder's scratch buffer, JSON frames from `payload` (unless a string had
    /// escapes).
    ///
    /// A frame that parses but breaks a limit is an error with a
    /// [`FrameError::error_code`] (answer it, keep the connection); every other error
    /// closes the connection with [`FrameError::close_code`].
    pub fn decode_client<'a>(
        &'a mut self,
        encoding: Encoding,
        payload: &'a [u8],
    ) -> Result<ClientFrame<'a>, FrameError> {
        let frame = match encoding {
            Encoding::Binary => binary::decode_client(&mut self.scratch, payload),
            Encoding::Json => json::decode_client(payload),
        }?;
        check_limits(&frame)?;
        Ok(frame)
    }

    /// Decodes a server frame into owned strings (for tests, clients and the loadgen).
    pub fn decode_server(
        &mut self,
        encoding: Encoding,
        payload: &[u8],
    ) -> Result<OwnedServerFrame, FrameError> {
        match encoding {
            Encoding::Binary => binary::decode_server(&mut self.scratch, payload),
            Encoding::Json => json::decode_server(payload),
        }
    }

    /// Bytes held by the scratch buffer.
    pub fn capacity(&self) -> usize {
        self.scratch.capacity()
    }
}

/// Appends the payload of a server frame (no WebSocket header) to `out`.
///
/// Allocates nothing but `out`'s growth: JSON is written straight into `out`, and the
/// binary encoder uses the thread's rkyv arena for scratch space.
pub fn encode_server(encoding: Encoding, frame: &ServerFrame<'_>, out: &mut Vec<u8>) {
    match encoding {
        Encoding::Binary => binary::encode_server(frame, out),
        Encoding::Json => json::encode_server(frame, out),
    }
}

/// Appends the payload of a client frame (no WebSocket header) to `out`.
pub fn encode_client(encoding: Encoding, frame: &ClientFrame<'_>, out: &mut Vec<u8>) {
    match encoding {
        Encoding::Binary => binary::encode_client(frame, out),
        Encoding::Json => json::encode_client(frame, out),
    }
}

/// The limits a well-formed client frame must also respect.
fn check_limits(frame: &ClientFrame<'_>) -> Result<(), FrameError> {
    match frame {
        ClientFrame::Send { client_msg_id, .. }
            if client_msg_id.len() > MAX_CLIENT_MSG_ID_BYTES =>
        {
            Err(FrameError::ClientMsgIdTooLong {
                len: client_msg_id.len(),
            })
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests;
