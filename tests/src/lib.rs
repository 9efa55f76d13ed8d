//! Shared helpers of the black-box tests (being built).
