//! The wasmtime settings of the engine that runs the component. Shared by
//! `runtime` and `build.rs`, which precompiles the embedded component with
//! them: a precompiled component loads only into an engine whose settings
//! match (wasmtime checks, and refuses otherwise).

/// The engine's settings (the perf-map profiler aside, see `runtime`).
pub fn engine_config() -> wasmtime::Config {
    let mut config = wasmtime::Config::new();
    config.wasm_component_model(true);
    config.epoch_interruption(true);
    config
}
