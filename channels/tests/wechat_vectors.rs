//! WXBizMsgCrypt against vectors published by others, each quoted with its source.

use switchboard_channels::wechat::crypto::{self, CryptoError, MsgCrypt};
use switchboard_channels::wechat::xml;
use switchboard_channels::VisitorContent;

/// Tencent's official WXBizMsgCrypt sample for Official Accounts (`Sample.py` of the
/// Python SDK, author "jonyqin", 2014; also shipped with the C++/Java/PHP samples):
/// token "spamtest", EncodingAESKey "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG",
/// appid "wx2c2769f8efd9abc2", timestamp "1409735669", nonce "1320562132",
/// msg_sign "5d197aaffba7e9b25a30732f161a50dee96bd5fa", and this `from_xml`.
const TENCENT_FROM_XML: &str = "<xml><ToUserName><![CDATA[gh_10f6c3c3ac5a]]></ToUserName><FromUserName><![CDATA[oyORnuP8q7ou2gfYjqLzSIWZf0rs]]></FromUserName><CreateTime>1409735668</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[abcdteT]]></Content><MsgId>6054768590064713728</MsgId><Encrypt><![CDATA[hyzAe4OzmOMbd6TvGdIOO6uBmdJoD0Fk53REIHvxYtJlE2B655HuD0m8KUePWB3+LrPXo87wzQ1QLvbeUgmBM4x6F8PGHQHFVAFmOD2LdJF9FrXpbUAh0B5GIItb52sn896wVsMSHGuPE328HnRGBcrS7C41IzDWyWNlZkyyXwon8T332jisa+h6tEDYsVticbSnyU8dKOIbgU6ux5VTjg3yt+WGzjlpKn6NPhRjpA912xMezR4kw6KWwMrCVKSVCZciVGCgavjIQ6X8tCOp3yZbGpy0VxpAe+77TszTfRd5RJSVO/HTnifJpXgCSUdUue1v6h0EIBYYI1BD1DlD+C0CR8e6OewpusjZ4uBl9FyJvnhvQl+q5rv1ixrcpCumEPo5MJSgM9ehVsNPfUM669WuMyVWQLCzpu9GhglF2PE=]]></Encrypt></xml>";

fn tencent() -> MsgCrypt {
    MsgCrypt::new(
        "spamtest",
        "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG",
        "wx2c2769f8efd9abc2",
    )
    .expect("the sample's key")
}

fn encrypt_of(xml_text: &str) -> String {
    xml::parse_envelope(xml_text)
        .expect("envelope")
        .encrypt
        .expect("Encrypt")
}

#[test]
fn tencent_sample_signature_and_decryption() {
    let crypt = tencent();
    let encrypt = encrypt_of(TENCENT_FROM_XML);
    assert_eq!(
        crypt.msg_signature("1409735669", "1320562132", &encrypt),
        "5d197aaffba7e9b25a30732f161a50dee96bd5fa"
    );
    assert!(crypt.verify_msg_signature(
        "5d197aaffba7e9b25a30732f161a50dee96bd5fa",
        "1409735669",
        "1320562132",
        &encrypt
    ));
    let plain = String::from_utf8(
        crypt
            .decrypt(&encrypt)
            .expect("decrypts with the app id check"),
    )
    .expect("utf-8");
    let message = xml::parse_message(&plain).expect("a message inside");
    assert!(plain.starts_with("<xml>"), "{plain}");
    assert!(!message.from_user.is_empty());
    let other_app = MsgCrypt::new(
        "spamtest",
        "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG",
        "wx0000000000000000",
    )
    .expect("key");
    assert_eq!(other_app.decrypt(&encrypt), Err(CryptoError::WrongApp));
}

/// wechatpy's test suite (`tests/test_crypto.py`, class `CryptoTestCase`), which tests
/// the same WXBizMsgCrypt scheme with a WeCom corp id in the appid's place:
/// token "123456", EncodingAESKey "kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR",
/// receive id "wx49f0ab532d5d035a".
fn wechatpy() -> MsgCrypt {
    MsgCrypt::new(
        "123456",
        "kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR",
        "wx49f0ab532d5d035a",
    )
    .expect("the suite's key")
}

#[test]
fn wechatpy_check_signature() {
    // test_check_signature_should_ok / _should_fail.
    let echo =
        "4ByGGj+sVCYcvGeQYhaKIk1o0pQRNbRjxybjTGblXrBaXlTXeOo1+bXFXDQQb1o6co6Yh9Bv41n7hOchLF6p+Q==";
    let crypt = wechatpy();
    assert!(crypt.verify_msg_signature(
        "dd6b9c95b495b3f7e2901bfbc76c664930ffdb96",
        "1411443780",
        "437374425",
        echo
    ));
    assert!(!crypt.verify_msg_signature(
        "dd6b9c95b495b3f7e2901bfbc76c664930ffdb96",
        "1411443780",
        "437374424",
        echo
    ));
    assert!(
        crypt.decrypt(echo).is_ok(),
        "the echo string decrypts with the receive id"
    );
}

