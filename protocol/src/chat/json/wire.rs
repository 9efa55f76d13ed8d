//! The serde shapes of the JSON encoding.
//!
//! Encoding goes through one internally tagged enum per direction (serde writes
//! `"type"` first, with no buffering). Decoding reads the `"type"` field alone first,
//! then the fields of that one frame type: serde's own internally tagged decoding
//! buffers the whole object in an allocated tree, and would hide "unknown type" inside
//! a generic message.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

/// Every client-to-server frame, as written.
#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(crate) enum ClientOut<'a> {
    Direct { to: u64, body: &'a str },
}

/// Every server-to-client frame, as written.
#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(crate) enum ServerOut<'a> {
    Welcome {
        conn: u64,
        shard: u16,
        user: &'a str,
    },
    Delivered {
        from: u64,
        body: &'a str,
    },
    Error {
        code: &'a str,
        message: &'a str,
    },
}

/// The `"type"` of a received frame; every other field is skipped unread.
#[derive(Debug, Deserialize)]
pub(crate) struct TypeTag<'a> {
    #[serde(rename = "type", borrow)]
    pub(crate) kind: Cow<'a, str>,
}

/// Fields of `direct`.
#[derive(Debug, Deserialize)]
pub(crate) struct DirectIn<'a> {
    pub(crate) to: u64,
    #[serde(borrow)]
    pub(crate) body: Cow<'a, str>,
}

/// Fields of `welcome`.
#[derive(Debug, Deserialize)]
pub(crate) struct WelcomeIn<'a> {
    pub(crate) conn: u64,
    pub(crate) shard: u16,
    #[serde(borrow)]
    pub(crate) user: Cow<'a, str>,
}

/// Fields of `delivered`.
#[derive(Debug, Deserialize)]
pub(crate) struct DeliveredIn<'a> {
    pub(crate) from: u64,
    #[serde(borrow)]
    pub(crate) body: Cow<'a, str>,
}

/// Fields of `error`.
#[derive(Debug, Deserialize)]
pub(crate) struct ErrorIn<'a> {
    #[serde(borrow)]
    pub(crate) code: Cow<'a, str>,
    #[serde(borrow)]
    pub(crate) message: Cow<'a, str>,
}
