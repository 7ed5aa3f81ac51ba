//! apiconn's benchmark suite: a local API serving pages from memory, the
//! component against a native build of the same logic, curl and dlt, and
//! the figures written as `bench/RESULTS.md`. `bench/run.sh` runs it.

pub mod inproc;
pub mod measure;
pub mod native;
pub mod server;
pub mod suite;
