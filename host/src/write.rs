//! `apiconn write`: NDJSON in, every record accounted for.
//!
//! Pass 1 checks the whole input before anything is sent (a pipe is
//! spooled to a temporary file, so memory stays bounded by the chunk size).
//! Pass 2 sends it chunk by chunk. Every input record ends in exactly one of
//! sent, rejected (non-compliant, or refused by the server with a 4xx) or
//! failed (its request never succeeded, or the run stopped before it); with
//! a reject file, rejected and failed records go there with their reason.

use crate::bindings::Rejection;
use crate::run::{Failure, Options, Prepared, sandboxed};
use crate::runtime::Runtime;
use serde::Serialize;
use std::io::{BufRead, BufReader, Seek, Write};
use wasmtime::component::ResourceAny;

/// How much NDJSON crosses into the component per call.
const CHUNK_BYTES: usize = 1 << 20;

/// The counts of a write; `read = sent + rejected + failed`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct WriteSummary {
    pub read: u64,
    pub sent: u64,
    pub rejected: u64,
    pub failed: u64,
    pub requests: u64,
}

/// Where records that were not sent go: one JSON line each.
pub struct RejectFile {
    out: Box<dyn Write>,
}

#[derive(Serialize)]
struct RejectLine<'a> {
    line: u64,
    reason: &'a str,
    /// The input line as it was.
    record: &'a str,
}

impl RejectFile {
    pub fn new(out: Box<dyn Write>) -> Self {
        RejectFile { out }
    }

    fn put(&mut self, line: u64, reason: &str, record: &[u8]) -> std::io::Result<()> {
        let record = String::from_utf8_lossy(record);
        serde_json::to_writer(
            &mut self.out,
            &RejectLine {
                line,
                reason,
                record: record.trim_end(),
            },
        )?;
        self.out.write_all(b"\n")
    }
}

/// Whole lines from `input`, about `CHUNK_BYTES` at a time, with the number
/// of the first line; a copy of everything read goes to `spool`.
struct Chunks<R> {
    input: R,
    spool: Option<std::fs::File>,
    next_line: u64,
}

impl<R: BufRead> Chunks<R> {
    fn next(&mut self) -> std::io::Result<Option<(u64, Vec<u8>)>> {
        let first = self.next_line;
        let mut chunk = Vec::new();
        while chunk.len() < CHUNK_BYTES {
            let buf = self.input.fill_buf()?;
            if buf.is_empty() {
                break;
            }
            // The whole lines of what is buffered, then the rest of a line
            // begun (it may be longer than the buffer).
            let whole = memchr::memrchr(b'\n', buf).map_or(0, |k| k + 1);
            chunk.extend_from_slice(&buf[..whole]);
            self.input.consume(whole);
            if whole == 0 {
                self.input.read_until(b'\n', &mut chunk)?;
            }
        }
        if !chunk.is_empty() && !chunk.ends_with(b"\n") {
            chunk.push(b'\n');
        }
        self.next_line += memchr::memchr_iter(b'\n', &chunk).count() as u64;
        if let Some(spool) = &mut self.spool {
            spool.write_all(&chunk)?;
        }
        Ok((!chunk.is_empty()).then_some((first, chunk)))
    }
}

/// The records of a chunk of whole lines: the lines not blank.
fn records_in(chunk: &[u8]) -> u64 {
    let mut start = 0;
    let mut n = 0;
    for end in memchr::memchr_iter(b'\n', chunk).chain([chunk.len()]) {
        n += u64::from(!chunk[start..end].iter().all(u8::is_ascii_whitespace));
        start = (end + 1).min(chunk.len());
    }
    n
}

/// The text of line `line` of a chunk that starts at line `first`.
fn line_text(chunk: &[u8], first: u64, line: u64) -> &[u8] {
    chunk
        .split(|b| *b == b'\n')
        .nth((line - first) as usize)
        .unwrap_or(&[])
}

fn io_failure(what: &str, e: std::io::Error) -> Failure {
    Failure::Run(format!("{what}: {e}"))
}

/// The input again from its start: the file, or the spool of stdin.
fn replay(
    input: Option<&std::path::Path>,
    spool: Option<&std::fs::File>,
) -> Result<BufReader<std::fs::File>, Failure> {
    let file = match (input, spool) {
        (Some(path), _) => std::fs::File::open(path)
            .map_err(|e| io_failure(&format!("reading {}", path.display()), e)),
        // A clone shares the offset: rewinding it rewinds the spool.
        (None, Some(spool)) => spool
            .try_clone()
            .and_then(|mut f| f.rewind().map(|()| f))
            .map_err(|e| io_failure("reading the spool file", e)),
        (None, None) => unreachable!("stdin is always spooled"),
    }?;
    Ok(BufReader::new(file))
}

