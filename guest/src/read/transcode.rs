//! The read path's common case in one pass: a page's JSON transcoded
//! straight into flat NDJSON, without decoding a value.
//!
//! [`transcode`] walks the body once. It validates all of it — grammar,
//! escapes (surrogate pairs included), UTF-8, a nesting limit — and copies
//! each scalar of each record at the records path verbatim into the output
//! (`"key":value`, whitespace dropped), with the key prefixes of nested
//! objects kept on a stack. Nothing is parsed into a Rust value: a number
//! keeps the text the API sent (`1.50`, `1e3`, a 30-digit id), a string its
//! escapes (`\u00e9`, `\/`). An array is handled by `read.flatten.arrays`:
//! `json` writes its JSON text (whitespace dropped, escapes as sent) as a
//! string, `drop` validates and counts it; `error` is not done here.
//!
//! Whatever it does not do, it declines (`None`), and the caller takes the
//! general path (`page`, `flatten`), which then gives the records or the
//! error as it always did: a body that is not JSON (or nests deeper than
//! [`MAX_DEPTH`]), a record that is not an object, an array under `arrays:
//! error`, a key with an escape, two keys of a record that flatten to the
//! same key, a separator that needs escaping, a records value that is an
//! object or a scalar, the records key twice, a number that is long or has a
//! large exponent (a value out of the parser's range stays its error).
//! Declining is always safe; accepting must match the general path.
//! That is proven by property tests against `flatten::flatten` and a fuzz
//! target (`guest/fuzz/fuzz_targets/transcode.rs`).
//!
//! Speed, for WebAssembly under Cranelift (see bench/RESULTS.md): strings
//! are scanned and copied 8 bytes at a time (SWAR), short spans are copied
//! as fixed 8/16-byte words past their end into reserved space (no
//! `memory.copy` call), `true`/`false`/`null` are one u32 compare, and the
//! body is copied once into a buffer with zeroed padding, so that loads
//! need no bounds checks (a zero byte is invalid anywhere in JSON, so every
//! scan stops at the padding).

use crate::config::ArrayPolicy;
use crate::jsonpath::Segment;
use serde_json::Value;

/// How deep the transcoder follows nesting, from the document's root; a
/// deeper body is declined (serde_json's limit is 128).
pub const MAX_DEPTH: usize = 100;

/// Zeroed bytes after the body: every load reads at most this far past
/// a position inside the body (or at its end).
const PAD: usize = 64;

/// Numbers longer than this are declined: with at most two exponent
/// digits, whatever fits is far inside the range of an `f64`.
const MAX_NUMBER: usize = 40;

/// A page transcoded.
#[derive(Debug, PartialEq)]
pub struct Transcoded {
    /// NDJSON, one flat object per line.
    pub records: Vec<u8>,
    pub count: u64,
    /// Array fields dropped (`arrays: drop`).
    pub dropped: u32,
    /// The document without its records: `null` where they were, as
    /// `page::parse` gives it.
    pub doc: Value,
}

/// The buffers a reader keeps from page to page.
#[derive(Default)]
pub struct Scratch {
    body: Vec<u8>,
    prefix: Vec<u8>,
    shape: Vec<u8>,
    checked: Vec<u8>,
}

/// Transcodes `body`'s records at `path`; `None`: take the general path.
pub fn transcode(
    body: &[u8],
    path: &[Segment],
    separator: &str,
    arrays: ArrayPolicy,
    scratch: &mut Scratch,
) -> Option<Transcoded> {
    if separator
        .bytes()
        .any(|b| b < 0x20 || b == b'"' || b == b'\\')
        || path.len() > 8
    {
        return None;
    }
    let out = Vec::with_capacity(body.len() + body.len() / 2 + PAD);
    let mut t = T::new(body, scratch, separator.as_bytes(), arrays, out);
    t.ws();
    t.at(path, 0).ok()?;
    t.ws();
    if t.i != t.n {
        return None;
    }
    let doc = match t.span {
        None => serde_json::from_slice(body).ok()?,
        Some((start, end)) => {
            let mut rest = Vec::with_capacity(body.len() - (end - start) + 4);
            rest.extend_from_slice(&body[..start]);
            rest.extend_from_slice(b"null");
            rest.extend_from_slice(&body[end..]);
            serde_json::from_slice(&rest).ok()?
        }
    };
    Some(Transcoded {
        records: t.out,
        count: t.count,
        dropped: t.dropped,
        doc,
    })
}

/// A write's input checked and minified line by line, in one pass each:
/// the common case of `write`, whose records are sent as they are.
pub struct Flat<'s> {
    t: T<'s>,
}

