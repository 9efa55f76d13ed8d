//! Compiles `bpf/*.bpf.c` into `$OUT_DIR/*.bpf.o` with clang 19 when it is installed,
//! and otherwise copies the checked-in `prebuilt/*.o`, so `cargo build` never needs
//! clang. `tests/reproducible.rs` proves the checked-in objects are what this source
//! compiles to, with the same command (`build/compile.rs`).

use std::{
    env, fs,
    path::{Path, PathBuf},
};

use anyhow::{anyhow, Context as _};

include!("build/compile.rs");

fn main() -> anyhow::Result<()> {
    let manifest = PathBuf::from(env::var("CARGO_MANIFEST_DIR").context("CARGO_MANIFEST_DIR")?);
    let out = PathBuf::from(env::var("OUT_DIR").context("OUT_DIR")?);
    let bpf = manifest.join("bpf");
    let prebuilt = manifest.join("prebuilt");

    for entry in fs::read_dir(&bpf).context("listing bpf/")? {
        let path = entry.context("listing bpf/")?.path();
        println!("cargo:rerun-if-changed={}", path.display());
    }
    println!("cargo:rerun-if-changed=build/compile.rs");
    for program in PROGRAMS {
        println!(
            "cargo:rerun-if-changed={}",
            prebuilt.join(object_name(program)).display()
        );
    }
    println!("cargo:rerun-if-env-changed=SWITCHBOARD_CLANG");

    let source = match find_clang() {
        Some(clang) => {
            // A clang upgrade rebuilds the objects.
            if let Some(path) = on_path(&clang) {
                println!("cargo:rerun-if-changed={}", path.display());
            }
            match compile_all(&clang, &bpf, &out) {
                Ok(()) => format!("clang:{clang}"),
                Err(error) => {
                    println!(
                        "cargo:warning=compiling the BPF programs with {clang} failed, using \
                         the checked-in objects: {error:#}"
                    );
                    copy_prebuilt(&prebuilt, &out)?;
                    "prebuilt".to_owned()
                }
            }
        }
        None => {
            // Installing clang later (apt puts it in /usr/bin) makes the next build
            // compile the objects instead of keeping the copies.
            println!("cargo:rerun-if-changed=/usr/bin");
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

fn compile_all(clang: &str, bpf: &Path, out: &Path) -> anyhow::Result<()> {
    for program in PROGRAMS {
        compile(clang, bpf, program, &out.join(object_name(program))).map_err(|e| anyhow!(e))?;
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

/// Where `command` is found on `PATH` (itself if it names a path).
fn on_path(command: &str) -> Option<PathBuf> {
    if command.contains('/') {
        return Some(PathBuf::from(command));
    }
    env::split_paths(&env::var_os("PATH")?)
        .map(|dir| dir.join(command))
        .find(|path| path.is_file())
}
