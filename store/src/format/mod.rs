//! The on-disk format, as pure functions of bytes (no I/O): record frames, segment
//! headers and names, the scan that walks a segment, and the LSN floor file.
//!
//! Everything a reader of a data directory must know is in these files; the format
//! version is [`segment::FORMAT_VERSION`].

pub(crate) mod floor;
pub mod frame;
pub mod scan;
pub mod segment;
