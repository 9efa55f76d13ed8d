//! The programs load and pass the kernel verifier; bad arguments are refused.

mod common;

use switchboard_ebpf::{probe, EbpfError, SteerMode, Steering, TokenBucket, XdpGuard};

const BUCKET: TokenBucket = TokenBucket {
    rate_per_sec: 10,
    burst: 10,
};

#[test]
fn both_programs_pass_the_verifier() {
    if !common::privileged("both_programs_pass_the_verifier") {
        return;
    }
    probe().expect("the programs load");
    println!("objects from {}", switchboard_ebpf::OBJECT_SOURCE);
}

#[test]
fn bad_arguments_are_refused() {
    if !common::privileged("bad_arguments_are_refused") {
        return;
    }
    assert!(matches!(
        Steering::attach(&[], SteerMode::Hash, BUCKET),
        Err(EbpfError::InvalidArgument(_))
    ));
    // Not sockets of a reuseport group: the socket array refuses them.
    let error = Steering::attach(&[0], SteerMode::Hash, BUCKET).expect_err("stdin is no listener");
    println!("{error}");

    let (listeners, _) = common::listener_group(common::LOCALHOST, 2);
    let steering =
        Steering::attach(&common::raw_fds(&listeners), SteerMode::Hash, BUCKET).expect("attach");
    assert!(matches!(
        steering.set_load(2, 1),
        Err(EbpfError::InvalidArgument(_))
    ));
    assert!(matches!(
        steering.set_shed_level(4),
        Err(EbpfError::InvalidArgument(_))
    ));

    assert!(matches!(
        XdpGuard::attach("sb-no-such-if", 80, BUCKET),
        Err(EbpfError::UnknownInterface(_))
    ));
    assert!(matches!(
        XdpGuard::attach("a/b", 80, BUCKET),
        Err(EbpfError::InvalidArgument(_))
    ));
}

/// Without privileges `probe` must say it is a permission problem (what `--ebpf auto`
/// logs). The test re-runs itself as `nobody` with no capabilities (`setpriv`).
#[test]
fn probe_without_privilege_says_permission() {
    const CHILD: &str = "SWITCHBOARD_EBPF_PROBE_CHILD";
    if std::env::var_os(CHILD).is_some() {
        let error = probe().expect_err("loading must fail without privileges");
        println!("unprivileged probe: {error}");
        assert!(
            matches!(error, EbpfError::PermissionDenied { .. }),
            "{error:?}"
        );
        return;
    }
    if !common::privileged("probe_without_privilege_says_permission") {
        return;
    }
    let exe = std::env::current_exe().expect("test binary");
    let output = std::process::Command::new("setpriv")
        .args([
            "--inh-caps=-all",
            "--bounding-set=-all",
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
        ])
        .arg(exe)
        .args([
            "--exact",
            "probe_without_privilege_says_permission",
            "--nocapture",
        ])
        .env(CHILD, "1")
        .output();
    let output = match output {
        Ok(output) => output,
        Err(error) => {
            common::skipped(
                "probe_without_privilege_says_permission",
                &format!("setpriv (util-linux) cannot run: {error}"),
            );
            return;
        }
    };
    let stdout = String::from_utf8_lossy(&output.stdout);
    println!("{stdout}");
    assert!(
        output.status.success() && stdout.contains("unprivileged probe: no permission"),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
}
