//! The connector config (README "The config"): one file is one connector.
//!
//! The serde types are the single source of truth: the JSON Schema that
//! `apiconn schema` prints is generated from them, structural validation
//! walks that schema (so it reports every mistake at once, each with its
//! path), and the semantic checks in [`check`](mod@check) cover what a
//! schema cannot say. [`load()`](fn@load) runs both, over every
//! environment, and only then builds the types.
//!
//! - `connector`: the root type, [`Config`], and its JSON Schema;
//! - `source`, `read`, `write`, `signature`, `values`: the serde types of
//!   each part of a config; `parsed`: its strings with a grammar (JSON
//!   paths, stop conditions, list URLs), parsed once;
//! - [`load`](mod@load): text to a checked [`Config`], environments merged;
//! - [`check`](mod@check): the semantic rules.

pub mod check;
mod connector;
pub mod load;
mod parsed;
mod read;
mod signature;
mod source;
pub mod streams;
mod values;
mod write;

pub use check::check;
pub use connector::{Config, origins, schema};
pub use load::{load, load_value};
pub use parsed::{Grammar, HttpUrl, JsonPath, Parsed, ValueAt, is_token_byte};
pub use read::*;
pub use signature::*;
pub use source::*;
pub use streams::{DEFAULT_STREAM, placeholders};
pub use values::*;
pub use write::*;
