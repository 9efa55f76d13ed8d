//! What a chat line of the loadgen carries, so the receiver can check it and time it
//! without any state shared with the sender.
//!
//! - `client_msg_id`: `m` + the message's counter in its conversation and direction
//!   (16 hex digits) + its intended send time in ns since the loadgen's epoch (16 hex
//!   digits): 33 bytes. The sender's `sent` ack echoes it, which times the ack.
//! - `body`: the same 32 hex digits, then a filler of lowercase letters derived from
//!   them, up to the requested size. A body that disagrees with its id is corrupt.

/// Bytes of the id: `m` and two 16-digit hex numbers.
pub const ID_LEN: usize = 33;
/// Bytes of the body before the filler; the smallest body size.
pub const BODY_HEADER_LEN: usize = 32;

/// A message's identity as the loadgen stamps it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    /// Its place in its conversation and direction (0, 1, 2, …).
    pub counter: u64,
    /// When it was meant to be sent, ns since the loadgen's epoch.
    pub intended_ns: u64,
}

fn write_hex(out: &mut [u8], value: u64) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for (i, byte) in out[..16].iter_mut().enumerate() {
        *byte = DIGITS[((value >> ((15 - i) * 4)) & 0xf) as usize];
    }
}

fn read_hex(text: &[u8]) -> Option<u64> {
    if text.len() != 16 {
        return None;
    }
    let mut value = 0u64;
    for &b in text {
        let digit = match b {
            b'0'..=b'9' => b - b'0',
            b'a'..=b'f' => b - b'a' + 10,
            _ => return None,
        };
        value = (value << 4) | u64::from(digit);
    }
    Some(value)
}

/// Writes the `client_msg_id` of `stamp` into `out`.
pub fn write_id(out: &mut [u8; ID_LEN], stamp: Stamp) {
    out[0] = b'm';
    write_hex(&mut out[1..17], stamp.counter);
    write_hex(&mut out[17..33], stamp.intended_ns);
}

/// Reads a `client_msg_id` written by [`write_id`].
pub fn read_id(id: &str) -> Option<Stamp> {
    let bytes = id.as_bytes();
    if bytes.len() != ID_LEN || bytes[0] != b'm' {
        return None;
    }
    Some(Stamp {
        counter: read_hex(&bytes[1..17])?,
        intended_ns: read_hex(&bytes[17..33])?,
    })
}

fn filler_seed(stamp: Stamp) -> u64 {
    let mut z = stamp.counter.wrapping_mul(0x9e37_79b9_7f4a_7c15)
        ^ stamp
            .intended_ns
            .wrapping_mul(0xbf58_476d_1ce4_e5b9)
            .rotate_left(29);
    z = (z ^ (z >> 30)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

fn filler_byte(seed: u64, i: usize) -> u8 {
    b'a' + ((seed.rotate_left((i as u32 * 7) & 63) as u32 + i as u32) % 26) as u8
}

/// Writes a body of `size` bytes (at least [`BODY_HEADER_LEN`]) for `stamp` into `out`,
/// replacing its content and keeping its capacity.
pub fn write_body(out: &mut Vec<u8>, stamp: Stamp, size: usize) {
    let size = size.max(BODY_HEADER_LEN);
    out.clear();
    out.resize(size, 0);
    write_hex(&mut out[..16], stamp.counter);
    write_hex(&mut out[16..32], stamp.intended_ns);
    let seed = filler_seed(stamp);
    for (i, byte) in out[BODY_HEADER_LEN..].iter_mut().enumerate() {
        *byte = filler_byte(seed, i);
    }
}

/// Checks a received body against the stamp read from its id and the expected size.
pub fn check_body(body: &str, stamp: Stamp, size: usize) -> bool {
    let bytes = body.as_bytes();
    if bytes.len() != size.max(BODY_HEADER_LEN) {
        return false;
    }
    if read_hex(&bytes[..16]) != Some(stamp.counter)
        || read_hex(&bytes[16..32]) != Some(stamp.intended_ns)
    {
        return false;
    }
    let seed = filler_seed(stamp);
    bytes[BODY_HEADER_LEN..]
        .iter()
        .enumerate()
        .all(|(i, &b)| b == filler_byte(seed, i))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_bodies_round_trip_and_any_change_is_caught() {
        let stamp = Stamp {
            counter: 41,
            intended_ns: 1_234_567_890_123,
        };
        let mut id = [0u8; ID_LEN];
        write_id(&mut id, stamp);
        let id = std::str::from_utf8(&id).unwrap();
        assert_eq!(read_id(id), Some(stamp));
        assert_eq!(read_id(&id[1..]), None);
        let mut body = Vec::new();
        write_body(&mut body, stamp, 48);
        let text = String::from_utf8(body.clone()).unwrap();
        assert!(check_body(&text, stamp, 48));
        assert!(!check_body(&text, stamp, 49));
        let other = Stamp {
            counter: 42,
            ..stamp
        };
        assert!(!check_body(&text, other, 48));
        for i in 0..body.len() {
            let mut bad = body.clone();
            bad[i] = if bad[i] == b'z' { b'y' } else { b'z' };
            let bad = String::from_utf8(bad).unwrap();
            assert!(!check_body(&bad, stamp, 48), "byte {i}");
        }
    }
}
