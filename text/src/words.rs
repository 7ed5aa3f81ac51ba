//! The wording of errors, once: the component writes its errors with it
//! (`impl Display for Error`) and the host describes the component's errors
//! (`runtime::describe`) and its own with it, so a message reads the same
//! whichever side writes it.

use std::fmt::{self, Write};

/// The heading of a config error; each problem follows on its own line.
pub const INVALID_CONFIG: &str = "invalid config:";

/// The kinds of error the component reports (the WIT `error` variant but
/// `config`, which is [`INVALID_CONFIG`] and its problems). Shown, a kind
/// is the start of the sentence: `authentication failed`, `HTTP 404`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    Auth,
    HttpStatus(u16),
    Transport,
    Limit,
    Response,
    NonCompliantRecord,
    DirtyRecords,
    Internal,
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ErrorKind::Auth => "authentication failed",
            ErrorKind::HttpStatus(code) => return write!(f, "HTTP {code}"),
            ErrorKind::Transport => "request failed",
            ErrorKind::Limit => "limit reached",
            ErrorKind::Response => "unusable response",
            ErrorKind::NonCompliantRecord => "non-compliant record",
            ErrorKind::DirtyRecords => "dirty records",
            ErrorKind::Internal => "internal error",
        })
    }
}

impl ErrorKind {
    /// Writes the error: `{kind}: {message}`.
    pub fn write(self, out: &mut impl Write, message: &str) -> fmt::Result {
        write!(out, "{self}: {message}")
    }

    /// The error as a sentence: `{kind}: {message}`.
    pub fn sentence(self, message: &str) -> String {
        format!("{self}: {message}")
    }
}

/// Writes a config error: [`INVALID_CONFIG`], then each problem on its own
/// line, indented by two spaces.
pub fn write_invalid_config<P: fmt::Display>(
    out: &mut impl Write,
    problems: impl IntoIterator<Item = P>,
) -> fmt::Result {
    out.write_str(INVALID_CONFIG)?;
    for p in problems {
        write!(out, "\n  {p}")?;
    }
    Ok(())
}

/// A config error as text (see [`write_invalid_config`]).
pub fn invalid_config<P: fmt::Display>(problems: impl IntoIterator<Item = P>) -> String {
    let mut s = String::new();
    write_invalid_config(&mut s, problems).expect("writing to a String");
    s
}

/// Writes one config problem: `{path}: {message}`, or the message alone
/// when it concerns the whole config (an empty path).
pub fn write_problem(out: &mut impl Write, path: &str, message: &str) -> fmt::Result {
    if path.is_empty() {
        out.write_str(message)
    } else {
        write!(out, "{path}: {message}")
    }
}

/// One config problem as text (see [`write_problem`]).
pub fn problem(path: &str, message: &str) -> String {
    let mut s = String::new();
    write_problem(&mut s, path, message).expect("writing to a String");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_kind_starts_its_sentence() {
        let cases = [
            (ErrorKind::Auth, "authentication failed: m"),
            (ErrorKind::HttpStatus(404), "HTTP 404: m"),
            (ErrorKind::Transport, "request failed: m"),
            (ErrorKind::Limit, "limit reached: m"),
            (ErrorKind::Response, "unusable response: m"),
            (ErrorKind::NonCompliantRecord, "non-compliant record: m"),
            (ErrorKind::DirtyRecords, "dirty records: m"),
            (ErrorKind::Internal, "internal error: m"),
        ];
        for (kind, sentence) in cases {
            assert_eq!(kind.sentence("m"), sentence);
        }
    }

    #[test]
    fn a_config_error_lists_its_problems_under_the_heading() {
        let problems = [
            problem("read.paginate", "unknown type"),
            problem("", "empty"),
        ];
        assert_eq!(
            invalid_config(&problems),
            "invalid config:\n  read.paginate: unknown type\n  empty"
        );
        assert_eq!(invalid_config(Vec::<String>::new()), "invalid config:");
    }
}
