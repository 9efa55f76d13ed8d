//! The receiving half of a WebSocket connection: bytes in, events out.

use super::frame::{apply_mask, parse_close_payload, parse_header, FrameHeader, Opcode, Role};
use super::utf8::Utf8Stream;
use super::ProtocolError;

/// What a [`Reader`] enforces. Shared by every connection of a shard, so a
/// connection does not carry its own copy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest payload of a single frame.
    pub max_frame: usize,
    /// Largest message, all fragments together.
    pub max_message: usize,
    /// Which side we are: a server requires masked frames.
    pub role: Role,
}

/// The type of a data message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataKind {
    /// UTF-8 text (already validated when handed out).
    Text,
    /// Arbitrary bytes.
    Binary,
}

/// Something the peer said.
#[derive(Debug, PartialEq, Eq)]
pub enum Event<'a> {
    /// A complete data message, reassembled if it was fragmented.
    Message {
        /// Text or binary.
        kind: DataKind,
        /// The unmasked payload; valid UTF-8 when `kind` is text.
        payload: &'a [u8],
    },
    /// A ping; the caller answers with a pong carrying the same payload.
    Ping(&'a [u8]),
    /// A pong.
    Pong(&'a [u8]),
    /// The peer starts (or answers) the closing handshake; nothing after it is read.
    Close(Option<(u16, &'a str)>),
}

/// Per-connection reading state: one pointer while the connection is idle.
#[derive(Debug, Default)]
pub struct Reader {
    pending: Option<Box<Pending>>,
}

/// State that only exists while a frame or a message is cut in the middle.
#[derive(Debug, Default)]
struct Pending {
    /// Start of a frame that has not fully arrived.
    leftover: Vec<u8>,
    /// Payload of a fragmented message received so far.
    message: Vec<u8>,
    /// Type of the fragmented message in progress, if any.
    message_kind: Option<DataKind>,
    /// UTF-8 state of the text message in progress after its complete fragments.
    text: Utf8Stream,
    /// For a text frame cut at the start of `leftover`: payload bytes already checked
    /// as UTF-8 and the state after them, so invalid text fails before the frame is
    /// complete and no byte is checked twice.
    cut: Option<CutText>,
}

/// How far the UTF-8 check of a cut text frame got.
type CutText = (usize, Utf8Stream);

impl Pending {
    fn is_empty(&self) -> bool {
        self.leftover.is_empty() && self.message_kind.is_none()
    }
}

/// Whether the caller wants more events after this one.
pub type Continue = bool;

impl Reader {
    /// Feeds `input` (unmasked in place) and calls `on_event` for every event in it.
    ///
    /// Returns `Ok(true)` once a close frame was read, or `on_event` returned `false`:
    /// the bytes after that point are ignored. An error is a protocol violation; the
    /// caller closes the connection with [`ProtocolError::close_code`].
    pub fn feed(
        &mut self,
        input: &mut [u8],
        limits: &Limits,
        on_event: &mut dyn FnMut(Event<'_>) -> Continue,
    ) -> Result<bool, ProtocolError> {
        // Only the frame that was cut last time can use its partial check.
        let mut cut = self.pending.as_mut().and_then(|p| p.cut.take());
        let stopped = match self.pending.as_mut() {
            Some(pending) if !pending.leftover.is_empty() => {
                let mut buffered = std::mem::take(&mut pending.leftover);
                buffered.extend_from_slice(input);
                let (consumed, stopped) =
                    process(&mut buffered, &mut self.pending, limits, &mut cut, on_event)?;
                if consumed < buffered.len() && !stopped {
                    // Keep only the cut frame: `buffered` may be as big as a whole read.
                    let rest = if consumed == 0 {
                        buffered
                    } else {
                        buffered[consumed..].to_vec()
                    };
                    self.pending.get_or_insert_with(Default::default).leftover = rest;
                }
                stopped
            }
            _ => {
                let (consumed, stopped) =
                    process(input, &mut self.pending, limits, &mut cut, on_event)?;
                if consumed < input.len() && !stopped {
                    let pending = self.pending.get_or_insert_with(Default::default);
                    pending.leftover.extend_from_slice(&input[consumed..]);
                }
                stopped
            }
        };
        if let Some(pending) = self
            .pending
            .as_mut()
            .filter(|p| !stopped && !p.leftover.is_empty())
        {
            check_cut_text(pending, limits, cut)?;
        }
        if self.pending.as_ref().is_some_and(|p| p.is_empty()) {
            self.pending = None;
        }
        Ok(stopped)
    }

    /// Bytes this reader holds for unfinished frames and messages.
    pub fn buffered_bytes(&self) -> usize {
        self.pending
            .as_ref()
            .map_or(0, |p| p.leftover.capacity() + p.message.capacity())
    }

    /// True when the reader holds no memory (no frame or message cut in the middle).
    pub fn is_idle(&self) -> bool {
        self.pending.is_none()
    }
}

/// Checks as UTF-8 what has arrived of a text frame cut at the start of `leftover`
/// (continuing from `cut`, the check of earlier reads), so a text message fails as
/// soon as it can no longer be valid, even inside one frame (RFC 6455 §8.1).
fn check_cut_text(
    pending: &mut Pending,
    limits: &Limits,
    cut: Option<CutText>,
) -> Result<(), ProtocolError> {
    let Ok(Some(header)) = parse_header(&pending.leftover, limits.role, limits.max_frame) else {
        return Ok(());
    };
    let start = match header.opcode {
        Opcode::Text => Utf8Stream::default(),
        Opcode::Continuation if pending.message_kind == Some(DataKind::Text) => pending.text,
        _ => return Ok(()),
    };
    let payload_len = header.frame_len() - header.header_len;
    let arrived = (pending.leftover.len() - header.header_len).min(payload_len);
    let (mut checked, mut state) = cut.unwrap_or((0, start));
    let mut unmasked = [0u8; 64];
    while checked < arrived {
        let n = (arrived - checked).min(unmasked.len());
        let masked = &pending.leftover[header.header_len + checked..][..n];
        for (i, (out, byte)) in unmasked.iter_mut().zip(masked).enumerate() {
            *out = byte ^ header.mask.map_or(0, |key| key[(checked + i) & 3]);
        }
        state
            .feed(&unmasked[..n])
            .map_err(|_| ProtocolError::InvalidUtf8)?;
        checked += n;
    }
    pending.cut = Some((checked, state));
    Ok(())
}

/// Refuses a data frame whose payload would take its message over the limit, from the
/// header alone: the frame is not buffered first.
fn check_message_size(
    header: &FrameHeader,
    pending: &Option<Box<Pending>>,
    limits: &Limits,
) -> Result<(), ProtocolError> {
    let so_far = match header.opcode {
        Opcode::Text | Opcode::Binary => 0,
        Opcode::Continuation => pending.as_ref().map_or(0, |p| p.message.len()),
        _ => return Ok(()),
    };
    if so_far + (header.frame_len() - header.header_len) > limits.max_message {
        return Err(ProtocolError::MessageTooLarge {
            limit: limits.max_message,
        });
    }
    Ok(())
}

/// Handles every whole frame at the start of `buf`; returns how many bytes it used.
/// `cut` is the partial UTF-8 check of the first frame, if it was cut last time.
fn process(
    buf: &mut [u8],
    pending: &mut Option<Box<Pending>>,
    limits: &Limits,
    cut: &mut Option<CutText>,
    on_event: &mut dyn FnMut(Event<'_>) -> Continue,
) -> Result<(usize, bool), ProtocolError> {
    let mut pos = 0;
    while let Some(header) = parse_header(&buf[pos..], limits.role, limits.max_frame)? {
        check_message_size(&header, pending, limits)?;
        if buf.len() - pos < header.frame_len() {
            break;
        }
        let payload = &mut buf[pos + header.header_len..pos + header.frame_len()];
        if let Some(key) = header.mask {
            apply_mask(payload, key);
        }
        pos += header.frame_len();
        if !handle_frame(header, payload, pending, limits, cut.take(), on_event)? {
            return Ok((pos, true));
        }
    }
    Ok((pos, false))
}

fn handle_frame(
    header: FrameHeader,
    payload: &[u8],
    pending: &mut Option<Box<Pending>>,
    limits: &Limits,
    cut: Option<CutText>,
    on_event: &mut dyn FnMut(Event<'_>) -> Continue,
) -> Result<Continue, ProtocolError> {
    let in_progress = pending.as_ref().and_then(|p| p.message_kind);
    match header.opcode {
        Opcode::Ping => Ok(on_event(Event::Ping(payload))),
        Opcode::Pong => Ok(on_event(Event::Pong(payload))),
        Opcode::Close => {
            let close = parse_close_payload(payload)?;
            on_event(Event::Close(close));
            Ok(false)
        }
        Opcode::Text | Opcode::Binary => {
            if in_progress.is_some() {
                return Err(ProtocolError::ExpectedContinuation);
            }
            let kind = if header.opcode == Opcode::Text {
                DataKind::Text
            } else {
                DataKind::Binary
            };
            if payload.len() > limits.max_message {
                return Err(ProtocolError::MessageTooLarge {
                    limit: limits.max_message,
                });
            }
            if header.fin && cut.is_none() {
                return deliver(kind, payload, on_event);
            }
            let text = if kind == DataKind::Text {
                check_text(Utf8Stream::default(), payload, cut)?
            } else {
                Utf8Stream::default()
            };
            if header.fin {
                return finish_text(text, kind, payload, on_event);
            }
            let state = pending.get_or_insert_with(Default::default);
            state.message.extend_from_slice(payload);
            state.message_kind = Some(kind);
            state.text = text;
            Ok(true)
        }
        Opcode::Continuation => {
            let (Some(kind), Some(state)) = (in_progress, pending.as_mut()) else {
                return Err(ProtocolError::UnexpectedContinuation);
            };
            if state.message.len() + payload.len() > limits.max_message {
                return Err(ProtocolError::MessageTooLarge {
                    limit: limits.max_message,
                });
            }
            if kind == DataKind::Text {
                state.text = check_text(state.text, payload, cut)?;
            }
            state.message.extend_from_slice(payload);
            if !header.fin {
                return Ok(true);
            }
            // Give the memory back as soon as the message is out.
            let message = std::mem::take(&mut state.message);
            state.message_kind = None;
            let text = std::mem::take(&mut state.text);
            finish_text(text, kind, &message, on_event)
        }
    }
}

/// Continues the UTF-8 check of a text message over one more frame's payload (from
/// where a cut frame's check stopped, if it was cut).
fn check_text(
    start: Utf8Stream,
    payload: &[u8],
    cut: Option<CutText>,
) -> Result<Utf8Stream, ProtocolError> {
    let (from, mut state) = cut.unwrap_or((0, start));
    state
        .feed(&payload[from.min(payload.len())..])
        .map_err(|_| ProtocolError::InvalidUtf8)?;
    Ok(state)
}

/// Hands out a message whose text (if text) was checked piece by piece: it must end
/// on a code point boundary.
fn finish_text(
    text: Utf8Stream,
    kind: DataKind,
    payload: &[u8],
    on_event: &mut dyn FnMut(Event<'_>) -> Continue,
) -> Result<Continue, ProtocolError> {
    if kind == DataKind::Text && !text.is_complete() {
        return Err(ProtocolError::InvalidUtf8);
    }
    Ok(on_event(Event::Message { kind, payload }))
}

fn deliver(
    kind: DataKind,
    payload: &[u8],
    on_event: &mut dyn FnMut(Event<'_>) -> Continue,
) -> Result<Continue, ProtocolError> {
    if kind == DataKind::Text && std::str::from_utf8(payload).is_err() {
        return Err(ProtocolError::InvalidUtf8);
    }
    Ok(on_event(Event::Message { kind, payload }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ws::{encode_frame, encode_header};

    const LIMITS: Limits = Limits {
        max_frame: 1 << 16,
        max_message: 1 << 20,
        role: Role::Server,
    };
    const KEY: Option<[u8; 4]> = Some([0x37, 0xfa, 0x21, 0x3d]);

    /// What the reader produced, owned so tests can compare it.
    #[derive(Debug, PartialEq)]
    enum Owned {
        Message(DataKind, Vec<u8>),
        Ping(Vec<u8>),
        Pong(Vec<u8>),
        Close(Option<(u16, String)>),
    }

    fn read_all(
        reader: &mut Reader,
        bytes: &[u8],
        chunk: usize,
    ) -> Result<Vec<Owned>, ProtocolError> {
        let mut events = Vec::new();
        for piece in bytes.chunks(chunk.max(1)) {
            let mut piece = piece.to_vec();
            let stopped = reader.feed(&mut piece, &LIMITS, &mut |event| {
                events.push(match event {
                    Event::Message { kind, payload } => Owned::Message(kind, payload.to_vec()),
                    Event::Ping(p) => Owned::Ping(p.to_vec()),
                    Event::Pong(p) => Owned::Pong(p.to_vec()),
                    Event::Close(c) => Owned::Close(c.map(|(code, r)| (code, r.to_owned()))),
                });
                true
            })?;
            if stopped {
                break;
            }
        }
        Ok(events)
    }

    #[test]
    fn a_frame_split_at_every_byte_still_arrives_whole() {
        let mut wire = Vec::new();
        encode_frame(
            &mut wire,
            Opcode::Text,
            "hello, switchboard".as_bytes(),
            KEY,
        );
        encode_frame(&mut wire, Opcode::Binary, &[0u8; 300], KEY);
        for chunk in 1..wire.len() {
            let mut reader = Reader::default();
            let events = read_all(&mut reader, &wire, chunk).unwrap();
            assert_eq!(
                events,
                vec![
                    Owned::Message(DataKind::Text, b"hello, switchboard".to_vec()),
                    Owned::Message(DataKind::Binary, vec![0u8; 300]),
                ],
                "chunk {chunk}"
            );
            assert!(reader.is_idle(), "reader kept memory after whole frames");
        }
    }

    #[test]
    fn fragments_are_reassembled_with_control_frames_between() {
        let mut wire = Vec::new();
        encode_header(&mut wire, false, Opcode::Text, 3, KEY);
        let start = wire.len();
        wire.extend_from_slice(b"abc");
        apply_mask(&mut wire[start..], KEY.unwrap());
        encode_frame(&mut wire, Opcode::Ping, b"p", KEY);
        encode_header(&mut wire, true, Opcode::Continuation, 3, KEY);
        let start = wire.len();
        wire.extend_from_slice(b"def");
        apply_mask(&mut wire[start..], KEY.unwrap());
        let mut reader = Reader::default();
        let events = read_all(&mut reader, &wire, 4).unwrap();
        assert_eq!(
            events,
            vec![
                Owned::Ping(b"p".to_vec()),
                Owned::Message(DataKind::Text, b"abcdef".to_vec())
            ]
        );
        assert!(reader.is_idle());
    }

    #[test]
    fn invalid_utf8_text_is_refused() {
        let mut wire = Vec::new();
        encode_frame(&mut wire, Opcode::Text, &[0xce, 0xba, 0xe1, 0xbd], KEY);
        let err = read_all(&mut Reader::default(), &wire, 64).unwrap_err();
        assert_eq!(err, ProtocolError::InvalidUtf8);
        assert_eq!(err.close_code(), 1007);
    }

    #[test]
    fn continuation_without_start_and_nested_start_are_refused() {
        let mut wire = Vec::new();
        encode_frame(&mut wire, Opcode::Continuation, b"x", KEY);
        assert_eq!(
            read_all(&mut Reader::default(), &wire, 64).unwrap_err(),
            ProtocolError::UnexpectedContinuation
        );
        let mut wire = Vec::new();
        encode_header(&mut wire, false, Opcode::Binary, 0, KEY);
        encode_frame(&mut wire, Opcode::Binary, b"x", KEY);
        assert_eq!(
            read_all(&mut Reader::default(), &wire, 64).unwrap_err(),
            ProtocolError::ExpectedContinuation
        );
    }

    #[test]
    fn a_message_over_the_limit_is_refused_across_fragments() {
        let limits = Limits {
            max_frame: 100,
            max_message: 150,
            role: Role::Server,
        };
        let mut wire = Vec::new();
        encode_header(&mut wire, false, Opcode::Binary, 100, KEY);
        wire.extend_from_slice(&[0u8; 100]);
        encode_header(&mut wire, true, Opcode::Continuation, 100, KEY);
        wire.extend_from_slice(&[0u8; 100]);
        let err = Reader::default()
            .feed(&mut wire, &limits, &mut |_| true)
            .unwrap_err();
        assert_eq!(err, ProtocolError::MessageTooLarge { limit: 150 });
        assert_eq!(err.close_code(), 1009);
    }

    #[test]
    fn a_cut_frame_after_a_large_read_keeps_only_its_own_bytes() {
        let mut reader = Reader::default();
        let mut first = vec![0x82];
        reader.feed(&mut first, &LIMITS, &mut |_| true).unwrap();
        let mut wire = vec![0x80];
        wire.extend_from_slice(&KEY.unwrap());
        for _ in 0..1000 {
            encode_frame(&mut wire, Opcode::Binary, &[7u8; 64], KEY);
        }
        wire.push(0x82);
        reader.feed(&mut wire, &LIMITS, &mut |_| true).unwrap();
        assert!(
            reader.buffered_bytes() < 64,
            "kept {} bytes",
            reader.buffered_bytes()
        );
    }

    #[test]
    fn a_fragment_that_would_pass_the_message_limit_is_refused_from_its_header() {
        let limits = Limits {
            max_frame: 100,
            max_message: 150,
            role: Role::Server,
        };
        let mut wire = Vec::new();
        encode_header(&mut wire, false, Opcode::Binary, 100, KEY);
        wire.extend_from_slice(&[0u8; 100]);
        // Only the header of the second fragment: its length alone passes the limit.
        encode_header(&mut wire, true, Opcode::Continuation, 100, KEY);
        let mut reader = Reader::default();
        let err = reader.feed(&mut wire, &limits, &mut |_| true).unwrap_err();
        assert_eq!(err, ProtocolError::MessageTooLarge { limit: 150 });
    }

    #[test]
    fn nothing_after_close_is_read() {
        let mut wire = Vec::new();
        encode_frame(&mut wire, Opcode::Close, &[0x03, 0xE8], KEY);
        encode_frame(&mut wire, Opcode::Text, b"late", KEY);
        let events = read_all(&mut Reader::default(), &wire, 64).unwrap();
        assert_eq!(events, vec![Owned::Close(Some((1000, String::new())))]);
    }
}
