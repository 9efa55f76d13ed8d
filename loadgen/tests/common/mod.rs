//! What the loadgen's black-box tests share: running the real loadgen binary.

use std::process::Command;

use serde_json::Value;

/// Runs the loadgen with `args` and `--json`; returns its exit code and report.
pub fn loadgen(args: &[&str]) -> (i32, Value) {
    let output = Command::new(env!("CARGO_BIN_EXE_switchboard-loadgen"))
        .args(args)
        .arg("--json")
        .output()
        .expect("running the loadgen");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let report = serde_json::from_str(stdout.trim()).unwrap_or_else(|err| {
        panic!(
            "bad JSON ({err}): {stdout}\nstderr: {}",
            String::from_utf8_lossy(&output.stderr)
        )
    });
    (output.status.code().unwrap_or(-1), report)
}
