//! Builds the guest component (`apiconn-guest` for `wasm32-wasip2`, release)
//! so the host can embed it: `cargo build -p apiconn` needs no manual wasm step.
//!
//! The nested cargo uses its own target directory (`target/guest`) so it
//! never waits on the lock of the build that runs this script.

use std::path::PathBuf;
use std::process::Command;

fn main() {
    let manifest_dir = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap());
    let root = manifest_dir.parent().unwrap().to_path_buf();
    for watched in ["guest/src", "guest/Cargo.toml", "text", "wit", "Cargo.lock"] {
        println!("cargo:rerun-if-changed={}", root.join(watched).display());
    }
    let target_dir = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"))
        .join("guest");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(&root)
        .args([
            "build",
            "--release",
            "--locked",
            "--target",
            "wasm32-wasip2",
            "-p",
            "apiconn-guest",
        ])
        .arg("--target-dir")
        .arg(&target_dir);
    // What the outer build sets must not leak into the guest's build.
    for (key, _) in std::env::vars_os() {
        let key = key.to_string_lossy();
        if key.starts_with("CARGO_") && key != "CARGO_HOME"
            || key.starts_with("RUSTC")
            || key == "RUSTFLAGS"
        {
            cmd.env_remove(key.as_ref());
        }
    }
    let status = cmd
        .status()
        .expect("running cargo to build the guest component");
    assert!(
        status.success(),
        "building the guest component failed (is the target installed? `rustup target add wasm32-wasip2`)"
    );
    let wasm = target_dir.join("wasm32-wasip2/release/apiconn_guest.wasm");
    let out_dir = PathBuf::from(std::env::var_os("OUT_DIR").unwrap());
    std::fs::copy(&wasm, out_dir.join("apiconn.wasm")).expect("copying the guest component");
    let bytes = std::fs::read(&wasm).expect("reading the guest component");
    let digest: String =
        sha2::Digest::finalize(sha2::Digest::chain_update(sha2::Sha256::default(), &bytes))[..8]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
    std::fs::write(out_dir.join("apiconn.wasm.digest"), digest).expect("writing the digest");
    precompile(&wasm, &out_dir.join("apiconn.cwasm"));
}

#[cfg(feature = "precompile")]
#[path = "src/engine_config.rs"]
mod engine_config;

/// With feature `precompile`: the component compiled for this machine
/// with the runtime's engine settings, embedded so that a cold start needs
/// no compiling (the runtime checks that it fits its engine and compiles
/// otherwise). Without it, nothing is embedded.
#[cfg(feature = "precompile")]
fn precompile(wasm: &std::path::Path, out: &std::path::Path) {
    let bytes = {
        let engine = wasmtime::Engine::new(&engine_config::engine_config())
            .expect("a wasmtime engine for precompiling");
        let component = std::fs::read(wasm).expect("reading the guest component");
        engine
            .precompile_component(&component)
            .expect("precompiling the guest component")
    };
    std::fs::write(out, bytes).expect("writing the precompiled component");
}

#[cfg(not(feature = "precompile"))]
fn precompile(_: &std::path::Path, out: &std::path::Path) {
    std::fs::write(out, []).expect("writing the (empty) precompiled component");
}
