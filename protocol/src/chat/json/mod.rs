//! JSON encoding (`switchboard.v1.json`): one object per WebSocket text message,
//! internally tagged by `"type"`.
//!
//! Decoding rules (see `docs/protocol.md`): unknown fields are ignored, so a newer
//! client may add optional fields; an unknown `"type"` is refused; a missing,
//! duplicate or mistyped field is refused; ids must be integers in `0..2^64`.

mod wire;

use self::wire::{ClientOut, DeliveredIn, DirectIn, ErrorIn, ServerOut, TypeTag, WelcomeIn};
use super::{ClientFrame, FrameError, OwnedServerFrame, ServerFrame};

pub(crate) fn encode_client(frame: &ClientFrame<'_>, out: &mut Vec<u8>) {
    let wire = match frame {
        ClientFrame::Direct { to, body } => ClientOut::Direct { to: *to, body },
    };
    write(&wire, out);
}

pub(crate) fn encode_server(frame: &ServerFrame<'_>, out: &mut Vec<u8>) {
    let wire = match *frame {
        ServerFrame::Welcome { conn, shard, user } => ServerOut::Welcome { conn, shard, user },
        ServerFrame::Delivered { from, body } => ServerOut::Delivered { from, body },
        ServerFrame::Error { code, message } => ServerOut::Error { code, message },
    };
    write(&wire, out);
}

fn write(wire: &impl serde::Serialize, out: &mut Vec<u8>) {
    // Plain structs of integers and strings always serialize, and a Vec never fails.
    if let Err(error) = serde_json::to_writer(out, wire) {
        unreachable!("serializing a chat frame to json failed: {error}");
    }
}

pub(crate) fn decode_client(payload: &[u8]) -> Result<ClientFrame<'_>, FrameError> {
    let tag: TypeTag<'_> = serde_json::from_slice(payload)?;
    match &*tag.kind {
        "direct" => {
            let direct: DirectIn<'_> = serde_json::from_slice(payload)?;
            Ok(ClientFrame::Direct {
                to: direct.to,
                body: direct.body,
            })
        }
        other => Err(unknown_type(other)),
    }
}

pub(crate) fn decode_server(payload: &[u8]) -> Result<OwnedServerFrame, FrameError> {
    let tag: TypeTag<'_> = serde_json::from_slice(payload)?;
    Ok(match &*tag.kind {
        "welcome" => {
            let welcome: WelcomeIn<'_> = serde_json::from_slice(payload)?;
            OwnedServerFrame::Welcome {
                conn: welcome.conn,
                shard: welcome.shard,
                user: welcome.user.into_owned(),
            }
        }
        "delivered" => {
            let delivered: DeliveredIn<'_> = serde_json::from_slice(payload)?;
            OwnedServerFrame::Delivered {
                from: delivered.from,
                body: delivered.body.into_owned(),
            }
        }
        "error" => {
            let error: ErrorIn<'_> = serde_json::from_slice(payload)?;
            OwnedServerFrame::Error {
                code: error.code.into_owned(),
                message: error.message.into_owned(),
            }
        }
        other => return Err(unknown_type(other)),
    })
}

/// Keeps at most 32 bytes of a peer's unknown type name: it ends up in a close reason
/// and a log line, and the peer chooses its length.
fn unknown_type(name: &str) -> FrameError {
    let mut end = name.len().min(32);
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    FrameError::UnknownJsonType(name[..end].to_owned())
}
