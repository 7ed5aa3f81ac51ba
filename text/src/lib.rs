//! Text meant for people, shared by the component and the host so the two
//! cannot drift: [`mask`] hides secrets and escapes control characters,
//! [`words`] holds the wording of errors, [`ratelimit`] reads the rate-limit
//! fields of a response.

pub mod mask;
pub mod ratelimit;
pub mod words;

pub use mask::{MASK, Masker, printable, printable_lines};
