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
