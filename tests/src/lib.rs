//! Support for the end-to-end tests: the real `apiconn` binary, a
//! scriptable test API, and real peers (json-server) on 127.0.0.1.

pub mod api;
pub mod bin;
pub mod faults;
pub mod flat;
pub mod peers;
pub mod shapes;
