//! The component's errors: one closed set, mirrored one-to-one by the WIT
//! `error` variant so a host can tell what to retry and what to report.

use apiconn_text::words::{self, ErrorKind};
use std::fmt;

/// One mistake in a config, at a JSON path such as `read.paginate.step`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub path: String,
    pub message: String,
}

impl Problem {
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        Problem {
            path: path.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        words::write_problem(f, &self.path, &self.message)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    Config(Vec<Problem>),
    Auth(String),
    HttpStatus { code: u16, message: String },
    Transport(String),
    Limit(String),
    Response(String),
    NonCompliantRecord(String),
    DirtyRecords(String),
    Internal(String),
}

impl Error {
    pub fn config(path: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Config(vec![Problem::new(path, message)])
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (kind, message) = match self {
            Error::Config(problems) => return words::write_invalid_config(f, problems),
            Error::Auth(m) => (ErrorKind::Auth, m),
            Error::HttpStatus { code, message } => (ErrorKind::HttpStatus(*code), message),
            Error::Transport(m) => (ErrorKind::Transport, m),
            Error::Limit(m) => (ErrorKind::Limit, m),
            Error::Response(m) => (ErrorKind::Response, m),
            Error::NonCompliantRecord(m) => (ErrorKind::NonCompliantRecord, m),
            Error::DirtyRecords(m) => (ErrorKind::DirtyRecords, m),
            Error::Internal(m) => (ErrorKind::Internal, m),
        };
        kind.write(f, message)
    }
}

impl std::error::Error for Error {}

/// Server text (a response body) for a message: secrets masked, control
/// characters escaped, then at most `max` characters, marked when cut.
pub fn truncate(text: &str, max: usize) -> String {
    crate::grants::excerpt(text, max)
}
