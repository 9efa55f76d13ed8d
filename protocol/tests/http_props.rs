//! Property tests of the upgrade request parser: it never panics, never claims a head
//! is complete before it is, and reads back every field of a valid upgrade request.

use proptest::prelude::*;
use switchboard_protocol::http::{accept_key, is_valid_key, parse_request};

/// A valid upgrade request, with what the parser must report for it.
#[derive(Debug, Clone)]
struct Upgrade {
    head: String,
    path: String,
    query: Option<String>,
    key: String,
    protocols: Option<String>,
    offered: Vec<String>,
    token: Option<String>,
}

/// Randomizes the case of a header name: names are case-insensitive.
fn cased(name: &str, mask: u64) -> String {
    name.chars()
        .enumerate()
        .map(|(i, c)| {
            if mask >> (i % 64) & 1 == 1 {
                c.to_ascii_uppercase()
            } else {
                c.to_ascii_lowercase()
            }
        })
        .collect()
}

fn upgrade() -> impl Strategy<Value = Upgrade> {
    (
        "/[a-z0-9/_.-]{0,20}",
        proptest::option::of("[A-Za-z0-9_-]{1,20}"),
        any::<[u8; 16]>(),
        proptest::collection::vec("[a-z][a-z0-9.]{0,15}", 0..4),
        proptest::option::of("[A-Za-z0-9._~-]{1,30}"),
        proptest::collection::vec(("x-[a-z]{1,10}", "[ -~]{0,30}"), 0..10),
        any::<u64>(),
        any::<prop::sample::Index>(),
    )
        .prop_map(
            |(path, query_token, key_bytes, offered, bearer, extra, case_mask, order)| {
                use base64::Engine as _;
                let key = base64::engine::general_purpose::STANDARD.encode(key_bytes);
                let query = query_token.as_ref().map(|t| format!("a=1&token={t}"));
                let protocols = (!offered.is_empty()).then(|| offered.join(", "));
                let mut headers = vec![
                    (cased("Host", case_mask), "switchboard.test".to_owned()),
                    (cased("Upgrade", case_mask >> 3), "websocket".to_owned()),
                    (
                        cased("Connection", case_mask >> 5),
                        "keep-alive, Upgrade".to_owned(),
                    ),
                    (cased("Sec-WebSocket-Key", case_mask >> 7), key.clone()),
                    (
                        cased("Sec-WebSocket-Version", case_mask >> 11),
                        "13".to_owned(),
                    ),
                ];
                if let Some(list) = &protocols {
                    headers.push((
                        cased("Sec-WebSocket-Protocol", case_mask >> 13),
                        list.clone(),
                    ));
                }
                if let Some(token) = &bearer {
                    headers.push(("Authorization".to_owned(), format!("Bearer {token}")));
                }
                headers.extend(extra);
                // Header order does not matter either.
                let rotate = order.index(headers.len());
                headers.rotate_left(rotate);
                let target = match &query {
                    Some(q) => format!("{path}?{q}"),
                    None => path.clone(),
                };
                let mut head = format!("GET {target} HTTP/1.1\r\n");
                for (name, value) in &headers {
                    head.push_str(&format!("{name}: {value}\r\n"));
                }
                head.push_str("\r\n");
                // The query token wins over the header.
                let token = query_token.or(bearer);
                Upgrade {
                    head,
                    path,
                    query,
                    key,
                    protocols,
                    offered,
                    token,
                }
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..1024)) {
        if let Ok(Some(request)) = parse_request(&bytes) {
            prop_assert!(request.head_len <= bytes.len());
            let _ = request.token();
            let _ = request.cookie("sid");
            let _ = request.offers_protocol("switchboard.v1.bin");
        }
    }

    #[test]
    fn request_like_text_never_panics(
        head in "(GET|POST|get|G ET) [ -~]{0,30} HTTP/1\\.[01]\r\n([ -~]{0,30}: [\t -~\u{80}-\u{ff}]{0,30}\r\n){0,40}\r\n",
    ) {
        if let Ok(Some(request)) = parse_request(head.as_bytes()) {
            prop_assert!(request.head_len <= head.len());
            let _ = request.token();
        }
    }

    #[test]
    fn a_percent_encoded_query_token_is_decoded(token in "\\PC{1,40}") {
        let encoded: String = token.bytes().map(|b| format!("%{b:02X}")).collect();
        let head = format!("GET /v1/ws?token={encoded} HTTP/1.1\r\nHost: x\r\n\r\n");
        let request = parse_request(head.as_bytes()).unwrap().expect("complete");
        let decoded = request.token();
        prop_assert_eq!(decoded.as_deref(), Some(token.as_str()));
    }

    #[test]
    fn a_named_cookie_is_found_among_others(
        before in proptest::collection::vec(("[a-rt-z][a-z0-9_]{0,8}", "[!#-+\\--:<-\\[\\]-~]{0,16}"), 0..5),
        value in "[!#-+\\--:<-\\[\\]-~]{0,24}",
        after in proptest::collection::vec(("[a-z][a-z0-9_]{0,8}", "[!#-+\\--:<-\\[\\]-~]{0,16}"), 0..5),
    ) {
        let mut pairs: Vec<String> = before.iter().map(|(n, v)| format!("{n}={v}")).collect();
        pairs.push(format!("sid={value}"));
        pairs.extend(after.iter().map(|(n, v)| format!("{n}={v}")));
        let head = format!("GET /v1/ws HTTP/1.1\r\nHost: x\r\nCookie: {}\r\n\r\n", pairs.join("; "));
        let request = parse_request(head.as_bytes()).unwrap().expect("complete");
        prop_assert_eq!(request.cookie("sid"), Some(value.as_str()));
        prop_assert_eq!(request.cookie("absent-name"), None);
    }

    #[test]
    fn a_valid_upgrade_request_is_read_back(upgrade in upgrade(), body in "[ -~]{0,40}") {
        let mut bytes = upgrade.head.clone().into_bytes();
        bytes.extend_from_slice(body.as_bytes());
        let request = parse_request(&bytes).unwrap().expect("head is complete");
        prop_assert_eq!(request.method, "GET");
        prop_assert_eq!(request.path, upgrade.path.as_str());
        prop_assert_eq!(request.query, upgrade.query.as_deref());
        prop_assert!(request.wants_websocket);
        prop_assert_eq!(request.websocket_key, Some(upgrade.key.as_str()));
        prop_assert!(is_valid_key(request.websocket_key.unwrap()));
        prop_assert_eq!(request.websocket_version, Some("13"));
        prop_assert_eq!(request.protocols[0], upgrade.protocols.as_deref());
        for name in &upgrade.offered {
            prop_assert!(request.offers_protocol(name));
        }
        prop_assert!(!request.offers_protocol("not-offered"));
        let token = request.token();
        prop_assert_eq!(token.as_deref(), upgrade.token.as_deref());
        prop_assert_eq!(request.head_len, upgrade.head.len());
        let accept = accept_key(&upgrade.key);
        prop_assert_eq!(accept.len(), 28);
    }

    #[test]
    fn no_prefix_of_a_valid_head_is_complete_or_an_error(upgrade in upgrade(), cut in any::<prop::sample::Index>()) {
        let cut = cut.index(upgrade.head.len());
        prop_assert_eq!(parse_request(&upgrade.head.as_bytes()[..cut]), Ok(None));
    }
}
