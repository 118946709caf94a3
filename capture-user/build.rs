//! Embeds the XDP program when it has been built (`cargo xtask build-ebpf`, which `cargo xtask
//! run` and `cargo xtask test` do first). Without it the binary still extracts files; `capture
//! run` then says how to get the program, or takes one with `--xdp-object`.

use std::path::PathBuf;

fn main() {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap_or_default());
    let object = std::env::var_os("CAPTURE_XDP_OBJECT").map_or_else(
        || manifest.join("../capture-ebpf/target/bpfel-unknown-none/release/capture-ebpf"),
        PathBuf::from,
    );
    println!("cargo:rerun-if-changed={}", object.display());
    println!("cargo:rerun-if-env-changed=CAPTURE_XDP_OBJECT");
    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap_or_default()).join("capture-xdp.o");
    let bytes = std::fs::read(&object).unwrap_or_default();
    if let Err(e) = std::fs::write(&out, bytes) {
        panic!("cannot write {}: {e}", out.display());
    }
}