/// Writes every record of `input` (a file path, or stdin when `None`).
pub async fn write(
    rt: &Runtime,
    config: &Prepared,
    opts: &Options,
    input: Option<&std::path::Path>,
    mut rejects: Option<RejectFile>,
) -> Result<WriteSummary, (Failure, WriteSummary)> {
    let mut summary = WriteSummary::default();
    let fail = |f: Failure, s: WriteSummary| Err((f, s));
    let mut instance = match sandboxed(rt, config, opts).await {
        Ok(i) => i,
        Err(f) => return fail(f, summary),
    };
    let writer: ResourceAny = match instance
        .open_writer(&config.json, opts.env.as_deref())
        .await
    {
        Ok(w) => w,
        Err(e) => return fail(config.failure(e), summary),
    };

    // Pass 1: check everything, spooling a pipe to a temporary file.
    let (first_pass, spool): (Box<dyn BufRead>, Option<std::fs::File>) = match input {
        Some(path) => match std::fs::File::open(path) {
            Ok(f) => (Box::new(BufReader::new(f)), None),
            Err(e) => {
                return fail(
                    io_failure(&format!("reading {}", path.display()), e),
                    summary,
                );
            }
        },
        None => match tempfile::tempfile() {
            Ok(f) => (Box::new(BufReader::new(std::io::stdin())), Some(f)),
            Err(e) => return fail(io_failure("creating the spool file", e), summary),
        },
    };
    let mut chunks = Chunks {
        input: first_pass,
        spool: spool.as_ref().and_then(|f| f.try_clone().ok()),
        next_line: 1,
    };
    let mut bad: Vec<Rejection> = Vec::new();
    let mut bad_count = 0u64;
    loop {
        let (first, chunk) = match chunks.next() {
            Ok(Some(c)) => c,
            Ok(None) => break,
            Err(e) => return fail(io_failure("reading the input", e), summary),
        };
        summary.read += records_in(&chunk);
        let found = match instance.check_records(writer, &chunk, first).await {
            Ok(r) => r,
            Err(e) => return fail(config.failure(e), summary),
        };
        bad_count += found.len() as u64;
        match &mut rejects {
            Some(file) => {
                for r in &found {
                    if let Err(e) = file.put(r.line, &r.reason, line_text(&chunk, first, r.line)) {
                        return fail(io_failure("writing the reject file", e), summary);
                    }
                }
            }
            None => bad.extend(found.into_iter().take(20usize.saturating_sub(bad.len()))),
        }
    }
    summary.rejected = bad_count;
    if bad_count > 0 && rejects.is_none() {
        let mut message = format!(
            "{bad_count} non-compliant records, nothing was sent (pass --reject-file FILE to send the rest):"
        );
        for r in &bad {
            message.push_str(&format!("\n  line {}: {}", r.line, r.reason));
        }
        if bad_count > bad.len() as u64 {
            message.push_str(&format!("\n  … and {} more", bad_count - bad.len() as u64));
        }
        summary.failed = summary.read - bad_count;
        summary.rejected = bad_count;
        return fail(
            Failure::Failed(crate::error::Error::NonCompliantRecord(
                config.masker.mask(&message),
            )),
            summary,
        );
    }

    // Pass 2: send.
    let second_pass: Box<dyn BufRead> = match replay(input, spool.as_ref()) {
        Ok(r) => Box::new(r),
        Err(f) => return fail(f, summary),
    };
    let mut chunks = Chunks {
        input: second_pass,
        spool: None,
        next_line: 1,
    };
    // Records sent but not stored: refused by the server, or failed.
    let mut failed: Vec<Rejection> = Vec::new();
    let mut stopped = false;
    loop {
        let (first, chunk) = match chunks.next() {
            Ok(Some(c)) => c,
            Ok(None) => break,
            Err(e) => return fail(io_failure("reading the input", e), summary),
        };
        let report = match instance
            .write_records(writer, &chunk, first, rejects.is_some())
            .await
        {
            Ok(r) => r,
            Err(e) => return fail(config.failure(e), summary),
        };
        summary.sent += report.sent;
        summary.requests += u64::from(report.requests);
        summary.rejected += report.refused.len() as u64;
        let any_failed = !report.failed.is_empty() || !report.refused.is_empty();
        failed.extend(report.failed);
        failed.extend(report.refused);
        if any_failed && rejects.is_none() {
            stopped = true;
            break;
        }
    }
    if !stopped {
        match instance.finish_writer(writer).await {
            Ok(report) => {
                summary.sent += report.sent;
                summary.requests += u64::from(report.requests);
                summary.rejected += report.refused.len() as u64;
                failed.extend(report.failed);
                failed.extend(report.refused);
            }
            Err(e) => return fail(config.failure(e), summary),
        }
    }
    // Records not sent, whether their request failed or the run stopped first.
    summary.failed = summary.read - summary.rejected - summary.sent;

    if let Some(file) = &mut rejects
        && !failed.is_empty()
    {
        // Pass 3: the failed records' own lines, for the reject file.
        failed.sort_by_key(|r| r.line);
        let reader = match replay(input, spool.as_ref()) {
            Ok(r) => r,
            Err(f) => return fail(f, summary),
        };
        let mut next = failed.iter().peekable();
        for (i, line) in reader.split(b'\n').enumerate() {
            let Some(r) = next.peek() else { break };
            let line = match line {
                Ok(l) => l,
                Err(e) => return fail(io_failure("reading the input", e), summary),
            };
            if r.line == i as u64 + 1 {
                if let Err(e) = file.put(r.line, &config.masker.mask(&r.reason), &line) {
                    return fail(io_failure("writing the reject file", e), summary);
                }
                next.next();
            }
        }
    }
    if (summary.failed > 0 || !failed.is_empty()) && rejects.is_none() {
        failed.sort_by_key(|r| r.line);
        let first = failed
            .first()
            .map(|r| format!("line {}: {}", r.line, r.reason))
            .unwrap_or_default();
        let message = format!(
            "a record was not stored, the run stopped; {} records were not stored (pass --reject-file FILE to go on past failures): {first}",
            summary.failed + summary.rejected
        );
        return fail(Failure::Run(config.masker.mask(&message)), summary);
    }
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every chunk of `input` read through a buffer of `capacity` bytes.
    fn chunks(input: &[u8], capacity: usize) -> Vec<(u64, Vec<u8>)> {
        let mut c = Chunks {
            input: BufReader::with_capacity(capacity, input),
            spool: None,
            next_line: 1,
        };
        std::iter::from_fn(|| c.next().unwrap()).collect()
    }

    #[test]
    fn chunks_are_whole_lines_numbered_from_their_first() {
        let input = b"{\"a\":1}\n\n  \n{\"b\":2}\n{\"c\":3}";
        for capacity in [1, 3, 8, 64, 8192] {
            let got = chunks(input, capacity);
            assert_eq!(got.len(), 1, "capacity {capacity}");
            assert_eq!(
                got[0],
                (1, b"{\"a\":1}\n\n  \n{\"b\":2}\n{\"c\":3}\n".to_vec())
            );
            assert_eq!(records_in(&got[0].1), 3);
        }
        assert!(chunks(b"", 8).is_empty());
        assert_eq!(records_in(b"\n \n"), 0);
        assert_eq!(records_in(b"x"), 1);
    }

    #[test]
    fn a_chunk_ends_at_the_line_end_after_its_size_and_long_lines_stay_whole() {
        // 3 MiB of 1 KiB lines, and one line of 1.5 MiB.
        let short = [b'x'; 1023];
        let mut input = Vec::new();
        for _ in 0..1024 {
            input.extend_from_slice(&short);
            input.push(b'\n');
        }
        input.extend(std::iter::repeat_n(b'y', 3 << 19));
        input.push(b'\n');
        for _ in 0..2048 {
            input.extend_from_slice(&short);
            input.push(b'\n');
        }
        let got = chunks(&input, 8192);
        let all: Vec<u8> = got.iter().flat_map(|(_, c)| c.iter().copied()).collect();
        assert_eq!(all, input);
        let mut line = 1;
        for (first, chunk) in &got {
            assert_eq!(*first, line);
            assert!(chunk.ends_with(b"\n"));
            // At most one line past the size.
            let without_last = &chunk[..chunk.len() - 1];
            let last_start = memchr::memrchr(b'\n', without_last).map_or(0, |k| k + 1);
            assert!(
                last_start < CHUNK_BYTES,
                "chunk at line {first} went on past its size"
            );
            line += records_in(chunk);
        }
        assert_eq!(line, 3074);
    }
}
