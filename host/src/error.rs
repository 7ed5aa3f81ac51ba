//! The typed error of the library API: the component's `error` variant of
//! `wit/connector.wit`, plus what only the host can fail at. Every message
//! is masked (secret values replaced by `***`) before an [`Error`] exists.

use crate::bindings::GuestError;
use crate::run::Failure;
use crate::runtime::{CpuLimitExceeded, RunError, problem_line};
use crate::secrets::Masker;
use apiconn_text::words::{self, ErrorKind};

/// One mistake in a config, at a JSON path such as `read.paginate.step`
/// (empty when it concerns the whole config).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub path: String,
    pub message: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        words::write_problem(f, &self.path, &self.message)
    }
}

impl Problem {
    /// A problem from a line `path: message` as the host's secret and TLS
    /// checks write them (a line without a path is all message).
    pub fn from_line(line: &str) -> Problem {
        match line.split_once(": ") {
            Some((path, message)) if !path.is_empty() && !path.contains(char::is_whitespace) => {
                Problem {
                    path: path.to_string(),
                    message: message.to_string(),
                }
            }
            _ => Problem {
                path: String::new(),
                message: line.to_string(),
            },
        }
    }
}

/// Why a library call failed; secrets already masked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// The config is wrong: every problem, each with its path.
    Config(Vec<Problem>),
    /// Credentials were refused, or a token could not be obtained.
    Auth(String),
    /// The server answered with a failure status, after retries.
    HttpStatus { status: u16, message: String },
    /// The request could not be sent or its response not read (connection,
    /// DNS, TLS, timeout, refused by the egress policy).
    Transport(String),
    /// A limit was reached: `max_requests`, response size, memory, CPU.
    Limit(String),
    /// The response could not be used: not JSON, wrong shape, a loop.
    Response(String),
    /// A record breaks the flat-record rules.
    NonCompliantRecord(String),
    /// More records failed `fields` conversion than `dirty_records` allows.
    DirtyRecords(String),
    /// A bug in the component, or a trap: the connector stopped.
    Internal(String),
    /// The host itself failed: loading or starting the component, I/O.
    Host(String),
}

impl Error {
    /// The component's error (or a trap), masked.
    pub fn from_run(e: RunError, masker: &Masker) -> Error {
        let m = |s: &str| masker.mask(s);
        match e {
            RunError::Guest(g) => match g {
                GuestError::Config(problems) => Error::Config(
                    problems
                        .iter()
                        .map(|p| Problem {
                            path: m(&p.path),
                            message: m(&p.message),
                        })
                        .collect(),
                ),
                GuestError::Auth(s) => Error::Auth(m(&s)),
                GuestError::HttpStatus(h) => Error::HttpStatus {
                    status: h.code,
                    message: m(&h.message),
                },
                GuestError::Transport(_) => {
                    // The tidied sentence, without its prefix.
                    let text = RunError::Guest(g).to_string();
                    let prefix = format!("{}: ", ErrorKind::Transport);
                    let text = text.strip_prefix(&prefix).unwrap_or(&text);
                    Error::Transport(m(text))
                }
                GuestError::Limit(s) => Error::Limit(m(&s)),
                GuestError::Response(s) => Error::Response(m(&s)),
                GuestError::NonCompliantRecord(s) => Error::NonCompliantRecord(m(&s)),
                GuestError::DirtyRecords(s) => Error::DirtyRecords(m(&s)),
                GuestError::Internal(s) => Error::Internal(m(&s)),
            },
            RunError::Trap(ref t) => {
                let text = m(&e.to_string());
                let limit = t
                    .chain()
                    .any(|c| c.downcast_ref::<CpuLimitExceeded>().is_some())
                    || text.starts_with(&ErrorKind::Limit.to_string());
                match text.strip_prefix(&format!("{}: ", ErrorKind::Limit)) {
                    Some(rest) if limit => Error::Limit(rest.to_string()),
                    _ => Error::Internal(text),
                }
            }
        }
    }

    /// A failure of the command layer (`run`), already masked.
    pub fn from_failure(f: Failure) -> Error {
        match f {
            Failure::Config(lines) => {
                Error::Config(lines.iter().map(|l| Problem::from_line(l)).collect())
            }
            // Starting an instance under a memory limit too small for it.
            Failure::Run(m) if m.contains("forcing trap when growing memory") => Error::Limit(
                format!("the connector needed more memory than --max-memory allows ({m})"),
            ),
            Failure::Run(m) => Error::Host(m),
            Failure::Failed(e) => e,
        }
    }

    /// The exit status of the `apiconn` CLI for this error (README, "Exit
    /// statuses").
    pub fn exit_status(&self) -> u8 {
        match self {
            Error::Config(_) => 3,
            Error::Auth(_) => 4,
            Error::HttpStatus { .. } => 5,
            Error::Transport(_) | Error::Limit(_) => 6,
            Error::Response(_) | Error::NonCompliantRecord(_) | Error::DirtyRecords(_) => 7,
            Error::Internal(_) | Error::Host(_) => 1,
        }
    }

