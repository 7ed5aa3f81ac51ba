//! Host bindings of the `apiconn:connector` world; everything else imports
//! the component's types from here.

wasmtime::component::bindgen!({
    path: "../wit",
    world: "connector",
    exports: { default: async },
});

pub use self::apiconn::connector::types::{Error as GuestError, HttpStatusError, Problem};
pub use self::exports::apiconn::connector::admin::{Grants, SandboxPlan, StreamInfo};
pub use self::exports::apiconn::connector::sink::{Rejection, Report};
pub use self::exports::apiconn::connector::source::Batch;
