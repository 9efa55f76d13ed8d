//! Compiles `bpf/*.bpf.c` into `$OUT_DIR/*.bpf.o` with clang 19 when it is installed,
//! and otherwise copies the checked-in `prebuilt/*.o`, so `cargo build` never needs
//! clang. `tests/reproducible.rs` proves the checked-in objects are what this source
//! compiles to.
//!
//! The compile runs inside `bpf/` with a relative source path and
//! `-fdebug-compilation-dir=.`, so no absolute path of the checkout ends up in the
//! object: the same source gives the same bytes in any directory.

use std::{
    env, fs,
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::{bail, Context as _};

/// The programs, each `bpf/<name>.bpf.c` → `<name>.bpf.o`.
const PROGRAMS: [&str; 2] = ["steer", "shed"];

/// Only this clang major version made the checked-in objects; another would produce
/// different (if equivalent) code, so it is not used.
const CLANG_MAJOR: &str = "19";

fn main() -> anyhow::Result<()> {
    let manifest = PathBuf::from(env::var("CARGO_MANIFEST_DIR").context("CARGO_MANIFEST_DIR")?);
    let out = PathBuf::from(env::var("OUT_DIR").context("OUT_DIR")?);
    let bpf = manifest.join("bpf");
    let prebuilt = manifest.join("prebuilt");

    for entry in fs::read_dir(&bpf).context("listing bpf/")? {
        let path = entry.context("listing bpf/")?.path();
        println!("cargo:rerun-if-changed={}", path.display());
    }
    for program in PROGRAMS {
        println!(
            "cargo:rerun-if-changed={}",
            prebuilt.join(object_name(program)).display()
        );
    }
    println!("cargo:rerun-if-env-changed=SWITCHBOARD_CLANG");

    let source = match find_clang() {
        Some(clang) => match compile_all(&clang, &bpf, &out) {
            Ok(()) => format!("clang:{clang}"),
            Err(error) => {
                println!(
                    "cargo:warning=compiling the BPF programs with {clang} failed, using the \
                     checked-in objects: {error:#}"
                );
                copy_prebuilt(&prebuilt, &out)?;
                "prebuilt".to_owned()
            }
        },
        None => {
            copy_prebuilt(&prebuilt, &out)?;
            "prebuilt".to_owned()
        }
    };
    println!("cargo:rustc-env=SWITCHBOARD_EBPF_OBJECTS={source}");
    Ok(())
}

fn object_name(program: &str) -> String {
    format!("{program}.bpf.o")
}

/// `$SWITCHBOARD_CLANG`, else `clang-19`, else `clang` if it is version 19.
fn find_clang() -> Option<String> {
    if let Ok(clang) = env::var("SWITCHBOARD_CLANG") {
        return (!clang.is_empty()).then_some(clang);
    }
    ["clang-19", "clang"]
        .into_iter()
        .find(|candidate| clang_major(candidate).as_deref() == Some(CLANG_MAJOR))
        .map(str::to_owned)
}

fn clang_major(clang: &str) -> Option<String> {
    let output = Command::new(clang).arg("--version").output().ok()?;
    let text = String::from_utf8_lossy(&output.stdout);
    let version = text.split("clang version ").nth(1)?;
    Some(version.split('.').next()?.trim().to_owned())
}

fn compile_all(clang: &str, bpf: &Path, out: &Path) -> anyhow::Result<()> {
    for program in PROGRAMS {
        let source = format!("{program}.bpf.c");
        let object = out.join(object_name(program));
        let status = Command::new(clang)
            .current_dir(bpf)
            .args([
                "-O2",
                "-g",
                "-target",
                "bpf",
                "-D__TARGET_ARCH_x86",
                "-I/usr/include/x86_64-linux-gnu",
                "-fdebug-compilation-dir=.",
                "-c",
                &source,
                "-o",
            ])
            .arg(&object)
            .status()
            .with_context(|| format!("running {clang}"))?;
        if !status.success() {
            bail!("{clang} {source}: {status}");
        }
    }
    Ok(())
}

fn copy_prebuilt(prebuilt: &Path, out: &Path) -> anyhow::Result<()> {
    for program in PROGRAMS {
        let name = object_name(program);
        fs::copy(prebuilt.join(&name), out.join(&name))
            .with_context(|| format!("copying prebuilt/{name}"))?;
    }
    Ok(())
}
