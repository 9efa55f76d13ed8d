// The clang command that turns `bpf/<name>.bpf.c` into `<name>.bpf.o`, shared by
// build.rs and tests/reproducible.rs (both `include!` this file), so the objects the
// crate embeds and the ones the test checks are made by one and the same command.
//
// It runs inside `bpf/` with a relative source path and `-fdebug-compilation-dir=.`,
// so no absolute path of the checkout ends up in the object: the same source gives
// the same bytes in any directory.

/// The programs, each `bpf/<name>.bpf.c` → `<name>.bpf.o`.
const PROGRAMS: [&str; 2] = ["steer", "shed"];

/// Only this clang major version made the checked-in objects; another would produce
/// different (if equivalent) code, so it is not used.
const CLANG_MAJOR: &str = "19";

/// `$SWITCHBOARD_CLANG` (empty: none), else `clang-19`, else `clang` if it is 19.
fn find_clang() -> Option<String> {
    if let Ok(clang) = std::env::var("SWITCHBOARD_CLANG") {
        return (!clang.is_empty()).then_some(clang);
    }
    ["clang-19", "clang"]
        .into_iter()
        .find(|candidate| clang_major(candidate).as_deref() == Some(CLANG_MAJOR))
        .map(str::to_owned)
}

fn clang_major(clang: &str) -> Option<String> {
    let output = std::process::Command::new(clang)
        .arg("--version")
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&output.stdout);
    let version = text.split("clang version ").nth(1)?;
    Some(version.split('.').next()?.trim().to_owned())
}

/// Compiles one program of `bpf_dir` into `object`.
fn compile(
    clang: &str,
    bpf_dir: &std::path::Path,
    program: &str,
    object: &std::path::Path,
) -> Result<(), String> {
    let source = format!("{program}.bpf.c");
    let status = std::process::Command::new(clang)
        .current_dir(bpf_dir)
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
        .arg(object)
        .status()
        .map_err(|error| format!("running {clang}: {error}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{clang} {source}: {status}"))
    }
}
