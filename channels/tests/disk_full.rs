//! The dispatcher on a full disk: a real tmpfs of a few KiB, filled up. Writes of the
//! cursor and the dead letters fail and are counted; delivery goes on; once there is
//! room again the cursor is written.

mod support;

use support::event_log::EventLog;

use std::path::Path;
use std::process::Command;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use support::eventually;
use support::receiver::Receiver;
use switchboard_channels::clock::SystemClock;
use switchboard_channels::webhook::{DispatcherLimits, EventKind, Subscription};
use switchboard_channels::WebhookDispatcher;

/// A tmpfs mounted for the test's life (the machines run the tests as root).
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    fn mount(size: &str) -> Self {
        let dir = tempfile::tempdir().expect("dir");
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .status()
            .expect("mount runs");
        assert!(status.success(), "mounting a tmpfs needs root");
        Self { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Fills the file system up; returns the filler to delete later.
    fn fill(&self) -> std::path::PathBuf {
        let filler = self.path().join("filler");
        let mut file = std::fs::File::create(&filler).expect("filler");
        let block = vec![0u8; 4096];
        while std::io::Write::write_all(&mut file, &block).is_ok() {}
        let _ = file.sync_all();
        filler
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.dir.path()).status();
    }
}

#[test]
fn a_full_disk_is_counted_and_delivery_goes_on() {
    let disk = Tmpfs::mount("64k");
    let receiver = Receiver::refusing_conv(2);
    let log = Arc::new(EventLog::default());
    let subscription = Subscription {
        name: "crm".into(),
        url: receiver.url("/events"),
        secret: "subscription-secret-0123".into(),
        events: Vec::new(),
    };
    let limits = DispatcherLimits {
        max_attempts: 2,
        backoff_initial_ms: 5,
        backoff_max_ms: 10,
        cursor_flush_ms: 10,
        ..DispatcherLimits::default()
    };
    let dispatcher = WebhookDispatcher::start(
        &[subscription],
        &limits,
        disk.path(),
        log.clone(),
        Arc::new(SystemClock),
    )
    .expect("starts");
    let filler = disk.fill();

    let publish = |conv: u64| {
        let padding = serde_json::json!({ "pad": "x".repeat(2000) });
        dispatcher.publish(&log.append_with(conv, EventKind::Message, padding));
    };
    publish(1);
    publish(2); // dead-lettered: its list cannot be written
    publish(1);
    let stats = dispatcher.stats("crm").expect("known");
    assert!(
        eventually(Duration::from_secs(10), || receiver.accepted().len() == 2),
        "delivery goes on"
    );
    assert!(eventually(Duration::from_secs(10), || dispatcher
        .dead_letters("crm")
        .expect("known")
        .len()
        == 1));
    assert!(eventually(Duration::from_secs(10), || stats
        .persist_errors
        .load(Ordering::Relaxed)
        >= 2));
    assert_eq!(stats.cursor.load(Ordering::Relaxed), 3, "kept in memory");
    let leftovers: Vec<_> = std::fs::read_dir(disk.path())
        .expect("list")
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|name| name.ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "no half-written files: {leftovers:?}");

    std::fs::remove_file(filler).expect("room again");
    publish(1);
    assert!(eventually(Duration::from_secs(10), || {
        std::fs::read_to_string(disk.path().join("crm.cursor"))
            .ok()
            .as_deref()
            == Some(r#"{"version":1,"cursor":4}"#)
    }));
    dispatcher.shutdown();
}
