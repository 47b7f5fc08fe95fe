//! Helpers shared by the integration tests of `evpnd-wire`.
//!
//! Each integration test binary includes this module with `mod common;` and uses only part of
//! it, hence the `dead_code` allowance.

#![allow(dead_code)]

pub mod build;
pub mod corpus;
pub mod strategies;
