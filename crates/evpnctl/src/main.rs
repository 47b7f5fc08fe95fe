//! evpnctl: command-line client for evpnd (work in progress).

fn main() {}
