//! Property tests of every parser of untrusted input and of the crypto round trips.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use proptest::prelude::*;
use switchboard_channels::adapter::{Adapter, BuildContext, InboundRequest, Method};
use switchboard_channels::clock::SystemClock;
use switchboard_channels::config::HubConfig;
use switchboard_channels::recent::RecentKeys;
use switchboard_channels::webhook::signature::{parse_header, sign, verify, SignatureError};
use switchboard_channels::wechat::crypto::{signature, MsgCrypt};
use switchboard_channels::wechat::xml::{cdata, parse_envelope, parse_message};
use switchboard_channels::AdapterRegistry;

const KEY: &str = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C";

fn base64_key() -> impl Strategy<Value = String> {
    "[A-Za-z0-9+/]{43}"
}

/// Text XML 1.0 can carry (no control characters but tab, newline, return).
fn xml_text() -> impl Strategy<Value = String> {
    "[^\u{0}-\u{8}\u{b}\u{c}\u{e}-\u{1f}\u{fffe}\u{ffff}]{1,200}"
}

fn adapter(mode: &str) -> Arc<dyn Adapter> {
    let config = HubConfig::parse(&format!(
        "listen = \"127.0.0.1:0\"\n[[account]]\nname = \"p\"\nkind = \"wechat\"\npath = \"/p\"\n[account.settings]\napp_id = \"wxprop\"\napp_secret = \"s\"\ntoken = \"tok\"\nencoding_aes_key = \"{KEY}\"\nmode = \"{mode}\"\napi_base = \"http://127.0.0.1:9\"\n"
    ))
    .expect("valid");
    let context = BuildContext {
        clock: Arc::new(SystemClock),
        http: ureq::Agent::new_with_defaults(),
    };
    AdapterRegistry::with_builtin()
        .build(&config.accounts[0], &context)
        .expect("builds")
}

proptest! {
    #[test]
    fn encrypt_then_decrypt_gives_the_message_back(
        key in base64_key(),
        app_id in "[a-z0-9]{1,32}",
        message in proptest::collection::vec(any::<u8>(), 0..2048),
        random in any::<[u8; 16]>(),
    ) {
        let crypt = MsgCrypt::new("token", &key, &app_id).expect("any 43 base64 characters are a key");
        let sealed = crypt.encrypt(&message, random);
        prop_assert_eq!(crypt.decrypt(&sealed).expect("round trip"), message.clone());
        let other = MsgCrypt::new("token", &key, &format!("{app_id}x")).expect("key");
        prop_assert!(other.decrypt(&sealed).is_err(), "another app id never decrypts it");
    }

    #[test]
    fn decrypt_never_panics(text in ".{0,400}", bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        let crypt = MsgCrypt::new("token", KEY, "wxapp").expect("key");
        let _ = crypt.decrypt(&text);
        use base64::Engine as _;
        let _ = crypt.decrypt(&base64::engine::general_purpose::STANDARD.encode(&bytes));
    }

    #[test]
    fn signatures_ignore_order_and_notice_any_change(
        mut parts in proptest::collection::vec("[a-zA-Z0-9+/=]{0,40}", 1..5),
        extra in "[a-z]{1,5}",
    ) {
        let original = signature(&parts.iter().map(String::as_str).collect::<Vec<_>>());
        parts.reverse();
        prop_assert_eq!(&original, &signature(&parts.iter().map(String::as_str).collect::<Vec<_>>()));
        parts[0].push_str(&extra);
        prop_assert_ne!(original, signature(&parts.iter().map(String::as_str).collect::<Vec<_>>()));
    }

    #[test]
    fn webhook_signatures_round_trip_and_bind_the_body(
        secret in proptest::collection::vec(any::<u8>(), 1..64),
        body in proptest::collection::vec(any::<u8>(), 0..512),
        timestamp in 0u64..4_000_000_000,
        flip in any::<prop::sample::Index>(),
    ) {
        let header = sign(&secret, timestamp, &body);
        prop_assert_eq!(verify(&header, &secret, &body, timestamp, 300), Ok(timestamp));
        if !body.is_empty() {
            let mut tampered = body.clone();
            let i = flip.index(tampered.len());
            tampered[i] ^= 1;
            prop_assert_eq!(verify(&header, &secret, &tampered, timestamp, 300), Err(SignatureError::Mismatch));
        }
    }

    #[test]
    fn signature_headers_never_panic(header in ".{0,300}") {
        if let Ok(parsed) = parse_header(&header) {
            prop_assert!(!parsed.signatures.is_empty() && parsed.signatures.len() <= 8);
        }
    }

    #[test]
    fn xml_parsers_never_panic(text in ".{0,600}") {
        let _ = parse_message(&text);
        let _ = parse_envelope(&text);
    }

    #[test]
    fn any_text_survives_the_xml_round_trip(content in xml_text(), msg_id in any::<u64>()) {
        let xml = format!(
            "<xml><ToUserName>gh</ToUserName><FromUserName>o</FromUserName><CreateTime>1</CreateTime><MsgType>text</MsgType><Content>{}</Content><MsgId>{msg_id}</MsgId></xml>",
            cdata(&content)
        );
        let message = parse_message(&xml).expect("parses");
        // XML normalizes line ends: "\r\n" and "\r" read as "\n".
        let expected = content.replace("\r\n", "\n").replace('\r', "\n");
        prop_assert_eq!(message.body, switchboard_channels::VisitorContent::Text { text: expected });
        prop_assert_eq!(message.msg_id, Some(msg_id));
    }

    #[test]
    fn the_wechat_adapter_refuses_garbage_without_panicking(
        query in "[a-z_=&0-9%]{0,120}",
        body in proptest::collection::vec(any::<u8>(), 0..600),
        post in any::<bool>(),
        mode in prop::sample::select(vec!["plain", "compatible", "safe"]),
    ) {
        let adapter = adapter(mode);
        let request = InboundRequest {
            method: if post { Method::Post } else { Method::Get },
            path: "/p",
            query: &query,
            headers: &[],
            body: &body,
        };
        // No valid signature can be guessed, so nothing is ever accepted.
        prop_assert!(adapter.inbound(&request, SystemTime::now()).is_err());
    }

    #[test]
    fn recent_keys_stay_within_capacity(keys in proptest::collection::vec(0u8..40, 0..300), capacity in 1usize..16) {
        let recent = RecentKeys::new(capacity, Duration::from_secs(3600));
        let now = SystemTime::now();
        for key in keys {
            let key = key.to_string();
            if recent.claim(&key, now) {
                prop_assert!(!recent.claim(&key, now), "a fresh key is a duplicate right after");
            }
            prop_assert!(recent.len() <= capacity);
        }
    }
}
