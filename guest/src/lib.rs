//! apiconn's connector logic, compiled to one WebAssembly component.
//!
//! Every module but `component` is sans-IO: plain functions and state
//! machines (build a request → read its response → next request) that
//! unit-test natively. `component` binds them to the WIT contract and to
//! `wasi:http`.

pub mod auth;
pub mod check;
pub mod config;
pub mod error;
pub mod exchange;
pub mod fields;
pub mod flatten;
pub mod jsonpath;
pub mod read;
pub mod request;
pub mod retry;
pub mod schema_check;
pub mod sign;
pub mod stop;
pub mod write;

#[cfg(target_arch = "wasm32")]
mod component;

pub use error::{Error, Problem};
