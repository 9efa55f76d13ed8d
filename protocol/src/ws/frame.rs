//! One WebSocket frame on the wire (RFC 6455 §5.2): header parsing with every rule
//! the RFC puts on a peer, header encoding, and payload masking.

use super::ProtocolError;

/// A frame opcode that RFC 6455 defines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Opcode {
    /// Continues a fragmented data message.
    Continuation,
    /// Starts a UTF-8 text message.
    Text,
    /// Starts a binary message.
    Binary,
    /// Starts or answers the closing handshake.
    Close,
    /// Asks the peer for a pong.
    Ping,
    /// Answers a ping (or an unsolicited heartbeat).
    Pong,
}

impl Opcode {
    /// The 4-bit value on the wire.
    pub fn bits(self) -> u8 {
        match self {
            Opcode::Continuation => 0x0,
            Opcode::Text => 0x1,
            Opcode::Binary => 0x2,
            Opcode::Close => 0x8,
            Opcode::Ping => 0x9,
            Opcode::Pong => 0xA,
        }
    }

    fn from_bits(bits: u8) -> Result<Self, ProtocolError> {
        Ok(match bits {
            0x0 => Opcode::Continuation,
            0x1 => Opcode::Text,
            0x2 => Opcode::Binary,
            0x8 => Opcode::Close,
            0x9 => Opcode::Ping,
            0xA => Opcode::Pong,
            _ => return Err(ProtocolError::ReservedOpcode),
        })
    }

    /// Control frames (close, ping, pong) may not be fragmented or exceed 125 bytes.
    pub fn is_control(self) -> bool {
        matches!(self, Opcode::Close | Opcode::Ping | Opcode::Pong)
    }
}

/// Which end of the connection is reading: servers require masked frames, clients
/// require unmasked ones (RFC 6455 §5.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// We are the server; the peer is a client and must mask.
    Server,
    /// We are the client; the peer is a server and must not mask.
    Client,
}

/// A parsed frame header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameHeader {
    /// Last fragment of its message.
    pub fin: bool,
    /// What the frame carries.
    pub opcode: Opcode,
    /// The masking key, present on every client-to-server frame.
    pub mask: Option<[u8; 4]>,
    /// Length of the payload that follows the header.
    pub payload_len: usize,
    /// Length of the header itself (2 to 14 bytes).
    pub header_len: usize,
}

impl FrameHeader {
    /// Header plus payload: how many bytes the whole frame takes.
    pub fn frame_len(&self) -> usize {
        self.header_len + self.payload_len
    }
}

/// The longest header a frame can have: 2 + 8 (64-bit length) + 4 (mask).
pub const MAX_HEADER_LEN: usize = 14;

/// Largest payload of a control frame (RFC 6455 §5.5).
pub const MAX_CONTROL_PAYLOAD: usize = 125;

/// Parses the header at the start of `buf`.
///
/// Returns `Ok(None)` when `buf` does not yet hold the whole header. Every rule of
/// RFC 6455 that can be checked from the header alone is checked here, so that a bad
/// frame is refused before its payload is ever buffered; `max_frame` bounds the
/// payload length the same way.
pub fn parse_header(
    buf: &[u8],
    role: Role,
    max_frame: usize,
) -> Result<Option<FrameHeader>, ProtocolError> {
    let [b0, b1, ..] = *buf else {
        return Ok(None);
    };
    if b0 & 0x70 != 0 {
        return Err(ProtocolError::ReservedBits);
    }
    let fin = b0 & 0x80 != 0;
    let opcode = Opcode::from_bits(b0 & 0x0F)?;
    let masked = b1 & 0x80 != 0;
    match (role, masked) {
        (Role::Server, false) => return Err(ProtocolError::UnmaskedClientFrame),
        (Role::Client, true) => return Err(ProtocolError::MaskedServerFrame),
        _ => {}
    }
    let (payload_len, mut header_len) = match b1 & 0x7F {
        126 => match buf.get(2..4) {
            Some(b) => (u64::from(u16::from_be_bytes([b[0], b[1]])), 4),
            None => return Ok(None),
        },
        127 => match buf.get(2..10) {
            Some(b) => {
                let mut len = [0u8; 8];
                len.copy_from_slice(b);
                let len = u64::from_be_bytes(len);
                if len >> 63 != 0 {
                    return Err(ProtocolError::InvalidLength);
                }
                (len, 10)
            }
            None => return Ok(None),
        },
        short => (u64::from(short), 2),
    };
    if opcode.is_control() {
        if !fin {
            return Err(ProtocolError::FragmentedControl);
        }
        if payload_len > MAX_CONTROL_PAYLOAD as u64 {
            return Err(ProtocolError::ControlTooLong);
        }
    }
    if payload_len > max_frame as u64 {
        return Err(ProtocolError::FrameTooLarge { limit: max_frame });
    }
    let mask = if masked {
        let Some(key) = buf.get(header_len..header_len + 4) else {
            return Ok(None);
        };
        header_len += 4;
        Some([key[0], key[1], key[2], key[3]])
    } else {
        None
    };
    Ok(Some(FrameHeader {
        fin,
        opcode,
        mask,
        // Bounded by max_frame above, so it fits.
        payload_len: payload_len as usize,
        header_len,
    }))
}

