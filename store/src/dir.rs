//! The data directory: its lock, directory fsyncs, its listing and the LSN floor.
//!
//! Creating, renaming or deleting a file only survives a power cut once the
//! directory itself is fsynced, so every such step here ends with [`sync_dir`].

use std::fs::{self, File, OpenOptions, TryLockError};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use crate::error::{FileError, OpenError};
use crate::format::floor::{decode_floor, FloorSlot, SLOT_LEN};
use crate::format::segment::SegmentSpan;

/// The name of the lock file.
pub(crate) const LOCK_FILE: &str = "LOCK";
/// The name of the LSN floor file.
pub(crate) const FLOOR_FILE: &str = "LSN_FLOOR";
/// The suffix of files being written (compaction outputs before their rename).
pub(crate) const TEMP_SUFFIX: &str = ".tmp";

/// Holds the directory's `LOCK` (an exclusive `flock`) until dropped.
#[derive(Debug)]
pub(crate) struct DirLock {
    _file: File,
}

/// Creates the directory if needed (fsyncing its parent) and takes its lock.
pub(crate) fn open_dir(dir: &Path) -> Result<DirLock, OpenError> {
    if !dir.is_dir() {
        fs::create_dir_all(dir).map_err(FileError::at("create data directory", dir))?;
        if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
            sync_dir(parent)?;
        }
    }
    let path = dir.join(LOCK_FILE);
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(FileError::at("open lock file", &path))?;
    match file.try_lock() {
        Ok(()) => Ok(DirLock { _file: file }),
        Err(TryLockError::WouldBlock) => Err(OpenError::Locked {
            dir: dir.to_path_buf(),
        }),
        Err(TryLockError::Error(source)) => Err(FileError::at("lock", path)(source).into()),
    }
}

/// Makes the directory's entries (creations, renames, deletions) durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<(), FileError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(FileError::at("fsync directory", dir))
}

/// Deletes files and then makes the deletions durable.
pub(crate) fn remove_files(dir: &Path, files: &[PathBuf]) -> Result<(), FileError> {
    for file in files {
        match fs::remove_file(file) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(FileError::at("delete", file)(e)),
        }
    }
    if files.is_empty() {
        return Ok(());
    }
    sync_dir(dir)
}

/// What the directory holds.
#[derive(Debug, Default)]
pub(crate) struct Listing {
    /// Finished segment files.
    pub segments: Vec<(SegmentSpan, PathBuf)>,
    /// Half-written files from an interrupted compaction.
    pub temporaries: Vec<PathBuf>,
}

/// Lists the segments and leftovers of the directory.
pub(crate) fn list_dir(dir: &Path) -> Result<Listing, FileError> {
    let mut listing = Listing::default();
    let entries = fs::read_dir(dir).map_err(FileError::at("list data directory", dir))?;
    for entry in entries {
        let entry = entry.map_err(FileError::at("list data directory", dir))?;
        let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
            continue;
        };
        if name.ends_with(TEMP_SUFFIX) {
            listing.temporaries.push(entry.path());
        } else if let Some(span) = SegmentSpan::from_file_name(&name) {
            listing.segments.push((span, entry.path()));
        }
    }
    Ok(listing)
}

/// The `LSN_FLOOR` file, open for in-place updates.
#[derive(Debug)]
pub(crate) struct LsnFloor {
    file: File,
    path: PathBuf,
    last: FloorSlot,
}

impl LsnFloor {
    /// Opens (or creates) the floor file; also returns the floor it held, if intact.
    pub fn open(dir: &Path) -> Result<(Self, Option<u64>), FileError> {
        let path = dir.join(FLOOR_FILE);
        let existed = path.exists();
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(&path)
            .map_err(FileError::at("open lsn floor", &path))?;
        if !existed {
            file.set_len(2 * SLOT_LEN as u64)
                .and_then(|()| file.sync_all())
                .map_err(FileError::at("create lsn floor", &path))?;
            sync_dir(dir)?;
        }
        let mut bytes = [0u8; 2 * SLOT_LEN];
        let read = read_up_to(&file, &mut bytes).map_err(FileError::at("read lsn floor", &path))?;
        let found = decode_floor(&bytes[..read]);
        let last = found.unwrap_or(FloorSlot {
            generation: 0,
            floor: 0,
        });
        Ok((Self { file, path, last }, found.map(|slot| slot.floor)))
    }

    /// The floor on disk.
    pub fn floor(&self) -> u64 {
        self.last.floor
    }

    /// Durably raises the floor: no LSN below `floor` will be handed out again.
    pub fn raise(&mut self, floor: u64) -> io::Result<()> {
        let slot = FloorSlot {
            generation: self.last.generation + 1,
            floor,
        };
        self.file.write_all_at(&slot.encode(), slot.offset())?;
        self.file.sync_data()?;
        self.last = slot;
        Ok(())
    }

    /// The path, for error messages.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Reads from offset 0 until `buf` is full or the file ends.
fn read_up_to(file: &File, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match file.read_at(&mut buf[filled..], filled as u64)? {
            0 => break,
            n => filled += n,
        }
    }
    Ok(filled)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_store_on_the_same_directory_is_refused() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let data = dir.path().join("new/data");
        let _held = open_dir(&data)?;
        assert!(matches!(open_dir(&data), Err(OpenError::Locked { .. })));
        Ok(())
    }

    #[test]
    fn the_floor_survives_reopening() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let (mut floor, found) = LsnFloor::open(dir.path())?;
        assert_eq!(found, None);
        floor.raise(1000)?;
        floor.raise(2000)?;
        drop(floor);
        let (floor, found) = LsnFloor::open(dir.path())?;
        assert_eq!((found, floor.floor()), (Some(2000), 2000));
        Ok(())
    }
}
