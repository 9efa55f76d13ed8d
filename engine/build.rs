//! Embeds the built web pages (`web/dist/`: the demo shop with the visitor widget, the
//! agent console, the browser SDK) into the binary, so `switchboard serve` serves them
//! with nothing else installed. Reads `web/dist/manifest.json` and writes a table of
//! `include_bytes!` entries into `OUT_DIR/web_assets.rs`.

use std::fmt::Write as _;
use std::path::PathBuf;

use anyhow::Context as _;

fn main() -> anyhow::Result<()> {
    let manifest_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?);
    let dist = manifest_dir.join("../web/dist");
    let manifest_path = dist.join("manifest.json");
    println!("cargo:rerun-if-changed={}", dist.display());
    println!("cargo:rerun-if-changed={}", manifest_path.display());
    let text = std::fs::read_to_string(&manifest_path)
        .with_context(|| format!("reading {}", manifest_path.display()))?;
    let manifest: serde_json::Value =
        serde_json::from_str(&text).context("web/dist/manifest.json is not JSON")?;
    let files = manifest["files"]
        .as_array()
        .context("web/dist/manifest.json has no files")?;
    let mut out =
        String::from("/// Every embedded file: (URL path, content type, sha256 hex, bytes).\n");
    out.push_str("pub(crate) static ASSETS: &[(&str, &str, &str, &[u8])] = &[\n");
    for file in files {
        let path = file["path"]
            .as_str()
            .context("a manifest entry without a path")?;
        let content_type = file["content_type"].as_str().context("no content_type")?;
        let sha = file["sha256"].as_str().context("no sha256")?;
        let full = dist
            .join(path)
            .canonicalize()
            .with_context(|| format!("{path} is in the manifest but missing"))?;
        println!("cargo:rerun-if-changed={}", full.display());
        writeln!(
            out,
            "    ({:?}, {:?}, {:?}, include_bytes!({:?})),",
            format!("/{path}"),
            content_type,
            sha,
            full.display().to_string()
        )?;
    }
    out.push_str("];\n");
    let dest = PathBuf::from(std::env::var("OUT_DIR")?).join("web_assets.rs");
    std::fs::write(&dest, out).with_context(|| format!("writing {}", dest.display()))?;
    Ok(())
}