    /// The name of the variant, as the Python exceptions are named.
    pub fn kind(&self) -> &'static str {
        match self {
            Error::Config(_) => "config",
            Error::Auth(_) => "auth",
            Error::HttpStatus { .. } => "http-status",
            Error::Transport(_) => "transport",
            Error::Limit(_) => "limit",
            Error::Response(_) => "response",
            Error::NonCompliantRecord(_) => "non-compliant-record",
            Error::DirtyRecords(_) => "dirty-records",
            Error::Internal(_) => "internal",
            Error::Host(_) => "host",
        }
    }
}

/// The same sentences as the CLI prints.
impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (kind, m) = match self {
            Error::Config(problems) => return words::write_invalid_config(f, problems),
            Error::Auth(m) => (ErrorKind::Auth, m),
            Error::HttpStatus { status, message } => (ErrorKind::HttpStatus(*status), message),
            Error::Transport(m) => (ErrorKind::Transport, m),
            Error::Limit(m) => (ErrorKind::Limit, m),
            Error::Response(m) => (ErrorKind::Response, m),
            Error::NonCompliantRecord(m) => (ErrorKind::NonCompliantRecord, m),
            Error::DirtyRecords(m) => (ErrorKind::DirtyRecords, m),
            // A trap's text is already a sentence that says what it is.
            Error::Internal(m) if m.starts_with(&ErrorKind::Internal.to_string()) => {
                return f.write_str(m);
            }
            Error::Internal(m) => (ErrorKind::Internal, m),
            Error::Host(m) => return f.write_str(m),
        };
        kind.write(f, m)
    }
}

impl std::error::Error for Error {}

/// Back to the command layer's two cases, with the CLI's wording.
impl From<Error> for Failure {
    fn from(e: Error) -> Failure {
        match e {
            Error::Config(problems) => Failure::Config(
                problems
                    .iter()
                    .map(|p| {
                        problem_line(&crate::bindings::Problem {
                            path: p.path.clone(),
                            message: p.message.clone(),
                        })
                    })
                    .collect(),
            ),
            other => Failure::Failed(other),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bindings::HttpStatusError;

    fn masker() -> Masker {
        let mut m = Masker::default();
        m.add("s3cr3t");
        m
    }

    #[test]
    fn each_guest_variant_maps_to_its_own_and_is_masked() {
        let m = masker();
        let e = Error::from_run(
            RunError::Guest(GuestError::HttpStatus(HttpStatusError {
                code: 401,
                message: "GET /x?key=s3cr3t".into(),
            })),
            &m,
        );
        assert_eq!(
            e,
            Error::HttpStatus {
                status: 401,
                message: "GET /x?key=***".into()
            }
        );
        assert_eq!(e.to_string(), "HTTP 401: GET /x?key=***");
        let e = Error::from_run(
            RunError::Guest(GuestError::Config(vec![crate::bindings::Problem {
                path: "read.path".into(),
                message: "s3cr3t is wrong".into(),
            }])),
            &m,
        );
        assert_eq!(
            e,
            Error::Config(vec![Problem {
                path: "read.path".into(),
                message: "*** is wrong".into()
            }])
        );
        assert_eq!(
            Failure::from(e).to_string(),
            "invalid config:\n  read.path: *** is wrong"
        );
        for (g, kind) in [
            (GuestError::Auth("a".into()), "auth"),
            (GuestError::Transport("a".into()), "transport"),
            (GuestError::Limit("a".into()), "limit"),
            (GuestError::Response("a".into()), "response"),
            (
                GuestError::NonCompliantRecord("a".into()),
                "non-compliant-record",
            ),
            (GuestError::DirtyRecords("a".into()), "dirty-records"),
            (GuestError::Internal("a".into()), "internal"),
        ] {
            let cli = crate::runtime::describe(&g);
            let e = Error::from_run(RunError::Guest(g), &m);
            assert_eq!(e.kind(), kind);
            // The same sentence as the CLI's.
            assert_eq!(e.to_string(), cli);
        }
    }

    #[test]
    fn traps_are_internal_or_limits() {
        let m = masker();
        let cpu = RunError::Trap(anyhow::Error::new(CpuLimitExceeded(
            std::time::Duration::from_millis(5),
        )));
        let cli = cpu.to_string();
        let e = Error::from_run(cpu, &m);
        assert!(matches!(e, Error::Limit(_)), "{e:?}");
        assert_eq!(e.to_string(), cli);
        let trap = RunError::Trap(anyhow::anyhow!("unreachable s3cr3t"));
        let e = Error::from_run(trap, &m);
        assert!(matches!(e, Error::Internal(_)), "{e:?}");
        assert!(!e.to_string().contains("s3cr3t"));
    }

    #[test]
    fn host_problem_lines_keep_their_path() {
        assert_eq!(
            Problem::from_line("source.auth.token: `${env:X}` is not allowed"),
            Problem {
                path: "source.auth.token".into(),
                message: "`${env:X}` is not allowed".into()
            }
        );
        assert_eq!(Problem::from_line("no path here: at all").path, "");
    }
}
