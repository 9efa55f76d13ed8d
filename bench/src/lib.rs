//! Benchmarks of Switchboard (being built).
