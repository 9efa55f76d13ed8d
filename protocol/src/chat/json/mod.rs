//! JSON encoding (`switchboard.v1.json`): one object per WebSocket text message,
//! internally tagged by `"type"`.
//!
//! Decoding rules (see `docs/protocol.md`): unknown fields are ignored, so a newer
//! client may add optional fields; an unknown `"type"` is refused; a missing,
//! duplicate or mistyped field is refused (an optional field may be absent or `null`);
//! ids must be integers in `0..2^64`.

mod wire;

use serde::Deserialize;

use self::wire::*;
use super::{ClientFrame, FrameError, OwnedServerFrame, ServerFrame};

pub(crate) fn encode_client(frame: &ClientFrame<'_>, out: &mut Vec<u8>) {
    let wire = match frame {
        ClientFrame::Direct { to, body } => ClientOut::Direct { to: *to, body },
        ClientFrame::Start => ClientOut::Start {},
        ClientFrame::Send {
            conv,
            client_msg_id,
            body,
        } => ClientOut::Send {
            conv: *conv,
            client_msg_id,
            body,
        },
        ClientFrame::Ack { conv, seq } => ClientOut::Ack {
            conv: *conv,
            seq: *seq,
        },
        ClientFrame::Resume { conv, after_seq } => ClientOut::Resume {
            conv: *conv,
            after_seq: *after_seq,
        },
        ClientFrame::Typing { conv } => ClientOut::Typing { conv: *conv },
        ClientFrame::Read { conv, seq } => ClientOut::Read {
            conv: *conv,
            seq: *seq,
        },
        ClientFrame::End { conv } => ClientOut::End { conv: *conv },
        ClientFrame::AgentStatus { status, capacity } => ClientOut::AgentStatus {
            status: *status,
            capacity: *capacity,
        },
        ClientFrame::Transfer { conv, to } => ClientOut::Transfer { conv: *conv, to },
        ClientFrame::AcceptTransfer { conv } => ClientOut::AcceptTransfer { conv: *conv },
        ClientFrame::DeclineTransfer { conv } => ClientOut::DeclineTransfer { conv: *conv },
    };
    write(&wire, out);
}

