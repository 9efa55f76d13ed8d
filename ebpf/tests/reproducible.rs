//! The checked-in `prebuilt/*.bpf.o` are what `bpf/*.bpf.c` compiles to.
//!
//! build.rs compiled the source with clang 19 into `OUT_DIR` (in CI clang-19 is
//! installed); this test compares those objects with the checked-in ones:
//! byte for byte when the compiler is the one that made them (its version string is
//! in the objects), and otherwise every section except the DWARF debug info
//! (`.debug_*` and their relocations), which names the compiler — the program
//! instructions, their relocations, maps, license, BTF and BTF.ext must still match.
//!
//! `SWITCHBOARD_EBPF_BLESS=1` copies the fresh objects over the checked-in ones
//! instead (see `ebpf/rebuild-prebuilt`).

use std::{fs, path::PathBuf};

use object::{Object as _, ObjectSection as _};

const OBJECTS: [&str; 2] = ["steer.bpf.o", "shed.bpf.o"];

fn fresh(name: &str) -> PathBuf {
    PathBuf::from(env!("OUT_DIR")).join(name)
}

fn checked_in(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("prebuilt")
        .join(name)
}

/// Whether build.rs compiled the objects (rather than copying the checked-in ones).
fn compiled() -> bool {
    switchboard_ebpf::OBJECT_SOURCE.starts_with("clang:")
}

#[test]
fn prebuilt_objects_are_rebuilt_identically() {
    if !compiled() {
        let reason = "clang 19 is not installed, so build.rs used the checked-in objects \
                      (apt-get install -y clang-19 libbpf-dev)";
        assert!(
            std::env::var_os("CI").is_none_or(|v| v.is_empty()),
            "in CI the objects must be rebuilt: {reason}"
        );
        eprintln!("SKIPPED prebuilt_objects_are_rebuilt_identically: {reason}");
        return;
    }
    let bless = std::env::var_os("SWITCHBOARD_EBPF_BLESS").is_some_and(|v| v == "1");
    for name in OBJECTS {
        let fresh_bytes = fs::read(fresh(name)).expect("read the fresh object");
        if bless {
            fs::write(checked_in(name), &fresh_bytes).expect("write prebuilt/");
            println!("blessed prebuilt/{name}");
            continue;
        }
        let checked_bytes = fs::read(checked_in(name)).expect("read prebuilt/");
        if fresh_bytes == checked_bytes {
            println!("{name}: byte-identical ({} bytes)", fresh_bytes.len());
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