impl<'s> Flat<'s> {
    /// Over a chunk of NDJSON, copied once into `scratch` with padding.
    pub fn new(chunk: &[u8], scratch: &'s mut Scratch) -> Flat<'s> {
        Flat {
            t: T::new(chunk, scratch, b".", ArrayPolicy::Error, Vec::new()),
        }
    }

    /// The line at `start..end` of the chunk as a JSON object without
    /// whitespace, its keys and values copied verbatim, when it is one
    /// object whose values are strings, numbers, booleans or null, with no
    /// key twice and no escape in a key. `None`: take the general path
    /// (`serde_json`), which then gives the record or says why it is not one.
    pub fn object(&mut self, start: usize, end: usize) -> Option<&[u8]> {
        let t = &mut self.t;
        t.out.clear();
        t.plen = 0;
        t.i = start;
        t.ws();
        if t.i >= end || t.peek() != b'{' {
            return None;
        }
        t.flat_record().ok()?;
        if t.i > end {
            // The object went on past the line.
            return None;
        }
        t.ws();
        if t.i < end {
            return None;
        }
        Some(&t.out)
    }
}

/// Why the transcoder stops: the caller takes the general path.
struct Decline;

type R<T = ()> = Result<T, Decline>;

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGH: u64 = 0x8080_8080_8080_8080;
const LOW7: u64 = 0x7f7f_7f7f_7f7f_7f7f;

/// Bytes of `w` that end a plain run inside a string: `"`, `\`, a control
/// character, or any byte of a multi-byte UTF-8 sequence; the high bit of
/// each such byte (exact per byte: no carry crosses bytes).
#[inline(always)]
fn specials(w: u64) -> u64 {
    let x = w & LOW7;
    let quote = !((x ^ (ONES * 0x22)) + LOW7);
    let backslash = !((x ^ (ONES * 0x5c)) + LOW7);
    let control = !(x + ONES * 0x60);
    (quote | backslash | control | w) & HIGH
}

/// How many of the bytes of `w`, from the first, are ASCII digits (0–8).
#[inline(always)]
fn digits(w: u64) -> usize {
    let x = w & LOW7;
    let at_least_0 = (x + ONES * 0x50) & HIGH;
    let above_9 = (x + ONES * 0x46) & HIGH;
    let digit = at_least_0 & !above_9 & !w;
    ((!digit & HIGH).trailing_zeros() / 8) as usize
}

/// `a == b`, 8 bytes at a time.
#[inline(always)]
fn same(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let (mut x, mut y) = (a.chunks_exact(8), b.chunks_exact(8));
    for (p, q) in (&mut x).zip(&mut y) {
        if u64::from_le_bytes(p.try_into().expect("8 bytes"))
            != u64::from_le_bytes(q.try_into().expect("8 bytes"))
        {
            return false;
        }
    }
    x.remainder().iter().zip(y.remainder()).all(|(p, q)| p == q)
}

/// The transcoder's state over one padded body.
struct T<'a> {
    /// The body with [`PAD`] zero bytes after it.
    b: &'a [u8],
    /// The body's length.
    n: usize,
    i: usize,
    out: Vec<u8>,
    /// The key prefix of the current object (keys and separators, escaped
    /// as in the body), `plen` bytes long, with at least [`PAD`] bytes
    /// after it.
    prefix: &'a mut Vec<u8>,
    plen: usize,
    /// The key events of the current record (a name and a tag each): the
    /// record's flat keys follow from them.
    shape: &'a mut Vec<u8>,
    /// The shape of the last record found free of duplicate keys.
    checked: &'a mut Vec<u8>,
    sep: &'a [u8],
    arrays: ArrayPolicy,
    count: u64,
    dropped: u32,
    /// Where the records' value is in the body.
    span: Option<(usize, usize)>,
    /// Open containers of [`T::text`] (`true`: an object).
    stack: Vec<bool>,
    /// The prefix lengths of the objects of a record entered.
    saved: Vec<usize>,
}

/// Shape tags: no byte of a key is below 0x20.
const LEAF: u8 = 0;
const ENTER: u8 = 1;
const EXIT: u8 = 2;

