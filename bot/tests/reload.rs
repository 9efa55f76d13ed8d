//! Live reload through real files: a valid file becomes the next version at once, a
//! bad one leaves the running version, sessions keep the version they started with,
//! and counters carry over.

mod common;

use std::path::PathBuf;
use std::sync::Arc;
use switchboard_bot::{Action, BotSession, Claims, LoadOptions, RulesError, RulesHandle};

const V1: &str = "version: 1
languages: [en]
fallback: { en: sorry }
intents:
  - name: hours
    keywords: [open]
    reply: { text: { en: 'We open at 9.' } }
";

struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> Self {
        let dir =
            std::env::temp_dir().join(format!("switchboard-bot-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
        Self(dir)
    }

    fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, text).unwrap_or_else(|e| panic!("{e}"));
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn reply_text(actions: &[Action]) -> Option<&str> {
    actions.iter().find_map(|a| match a {
        Action::Reply { text, .. } => Some(text.as_str()),
        _ => None,
    })
}

#[test]
fn reload_swaps_versions_and_sessions_keep_theirs() {
    let dir = TempDir::new("swap");
    let path = dir.write("rules.yaml", V1);
    let handle = RulesHandle::load(&path, LoadOptions::default()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(handle.version(), 1);
    let claims = Claims::default();
    let c = common::ctx(0, "v1", &claims);
    let (mut old, _) = BotSession::start(handle.current(), &c);

    dir.write("rules.yaml", &V1.replace("We open at 9.", "We open at 8."));
    assert_eq!(handle.reload_from(&path).ok(), Some(2));
    let (mut new, _) = BotSession::start(handle.current(), &c);
    assert_eq!(
        reply_text(&old.on_visitor_line("when do you open", &c)),
        Some("We open at 9.")
    );
    assert_eq!(
        reply_text(&new.on_visitor_line("when do you open", &c)),
        Some("We open at 8.")
    );
    assert_eq!((old.rules().version(), new.rules().version()), (1, 2));

    let m = handle.metrics();
    assert_eq!(
        m.variants[0].matches, 2,
        "both versions count into the same counter"
    );
    assert_eq!(m.sessions.started, 2);
}

#[test]
fn a_bad_file_keeps_the_running_version() {
    let dir = TempDir::new("bad");
    let path = dir.write("rules.yaml", V1);
    let handle = RulesHandle::load(&path, LoadOptions::default()).unwrap_or_else(|e| panic!("{e}"));
    dir.write(
        "rules.yaml",
        &V1.replace("[open]", "[open]\n    patterns: ['(']"),
    );
    let err = handle.reload_from(&path);
    assert!(matches!(err, Err(RulesError::Invalid { .. })), "{err:?}");
    dir.write("rules.yaml", "version: 1\nlanguages: [en");
    assert!(matches!(
        handle.reload_from(&path),
        Err(RulesError::Syntax { .. })
    ));
    assert!(matches!(
        handle.reload_from(&dir.0.join("gone.yaml")),
        Err(RulesError::Read { .. })
    ));
    assert_eq!(handle.version(), 1);
    dir.write("rules.yaml", V1);
    assert_eq!(
        handle.reload_from(&path).ok(),
        Some(2),
        "failed reloads use no version"
    );
}

#[test]
fn readers_never_see_a_torn_or_missing_version_while_reloading() {
    let handle = Arc::new(RulesHandle::from_yaml(V1).unwrap_or_else(|e| panic!("{e}")));
    let reader = {
        let handle = Arc::clone(&handle);
        std::thread::spawn(move || {
            let mut last = 0;
            for _ in 0..20_000 {
                let rules = handle.current();
                assert!(rules.version() >= last, "versions only go forward");
                assert!(rules.classify("are you open").intent.is_some());
                last = rules.version();
            }
            last
        })
    };
    for i in 0..50 {
        let text = V1.replace("We open at 9.", &format!("We open at {i}."));
        handle
            .reload_from_yaml(&text)
            .unwrap_or_else(|e| panic!("{e}"));
    }
    let seen = reader.join().unwrap_or_else(|_| panic!("reader panicked"));
    assert!(seen <= 51);
    assert_eq!(handle.version(), 51);
}
