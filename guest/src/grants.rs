//! What the operator granted this instance (the WIT `admin.grants`), and
//! the one masker of the component.
//!
//! A component instance runs one connector, so these are per instance
//! (per thread in native tests). The masker holds the host's secret values
//! plus what the component learns at run time: auth credentials of the
//! config, the base64 of `Basic` credentials, OAuth access tokens. Every
//! text the component hands out — errors, warnings, `check` output, a
//! panic message — goes through [`mask`]; server text embedded in a
//! message goes through [`excerpt`] (masked first, then escaped and cut,
//! so half a secret can never show).

use apiconn_text::Masker;
use std::cell::RefCell;
use std::time::Duration;

#[derive(Default)]
struct Grants {
    masker: Masker,
    max_timeout: Option<Duration>,
    verbose: bool,
    strict: bool,
    /// The request log's line for the last answered request, held until
    /// the reader adds what it made of the response (records, next page).
    pending: Option<String>,
}

thread_local! {
    static GRANTS: RefCell<Grants> = RefCell::new(Grants::default());
}

/// Replaces the grants (the host's `configure` call).
pub fn configure(secrets: &[String], max_timeout_ms: u32) {
    configure_all(secrets, max_timeout_ms, false, false);
}

/// Replaces the grants, with the operator's `-v` and `--strict`.
pub fn configure_all(secrets: &[String], max_timeout_ms: u32, verbose: bool, strict: bool) {
    GRANTS.with(|g| {
        let mut g = g.borrow_mut();
        let mut host = Masker::new();
        for s in secrets {
            host.add(s);
        }
        g.masker = host;
        g.max_timeout = (max_timeout_ms > 0).then(|| Duration::from_millis(max_timeout_ms.into()));
        g.verbose = verbose;
        g.strict = strict;
        g.pending = None;
    });
}

/// The operator's `--strict`: warnings are errors.
pub fn strict() -> bool {
    GRANTS.with(|g| g.borrow().strict)
}

/// The operator's `-v`: one line per request on stderr.
pub fn verbose() -> bool {
    GRANTS.with(|g| g.borrow().verbose)
}

/// Logs one request (`-v`); the line is held until [`complete_request`]
/// adds to it or the next line or [`flush_requests`] writes it.
pub fn log_request(line: String) {
    if !verbose() {
        return;
    }
    flush_requests();
    GRANTS.with(|g| g.borrow_mut().pending = Some(line));
}

/// Adds `tail` to the held request line and writes it.
pub fn complete_request(tail: &str) {
    let line = GRANTS.with(|g| g.borrow_mut().pending.take());
    if let Some(line) = line {
        write_line(&format!("{line}{tail}"));
    }
}

/// Writes the held request line, if any.
pub fn flush_requests() {
    let line = GRANTS.with(|g| g.borrow_mut().pending.take());
    if let Some(line) = line {
        write_line(&line);
    }
}

/// One line to stderr, masked and escaped (in the component, the host's
/// stderr masks it once more).
fn write_line(line: &str) {
    use std::io::Write;
    let text = apiconn_text::printable(&mask(line));
    #[cfg(test)]
    LOGGED.with(|l| l.borrow_mut().push(text.clone()));
    let _ = writeln!(std::io::stderr(), "{text}");
}

#[cfg(test)]
thread_local! {
    static LOGGED: RefCell<Vec<String>> = const { RefCell::new(Vec::new()) };
}

/// The request log lines written so far on this thread (tests).
#[cfg(test)]
pub fn take_logged() -> Vec<String> {
    LOGGED.with(|l| std::mem::take(&mut *l.borrow_mut()))
}

/// Registers a secret learned at run time (a token, a password).
pub fn register(secret: &str) {
    GRANTS.with(|g| g.borrow_mut().masker.add(secret));
}

/// Registers HTTP Basic credentials and their base64 form.
pub fn register_basic(user: &str, password: &str) {
    GRANTS.with(|g| g.borrow_mut().masker.add_basic(user, password));
}

/// `text` with every known secret masked.
pub fn mask(text: &str) -> String {
    GRANTS.with(|g| g.borrow().masker.mask(text))
}

/// Whether a configured value is a credential: it holds a value the host
/// resolved from a secret reference, or a secret the component learned.
pub fn is_credential(value: &str) -> bool {
    GRANTS.with(|g| g.borrow().masker.holds_secret(value))
}

/// The operator's ceiling on one request with its retries and waits.
pub fn max_timeout() -> Option<Duration> {
    GRANTS.with(|g| g.borrow().max_timeout)
}

/// Server text for a message: secrets masked, control characters escaped,
/// then at most `max` characters, marked when cut.
pub fn excerpt(text: &str, max: usize) -> String {
    let text = apiconn_text::printable(&mask(text));
    match text.char_indices().nth(max) {
        None => text,
        Some((cut, _)) => format!("{}… ({} bytes in all)", &text[..cut], text.len()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_masked_before_an_excerpt_is_cut() {
        configure(&["0123456789abcdefghij".into()], 0);
        let body = format!("{}0123456789abcdefghij tail", "x".repeat(30));
        let cut = excerpt(&body, 40);
        assert!(!cut.contains("0123456789"), "{cut}");
        assert!(cut.starts_with(&format!("{}***", "x".repeat(30))), "{cut}");
        assert_eq!(excerpt("a\u{1b}[2Jb\rc", 100), "a\\u001b[2Jb\\rc");
        register("tok3n");
        assert_eq!(mask("Bearer tok3n"), "Bearer ***");
        assert!(is_credential("x-0123456789abcdefghij") && is_credential("tok3n"));
        assert!(!is_credential("plain"));
        configure(&[], 0);
        assert_eq!(
            mask("Bearer tok3n"),
            "Bearer tok3n",
            "configure replaces all"
        );
    }
}
