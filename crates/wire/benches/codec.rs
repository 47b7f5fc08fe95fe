//! Codec benchmarks (work in progress).

fn main() {}
