//! The control API over the tests' in-memory engine, for trying the API, `ctl` and the
//! OpenAPI document without a node: `cargo run -p switchboard-control-api --example
//! fake_control_server -- 127.0.0.1:9090 [TOKEN]`.

#[path = "../tests/common/mod.rs"]
mod common;

fn main() {
    let mut args = std::env::args().skip(1);
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:9090".into());
    let token = args.next();
    let listener = std::net::TcpListener::bind(&addr).expect("bind");
    let server = switchboard_control_api::serve(
        listener,
        common::FakeEngine::seeded(),
        switchboard_control_api::ControlAuth { token },
    )
    .expect("serve");
    println!("control on {}", server.local_addr());
    loop {
        std::thread::park();
    }
}
