//! apiconn's connector logic, compiled to one WebAssembly component.
//!
//! Every module but `component` is sans-IO: plain functions and state
//! machines that unit-test natively. The [`requester::Requester`] takes
//! events (a response arrived, a wait ended) and answers with the next
//! step (send this, sleep that long, done); only `component` — the binding
//! to the WIT contract, `wasi:http` and WASI clocks — sends and sleeps,
//! through the [`requester::Transport`] it implements.

pub mod auth;
pub mod check;
pub mod config;
pub mod dates;
pub mod error;
pub mod fields;
pub mod flatten;
pub mod grants;
pub mod jsonpath;
pub mod nest;
pub mod read;
pub mod request;
pub mod requester;
pub mod retry;
pub mod schema_check;
pub mod sign;
pub mod stop;
pub mod template;
pub mod write;

#[cfg(target_arch = "wasm32")]
mod component;

pub use error::{Error, Problem};
