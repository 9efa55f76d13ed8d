//! WXBizMsgCrypt, WeChat's message encryption ("safe mode"), written from its
//! specification:
//!
//! - `signature` = hex(SHA1(sorted(token, timestamp, nonce) joined)); in safe mode
//!   `msg_signature` also sorts in the `Encrypt` text.
//! - AES key = base64(EncodingAESKey + "="), 32 bytes; IV = its first 16 bytes;
//!   AES-256-CBC with PKCS#7 padding to a **32-byte** block (so the padding is ours:
//!   the usual PKCS#7 pads to the cipher's 16-byte block).
//! - plaintext = random(16) ‖ length(4, big-endian) ‖ message ‖ appid; the appid is
//!   checked on decrypt.

use aes::cipher::block_padding::NoPadding;
use aes::cipher::{BlockDecryptMut, BlockEncryptMut, KeyIvInit};
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use base64::Engine as _;
use sha1::{Digest, Sha1};
use subtle::ConstantTimeEq;

type Encryptor = cbc::Encryptor<aes::Aes256>;
type Decryptor = cbc::Decryptor<aes::Aes256>;

/// The padding block of the specification.
const PAD_BLOCK: usize = 32;
/// random(16) + length(4).
const HEADER: usize = 20;

/// EncodingAESKeys are 43 random base64 characters, so the last one carries bits
/// past the 32 bytes: those must be ignored, not refused.
const KEY_ENGINE: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_allow_trailing_bits(true),
);

/// Why a key could not be used or a message could not be decrypted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    /// The EncodingAESKey is not 43 base64 characters.
    #[error("the encoding aes key must be 43 base64 characters")]
    InvalidKey,
    /// The `Encrypt` text is not base64.
    #[error("the encrypted text is not base64")]
    Base64,
    /// The ciphertext is empty or not whole AES blocks.
    #[error("the ciphertext is not a whole number of blocks")]
    BlockLength,
    /// The padding after decryption is wrong (wrong key or tampered text).
    #[error("bad padding after decryption")]
    Padding,
    /// The declared message length does not fit the plaintext.
    #[error("the declared message length does not fit")]
    Frame,
    /// The message is for another app id.
    #[error("the message is for another app id")]
    WrongApp,
}

/// One account's message crypto.
#[derive(Clone)]
pub struct MsgCrypt {
    token: String,
    key: [u8; 32],
    app_id: String,
}

impl std::fmt::Debug for MsgCrypt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the token or the key.
        f.debug_struct("MsgCrypt")
            .field("app_id", &self.app_id)
            .finish_non_exhaustive()
    }
}

impl MsgCrypt {
    /// A crypto for `app_id` with its `token` and EncodingAESKey.
    pub fn new(token: &str, encoding_aes_key: &str, app_id: &str) -> Result<Self, CryptoError> {
        if encoding_aes_key.len() != 43 {
            return Err(CryptoError::InvalidKey);
        }
        let bytes = KEY_ENGINE
            .decode(format!("{encoding_aes_key}="))
            .map_err(|_| CryptoError::InvalidKey)?;
        let key: [u8; 32] = bytes.try_into().map_err(|_| CryptoError::InvalidKey)?;
        Ok(Self {
            token: token.to_owned(),
            key,
            app_id: app_id.to_owned(),
        })
    }

    /// The `msg_signature` of an encrypted message.
    pub fn msg_signature(&self, timestamp: &str, nonce: &str, encrypt: &str) -> String {
        signature(&[&self.token, timestamp, nonce, encrypt])
    }

    /// Whether `given` is the `msg_signature` of the message (constant time).
    pub fn verify_msg_signature(
        &self,
        given: &str,
        timestamp: &str,
        nonce: &str,
        encrypt: &str,
    ) -> bool {
        same(given, &self.msg_signature(timestamp, nonce, encrypt))
    }

