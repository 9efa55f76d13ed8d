//! The two encodings of chat frames and how a connection picks one.

use super::FrameError;
use crate::ws::{DataKind, Opcode};

/// How the chat frames of one connection are encoded, fixed by the WebSocket
/// subprotocol negotiated in the handshake.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Encoding {
    /// rkyv archives in WebSocket binary messages (`switchboard.v1.bin`).
    Binary,
    /// JSON objects in WebSocket text messages (`switchboard.v1.json`, the default).
    Json,
}

impl Encoding {
    /// Subprotocol name of the binary encoding.
    pub const BINARY_SUBPROTOCOL: &'static str = "switchboard.v1.bin";
    /// Subprotocol name of the JSON encoding.
    pub const JSON_SUBPROTOCOL: &'static str = "switchboard.v1.json";

    /// The `Sec-WebSocket-Protocol` name of this encoding.
    pub fn subprotocol(self) -> &'static str {
        match self {
            Encoding::Binary => Self::BINARY_SUBPROTOCOL,
            Encoding::Json => Self::JSON_SUBPROTOCOL,
        }
    }

    /// The encoding named by a subprotocol, if it is one of ours.
    pub fn from_subprotocol(name: &str) -> Option<Encoding> {
        match name {
            Self::BINARY_SUBPROTOCOL => Some(Encoding::Binary),
            Self::JSON_SUBPROTOCOL => Some(Encoding::Json),
            _ => None,
        }
    }

    /// Picks the encoding for a `Sec-WebSocket-Protocol` offer (comma-separated, as
    /// sent): the first of ours in the client's order of preference, returned with the
    /// name to answer. When the client offers neither (or nothing), JSON is used and
    /// no subprotocol is answered, as `docs/engine-contract.md` says.
    pub fn negotiate(offered: Option<&str>) -> (Encoding, Option<&'static str>) {
        Self::negotiate_names(
            offered
                .into_iter()
                .flat_map(|list| list.split(','))
                .map(str::trim),
        )
    }

    /// [`Encoding::negotiate`] over names already split, in the client's order.
    pub fn negotiate_names<'a>(
        offered: impl IntoIterator<Item = &'a str>,
    ) -> (Encoding, Option<&'static str>) {
        offered
            .into_iter()
            .find_map(Encoding::from_subprotocol)
            .map_or((Encoding::Json, None), |encoding| {
                (encoding, Some(encoding.subprotocol()))
            })
    }

    /// The WebSocket message type that carries this encoding.
    pub fn data_kind(self) -> DataKind {
        match self {
            Encoding::Binary => DataKind::Binary,
            Encoding::Json => DataKind::Text,
        }
    }

    /// The opcode to send this encoding's frames with.
    pub fn opcode(self) -> Opcode {
        match self {
            Encoding::Binary => Opcode::Binary,
            Encoding::Json => Opcode::Text,
        }
    }

    /// Refuses a message of the other WebSocket type (close 1003, see
    /// [`FrameError::close_code`]).
    pub fn check_data_kind(self, got: DataKind) -> Result<(), FrameError> {
        let expected = self.data_kind();
        if got == expected {
            Ok(())
        } else {
            Err(FrameError::WrongMessageKind { expected, got })
        }
    }
}