impl<'a> T<'a> {
    /// Over `body`, copied into `scratch`'s buffer with [`PAD`] zero bytes
    /// after it; records go to `out`.
    fn new(
        body: &[u8],
        scratch: &'a mut Scratch,
        sep: &'a [u8],
        arrays: ArrayPolicy,
        out: Vec<u8>,
    ) -> T<'a> {
        let Scratch {
            body: padded,
            prefix,
            shape,
            checked,
        } = scratch;
        padded.clear();
        padded.reserve(body.len() + PAD);
        padded.extend_from_slice(body);
        padded.resize(body.len() + PAD, 0);
        prefix.clear();
        prefix.resize(PAD, 0);
        shape.clear();
        T {
            b: padded,
            n: body.len(),
            i: 0,
            out,
            prefix,
            plen: 0,
            shape,
            checked,
            sep,
            arrays,
            count: 0,
            dropped: 0,
            span: None,
            stack: Vec::new(),
            saved: Vec::new(),
        }
    }

    #[inline(always)]
    fn peek(&self) -> u8 {
        // SAFETY: `i` never passes `n` (every scan stops at a zero byte),
        // and `b` has PAD bytes after `n`.
        unsafe { *self.b.get_unchecked(self.i) }
    }

    #[inline(always)]
    fn load8(&self, at: usize) -> u64 {
        debug_assert!(at + 8 <= self.b.len());
        // SAFETY: callers read at most PAD bytes past a position <= n.
        unsafe { std::ptr::read_unaligned(self.b.as_ptr().add(at).cast::<u64>()) }
    }

    #[inline(always)]
    fn load4(&self, at: usize) -> u32 {
        debug_assert!(at + 4 <= self.b.len());
        // SAFETY: as in `load8`.
        unsafe { std::ptr::read_unaligned(self.b.as_ptr().add(at).cast::<u32>()) }
    }

    /// Makes room for `n` more output bytes (and the slack of word stores).
    #[inline(always)]
    fn room(&mut self, n: usize) {
        if self.out.capacity() - self.out.len() < n + PAD {
            self.out.reserve(n + PAD);
        }
    }

    /// Stores 8 bytes at output position `at`, which [`T::room`] covered.
    #[inline(always)]
    fn store8(&mut self, at: usize, w: u64) {
        debug_assert!(at + 8 <= self.out.capacity());
        // SAFETY: `room` reserved PAD bytes past every position written.
        unsafe { std::ptr::write_unaligned(self.out.as_mut_ptr().add(at).cast::<u64>(), w) }
    }

    #[inline(always)]
    fn set_len(&mut self, len: usize) {
        debug_assert!(len <= self.out.capacity());
        // SAFETY: every byte below `len` was written.
        unsafe { self.out.set_len(len) }
    }

    /// Copies `len` body bytes at `from` to output position `to` as
    /// 16-byte words (up to 15 bytes too many, overwritten or past the end).
    #[inline(always)]
    fn copy_body(&mut self, from: usize, to: usize, len: usize) {
        let mut k = 0;
        while k < len {
            let (a, b) = (self.load8(from + k), self.load8(from + k + 8));
            self.store8(to + k, a);
            self.store8(to + k + 8, b);
            k += 16;
        }
    }

    /// Whitespace.
    #[inline(always)]
    fn ws(&mut self) {
        while matches!(self.peek(), b' ' | b'\n' | b'\r' | b'\t') {
            self.i += 1;
        }
    }

    #[inline(always)]
    fn expect(&mut self, c: u8) -> R {
        self.ws();
        if self.peek() != c {
            return Err(Decline);
        }
        self.i += 1;
        self.ws();
        Ok(())
    }

    /// The value at `i`, with `path` the rest of the way to the records and
    /// `depth` the containers around it.
    fn at(&mut self, path: &[Segment], depth: usize) -> R {
        let Some((first, rest)) = path.split_first() else {
            return self.records(depth);
        };
        if let Segment::Key(name) = first
            && self.peek() == b'{'
        {
            self.i += 1;
            self.ws();
            if self.peek() == b'}' {
                self.i += 1;
                return Ok(());
            }
            loop {
                if self.peek() != b'"' {
                    return Err(Decline);
                }
                let start = self.i + 1;
                if self.key()? {
                    // The key may be the name spelled with escapes.
                    return Err(Decline);
                }
                let hit = &self.b[start..self.i - 1] == name.as_bytes();
                self.expect(b':')?;
                if hit {
                    if self.span.is_some() {
                        // The key twice: only the last one's records count.
                        return Err(Decline);
                    }
                    self.at(rest, depth + 1)?;
                } else {
                    self.text::<false>(depth + 1)?;
                }
                self.ws();
                match self.peek() {
                    b',' => {
                        self.i += 1;
                        self.ws();
                    }
                    b'}' => {
                        self.i += 1;
                        return Ok(());
                    }
                    _ => return Err(Decline),
                }
            }
        }
        if let Segment::Index(n) = first
            && self.peek() == b'['
        {
            self.i += 1;
            self.ws();
            if self.peek() == b']' {
                self.i += 1;
                return Ok(());
            }
            let mut k = 0usize;
            loop {
                if k == *n {
                    self.at(rest, depth + 1)?;
                } else {
                    self.text::<false>(depth + 1)?;
                }
                k += 1;
                self.ws();
                match self.peek() {
                    b',' => {
                        self.i += 1;
                        self.ws();
                    }
                    b']' => {
                        self.i += 1;
                        return Ok(());
                    }
                    _ => return Err(Decline),
                }
            }
        }
        // Anything else (another kind of segment included) has no records
        // here; a segment the transcoder does not know is declined.
        if !matches!(first, Segment::Key(_) | Segment::Index(_)) {
            return Err(Decline);
        }
        self.text::<false>(depth)
    }

    /// The records' value: an array of objects, or `null`.
    fn records(&mut self, depth: usize) -> R {
        let start = self.i;
        match self.peek() {
            b'[' => {}
            b'n' if self.load4(self.i) == u32::from_le_bytes(*b"null") => {
                self.i += 4;
                self.span = Some((start, self.i));
                return Ok(());
            }
            // One record, or a scalar: the general path.
            _ => return Err(Decline),
        }
        if depth + 2 > MAX_DEPTH {
            return Err(Decline);
        }
        self.i += 1;
        self.ws();
        if self.peek() == b']' {
            self.i += 1;
            self.span = Some((start, self.i));
            return Ok(());
        }
        loop {
            if self.peek() != b'{' {
                return Err(Decline);
            }
            self.record(depth + 1)?;
            self.count += 1;
            self.ws();
            match self.peek() {
                b',' => {
                    self.i += 1;
                    self.ws();
                }
                b']' => {
                    self.i += 1;
                    self.span = Some((start, self.i));
                    return Ok(());
                }
                _ => return Err(Decline),
            }
        }
    }

    /// A key string at `i` (its quotes included); whether it has escapes.
    #[inline(always)]
    fn key(&mut self) -> R<bool> {
        let start = self.i;
        self.i += 1;
        let mut escaped = false;
        let mut wide = false;
        loop {
            let m = specials(self.load8(self.i));
            if m == 0 {
                self.i += 8;
                continue;
            }
            self.i += (m.trailing_zeros() / 8) as usize;
            match self.peek() {
                b'"' => break,
                b'\\' => {
                    escaped = true;
                    self.escape()?;
                }
                c if c >= 0x80 => {
                    wide = true;
                    self.i += 1;
                }
                _ => return Err(Decline),
            }
        }
        self.i += 1;
        if wide && std::str::from_utf8(&self.b[start..self.i]).is_err() {
            return Err(Decline);
        }
        Ok(escaped)
    }

    /// An escape at `i` (the backslash), checked and passed.
    fn escape(&mut self) -> R {
        match self.b[self.i + 1] {
            b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => {
                self.i += 2;
                Ok(())
            }
            b'u' => {
                let unit = self.hex(self.i + 2)?;
                self.i += 6;
                match unit {
                    0xd800..=0xdbff => {
                        if self.b[self.i] != b'\\' || self.b[self.i + 1] != b'u' {
                            return Err(Decline);
                        }
                        if !(0xdc00..=0xdfff).contains(&self.hex(self.i + 2)?) {
                            return Err(Decline);
                        }
                        self.i += 6;
                        Ok(())
                    }
                    0xdc00..=0xdfff => Err(Decline),
                    _ => Ok(()),
                }
            }
            _ => Err(Decline),
        }
    }

    /// Four hex digits at `at`.
    fn hex(&self, at: usize) -> R<u32> {
        let mut v = 0;
        for &c in &self.b[at..at + 4] {
            let d = match c {
                b'0'..=b'9' => c - b'0',
                b'a'..=b'f' => c - b'a' + 10,
                b'A'..=b'F' => c - b'A' + 10,
                _ => return Err(Decline),
            };
            v = v * 16 + u32::from(d);
        }
        Ok(v)
    }

    /// A string at `i` copied to output position `o`, word by word as it is
    /// scanned; the output position after it.
    #[inline(always)]
    fn string(&mut self, mut o: usize) -> R<usize> {
        let start = self.i;
        let mut wide = false;
        self.store8(o, self.load8(self.i));
        self.i += 1;
        o += 1;
        loop {
            let w = self.load8(self.i);
            self.store8(o, w);
            let m = specials(w);
            if m == 0 {
                self.i += 8;
                o += 8;
                continue;
            }
            let k = (m.trailing_zeros() / 8) as usize;
            self.i += k;
            o += k;
            match self.peek() {
                b'"' => break,
                b'\\' => {
                    let at = self.i;
                    self.escape()?;
                    let len = self.i - at;
                    self.copy_body(at, o, len);
                    o += len;
                }
                c if c >= 0x80 => {
                    wide = true;
                    self.i += 1;
                    o += 1;
                }
                _ => return Err(Decline),
            }
        }
        self.i += 1;
        if wide && std::str::from_utf8(&self.b[start..self.i]).is_err() {
            return Err(Decline);
        }
        Ok(o + 1)
    }

    /// ASCII digits from `i` on.
    #[inline(always)]
    fn digit_run(&mut self) -> usize {
        let start = self.i;
        loop {
            let d = digits(self.load8(self.i));
            self.i += d;
            if d < 8 {
                return self.i - start;
            }
        }
    }

    /// A number at `i`, checked and passed; its length.
    #[inline(always)]
    fn number(&mut self) -> R<usize> {
        let start = self.i;
        if self.peek() == b'-' {
            self.i += 1;
        }
        match self.peek() {
            b'0' => self.i += 1,
            b'1'..=b'9' => {
                self.digit_run();
            }
            _ => return Err(Decline),
        }
        if self.peek() == b'.' {
            self.i += 1;
            if self.digit_run() == 0 {
                return Err(Decline);
            }
        }
        if self.peek() | 0x20 == b'e' {
            self.i += 1;
            if matches!(self.peek(), b'+' | b'-') {
                self.i += 1;
            }
            match self.digit_run() {
                1 | 2 => {}
                3 => {
                    // Far from the ends of an `f64`, or the general path decides.
                    let text = std::str::from_utf8(&self.b[start..self.i]).map_err(|_| Decline)?;
                    let v = text.parse::<f64>().map_err(|_| Decline)?.abs();
                    if !(v == 0.0 || (1e-300..1e300).contains(&v)) {
                        return Err(Decline);
                    }
                }
                _ => return Err(Decline),
            }
        }
        let len = self.i - start;
        if len > MAX_NUMBER {
            return Err(Decline);
        }
        Ok(len)
    }

    /// `true`, `false` or `null` at `i`; its length.
    #[inline(always)]
    fn literal(&mut self) -> R<usize> {
        let four = self.load4(self.i);
        let len = if four == u32::from_le_bytes(*b"true") || four == u32::from_le_bytes(*b"null") {
            4
        } else if four == u32::from_le_bytes(*b"fals") && self.b[self.i + 4] == b'e' {
            5
        } else {
            return Err(Decline);
        };
        self.i += len;
        Ok(len)
    }

    /// A scalar at `i` copied to output position `o`; the position after it.
    #[inline(always)]
    fn scalar(&mut self, o: usize) -> R<usize> {
        let start = self.i;
        let len = match self.peek() {
            b'"' => return self.string(o),
            b't' | b'f' | b'n' => self.literal()?,
            _ => self.number()?,
        };
        self.copy_body(start, o, len);
        Ok(o + len)
    }

    /// Appends the name at `start..end` of the body and `tag` to the shape.
    #[inline(always)]
    fn event(&mut self, start: usize, end: usize, tag: u8) {
        let at = self.shape.len();
        let len = end - start;
        self.shape.reserve(len + 1 + 16);
        let mut k = 0;
        while k < len {
            let w = self.load8(start + k).to_le_bytes();
            let v = self.load8(start + k + 8).to_le_bytes();
            // SAFETY: reserved above (16 bytes of slack).
            unsafe {
                let p = self.shape.as_mut_ptr().add(at + k);
                std::ptr::copy_nonoverlapping(w.as_ptr(), p, 8);
                std::ptr::copy_nonoverlapping(v.as_ptr(), p.add(8), 8);
            }
            k += 16;
        }
        // SAFETY: the name and the tag are written.
        unsafe {
            *self.shape.as_mut_ptr().add(at + len) = tag;
            self.shape.set_len(at + len + 1);
        }
    }

    /// One record at `i` (its `{`) as one line.
    fn record(&mut self, depth: usize) -> R {
        self.i += 1;
        self.shape.clear();
        let line = self.out.len();
        self.room(4);
        self.store8(line, u64::from(b'{'));
        let mut o = line + 1;
        self.ws();
        if self.peek() == b'}' {
            self.i += 1;
            self.store8(o, u64::from_le_bytes(*b"}\n\0\0\0\0\0\0"));
            self.set_len(o + 2);
            return self.unique();
        }
        // The prefix lengths of the objects entered.
        self.saved.clear();
        let mut first = true;
        loop {
            // A key.
            if self.peek() != b'"' {
                return Err(Decline);
            }
            let rest = self.n - self.i;
            self.set_len(o);
            self.room(self.plen + rest);
            let before = o;
            if !first {
                self.store8(o, u64::from(b','));
                o += 1;
            }
            self.store8(o, u64::from(b'"'));
            o += 1;
            let plen = self.plen;
            let mut k = 0;
            while k < plen {
                let a = u64::from_le_bytes(self.prefix[k..k + 8].try_into().expect("8 bytes"));
                let b = u64::from_le_bytes(self.prefix[k + 8..k + 16].try_into().expect("8 bytes"));
                self.store8(o + k, a);
                self.store8(o + k + 8, b);
                k += 16;
            }
            o += plen;
            let name = self.i + 1;
            if self.key()? {
                return Err(Decline);
            }
            let name_end = self.i - 1;
            let len = name_end - name;
            self.copy_body(name, o, len);
            o += len;
            self.store8(o, u64::from_le_bytes(*b"\":\0\0\0\0\0\0"));
            o += 2;
            self.ws();
            if self.peek() != b':' {
                return Err(Decline);
            }
            self.i += 1;
            self.ws();
            // Its value.
            match self.peek() {
                b'{' => {
                    self.i += 1;
                    self.ws();
                    if self.peek() == b'}' {
                        self.i += 1;
                        self.store8(o, u64::from_le_bytes(*b"null\0\0\0\0"));
                        o += 4;
                        self.event(name, name_end, LEAF);
                    } else {
                        if depth + self.saved.len() + 2 > MAX_DEPTH {
                            return Err(Decline);
                        }
                        // Not written: the object's fields are.
                        o = before;
                        self.saved.push(self.plen);
                        self.enter(name, name_end);
                        self.event(name, name_end, ENTER);
                        continue;
                    }
                }
                b'[' => match self.arrays {
                    ArrayPolicy::Error => return Err(Decline),
                    ArrayPolicy::Drop => {
                        self.text::<false>(depth + self.saved.len() + 1)?;
                        self.dropped += 1;
                        o = before;
                        // No key: nothing goes in the shape.
                        if self.after_value()? {
                            break;
                        }
                        continue;
                    }
                    ArrayPolicy::Json => {
                        self.set_len(o);
                        self.room(2);
                        self.out.push(b'"');
                        self.text::<true>(depth + self.saved.len() + 1)?;
                        self.room(2);
                        self.out.push(b'"');
                        o = self.out.len();
                        self.event(name, name_end, LEAF);
                    }
                },
                _ => {
                    o = self.scalar(o)?;
                    self.event(name, name_end, LEAF);
                }
            }
            first = false;
            self.set_len(o);
            if self.after_value()? {
                break;
            }
        }
        self.room(2);
        let end = self.out.len();
        self.store8(end, u64::from_le_bytes(*b"}\n\0\0\0\0\0\0"));
        self.set_len(end + 2);
        self.unique()
    }

    /// A flat record at `i` (its `{`), a write's, into the output from its
    /// start without whitespace: keys and values verbatim. A value that is
    /// an object or an array, a key with an escape and a key twice decline.
    fn flat_record(&mut self) -> R {
        self.i += 1;
        self.shape.clear();
        self.out.clear();
        // The output is never longer than the input it comes from.
        self.room(self.n - self.i + 2);
        self.store8(0, u64::from(b'{'));
        let mut o = 1;
        self.ws();
        if self.peek() == b'}' {
            self.i += 1;
        } else {
            loop {
                if self.peek() != b'"' {
                    return Err(Decline);
                }
                let name = self.i + 1;
                if self.key()? {
                    return Err(Decline);
                }
                let name_end = self.i - 1;
                // The key with its quotes, and a colon.
                let len = name_end - name + 2;
                self.copy_body(name - 1, o, len);
                o += len;
                self.store8(o, u64::from(b':'));
                o += 1;
                self.ws();
                if self.peek() != b':' {
                    return Err(Decline);
                }
                self.i += 1;
                self.ws();
                if matches!(self.peek(), b'{' | b'[') {
                    return Err(Decline);
                }
                o = self.scalar(o)?;
                self.event(name, name_end, LEAF);
                self.ws();
                match self.peek() {
                    b',' => {
                        self.i += 1;
                        self.ws();
                        self.store8(o, u64::from(b','));
                        o += 1;
                    }
                    b'}' => {
                        self.i += 1;
                        break;
                    }
                    _ => return Err(Decline),
                }
            }
        }
        self.store8(o, u64::from(b'}'));
        self.set_len(o + 1);
        self.unique()
    }

    /// After a field: `,` and the next key (the same object), or `}`s
    /// closing objects; `true` when the record ends.
    #[inline(always)]
    fn after_value(&mut self) -> R<bool> {
        loop {
            self.ws();
            match self.peek() {
                b',' => {
                    self.i += 1;
                    self.ws();
                    return Ok(false);
                }
                b'}' => {
                    self.i += 1;
                    let Some(plen) = self.saved.pop() else {
                        return Ok(true);
                    };
                    self.plen = plen;
                    self.shape.push(EXIT);
                }
                _ => return Err(Decline),
            }
        }
    }

    /// The prefix grows by a name (body bytes `start..end`) and the separator.
    fn enter(&mut self, start: usize, end: usize) {
        let len = end - start;
        if self.plen == 0 && len == 0 {
            // An empty key under none: the general path joins nothing.
            return;
        }
        let need = self.plen + len + self.sep.len() + PAD;
        if self.prefix.len() < need {
            self.prefix.resize(need * 2, 0);
        }
        let at = self.plen;
        self.prefix[at..at + len].copy_from_slice(&self.b[start..end]);
        self.prefix[at + len..at + len + self.sep.len()].copy_from_slice(self.sep);
        self.plen = at + len + self.sep.len();
    }

    /// The record just written has no two keys alike: its shape is the last
    /// checked one's, or its keys, rebuilt and sorted, differ.
    fn unique(&mut self) -> R {
        if same(self.shape, self.checked) {
            return Ok(());
        }
        let mut keys: Vec<Vec<u8>> = Vec::new();
        let mut prefix: Vec<u8> = Vec::new();
        let mut lens: Vec<usize> = Vec::new();
        let mut name = 0;
        for (k, &c) in self.shape.iter().enumerate() {
            match c {
                LEAF => {
                    let mut key = prefix.clone();
                    key.extend_from_slice(&self.shape[name..k]);
                    keys.push(key);
                }
                ENTER => {
                    lens.push(prefix.len());
                    if !prefix.is_empty() || name < k {
                        prefix.extend_from_slice(&self.shape[name..k]);
                        prefix.extend_from_slice(self.sep);
                    }
                }
                EXIT => prefix.truncate(lens.pop().unwrap_or(0)),
                _ => continue,
            }
            name = k + 1;
        }
        keys.sort_unstable();
        if keys.windows(2).any(|w| w[0] == w[1]) {
            return Err(Decline);
        }
        self.checked.clone_from(self.shape);
        Ok(())
    }

    /// Any JSON value at `i` (`depth` containers around it), checked; with
    /// `EMIT`, its text without whitespace goes to the output as the inside
    /// of a JSON string (`"` and `\` escaped).
    fn text<const EMIT: bool>(&mut self, depth: usize) -> R {
        self.stack.clear();
        loop {
            // A value.
            match self.peek() {
                c @ (b'{' | b'[') => {
                    if depth + self.stack.len() + 1 > MAX_DEPTH {
                        return Err(Decline);
                    }
                    self.i += 1;
                    if EMIT {
                        self.room(1);
                        self.out.push(c);
                    }
                    self.ws();
                    let close = if c == b'{' { b'}' } else { b']' };
                    if self.peek() == close {
                        self.i += 1;
                        if EMIT {
                            self.room(1);
                            self.out.push(close);
                        }
                    } else {
                        self.stack.push(c == b'{');
                        if c == b'{' {
                            self.member::<EMIT>()?;
                        }
                        continue;
                    }
                }
                b'"' => {
                    if EMIT {
                        self.escaped_string()?;
                    } else {
                        self.key()?;
                    }
                }
                _ => {
                    let start = self.i;
                    let len = match self.peek() {
                        b't' | b'f' | b'n' => self.literal()?,
                        _ => self.number()?,
                    };
                    if EMIT {
                        let o = self.out.len();
                        self.room(len + 16);
                        self.copy_body(start, o, len);
                        self.set_len(o + len);
                    }
                }
            }
            // After a value: `,` and the next, or closing brackets.
            loop {
                self.ws();
                let Some(&object) = self.stack.last() else {
                    return Ok(());
                };
                match self.peek() {
                    b',' => {
                        self.i += 1;
                        if EMIT {
                            self.room(1);
                            self.out.push(b',');
                        }
                        self.ws();
                        if object {
                            self.member::<EMIT>()?;
                        }
                        break;
                    }
                    c @ (b'}' | b']') if c == if object { b'}' } else { b']' } => {
                        self.i += 1;
                        if EMIT {
                            self.room(1);
                            self.out.push(c);
                        }
                        self.stack.pop();
                    }
                    _ => return Err(Decline),
                }
            }
        }
    }

    /// An object member's key and colon, for [`T::text`].
    fn member<const EMIT: bool>(&mut self) -> R {
        if self.peek() != b'"' {
            return Err(Decline);
        }
        if EMIT {
            self.escaped_string()?;
            self.room(1);
            self.out.push(b':');
        } else {
            self.key()?;
        }
        self.expect(b':')
    }

    /// A string at `i` written as it reads inside a JSON string: its
    /// quotes and backslashes escaped.
    fn escaped_string(&mut self) -> R {
        let start = self.i;
        let mut wide = false;
        self.room(4);
        self.out.extend_from_slice(b"\\\"");
        self.i += 1;
        let mut o = self.out.len();
        loop {
            if self.out.capacity() - o < 2 * PAD {
                self.set_len(o);
                self.out.reserve(4 * PAD);
            }
            let w = self.load8(self.i);
            self.store8(o, w);
            let m = specials(w);
            if m == 0 {
                self.i += 8;
                o += 8;
                continue;
            }
            let k = (m.trailing_zeros() / 8) as usize;
            self.i += k;
            o += k;
            match self.peek() {
                b'"' => break,
                b'\\' => {
                    let at = self.i;
                    self.escape()?;
                    // `\x` becomes `\\x`, and `\"` becomes `\\\"`.
                    for &c in &self.b[at..self.i] {
                        if c == b'\\' {
                            self.store8(o, u64::from_le_bytes(*b"\\\\\0\0\0\0\0\0"));
                            o += 2;
                        } else if c == b'"' {
                            self.store8(o, u64::from_le_bytes(*b"\\\"\0\0\0\0\0\0"));
                            o += 2;
                        } else {
                            self.store8(o, u64::from(c));
                            o += 1;
                        }
                    }
                }
                c if c >= 0x80 => {
                    wide = true;
                    self.i += 1;
                    o += 1;
                }
                _ => return Err(Decline),
            }
        }
        self.i += 1;
        self.store8(o, u64::from_le_bytes(*b"\\\"\0\0\0\0\0\0"));
        self.set_len(o + 2);
        if wide && std::str::from_utf8(&self.b[start..self.i]).is_err() {
            return Err(Decline);
        }
        Ok(())
    }
}

