//! Binary encoding (`switchboard.v1.bin`), format 1: a one-byte frame type followed by
//! the rkyv archive of that type's wire struct (see `docs/protocol.md`).
//!
//! Decoding copies the archive into the [`Decoder`](super::Decoder)'s aligned scratch
//! buffer (a WebSocket payload can start at any address, and rkyv reads fields in
//! place), validates it with bytecheck, and then borrows strings straight out of it.

mod wire;
mod writer;

use std::borrow::Cow;

use rkyv::rancor;
use rkyv::util::AlignedVec;

use self::wire::{
    tag, ArchivedDeliveredWire, ArchivedDirectWire, ArchivedErrorWire, ArchivedWelcomeWire,
    DeliveredWire, DirectWire, ErrorWire, WelcomeWire,
};
use self::writer::write_archive;
use super::{ClientFrame, FrameError, OwnedServerFrame, ServerFrame};

/// The version of the binary layout described in `docs/protocol.md`. It changes only
/// together with the subprotocol name (`switchboard.v2.bin`); within a version, frame
/// types are only ever added.
pub const BINARY_FORMAT_VERSION: u32 = 1;

/// The scratch buffer rkyv validation and access need: aligned for every archived field.
pub(crate) type Scratch = AlignedVec;

pub(crate) fn encode_client(frame: &ClientFrame<'_>, out: &mut Vec<u8>) {
    match frame {
        ClientFrame::Direct { to, body } => {
            let wire = DirectWire {
                to: *to,
                body: Cow::Borrowed(body),
            };
            write_archive(tag::DIRECT, &wire, out);
        }
    }
}

pub(crate) fn encode_server(frame: &ServerFrame<'_>, out: &mut Vec<u8>) {
    match *frame {
        ServerFrame::Welcome { conn, shard, user } => {
            let wire = WelcomeWire {
                conn,
                user: Cow::Borrowed(user),
                shard,
            };
            write_archive(tag::WELCOME, &wire, out);
        }
        ServerFrame::Delivered { from, body } => {
            let wire = DeliveredWire {
                from,
                body: Cow::Borrowed(body),
            };
            write_archive(tag::DELIVERED, &wire, out);
        }
        ServerFrame::Error { code, message } => {
            let wire = ErrorWire {
                code: Cow::Borrowed(code),
                message: Cow::Borrowed(message),
            };
            write_archive(tag::ERROR, &wire, out);
        }
    }
}

pub(crate) fn decode_client<'a>(
    scratch: &'a mut Scratch,
    payload: &[u8],
) -> Result<ClientFrame<'a>, FrameError> {
    let (tag, archive) = split_tag(payload)?;
    match tag {
        tag::DIRECT => {
            let direct = validate::<ArchivedDirectWire<'static>>(scratch, archive)?;
            Ok(ClientFrame::Direct {
                to: direct.to.to_native(),
                body: Cow::Borrowed(direct.body.as_str()),
            })
        }
        unknown => Err(FrameError::UnknownBinaryType(unknown)),
    }
}

pub(crate) fn decode_server(
    scratch: &mut Scratch,
    payload: &[u8],
) -> Result<OwnedServerFrame, FrameError> {
    let (tag, archive) = split_tag(payload)?;
    let frame = match tag {
        tag::WELCOME => {
            let welcome = validate::<ArchivedWelcomeWire<'static>>(scratch, archive)?;
            ServerFrame::Welcome {
                conn: welcome.conn.to_native(),
                shard: welcome.shard.to_native(),
                user: welcome.user.as_str(),
            }
        }
        tag::DELIVERED => {
            let delivered = validate::<ArchivedDeliveredWire<'static>>(scratch, archive)?;
            ServerFrame::Delivered {
                from: delivered.from.to_native(),
                body: delivered.body.as_str(),
            }
        }
        tag::ERROR => {
            let error = validate::<ArchivedErrorWire<'static>>(scratch, archive)?;
            ServerFrame::Error {
                code: error.code.as_str(),
                message: error.message.as_str(),
            }
        }
        unknown => return Err(FrameError::UnknownBinaryType(unknown)),
    };
    Ok(frame.into())
}

fn split_tag(payload: &[u8]) -> Result<(u8, &[u8]), FrameError> {
    match payload {
        [tag, archive @ ..] => Ok((*tag, archive)),
        [] => Err(FrameError::Empty),
    }
}

/// Copies `archive` to the start of `scratch` and checks every byte of it with
/// bytecheck before handing out a reference: the input is untrusted.
fn validate<'s, T>(scratch: &'s mut Scratch, archive: &[u8]) -> Result<&'s T, FrameError>
where
    T: rkyv::Portable
        + for<'v> rkyv::bytecheck::CheckBytes<rkyv::api::high::HighValidator<'v, rancor::Error>>,
{
    scratch.clear();
    scratch.extend_from_slice(archive);
    rkyv::access::<T, rancor::Error>(scratch).map_err(FrameError::InvalidBinary)
}
