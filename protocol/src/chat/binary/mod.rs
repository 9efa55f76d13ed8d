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
use rkyv::string::ArchivedString;
use rkyv::util::AlignedVec;

use self::wire::*;
use self::writer::write_archive;
use super::values::{AgentStatus, ConversationState, Role, SystemKind};
use super::{ClientFrame, FrameError, OwnedServerFrame, ServerFrame};

/// The version of the binary layout described in `docs/protocol.md`. It changes only
/// together with the subprotocol name (`switchboard.v2.bin`); within a version, frame
/// types are only ever added.
pub const BINARY_FORMAT_VERSION: u32 = 1;

/// The scratch buffer rkyv validation and access need: aligned for every archived field.
pub(crate) type Scratch = AlignedVec;

fn text(value: &str) -> Cow<'_, str> {
    Cow::Borrowed(value)
}

pub(crate) fn encode_client(frame: &ClientFrame<'_>, out: &mut Vec<u8>) {
    match frame {
        ClientFrame::Direct { to, body } => {
            let wire = DirectWire {
                to: *to,
                body: text(body),
            };
            write_archive(tag::DIRECT, &wire, out);
        }
        ClientFrame::Start => write_archive(tag::START, &StartWire {}, out),
        ClientFrame::Send {
            conv,
            client_msg_id,
            body,
        } => {
            let wire = SendWire {
                conv: *conv,
                client_msg_id: text(client_msg_id),
                body: text(body),
            };
            write_archive(tag::SEND, &wire, out);
        }
        ClientFrame::Ack { conv, seq } => {
            let wire = ConvSeqWire {
                conv: *conv,
                seq: *seq,
            };
            write_archive(tag::ACK, &wire, out);
        }
        ClientFrame::Resume { conv, after_seq } => {
            let wire = ConvSeqWire {
                conv: *conv,
                seq: *after_seq,
            };
            write_archive(tag::RESUME, &wire, out);
        }
        ClientFrame::Read { conv, seq } => {
            let wire = ConvSeqWire {
                conv: *conv,
                seq: *seq,
            };
            write_archive(tag::READ, &wire, out);
        }
        ClientFrame::Typing { conv } => {
            write_archive(tag::TYPING, &ConvWire { conv: *conv }, out);
        }
        ClientFrame::End { conv } => {
            write_archive(tag::END, &ConvWire { conv: *conv }, out);
        }
        ClientFrame::AcceptTransfer { conv } => {
            write_archive(tag::ACCEPT_TRANSFER, &ConvWire { conv: *conv }, out);
        }
        ClientFrame::DeclineTransfer { conv } => {
            write_archive(tag::DECLINE_TRANSFER, &ConvWire { conv: *conv }, out);
        }
        ClientFrame::AgentStatus { status, capacity } => {
            let wire = AgentStatusWire {
                capacity: *capacity,
                status: status.code(),
            };
            write_archive(tag::AGENT_STATUS, &wire, out);
        }
        ClientFrame::Transfer { conv, to } => {
            let wire = ConvUserWire {
                conv: *conv,
                user: text(to),
            };
            write_archive(tag::TRANSFER, &wire, out);
        }
    }
}

