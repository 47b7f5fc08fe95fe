//! Compiles proto/evpnd.proto and proto/watch.proto with protox (a pure-Rust protobuf
//! compiler: no system protoc).

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto/evpnd.proto");
    println!("cargo:rerun-if-changed=proto/watch.proto");
    let fds = protox::compile(["evpnd.proto", "watch.proto"], ["proto"])?;
    tonic_prost_build::configure().compile_fds(fds)?;
    Ok(())
}