    /// Encrypts `message` with the caller's 16 random bytes, as base64 (`Encrypt`).
    pub fn encrypt(&self, message: &[u8], random: [u8; 16]) -> String {
        let length = u32::try_from(message.len()).unwrap_or(u32::MAX);
        let mut plain = Vec::with_capacity(HEADER + message.len() + self.app_id.len() + PAD_BLOCK);
        plain.extend_from_slice(&random);
        plain.extend_from_slice(&length.to_be_bytes());
        plain.extend_from_slice(message);
        plain.extend_from_slice(self.app_id.as_bytes());
        let pad = PAD_BLOCK - plain.len() % PAD_BLOCK;
        plain.resize(plain.len() + pad, pad as u8);
        let len = plain.len();
        let cipher = Encryptor::new(&self.key.into(), self.iv().into());
        // The buffer is already a whole number of blocks, so this cannot fail.
        let sealed = cipher
            .encrypt_padded_mut::<NoPadding>(&mut plain, len)
            .map(<[u8]>::to_vec)
            .unwrap_or_default();
        STANDARD.encode(sealed)
    }

    /// Decrypts an `Encrypt` text and checks its app id; returns the message.
    pub fn decrypt(&self, encrypt: &str) -> Result<Vec<u8>, CryptoError> {
        let mut buffer = STANDARD
            .decode(encrypt.trim())
            .map_err(|_| CryptoError::Base64)?;
        if buffer.is_empty() || buffer.len() % 16 != 0 {
            return Err(CryptoError::BlockLength);
        }
        let cipher = Decryptor::new(&self.key.into(), self.iv().into());
        let plain = cipher
            .decrypt_padded_mut::<NoPadding>(&mut buffer)
            .map_err(|_| CryptoError::BlockLength)?;
        let plain = unpad(plain)?;
        let (message, app_id) = split_frame(plain)?;
        if !same_bytes(app_id, self.app_id.as_bytes()) {
            return Err(CryptoError::WrongApp);
        }
        Ok(message.to_vec())
    }

    fn iv(&self) -> &[u8; 16] {
        self.key.first_chunk::<16>().unwrap_or(&[0; 16])
    }
}

/// Strips PKCS#7 padding of a 32-byte block.
fn unpad(plain: &[u8]) -> Result<&[u8], CryptoError> {
    let pad = usize::from(*plain.last().ok_or(CryptoError::Padding)?);
    if pad == 0 || pad > PAD_BLOCK || pad > plain.len() {
        return Err(CryptoError::Padding);
    }
    let (body, padding) = plain.split_at(plain.len() - pad);
    if padding.iter().any(|b| usize::from(*b) != pad) {
        return Err(CryptoError::Padding);
    }
    Ok(body)
}

/// Splits random ‖ length ‖ message ‖ appid into (message, appid).
fn split_frame(plain: &[u8]) -> Result<(&[u8], &[u8]), CryptoError> {
    let header = plain.get(..HEADER).ok_or(CryptoError::Frame)?;
    let length = u32::from_be_bytes([header[16], header[17], header[18], header[19]]);
    let length = usize::try_from(length).map_err(|_| CryptoError::Frame)?;
    let rest = &plain[HEADER..];
    if length > rest.len() {
        return Err(CryptoError::Frame);
    }
    Ok(rest.split_at(length))
}

/// hex(SHA1(sorted parts joined)): both `signature` (token, timestamp, nonce) and
/// `msg_signature` (plus the `Encrypt` text).
pub fn signature(parts: &[&str]) -> String {
    let mut sorted = parts.to_vec();
    sorted.sort_unstable();
    let mut hasher = Sha1::new();
    for part in sorted {
        hasher.update(part.as_bytes());
    }
    hex::encode(hasher.finalize())
}

/// Whether `given` is the plain-mode `signature` for `token` (constant time).
pub fn verify_signature(given: &str, token: &str, timestamp: &str, nonce: &str) -> bool {
    same(given, &signature(&[token, timestamp, nonce]))
}

fn same(given: &str, expected: &str) -> bool {
    same_bytes(given.as_bytes(), expected.as_bytes())
}

fn same_bytes(given: &[u8], expected: &[u8]) -> bool {
    given.len() == expected.len() && bool::from(given.ct_eq(expected))
}
