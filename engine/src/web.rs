//! The web pages the engine serves itself: the demo shop with the visitor widget at
//! `/demo/`, the agent console at `/console/`, the browser SDK at `/sdk/` — built from
//! `web/` and embedded at compile time (`build.rs`), so the first `switchboard serve`
//! on a fresh machine is enough to try the product in a browser.
//!
//! Each answer carries a strict content security policy (the pages have no inline
//! script or style), `no-cache` with the file's SHA-256 as its ETag (a reload costs a
//! 304), and `nosniff`; the SDK may be loaded from any origin (a shop's pages).

include!(concat!(env!("OUT_DIR"), "/web_assets.rs"));

/// The content security policy of every page.
pub const CSP: &str = "default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data: blob:";

/// One embedded file.
#[derive(Debug, Clone, Copy)]
pub struct Asset {
    /// Its `Content-Type`.
    pub content_type: &'static str,
    /// SHA-256 of its bytes, hex.
    pub sha256: &'static str,
    /// The bytes.
    pub bytes: &'static [u8],
    /// Whether any origin may load it (the SDK and widget).
    pub shared: bool,
}

/// What a GET of `path` finds.
#[derive(Debug, Clone, Copy)]
pub enum Found {
    /// A file.
    File(Asset),
    /// A folder named without its slash (relative links need it): redirect here.
    Redirect(&'static str),
}

/// The embedded file at `path`: a path ending in `/` serves that folder's
/// `index.html`, `/` goes to the demo.
pub fn lookup(path: &str) -> Option<Found> {
    match path {
        "/" | "/demo" => return Some(Found::Redirect("/demo/")),
        "/console" => return Some(Found::Redirect("/console/")),
        _ => {}
    }
    let index;
    let path = if path.ends_with('/') {
        index = format!("{path}index.html");
        index.as_str()
    } else {
        path
    };
    ASSETS
        .iter()
        .find(|(p, ..)| *p == path)
        .map(|&(p, content_type, sha256, bytes)| {
            Found::File(Asset {
                content_type,
                sha256,
                bytes,
                shared: p.starts_with("/sdk/"),
            })
        })
}

/// Whether `path` is one the web pages could be at (answers 404 as JSON otherwise).
pub fn is_web_path(path: &str) -> bool {
    path == "/"
        || ["/demo", "/console", "/sdk/"]
            .iter()
            .any(|p| path.starts_with(p))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pages_and_the_sdk_are_embedded() {
        for path in [
            "/demo/",
            "/console/",
            "/sdk/switchboard.js",
            "/sdk/widget.js",
        ] {
            assert!(
                matches!(lookup(path), Some(Found::File(a)) if !a.bytes.is_empty()),
                "{path}"
            );
        }
        assert!(matches!(lookup("/demo"), Some(Found::Redirect("/demo/"))));
        assert!(lookup("/demo/missing.js").is_none());
        assert!(matches!(lookup("/sdk/switchboard.js"), Some(Found::File(a)) if a.shared));
    }
}