/// XORs `data` with the masking key; masking and unmasking are the same operation.
///
/// Works eight bytes at a time; `data` must start at a multiple of 4 from the start
/// of the payload (the callers always unmask whole payloads).
pub fn apply_mask(data: &mut [u8], mask: [u8; 4]) {
    let wide = u64::from_ne_bytes([
        mask[0], mask[1], mask[2], mask[3], mask[0], mask[1], mask[2], mask[3],
    ]);
    let mut chunks = data.chunks_exact_mut(8);
    for chunk in &mut chunks {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let word = u64::from_ne_bytes(word) ^ wide;
        chunk.copy_from_slice(&word.to_ne_bytes());
    }
    for (i, byte) in chunks.into_remainder().iter_mut().enumerate() {
        *byte ^= mask[i & 3];
    }
}

/// Appends a frame header to `out`.
pub fn encode_header(
    out: &mut Vec<u8>,
    fin: bool,
    opcode: Opcode,
    len: usize,
    mask: Option<[u8; 4]>,
) {
    let b0 = if fin { 0x80 } else { 0 } | opcode.bits();
    let mask_bit = if mask.is_some() { 0x80 } else { 0 };
    out.push(b0);
    if len < 126 {
        out.push(mask_bit | len as u8);
    } else if let Ok(short) = u16::try_from(len) {
        out.push(mask_bit | 126);
        out.extend_from_slice(&short.to_be_bytes());
    } else {
        out.push(mask_bit | 127);
        out.extend_from_slice(&(len as u64).to_be_bytes());
    }
    if let Some(key) = mask {
        out.extend_from_slice(&key);
    }
}

/// Appends a whole unfragmented frame to `out`, masking the payload if `mask` is given.
pub fn encode_frame(out: &mut Vec<u8>, opcode: Opcode, payload: &[u8], mask: Option<[u8; 4]>) {
    encode_header(out, true, opcode, payload.len(), mask);
    let start = out.len();
    out.extend_from_slice(payload);
    if let Some(key) = mask {
        apply_mask(&mut out[start..], key);
    }
}

/// Appends a close frame with `code` and `reason` (cut to fit 125 bytes on a char
/// boundary).
pub fn encode_close(out: &mut Vec<u8>, code: u16, reason: &str, mask: Option<[u8; 4]>) {
    let reason = truncate_utf8(reason, MAX_CONTROL_PAYLOAD - 2);
    let mut payload = [0u8; MAX_CONTROL_PAYLOAD];
    payload[..2].copy_from_slice(&code.to_be_bytes());
    payload[2..2 + reason.len()].copy_from_slice(reason.as_bytes());
    encode_frame(out, Opcode::Close, &payload[..2 + reason.len()], mask);
}

