//! Creating and reading segment files.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::Path;

use crate::format::segment::{encode_header, SegmentSpan};

/// Creates (or empties) a segment file, writes its header and syncs it. The caller
/// fsyncs the directory.
pub(crate) fn create_segment(path: &Path, span: SegmentSpan) -> io::Result<File> {
    let file = OpenOptions::new()
        .create(true)
        .truncate(true)
        .read(true)
        .write(true)
        .open(path)?;
    file.write_all_at(&encode_header(span), 0)?;
    file.sync_data()?;
    Ok(file)
}

/// Opens a segment for reading only.
pub(crate) fn open_for_reading(path: &Path) -> io::Result<File> {
    File::open(path)
}

/// Reads `len` bytes from `offset` (fewer if the file is shorter).
pub(crate) fn read_span(file: &File, offset: u64, len: usize) -> io::Result<Vec<u8>> {
    let mut buf = vec![0u8; len];
    let mut filled = 0;
    while filled < len {
        match file.read_at(&mut buf[filled..], offset + filled as u64) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    buf.truncate(filled);
    Ok(buf)
}
