//! The bundled load generator (being built).
fn main() {}