pub(crate) fn encode_server(frame: &ServerFrame<'_>, out: &mut Vec<u8>) {
    match *frame {
        ServerFrame::Welcome {
            conn,
            shard,
            user,
            role,
        } => {
            let wire = WelcomeWire {
                conn,
                user: text(user),
                shard,
                role: role.code(),
            };
            write_archive(tag::WELCOME, &wire, out);
        }
        ServerFrame::Conversation {
            conv,
            state,
            visitor,
            agent,
            last_seq,
        } => {
            let wire = ConversationWire {
                conv,
                last_seq,
                visitor: text(visitor),
                agent: agent.map(text),
                state: state.code(),
            };
            write_archive(tag::CONVERSATION, &wire, out);
        }
        ServerFrame::Message {
            conv,
            seq,
            ts,
            from,
            client_msg_id,
            body,
        } => {
            let wire = MessageWire {
                conv,
                seq,
                ts,
                from: text(from),
                client_msg_id: text(client_msg_id),
                body: text(body),
            };
            write_archive(tag::MESSAGE, &wire, out);
        }
        ServerFrame::System {
            conv,
            seq,
            ts,
            event,
            agent,
            position,
            reason,
        } => {
            let wire = SystemWire {
                conv,
                seq,
                ts,
                agent: agent.map(text),
                reason: reason.map(text),
                position,
                event: event.code(),
            };
            write_archive(tag::SYSTEM, &wire, out);
        }
        ServerFrame::Sent {
            conv,
            client_msg_id,
            seq,
            ts,
        } => {
            let wire = SentWire {
                conv,
                seq,
                ts,
                client_msg_id: text(client_msg_id),
            };
            write_archive(tag::SENT, &wire, out);
        }
        ServerFrame::Typing { conv, from } => {
            let wire = ConvUserWire {
                conv,
                user: text(from),
            };
            write_archive(tag::TYPING_FROM, &wire, out);
        }
        ServerFrame::Read { conv, from, seq } => {
            let wire = ReadWire {
                conv,
                seq,
                from: text(from),
            };
            write_archive(tag::READ_FROM, &wire, out);
        }
        ServerFrame::Gap {
            conv,
            after_seq,
            oldest_seq,
        } => {
            let wire = GapWire {
                conv,
                after_seq,
                oldest_seq,
            };
            write_archive(tag::GAP, &wire, out);
        }
        ServerFrame::TransferOffer {
            conv,
            from_agent,
            visitor,
        } => {
            let wire = TransferOfferWire {
                conv,
                from_agent: text(from_agent),
                visitor: text(visitor),
            };
            write_archive(tag::TRANSFER_OFFER, &wire, out);
        }
        ServerFrame::Event { name, data } => {
            let wire = EventWire {
                name: text(name),
                data: text(data),
            };
            write_archive(tag::EVENT, &wire, out);
        }
        ServerFrame::Queue { conv, position } => {
            write_archive(tag::QUEUE, &QueueWire { conv, position }, out);
        }
        ServerFrame::Presence {
            conv,
            user,
            role,
            online,
        } => {
            let wire = PresenceWire {
                conv,
                user: text(user),
                role: role.code(),
                online,
            };
            write_archive(tag::PRESENCE, &wire, out);
        }
        ServerFrame::Delivered { from, body } => {
            let wire = DeliveredWire {
                from,
                body: text(body),
            };
            write_archive(tag::DELIVERED, &wire, out);
        }
        ServerFrame::Error { code, message } => {
            let wire = ErrorWire {
                code: text(code),
                message: text(message),
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
    let conv_only = |scratch: &mut Scratch| -> Result<u64, FrameError> {
        Ok(validate::<ArchivedConvWire>(scratch, archive)?
            .conv
            .to_native())
    };
    Ok(match tag {
        tag::DIRECT => {
            let direct = validate::<ArchivedDirectWire<'static>>(scratch, archive)?;
            ClientFrame::Direct {
                to: direct.to.to_native(),
                body: borrow(&direct.body),
            }
        }
        tag::START => {
            validate::<ArchivedStartWire>(scratch, archive)?;
            ClientFrame::Start
        }
        tag::SEND => {
            let send = validate::<ArchivedSendWire<'static>>(scratch, archive)?;
            ClientFrame::Send {
                conv: send.conv.to_native(),
                client_msg_id: borrow(&send.client_msg_id),
                body: borrow(&send.body),
            }
        }
        tag::ACK | tag::RESUME | tag::READ => {
            let wire = validate::<ArchivedConvSeqWire>(scratch, archive)?;
            let (conv, seq) = (wire.conv.to_native(), wire.seq.to_native());
            match tag {
                tag::ACK => ClientFrame::Ack { conv, seq },
                tag::RESUME => ClientFrame::Resume {
                    conv,
                    after_seq: seq,
                },
                _ => ClientFrame::Read { conv, seq },
            }
        }
        tag::TYPING => ClientFrame::Typing {
            conv: conv_only(scratch)?,
        },
        tag::END => ClientFrame::End {
            conv: conv_only(scratch)?,
        },
        tag::ACCEPT_TRANSFER => ClientFrame::AcceptTransfer {
            conv: conv_only(scratch)?,
        },
        tag::DECLINE_TRANSFER => ClientFrame::DeclineTransfer {
            conv: conv_only(scratch)?,
        },
        tag::AGENT_STATUS => {
            let wire = validate::<ArchivedAgentStatusWire>(scratch, archive)?;
            ClientFrame::AgentStatus {
                status: known("status", wire.status, AgentStatus::from_code)?,
                capacity: wire.capacity.as_ref().map(|c| c.to_native()),
            }
        }
        tag::TRANSFER => {
            let wire = validate::<ArchivedConvUserWire<'static>>(scratch, archive)?;
            ClientFrame::Transfer {
                conv: wire.conv.to_native(),
                to: borrow(&wire.user),
            }
        }
        unknown => return Err(FrameError::UnknownBinaryType(unknown)),
    })
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
                role: known("role", welcome.role, Role::from_code)?,
            }
        }
        tag::CONVERSATION => {
            let wire = validate::<ArchivedConversationWire<'static>>(scratch, archive)?;
            ServerFrame::Conversation {
                conv: wire.conv.to_native(),
                state: known("state", wire.state, ConversationState::from_code)?,
                visitor: wire.visitor.as_str(),
                agent: wire.agent.as_ref().map(ArchivedString::as_str),
                last_seq: wire.last_seq.to_native(),
            }
        }
        tag::MESSAGE => {
            let wire = validate::<ArchivedMessageWire<'static>>(scratch, archive)?;
            ServerFrame::Message {
                conv: wire.conv.to_native(),
                seq: wire.seq.to_native(),
                ts: wire.ts.to_native(),
                from: wire.from.as_str(),
                client_msg_id: wire.client_msg_id.as_str(),
                body: wire.body.as_str(),
            }
        }
        tag::SYSTEM => {
            let wire = validate::<ArchivedSystemWire<'static>>(scratch, archive)?;
            ServerFrame::System {
                conv: wire.conv.to_native(),
                seq: wire.seq.to_native(),
                ts: wire.ts.to_native(),
                event: known("event", wire.event, SystemKind::from_code)?,
                agent: wire.agent.as_ref().map(ArchivedString::as_str),
                position: wire.position.as_ref().map(|p| p.to_native()),
                reason: wire.reason.as_ref().map(ArchivedString::as_str),
            }
        }
        tag::SENT => {
            let wire = validate::<ArchivedSentWire<'static>>(scratch, archive)?;
            ServerFrame::Sent {
                conv: wire.conv.to_native(),
                client_msg_id: wire.client_msg_id.as_str(),
                seq: wire.seq.to_native(),
                ts: wire.ts.to_native(),
            }
        }
        tag::TYPING_FROM => {
            let wire = validate::<ArchivedConvUserWire<'static>>(scratch, archive)?;
            ServerFrame::Typing {
                conv: wire.conv.to_native(),
                from: wire.user.as_str(),
            }
        }
        tag::READ_FROM => {
            let wire = validate::<ArchivedReadWire<'static>>(scratch, archive)?;
            ServerFrame::Read {
                conv: wire.conv.to_native(),
                from: wire.from.as_str(),
                seq: wire.seq.to_native(),
            }
        }
        tag::GAP => {
            let wire = validate::<ArchivedGapWire>(scratch, archive)?;
            ServerFrame::Gap {
                conv: wire.conv.to_native(),
                after_seq: wire.after_seq.to_native(),
                oldest_seq: wire.oldest_seq.to_native(),
            }
        }
        tag::TRANSFER_OFFER => {
            let wire = validate::<ArchivedTransferOfferWire<'static>>(scratch, archive)?;
            ServerFrame::TransferOffer {
                conv: wire.conv.to_native(),
                from_agent: wire.from_agent.as_str(),
                visitor: wire.visitor.as_str(),
            }
        }
        tag::EVENT => {
            let wire = validate::<ArchivedEventWire<'static>>(scratch, archive)?;
            ServerFrame::Event {
                name: wire.name.as_str(),
                data: wire.data.as_str(),
            }
        }
        tag::QUEUE => {
            let wire = validate::<ArchivedQueueWire>(scratch, archive)?;
            ServerFrame::Queue {
                conv: wire.conv.to_native(),
                position: wire.position.to_native(),
            }
        }
        tag::PRESENCE => {
            let wire = validate::<ArchivedPresenceWire<'static>>(scratch, archive)?;
            ServerFrame::Presence {
                conv: wire.conv.to_native(),
                user: wire.user.as_str(),
                role: known("role", wire.role, Role::from_code)?,
                online: wire.online,
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

fn borrow(archived: &ArchivedString) -> Cow<'_, str> {
    Cow::Borrowed(archived.as_str())
}

/// The enum value of a one-byte code, or the error naming the field.
fn known<T>(
    field: &'static str,
    code: u8,
    from_code: fn(u8) -> Option<T>,
) -> Result<T, FrameError> {
    from_code(code).ok_or(FrameError::UnknownCode { field, code })
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
