//! A byte buffer behind one thin pointer.

use std::ops::{Deref, DerefMut};

/// A growable byte buffer that costs its owner 8 bytes instead of a `Vec`'s 24. A
/// connection keeps its pending output and request head in these (as `Option`s), so
/// an idle connection stays small; the buffers themselves are pooled per shard.
#[derive(Debug, Default)]
pub struct ThinBuf(
    #[expect(
        clippy::box_collection,
        reason = "the point is a one-word handle to a Vec"
    )]
    Box<Vec<u8>>,
);

impl ThinBuf {
    /// A buffer with room for `capacity` bytes.
    pub fn with_capacity(capacity: usize) -> Self {
        ThinBuf(Box::new(Vec::with_capacity(capacity)))
    }
}

impl Deref for ThinBuf {
    type Target = Vec<u8>;
    fn deref(&self) -> &Vec<u8> {
        &self.0
    }
}

impl DerefMut for ThinBuf {
    fn deref_mut(&mut self) -> &mut Vec<u8> {
        &mut self.0
    }
}