pub(crate) fn encode_server(frame: &ServerFrame<'_>, out: &mut Vec<u8>) {
    let wire = match *frame {
        ServerFrame::Welcome {
            conn,
            shard,
            user,
            role,
        } => ServerOut::Welcome {
            conn,
            shard,
            user,
            role,
        },
        ServerFrame::Conversation {
            conv,
            state,
            visitor,
            agent,
            last_seq,
        } => ServerOut::Conversation {
            conv,
            state,
            visitor,
            agent,
            last_seq,
        },
        ServerFrame::Message {
            conv,
            seq,
            ts,
            from,
            client_msg_id,
            body,
        } => ServerOut::Message {
            conv,
            seq,
            ts,
            from,
            client_msg_id,
            body,
        },
        ServerFrame::System {
            conv,
            seq,
            ts,
            event,
            agent,
            position,
            reason,
        } => ServerOut::System {
            conv,
            seq,
            ts,
            event,
            agent,
            position,
            reason,
        },
        ServerFrame::Sent {
            conv,
            client_msg_id,
            seq,
            ts,
        } => ServerOut::Sent {
            conv,
            client_msg_id,
            seq,
            ts,
        },
        ServerFrame::Typing { conv, from } => ServerOut::Typing { conv, from },
        ServerFrame::Read { conv, from, seq } => ServerOut::Read { conv, from, seq },
        ServerFrame::Gap {
            conv,
            after_seq,
            oldest_seq,
        } => ServerOut::Gap {
            conv,
            after_seq,
            oldest_seq,
        },
        ServerFrame::TransferOffer {
            conv,
            from_agent,
            visitor,
        } => ServerOut::TransferOffer {
            conv,
            from_agent,
            visitor,
        },
        ServerFrame::Event { name, data } => return write_event(name, data, out),
        ServerFrame::Queue { conv, position } => ServerOut::Queue { conv, position },
        ServerFrame::Presence {
            conv,
            user,
            role,
            online,
        } => ServerOut::Presence {
            conv,
            user,
            role,
            online,
        },
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

/// Writes `{"type":"event","name":…,"data":…}` with `data` copied verbatim: it is
/// the text of a JSON value the engine vouches for (see `ServerFrameOf::Event`).
///
/// By hand rather than through serde: serde_json's `RawValue`, the type that embeds
/// raw JSON, can only be made from a `&str` by parsing it (which checks the text the
/// engine already guarantees, and allocates for nested values) or from an owned
/// `String`. The bytes are those serde would write for the same fields.
fn write_event(name: &str, data: &str, out: &mut Vec<u8>) {
    out.extend_from_slice(br#"{"type":"event","name":"#);
    write(&name, out);
    out.extend_from_slice(br#","data":"#);
    out.extend_from_slice(data.as_bytes());
    out.push(b'}');
}

/// The fields of one frame type, from the whole payload (its `"type"` is skipped).
fn fields<'a, T: Deserialize<'a>>(payload: &'a [u8]) -> Result<T, FrameError> {
    Ok(serde_json::from_slice(payload)?)
}

/// What kind of JSON value a text holds, judged by its first byte after whitespace.
pub fn value_kind(text: &[u8]) -> &'static str {
    match text
        .iter()
        .find(|b| !matches!(b, b' ' | b'\t' | b'\n' | b'\r'))
    {
        Some(b'{') => "an object",
        Some(b'[') => "an array",
        Some(b'"') => "a string",
        Some(b't' | b'f') => "a boolean",
        Some(b'n') => "null",
        Some(b'-' | b'0'..=b'9') => "a number",
        Some(_) => "not json",
        None => "nothing",
    }
}

/// Refuses any JSON text that is not an object before serde sees it: the derived
/// decoders of the frame structs also accept the sequence form (`["start"]`).
fn require_object(payload: &[u8]) -> Result<(), FrameError> {
    match value_kind(payload) {
        "an object" => Ok(()),
        other => Err(FrameError::NotAnObject(other)),
    }
}

pub(crate) fn decode_client(payload: &[u8]) -> Result<ClientFrame<'_>, FrameError> {
    require_object(payload)?;
    let tag: TypeTag<'_> = fields(payload)?;
    let conv = |payload| fields::<ConvIn>(payload).map(|c| c.conv);
    Ok(match &*tag.kind {
        "direct" => {
            let direct: DirectIn<'_> = fields(payload)?;
            ClientFrame::Direct {
                to: direct.to,
                body: direct.body,
            }
        }
        "start" => ClientFrame::Start,
        "send" => {
            let send: SendIn<'_> = fields(payload)?;
            ClientFrame::Send {
                conv: send.conv,
                client_msg_id: send.client_msg_id,
                body: send.body,
            }
        }
        "ack" => {
            let ConvSeqIn { conv, seq } = fields(payload)?;
            ClientFrame::Ack { conv, seq }
        }
        "resume" => {
            let ResumeIn { conv, after_seq } = fields(payload)?;
            ClientFrame::Resume { conv, after_seq }
        }
        "typing" => ClientFrame::Typing {
            conv: conv(payload)?,
        },
        "read" => {
            let ConvSeqIn { conv, seq } = fields(payload)?;
            ClientFrame::Read { conv, seq }
        }
        "end" => ClientFrame::End {
            conv: conv(payload)?,
        },
        "agent_status" => {
            let AgentStatusIn { status, capacity } = fields(payload)?;
            ClientFrame::AgentStatus { status, capacity }
        }
        "transfer" => {
            let transfer: TransferIn<'_> = fields(payload)?;
            ClientFrame::Transfer {
                conv: transfer.conv,
                to: transfer.to,
            }
        }
        "accept_transfer" => ClientFrame::AcceptTransfer {
            conv: conv(payload)?,
        },
        "decline_transfer" => ClientFrame::DeclineTransfer {
            conv: conv(payload)?,
        },
        other => return Err(unknown_type(other)),
    })
}

pub(crate) fn decode_server(payload: &[u8]) -> Result<OwnedServerFrame, FrameError> {
    require_object(payload)?;
    let tag: TypeTag<'_> = fields(payload)?;
    Ok(match &*tag.kind {
        "welcome" => {
            let WelcomeIn {
                conn,
                shard,
                user,
                role,
            } = fields(payload)?;
            OwnedServerFrame::Welcome {
                conn,
                shard,
                user,
                role,
            }
        }
        "conversation" => {
            let ConversationIn {
                conv,
                state,
                visitor,
                agent,
                last_seq,
            } = fields(payload)?;
            OwnedServerFrame::Conversation {
                conv,
                state,
                visitor,
                agent,
                last_seq,
            }
        }
        "message" => {
            let MessageIn {
                conv,
                seq,
                ts,
                from,
                client_msg_id,
                body,
            } = fields(payload)?;
            OwnedServerFrame::Message {
                conv,
                seq,
                ts,
                from,
                client_msg_id,
                body,
            }
        }
        "system" => {
            let SystemIn {
                conv,
                seq,
                ts,
                event,
                agent,
                position,
                reason,
            } = fields(payload)?;
            OwnedServerFrame::System {
                conv,
                seq,
                ts,
                event,
                agent,
                position,
                reason,
            }
        }
        "sent" => {
            let SentIn {
                conv,
                client_msg_id,
                seq,
                ts,
            } = fields(payload)?;
            OwnedServerFrame::Sent {
                conv,
                client_msg_id,
                seq,
                ts,
            }
        }
        "typing" => {
            let TypingIn { conv, from } = fields(payload)?;
            OwnedServerFrame::Typing { conv, from }
        }
        "read" => {
            let ReadIn { conv, from, seq } = fields(payload)?;
            OwnedServerFrame::Read { conv, from, seq }
        }
        "gap" => {
            let GapIn {
                conv,
                after_seq,
                oldest_seq,
            } = fields(payload)?;
            OwnedServerFrame::Gap {
                conv,
                after_seq,
                oldest_seq,
            }
        }
        "transfer_offer" => {
            let TransferOfferIn {
                conv,
                from_agent,
                visitor,
            } = fields(payload)?;
            OwnedServerFrame::TransferOffer {
                conv,
                from_agent,
                visitor,
            }
        }
        "event" => {
            let EventIn { name, data } = fields(payload)?;
            OwnedServerFrame::Event {
                name,
                data: Box::<str>::from(data).into_string(),
            }
        }
        "queue" => {
            let QueueIn { conv, position } = fields(payload)?;
            OwnedServerFrame::Queue { conv, position }
        }
        "presence" => {
            let PresenceIn {
                conv,
                user,
                role,
                online,
            } = fields(payload)?;
            OwnedServerFrame::Presence {
                conv,
                user,
                role,
                online,
            }
        }
        "delivered" => {
            let DeliveredIn { from, body } = fields(payload)?;
            OwnedServerFrame::Delivered { from, body }
        }
        "error" => {
            let ErrorIn { code, message } = fields(payload)?;
            OwnedServerFrame::Error { code, message }
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