fn truncate_utf8(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// Checks a received close payload: empty, or a valid code plus UTF-8 reason.
pub fn parse_close_payload(payload: &[u8]) -> Result<Option<(u16, &str)>, ProtocolError> {
    match payload {
        [] => Ok(None),
        [_] => Err(ProtocolError::InvalidClosePayload),
        [hi, lo, reason @ ..] => {
            let code = u16::from_be_bytes([*hi, *lo]);
            if !super::close_code::is_valid_received(code) {
                return Err(ProtocolError::InvalidCloseCode(code));
            }
            let reason = std::str::from_utf8(reason).map_err(|_| ProtocolError::InvalidUtf8)?;
            Ok(Some((code, reason)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masking_twice_restores_the_payload_at_every_length() {
        for len in 0..40 {
            let original: Vec<u8> = (0..len as u8).collect();
            let mut data = original.clone();
            apply_mask(&mut data, [1, 2, 3, 4]);
            if len > 0 {
                assert_ne!(data, original);
            }
            for (i, byte) in data.iter().enumerate() {
                assert_eq!(*byte, original[i] ^ [1, 2, 3, 4][i % 4]);
            }
            apply_mask(&mut data, [1, 2, 3, 4]);
            assert_eq!(data, original);
        }
    }

    #[test]
    fn header_lengths_use_the_shortest_form() {
        for (len, header) in [(0, 2), (125, 2), (126, 4), (65535, 4), (65536, 10)] {
            let mut out = Vec::new();
            encode_header(&mut out, true, Opcode::Binary, len, None);
            assert_eq!(out.len(), header, "len {len}");
            let parsed = parse_header(&out, Role::Client, usize::MAX)
                .unwrap()
                .unwrap();
            assert_eq!(parsed.payload_len, len);
            assert_eq!(parsed.header_len, header);
        }
    }

    #[test]
    fn rfc_violations_are_refused_with_the_right_error() {
        let unmasked = [0x81, 0x00];
        assert_eq!(
            parse_header(&unmasked, Role::Server, 100),
            Err(ProtocolError::UnmaskedClientFrame)
        );
        let rsv = [0xC1, 0x80, 0, 0, 0, 0];
        assert_eq!(
            parse_header(&rsv, Role::Server, 100),
            Err(ProtocolError::ReservedBits)
        );
        let opcode3 = [0x83, 0x80, 0, 0, 0, 0];
        assert_eq!(
            parse_header(&opcode3, Role::Server, 100),
            Err(ProtocolError::ReservedOpcode)
        );
        let long_ping = [0x89, 0xFE, 0, 126, 0, 0, 0, 0];
        assert_eq!(
            parse_header(&long_ping, Role::Server, 1000),
            Err(ProtocolError::ControlTooLong)
        );
        let fragmented_ping = [0x09, 0x80, 0, 0, 0, 0];
        assert_eq!(
            parse_header(&fragmented_ping, Role::Server, 100),
            Err(ProtocolError::FragmentedControl)
        );
        let big = [0x82, 0xFE, 0x10, 0x00, 0, 0, 0, 0];
        assert_eq!(
            parse_header(&big, Role::Server, 100),
            Err(ProtocolError::FrameTooLarge { limit: 100 })
        );
    }

    #[test]
    fn close_payloads_are_validated() {
        assert_eq!(parse_close_payload(&[]), Ok(None));
        assert_eq!(
            parse_close_payload(&[3]),
            Err(ProtocolError::InvalidClosePayload)
        );
        assert_eq!(
            parse_close_payload(&[0x03, 0xE8, b'o', b'k']),
            Ok(Some((1000, "ok")))
        );
        assert_eq!(
            parse_close_payload(&[0x03, 0xED]),
            Err(ProtocolError::InvalidCloseCode(1005))
        );
        assert_eq!(
            parse_close_payload(&[0x03, 0xE8, 0xFF]),
            Err(ProtocolError::InvalidUtf8)
        );
    }

    #[test]
    fn close_reason_is_cut_on_a_char_boundary() {
        let reason = "é".repeat(100);
        let mut out = Vec::new();
        encode_close(&mut out, 1000, &reason, None);
        let header = parse_header(&out, Role::Client, 1000).unwrap().unwrap();
        assert!(header.payload_len <= MAX_CONTROL_PAYLOAD);
        let payload = &out[header.header_len..];
        assert!(parse_close_payload(payload).is_ok());
    }
}
