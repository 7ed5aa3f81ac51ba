//! The apiconn host: runs the connector component under wasmtime with a
//! sandbox (egress policy, memory and response limits) and no ambient
//! authority. The host knows nothing about auth or pagination.

pub mod bindings;
pub mod config_file;
pub mod connector;
pub mod demo;
pub mod egress;
pub mod engine_config;
pub mod error;
pub mod logs;
pub mod read;
pub mod run;
pub mod runtime;
pub mod schema_doc;
pub mod secrets;
pub mod state;
pub mod write;

pub use connector::{Connector, Reader, RecordBatch, Sink, StreamInfo};
pub use error::Error;