#[test]
fn wechatpy_encrypt_message_with_fixed_random() {
    // test_encrypt_message: random "1234567890123456", nonce "461056294",
    // timestamp "1411525903", this reply, and the expected Encrypt and MsgSignature.
    let reply = "<xml>\n<MsgType><![CDATA[text]]></MsgType>\n<Content><![CDATA[test]]></Content>\n<FromUserName><![CDATA[wx49f0ab532d5d035a]]></FromUserName>\n<ToUserName><![CDATA[messense]]></ToUserName>\n<AgentID>1</AgentID>\n<CreateTime>1411525903</CreateTime>\n</xml>";
    let expected_encrypt = "9s4gMv99m88kKTh/H8IdkOiMg6bisoy3ypwy9H4hvSPe9nsGaqyw5hhSjdYbcrKk+j3nba4HMOTzHrluLBYqxgNcBqGsL8GqxlhZgURnAtObvesEl5nZ+uBE8bviY0LWke8Zy9V/QYKxNV2FqllNXcfmstttyIkMKCCmVbCFM2JTF5wY0nFhHZSjPUL2Q1qvSUCUld+/WIXrx0oyKQmpB6o8NRrrNrsDf03oxI1p9FxUgMnwKKZeOA/uu+2IEvEBtb7muXsVbwbgX05UPPJvFurDXafG0RQyPR+mf1nDnAtQmmNOuiR5MIkdQ39xn1vWwi1O5oazPoQJz0nTYjxxEE8kv3kFxtAGVRe3ypD3WeK2XeFYFMNMpatF9XiKzHo3";
    let crypt = wechatpy();
    let encrypt = crypt.encrypt(reply.as_bytes(), *b"1234567890123456");
    assert_eq!(encrypt, expected_encrypt);
    assert_eq!(
        crypt.msg_signature("1411525903", "461056294", &encrypt),
        "407518b7649e86ef23978113f92d27afa9296533"
    );
    assert_eq!(
        crypt.decrypt(&encrypt).expect("round trip"),
        reply.as_bytes()
    );
}

#[test]
fn wechatpy_decrypt_message() {
    // test_decrypt_message: signature "74d92dfeb87ba7c714f89d98870ae5eb62dff26d",
    // timestamp "1411525903", nonce "461056294"; Content "test", FromUserName "messense".
    let envelope = "<xml><ToUserName><![CDATA[wx49f0ab532d5d035a]]></ToUserName>\n<Encrypt><![CDATA[RgqEoJj5A4EMYlLvWO1F86ioRjZfaex/gePD0gOXTxpsq5Yj4GNglrBb8I2BAJVODGajiFnXBu7mCPatfjsu6IHCrsTyeDXzF6Bv283dGymzxh6ydJRvZsryDyZbLTE7rhnus50qGPMfp2wASFlzEgMW9z1ef/RD8XzaFYgm7iTdaXpXaG4+BiYyolBug/gYNx410cvkKR2/nPwBiT+P4hIiOAQqGp/TywZBtDh1yCF2KOd0gpiMZ5jSw3e29mTvmUHzkVQiMS6td7vXUaWOMZnYZlF3So2SjHnwh4jYFxdgpkHHqIrH/54SNdshoQgWYEvccTKe7FS709/5t6NMxuGhcUGAPOQipvWTT4dShyqio7mlsl5noTrb++x6En749zCpQVhDpbV6GDnTbcX2e8K9QaNWHp91eBdCRxthuL0=]]></Encrypt>\n<AgentID><![CDATA[1]]></AgentID>\n</xml>";
    let crypt = wechatpy();
    let encrypt = encrypt_of(envelope);
    assert!(crypt.verify_msg_signature(
        "74d92dfeb87ba7c714f89d98870ae5eb62dff26d",
        "1411525903",
        "461056294",
        &encrypt
    ));
    let plain = String::from_utf8(crypt.decrypt(&encrypt).expect("decrypts")).expect("utf-8");
    let message = xml::parse_message(&plain).expect("parses");
    assert_eq!(message.from_user, "messense");
    assert_eq!(
        message.body,
        VisitorContent::Text {
            text: "test".into()
        }
    );
}

#[test]
fn plain_signature_is_sha1_of_the_sorted_parts() {
    // The plaintext-mode `signature` uses the same SHA1-of-sorted-strings as the
    // vectors above, with three parts: sorted("tok", "1", "n") = "1", "n", "tok".
    assert_eq!(
        crypto::signature(&["tok", "1", "n"]),
        crypto::signature(&["1", "n", "tok"])
    );
    assert!(crypto::verify_signature(
        &crypto::signature(&["1", "n", "tok"]),
        "tok",
        "1",
        "n"
    ));
    // SHA1("abc") from FIPS 180-2, appendix A.
    assert_eq!(
        crypto::signature(&["abc"]),
        "a9993e364706816aba3e25717850c26c9cd0d89d"
    );
}

#[test]
fn refuses_bad_keys_and_tampered_ciphertext() {
    assert_eq!(
        MsgCrypt::new("t", "short", "wx").err(),
        Some(CryptoError::InvalidKey)
    );
    assert_eq!(
        MsgCrypt::new("t", &"!".repeat(43), "wx").err(),
        Some(CryptoError::InvalidKey)
    );
    let crypt = wechatpy();
    assert_eq!(
        crypt.decrypt("not base64 at all!"),
        Err(CryptoError::Base64)
    );
    assert_eq!(crypt.decrypt("AAAA"), Err(CryptoError::BlockLength));
    // CBC alone does not detect tampering: msg_signature does, and the adapter
    // checks it before decrypting.
    let sealed = crypt.encrypt(b"<xml/>", [7; 16]);
    let signature = crypt.msg_signature("1", "n", &sealed);
    let mut bytes = sealed.clone().into_bytes();
    bytes[30] = if bytes[30] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(bytes).expect("ascii");
    assert!(!crypt.verify_msg_signature(&signature, "1", "n", &tampered));
    assert_ne!(
        crypt.decrypt(&tampered).ok().as_deref(),
        Some(&b"<xml/>"[..])
    );
}
