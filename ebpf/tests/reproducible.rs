//! The checked-in `prebuilt/*.bpf.o` are what `bpf/*.bpf.c` compiles to.
//!
//! The test compiles the source itself, with the very command build.rs uses
//! (`build/compile.rs`, included by both), into `$OUT_DIR/reproduce-<pid>/`, and compares
//! the result with the checked-in objects: byte for byte when the compiler is the one
//! that made them (its version string is in the objects), and otherwise every section
//! but the DWARF debug info (`.debug_*` and their relocations), which names the
//! compiler — program instructions, their relocations, maps, license, BTF and BTF.ext
//! must still match. It needs clang 19 (in CI: `apt-get install -y clang-19`); without
//! it the test is skipped, except in CI, where it fails.
//!
//! `SWITCHBOARD_EBPF_BLESS=1` copies the fresh objects over the checked-in ones
//! instead (see `ebpf/rebuild-prebuilt`).

use std::{
    fs,
    path::{Path, PathBuf},
};

use object::{Object as _, ObjectSection as _};

include!("../build/compile.rs");

fn checked_in(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("prebuilt")
        .join(name)
}

#[test]
fn prebuilt_objects_are_rebuilt_identically() {
    let Some(clang) = find_clang() else {
        let reason = "clang 19 is not installed (apt-get install -y clang-19 libbpf-dev)";
        assert!(
            std::env::var_os("CI").is_none_or(|v| v.is_empty()),
            "in CI the objects must be rebuilt: {reason}"
        );
        use std::io::Write as _;
        // Straight to stderr: the harness would hide eprintln! output of a passing test.
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED prebuilt_objects_are_rebuilt_identically: {reason}"
        );
        return;
    };
    let bpf = Path::new(env!("CARGO_MANIFEST_DIR")).join("bpf");
    let out = Path::new(env!("OUT_DIR")).join(format!("reproduce-{}", std::process::id()));
    fs::create_dir_all(&out).expect("create the output directory");
    let bless = std::env::var_os("SWITCHBOARD_EBPF_BLESS").is_some_and(|v| v == "1");
    for program in PROGRAMS {
        let name = format!("{program}.bpf.o");
        let fresh = out.join(&name);
        compile(&clang, &bpf, program, &fresh).expect("compile");
        let fresh_bytes = fs::read(&fresh).expect("read the fresh object");
        if bless {
            fs::write(checked_in(&name), &fresh_bytes).expect("write prebuilt/");
            println!("blessed prebuilt/{name}");
            continue;
        }
        let checked_bytes = fs::read(checked_in(&name)).expect("read prebuilt/");
        if fresh_bytes == checked_bytes {
            println!(
                "{name}: byte-identical ({} bytes, {clang})",
                fresh_bytes.len()
            );
            continue;
        }
        let (fresh_compiler, checked_compiler) = (producer(&fresh_bytes), producer(&checked_bytes));
        assert_ne!(
            fresh_compiler, checked_compiler,
            "{name}: the same compiler ({fresh_compiler:?}) made different bytes: prebuilt/{name} \
             is stale; run ebpf/rebuild-prebuilt and commit it"
        );
        let differing = differing_sections(&fresh_bytes, &checked_bytes);
        assert!(
            differing.is_empty(),
            "{name}: sections {differing:?} differ from prebuilt/{name} (compiler \
             {fresh_compiler:?} here, {checked_compiler:?} there): run ebpf/rebuild-prebuilt"
        );
        println!(
            "{name}: identical but for DWARF (compiler {fresh_compiler:?} here, \
             {checked_compiler:?} for the checked-in object)"
        );
    }
    let _ = fs::remove_dir_all(&out);
}

/// The `clang version ...` string clang records in the debug info.
fn producer(bytes: &[u8]) -> Option<String> {
    let needle = b"clang version ";
    let start = bytes.windows(needle.len()).position(|w| w == needle)?;
    let end = bytes[start..].iter().position(|&b| b == 0)? + start;
    Some(String::from_utf8_lossy(&bytes[start..end]).into_owned())
}

fn is_dwarf(name: &str) -> bool {
    name.starts_with(".debug_") || name.starts_with(".rel.debug_")
}

/// Names of the non-DWARF sections whose contents differ (or exist in one only).
/// The symbol and string tables are left out: they list the DWARF sections too.
fn differing_sections(a: &[u8], b: &[u8]) -> Vec<String> {
    let sections = |bytes: &[u8]| -> Vec<(String, Vec<u8>)> {
        let file = object::File::parse(bytes).expect("an ELF object");
        file.sections()
            .filter_map(|section| {
                let name = section.name().ok()?.to_owned();
                let skip = is_dwarf(&name) || matches!(name.as_str(), ".symtab" | ".strtab" | "");
                (!skip).then(|| (name, section.data().unwrap_or_default().to_vec()))
            })
            .collect()
    };
    let (a, b) = (sections(a), sections(b));
    let mut differing: Vec<String> = a
        .iter()
        .filter(|(name, data)| !b.iter().any(|(n, d)| n == name && d == data))
        .map(|(name, _)| name.clone())
        .collect();
    differing.extend(
        b.iter()
            .filter(|(name, _)| !a.iter().any(|(n, _)| n == name))
            .map(|(name, _)| name.clone()),
    );
    differing
}

#[test]
fn the_comparison_sees_a_changed_program() {
    let steer = fs::read(checked_in("steer.bpf.o")).expect("read prebuilt/");
    assert!(producer(&steer).is_some_and(|p| p.contains("clang version 19")));
    assert!(differing_sections(&steer, &steer).is_empty());
    // Flip one byte of the program section: the comparison must name it.
    let file = object::File::parse(&*steer).expect("ELF");
    let section = file
        .sections()
        .find(|s| s.name().ok() == Some("sk_reuseport"))
        .expect("the program section");
    let (offset, _) = section.file_range().expect("file range");
    let mut changed = steer.clone();
    changed[offset as usize] ^= 0xff;
    assert_eq!(differing_sections(&steer, &changed), vec!["sk_reuseport"]);
}
