//! The `switchboard` binary (being built).
fn main() {}
