//! What the dispatcher keeps on disk, in the directory the engine gives it: per
//! subscription, the delivered cursor and the dead letters. Each is a versioned JSON
//! record written whole (temporary file, fsync, rename, fsync of the directory), so a
//! crash leaves the old record or the new one, never a torn one.

use std::fs::{self, File};
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::dispatcher::DeadLetter;

/// The record version this code writes and reads.
pub const RECORD_VERSION: u32 = 1;

/// `<name>.cursor`: every event up to `cursor` is delivered or dead-lettered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CursorRecord {
    /// [`RECORD_VERSION`].
    pub version: u32,
    /// The delivered cursor (an event id).
    pub cursor: u64,
}

/// `<name>.dead.json`: the dead letters, oldest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeadLetterRecord {
    /// [`RECORD_VERSION`].
    pub version: u32,
    /// The dead letters.
    pub dead: Vec<DeadLetter>,
}

/// One subscription's files.
#[derive(Debug, Clone)]
pub struct SubscriptionStore {
    dir: PathBuf,
    name: String,
}

impl SubscriptionStore {
    /// The files of subscription `name` in `dir` (created if missing).
    pub fn open(dir: &Path, name: &str) -> io::Result<Self> {
        fs::create_dir_all(dir)?;
        Ok(Self {
            dir: dir.to_owned(),
            name: name.to_owned(),
        })
    }

    fn cursor_path(&self) -> PathBuf {
        self.dir.join(format!("{}.cursor", self.name))
    }

    fn dead_path(&self) -> PathBuf {
        self.dir.join(format!("{}.dead.json", self.name))
    }

    /// The stored cursor, or `None` when there is none yet.
    pub fn load_cursor(&self) -> io::Result<Option<u64>> {
        let Some(bytes) = read_if_exists(&self.cursor_path())? else {
            return Ok(None);
        };
        let record: CursorRecord = decode(&bytes)?;
        check_version(record.version)?;
        Ok(Some(record.cursor))
    }

    /// Stores the cursor.
    pub fn save_cursor(&self, cursor: u64) -> io::Result<()> {
        let record = CursorRecord {
            version: RECORD_VERSION,
            cursor,
        };
        write_atomic(&self.cursor_path(), &encode(&record)?)
    }

    /// The stored dead letters (none when there is no file).
    pub fn load_dead(&self) -> io::Result<Vec<DeadLetter>> {
        let Some(bytes) = read_if_exists(&self.dead_path())? else {
            return Ok(Vec::new());
        };
        let record: DeadLetterRecord = decode(&bytes)?;
        check_version(record.version)?;
        Ok(record.dead)
    }

    /// Stores the dead letters.
    pub fn save_dead(&self, dead: &[DeadLetter]) -> io::Result<()> {
        let record = DeadLetterRecord {
            version: RECORD_VERSION,
            dead: dead.to_vec(),
        };
        write_atomic(&self.dead_path(), &encode(&record)?)
    }
}

fn read_if_exists(path: &Path) -> io::Result<Option<Vec<u8>>> {
    match fs::read(path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(error) => Err(error),
    }
}

fn encode<T: Serialize>(record: &T) -> io::Result<Vec<u8>> {
    serde_json::to_vec(record).map_err(io::Error::other)
}

fn decode<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> io::Result<T> {
    serde_json::from_slice(bytes).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

fn check_version(version: u32) -> io::Result<()> {
    if version == RECORD_VERSION {
        Ok(())
    } else {
        Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("unknown record version {version}"),
        ))
    }
}

/// Writes `bytes` to `path` so that readers see the old content or the new, and the
/// new one survives a power cut once this returns.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let dir = path.parent().unwrap_or_else(|| Path::new("."));
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("record");
    let temporary = dir.join(format!(".{name}.tmp"));
    let written = File::create(&temporary).and_then(|mut file| {
        file.write_all(bytes)?;
        file.sync_all()
    });
    if let Err(error) = written.and_then(|()| fs::rename(&temporary, path)) {
        // A full disk must not also leave a half-written file behind.
        let _ = fs::remove_file(&temporary);
        return Err(error);
    }
    File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::webhook::{ConversationEvent, EventKind};

    /// The files' exact bytes: a change here is a format change and needs a new
    /// [`RECORD_VERSION`] and a reader for the old one.
    const DEAD_GOLDEN: &str = r#"{"version":1,"dead":[{"event":{"id":7,"conv":3,"kind":"handoff","at_ms":1700000000000,"data":{"bot":"faq"}},"attempts":8,"last_error":"http 500","dead_at_ms":1700000060000}]}"#;

    fn letter() -> DeadLetter {
        DeadLetter {
            event: ConversationEvent {
                id: 7,
                conv: 3,
                kind: EventKind::Handoff,
                at_ms: 1_700_000_000_000,
                data: serde_json::json!({"bot": "faq"}),
            },
            attempts: 8,
            last_error: "http 500".into(),
            dead_at_ms: 1_700_000_060_000,
        }
    }

    #[test]
    fn records_match_their_golden_bytes_and_read_back() {
        let dir = tempfile::tempdir().expect("dir");
        let store = SubscriptionStore::open(dir.path(), "crm").expect("open");
        assert_eq!(store.load_cursor().expect("read"), None);
        assert!(store.load_dead().expect("read").is_empty());
        store.save_cursor(42).expect("write");
        store.save_dead(&[letter()]).expect("write");
        let cursor = std::fs::read_to_string(dir.path().join("crm.cursor")).expect("file");
        assert_eq!(cursor, r#"{"version":1,"cursor":42}"#);
        let dead = std::fs::read_to_string(dir.path().join("crm.dead.json")).expect("file");
        assert_eq!(dead, DEAD_GOLDEN);
        assert_eq!(store.load_cursor().expect("read"), Some(42));
        assert_eq!(store.load_dead().expect("read"), vec![letter()]);
    }

    #[test]
    fn unknown_versions_and_garbage_are_errors_not_zeroes() {
        let dir = tempfile::tempdir().expect("dir");
        let store = SubscriptionStore::open(dir.path(), "crm").expect("open");
        std::fs::write(dir.path().join("crm.cursor"), r#"{"version":2,"cursor":5}"#)
            .expect("write");
        assert_eq!(
            store.load_cursor().expect_err("version").kind(),
            io::ErrorKind::InvalidData
        );
        std::fs::write(dir.path().join("crm.cursor"), "garbage").expect("write");
        assert_eq!(
            store.load_cursor().expect_err("garbage").kind(),
            io::ErrorKind::InvalidData
        );
    }
}
