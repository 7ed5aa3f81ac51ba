//! Every line the host writes for people goes through one masker (README,
//! "Security model"): the secrets of every config this process prepared
//! are replaced by `***`, and control characters are escaped, in log lines
//! at every level, in errors, and in what the component writes to stderr.

use apiconn_text::{Masker, printable_lines};
use std::io::Write;
use std::sync::RwLock;

/// The secrets of every config prepared in this process.
static SECRETS: RwLock<Option<Masker>> = RwLock::new(None);

/// Adds the secrets of `masker` to the process-wide set.
pub fn register(masker: &Masker) {
    if masker.is_empty() {
        return;
    }
    let mut all = SECRETS.write().expect("secrets lock");
    all.get_or_insert_with(Masker::new).extend(masker);
}

/// `text` ready for a terminal: every known secret masked, control
/// characters escaped (line feeds kept).
pub fn for_people(text: &str) -> String {
    let all = SECRETS.read().expect("secrets lock");
    match all.as_ref() {
        Some(m) => printable_lines(&m.mask(text)),
        None => printable_lines(text),
    }
}

/// Writes `text` to stderr as [`for_people`] makes it.
fn to_stderr(text: &[u8]) {
    let line = for_people(&String::from_utf8_lossy(text));
    let _ = std::io::stderr().lock().write_all(line.as_bytes());
}

/// A `tracing` writer: each event is formatted into a buffer, then masked
/// and written whole.
#[derive(Default)]
pub struct MaskedEvent(Vec<u8>);

impl Write for MaskedEvent {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for MaskedEvent {
    fn drop(&mut self) {
        to_stderr(&self.0);
    }
}

/// Installs the subscriber for `APICONN_LOG` (default `warn`). Wasmtime's
/// and Cranelift's own logs stay at `info` at most whatever it says: at
/// `trace` they print the component's calls with their arguments (URLs,
/// header values) in forms the masker cannot know.
pub fn init() {
    use tracing_subscriber::Layer as _;
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::util::SubscriberInitExt as _;
    let filter = tracing_subscriber::EnvFilter::try_from_env("APICONN_LOG")
        .unwrap_or_else(|_| "warn".into());
    let engine_at_most_info = tracing_subscriber::filter::filter_fn(|meta| {
        let engine = ["wasmtime", "cranelift"]
            .iter()
            .any(|t| meta.target().starts_with(t));
        !engine || *meta.level() <= tracing::Level::INFO
    });
    let layer = tracing_subscriber::fmt::layer()
        .with_writer(MaskedEvent::default)
        .with_target(false)
        .without_time()
        .with_ansi(false)
        .with_filter(engine_at_most_info);
    tracing_subscriber::registry()
        .with(filter)
        .with(layer)
        .init();
}

/// The component's stderr (a panic message): masked and escaped line by
/// line on its way to the host's stderr. A line longer than 64 KiB is
/// written in pieces.
#[derive(Clone, Copy, Default)]
pub struct GuestStderr;

const MAX_LINE: usize = 64 << 10;

/// One open stderr stream of the component, holding its unfinished line.
#[derive(Default)]
struct GuestLines(Vec<u8>);

impl GuestLines {
    fn push(&mut self, bytes: &[u8]) {
        self.0.extend_from_slice(bytes);
        if let Some(end) = self.0.iter().rposition(|b| *b == b'\n') {
            let lines: Vec<u8> = self.0.drain(..=end).collect();
            to_stderr(&lines);
        }
        if self.0.len() > MAX_LINE {
            to_stderr(&std::mem::take(&mut self.0));
        }
    }
}

impl Drop for GuestLines {
    fn drop(&mut self) {
        if !self.0.is_empty() {
            self.0.push(b'\n');
            to_stderr(&self.0);
        }
    }
}

impl wasmtime_wasi::cli::IsTerminal for GuestStderr {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl wasmtime_wasi::cli::StdoutStream for GuestStderr {
    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(GuestLines::default())
    }
    fn p2_stream(&self) -> Box<dyn wasmtime_wasi::p2::OutputStream> {
        Box::new(GuestLines::default())
    }
}

impl tokio::io::AsyncWrite for GuestLines {
    fn poll_write(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        self.get_mut().push(buf);
        std::task::Poll::Ready(Ok(buf.len()))
    }
    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }
    fn poll_shutdown(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }
}

impl wasmtime_wasi::p2::OutputStream for GuestLines {
    fn write(&mut self, bytes: bytes::Bytes) -> wasmtime_wasi::p2::StreamResult<()> {
        self.push(&bytes);
        Ok(())
    }
    fn flush(&mut self) -> wasmtime_wasi::p2::StreamResult<()> {
        Ok(())
    }
    fn check_write(&mut self) -> wasmtime_wasi::p2::StreamResult<usize> {
        Ok(MAX_LINE)
    }
}

#[wasmtime_wasi::async_trait]
impl wasmtime_wasi::p2::Pollable for GuestLines {
    async fn ready(&mut self) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registered_secrets_are_masked_and_control_characters_escaped() {
        let mut m = Masker::new();
        m.add("logs-test-secret");
        register(&m);
        assert_eq!(
            for_people("a logs-test-secret b\x1b[2J\nc\rd"),
            "a *** b\\u001b[2J\nc\\rd"
        );
    }
}
