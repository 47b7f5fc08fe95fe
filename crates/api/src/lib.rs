//! The gRPC API of evpnd: protobuf messages and tonic client/server code generated from
//! `proto/evpnd.proto` (service `Evpnd`) and `proto/watch.proto` (service `Watch`: the watch
//! streams and the data-plane intent stream) at build time (protox, so no system `protoc` is
//! needed).

/// Version 1 of the API (`package evpnd.v1`).
#[allow(missing_docs, clippy::all, clippy::pedantic)]
pub mod v1 {
    tonic::include_proto!("evpnd.v1");
}
