//! Issue 14: the disk fills up under a running node. On a small tmpfs mounted by the
//! test (root), a line that cannot be stored is refused with `unavailable` and never
//! acknowledged; typing and resume go on; `/health` says `degraded` and why; once
//! space returns, the same line (same `client_msg_id`) is stored and acknowledged, and
//! nothing refused ever shows up.

use std::fs::{self, File};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use switchboard_protocol::chat::{ClientFrame, Encoding, OwnedServerFrame};
use switchboard_tests::chat_client::{agent, start_served_by, Client};
use switchboard_tests::{wait_for, DataDir, Server};

const JSON: Encoding = Encoding::Json;

/// A tmpfs mounted on a temporary directory, unmounted on drop.
struct Tmpfs {
    mount_point: PathBuf,
    _dir: DataDir,
}

impl Tmpfs {
    fn mount(size: &str) -> Tmpfs {
        let dir = DataDir::new("tmpfs");
        let mount_point = dir.path().join("mnt");
        fs::create_dir(&mount_point).expect("mount point");
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(&mount_point)
            .status()
            .expect("run mount");
        assert!(
            status.success(),
            "mount -t tmpfs failed (this test needs root)"
        );
        Tmpfs {
            mount_point,
            _dir: dir,
        }
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.mount_point).status();
    }
}

/// Writes zeros until the file system is full.
fn fill(path: &Path) {
    let mut file = File::create(path).expect("filler file");
    let chunk = vec![0u8; 64 << 10];
    loop {
        match file.write(&chunk) {
            Ok(0) => return,
            Ok(_) => {}
            Err(err) if err.raw_os_error() == Some(libc::ENOSPC) => return,
            Err(err) => panic!("filling the tmpfs: {err}"),
        }
    }
}

#[test]
fn a_full_disk_refuses_lines_keeps_serving_and_recovers() {
    let tmpfs = Tmpfs::mount("8m");
    let data = tmpfs.mount_point.join("data");
    let server = Server::start(&[
        "--shards",
        "2",
        "--data-dir",
        data.to_str().expect("UTF-8 path"),
        "--store-segment-mib",
        "1",
    ]);
    let mut a = agent(&server, "agent:ann", JSON);
    let mut v = Client::connect(&server, "vic", JSON);
    let conv = start_served_by(&mut v, &mut a);
    v.say(conv, "before", "stored fine");
    let (before, _) = v.expect_sent(conv, "before");
    a.wait_for(
        "the line before",
        |f| matches!(f, OwnedServerFrame::Message { seq, .. } if *seq == before),
    );
    assert_eq!(server.health()["store"], "ok");

    let filler = tmpfs.mount_point.join("filler");
    fill(&filler);
    // The segment's last page may still have room for a few lines.
    let mut before = before;
    let mut refused = None;
    for i in 0..500 {
        let id = format!("fill-{i}");
        v.say(conv, &id, "a line of filler text to use up the last page");
        match v.next() {
            OwnedServerFrame::Sent { seq, .. } => before = seq,
            OwnedServerFrame::Error { code, message } if code == "unavailable" => {
                assert!(message.contains("send again"), "{message}");
                refused = Some(id);
                break;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    let refused = refused.expect("a line is refused once the disk is full");
    let health = server.health();
    assert_eq!(health["status"], "degraded", "{health}");
    assert_eq!(health["store"]["status"], "disk_full", "{health}");

    // Typing and resume need no disk.
    v.send(&ClientFrame::Typing { conv });
    a.wait_for("typing", |f| matches!(f, OwnedServerFrame::Typing { .. }));
    let mut tab = Client::connect(&server, "vic", JSON);
    tab.resume(conv, before - 1);
    let (snapshot, _) = tab.expect_snapshot_and_replay(conv, before);
    assert_eq!(
        snapshot.last_seq, before,
        "the refused line is not in the conversation"
    );

    // Space returns: the same line goes through (the writer may still be backing off).
    fs::remove_file(&filler).expect("remove the filler");
    let seq = wait_for(Duration::from_secs(15), || {
        v.say(
            conv,
            &refused,
            "a line of filler text to use up the last page",
        );
        match v.next() {
            OwnedServerFrame::Sent { seq, .. } => Some(seq),
            OwnedServerFrame::Error { code, .. } if code == "unavailable" => {
                std::thread::sleep(Duration::from_millis(100));
                None
            }
            other => panic!("unexpected {other:?}"),
        }
    })
    .expect("the line is stored once space returns");
    assert_eq!(seq, before + 1, "the refused attempt took no seq");
    a.wait_for(
        "the line after",
        |f| matches!(f, OwnedServerFrame::Message { seq: s, .. } if *s == seq),
    );
    let health = server.health();
    assert_eq!(health["status"], "ok", "{health}");
    assert_eq!(health["store"], "ok", "{health}");
    drop(server);
}
