//! The connect webhook's untrusted inputs: the back end's answer (any status, any
//! body) and the credential taken from a client's request head.
#![no_main]

use libfuzzer_sys::fuzz_target;
use switchboard_engine::auth::webhook::answer::{read_answer, Verdict};
use switchboard_engine::auth::webhook::credential;
use switchboard_engine::auth::{user_id_problem, MAX_GROUPS};
use switchboard_protocol::http::parse_request;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, body)) = data.split_first() else {
        return;
    };
    let status = [200, 401, 403, 500, 302][usize::from(selector) % 5];
    if let Verdict::Known(identity, _) = read_answer(status, body) {
        assert_eq!(status, 200);
        assert!(user_id_problem(&identity.user).is_none());
        assert!(identity.groups.len() <= MAX_GROUPS);
    }
    if let Ok(Some(request)) = parse_request(body) {
        if let Ok(credential) = credential(&request, &["sid".to_string()]) {
            assert!(!credential.body.is_empty());
        }
    }
});
