//! The component's errors: one closed set, mirrored one-to-one by the WIT
//! `error` variant so a host can tell what to retry and what to report.

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
        if self.path.is_empty() {
            write!(f, "{}", self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
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
        match self {
            Error::Config(problems) => {
                write!(f, "invalid config:")?;
                for p in problems {
                    write!(f, "\n  {p}")?;
                }
                Ok(())
            }
            Error::Auth(m) => write!(f, "authentication failed: {m}"),
            Error::HttpStatus { code, message } => write!(f, "HTTP {code}: {message}"),
            Error::Transport(m) => write!(f, "request failed: {m}"),
            Error::Limit(m) => write!(f, "limit reached: {m}"),
            Error::Response(m) => write!(f, "unusable response: {m}"),
            Error::NonCompliantRecord(m) => write!(f, "non-compliant record: {m}"),
            Error::DirtyRecords(m) => write!(f, "dirty records: {m}"),
            Error::Internal(m) => write!(f, "internal error: {m}"),
        }
    }
}

impl std::error::Error for Error {}

/// Server text (a response body) for a message: secrets masked, control
/// characters escaped, then at most `max` characters, marked when cut.
pub fn truncate(text: &str, max: usize) -> String {
    crate::grants::excerpt(text, max)
}