/// Today's general path for a page whose records go straight to output
/// (`page::parse`, `FlatOut`, `flatten`, as the selector takes them): the
/// NDJSON, records, dropped arrays and document, or why the page fails.
/// The reference of the transcoder's tests and fuzz target.
#[doc(hidden)]
pub fn general(
    body: &[u8],
    path: &[Segment],
    separator: &str,
    arrays: ArrayPolicy,
) -> Result<(Vec<u8>, u64, u32, Value), String> {
    use crate::flatten::{self, FlatOut};
    use crate::read::page::{self, Flattening, Record};
    let mut f = Flattening {
        out: FlatOut::default(),
        separator,
        arrays,
        count: 0,
        dropped: 0,
    };
    let (doc, records, mut out, mut count, mut dropped) =
        match page::parse(body, path, Some(&mut f)) {
            Ok((doc, records)) => (doc, records, f.out, f.count, f.dropped),
            Err(_) => {
                let (doc, records) = page::parse(body, path, None).map_err(|e| e.to_string())?;
                (doc, records, FlatOut::default(), 0, 0)
            }
        };
    for record in records {
        if let Record::Raw(raw) = record
            && let Some(d) = out.write(raw.get(), separator, arrays)
        {
            dropped += d;
            count += 1;
            continue;
        }
        let value = match record {
            Record::Raw(raw) => serde_json::from_str(raw.get()).map_err(|e| e.to_string())?,
            Record::Built(v) => v,
        };
        let (map, d) = flatten::flatten(&value, separator, arrays).map_err(|e| e.to_string())?;
        dropped += d;
        serde_json::to_writer(&mut out.out, &map).map_err(|e| e.to_string())?;
        out.out.push(b'\n');
        count += 1;
    }
    Ok((out.out, count, dropped, doc))
}

#[cfg(test)]
#[path = "transcode_tests.rs"]
pub(crate) mod tests;
