//! WXBizMsgCrypt's decrypt path on arbitrary text and on arbitrary ciphertext.
#![no_main]

use base64::Engine as _;
use libfuzzer_sys::fuzz_target;
use switchboard_channels::wechat::crypto::MsgCrypt;

fuzz_target!(|data: &[u8]| {
    let Ok(crypt) = MsgCrypt::new("token", "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C", "wxfuzz") else {
        return;
    };
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = crypt.decrypt(text);
    }
    // Whole blocks reach the padding and frame checks rather than stopping at base64.
    let mut blocks = data.to_vec();
    blocks.truncate(blocks.len() / 16 * 16);
    if !blocks.is_empty() {
        let text = base64::engine::general_purpose::STANDARD.encode(&blocks);
        let _ = crypt.decrypt(&text);
    }
    // Whatever is encrypted decrypts back.
    let sealed = crypt.encrypt(data, [9; 16]);
    assert_eq!(crypt.decrypt(&sealed).ok().as_deref(), Some(data));
});
