//! The rkyv wire structs of binary format 1, one per frame type.
//!
//! Each struct is archived on its own behind a one-byte type tag, so the layout of one
//! frame never depends on another: adding a frame type adds a struct and a tag and
//! leaves every existing frame byte-for-byte the same. A struct, once released, is
//! frozen — changing its fields changes its archived size and therefore where rkyv
//! looks for its root, which old peers would misread. Change a frame by adding a new
//! tag instead.
//!
//! Strings are `Cow` so that encoding borrows the caller's `&str` (no allocation) and
//! decoding reads `&str` straight out of the validated archive.

use std::borrow::Cow;

use rkyv::with::AsOwned;
use rkyv::{Archive, Deserialize, Serialize};

/// Type tags: client-to-server frames use `0x01..=0x7f`, server-to-client frames
/// `0x80..=0xff`, so a frame sent the wrong way is refused as an unknown type.
pub(crate) mod tag {
    /// [`super::DirectWire`].
    pub(crate) const DIRECT: u8 = 0x01;
    /// [`super::WelcomeWire`].
    pub(crate) const WELCOME: u8 = 0x81;
    /// [`super::DeliveredWire`].
    pub(crate) const DELIVERED: u8 = 0x82;
    /// [`super::ErrorWire`].
    pub(crate) const ERROR: u8 = 0x83;
}

/// `direct` (client to server).
#[derive(Debug, Archive, Serialize, Deserialize)]
pub(crate) struct DirectWire<'a> {
    pub(crate) to: u64,
    #[rkyv(with = AsOwned)]
    pub(crate) body: Cow<'a, str>,
}

/// `welcome` (server to client).
#[derive(Debug, Archive, Serialize, Deserialize)]
pub(crate) struct WelcomeWire<'a> {
    pub(crate) conn: u64,
    #[rkyv(with = AsOwned)]
    pub(crate) user: Cow<'a, str>,
    pub(crate) shard: u16,
}

/// `delivered` (server to client).
#[derive(Debug, Archive, Serialize, Deserialize)]
pub(crate) struct DeliveredWire<'a> {
    pub(crate) from: u64,
    #[rkyv(with = AsOwned)]
    pub(crate) body: Cow<'a, str>,
}

/// `error` (server to client).
#[derive(Debug, Archive, Serialize, Deserialize)]
pub(crate) struct ErrorWire<'a> {
    #[rkyv(with = AsOwned)]
    pub(crate) code: Cow<'a, str>,
    #[rkyv(with = AsOwned)]
    pub(crate) message: Cow<'a, str>,
}
