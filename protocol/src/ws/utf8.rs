//! Incremental UTF-8 validation for text messages that arrive in pieces.
//!
//! RFC 6455 §8.1 asks an endpoint to fail a connection as soon as a text message can
//! no longer be valid UTF-8, not only once it is complete. A message arrives in
//! fragments, and a frame in several reads; [`Utf8Stream`] carries, between pieces,
//! only where it is inside the current code point (three bytes of state), so nothing
//! is buffered for validation. Whole runs of bytes go through the standard library's
//! fast validator; the state machine sees only the bytes of a code point that straddles
//! two pieces.

/// The position inside a code point after the bytes fed so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Utf8Stream {
    /// Continuation bytes still expected for the current code point (0: between code
    /// points).
    need: u8,
    /// Smallest allowed value of the next continuation byte (narrower than 0x80 only
    /// right after E0, ED, F0 and F4, which rules out overlongs, surrogates and code
    /// points over U+10FFFF).
    low: u8,
    /// Largest allowed value of the next continuation byte.
    high: u8,
}

/// Bytes that no continuation can turn into valid UTF-8.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InvalidUtf8;

impl Utf8Stream {
    /// Checks the next piece of the text. `Err` as soon as the bytes seen so far cannot
    /// be the beginning of valid UTF-8.
    pub fn feed(&mut self, bytes: &[u8]) -> Result<(), InvalidUtf8> {
        let mut start = 0;
        while self.need > 0 {
            let Some(&byte) = bytes.get(start) else {
                return Ok(());
            };
            self.step(byte)?;
            start += 1;
        }
        match std::str::from_utf8(&bytes[start..]) {
            Ok(_) => Ok(()),
            // The run ends inside a code point: remember where.
            Err(err) if err.error_len().is_none() => bytes[start + err.valid_up_to()..]
                .iter()
                .try_for_each(|&byte| self.step(byte)),
            Err(_) => Err(InvalidUtf8),
        }
    }

    /// Whether the bytes fed so far end between two code points (a complete text).
    pub fn is_complete(&self) -> bool {
        self.need == 0
    }

    fn step(&mut self, byte: u8) -> Result<(), InvalidUtf8> {
        if self.need > 0 {
            if byte < self.low || byte > self.high {
                return Err(InvalidUtf8);
            }
            self.need -= 1;
            (self.low, self.high) = (0x80, 0xBF);
            return Ok(());
        }
        let (need, low, high) = match byte {
            0x00..=0x7F => return Ok(()),
            0xC2..=0xDF => (1, 0x80, 0xBF),
            0xE0 => (2, 0xA0, 0xBF),
            0xE1..=0xEC | 0xEE..=0xEF => (2, 0x80, 0xBF),
            0xED => (2, 0x80, 0x9F),
            0xF0 => (3, 0x90, 0xBF),
            0xF1..=0xF3 => (3, 0x80, 0xBF),
            0xF4 => (3, 0x80, 0x8F),
            _ => return Err(InvalidUtf8),
        };
        *self = Utf8Stream { need, low, high };
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stream_check(pieces: &[&[u8]]) -> Result<bool, usize> {
        let mut stream = Utf8Stream::default();
        for (i, piece) in pieces.iter().enumerate() {
            stream.feed(piece).map_err(|_| i)?;
        }
        Ok(stream.is_complete())
    }

    #[test]
    fn a_code_point_split_at_every_byte_is_accepted() {
        let text = "a€𝄞ü".as_bytes();
        for cut in 0..=text.len() {
            assert_eq!(
                stream_check(&[&text[..cut], &text[cut..]]),
                Ok(true),
                "{cut}"
            );
        }
        assert_eq!(stream_check(&[&text[..2]]), Ok(false), "inside €");
    }

    #[test]
    fn invalid_bytes_fail_in_the_piece_that_holds_them() {
        // ce ba e1 bd is "κ" + the start of a 3-byte sequence; then 0xff can never follow.
        assert_eq!(
            stream_check(&[b"\xce\xba\xe1", b"\xbd", b"\xff", b"ok"]),
            Err(2)
        );
        // Surrogates (ED A0..), overlongs (E0 80.., C0/C1) and > U+10FFFF (F4 90..).
        for bad in [&b"\xed\xa0"[..], b"\xe0\x80", b"\xc0", b"\xf4\x90", b"\xf5"] {
            assert_eq!(stream_check(&[b"x", bad]), Err(1), "{bad:02x?}");
        }
    }
}
