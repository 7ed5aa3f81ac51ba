//! One masker for every byte a user or a log sees, shared by the component
//! (which knows the secrets it derives at run time: tokens, `Basic` values)
//! and the host (which resolves `${env:…}` / `${file:…}` references).
//!
//! A secret is found in any representation a request or an echo of it can
//! carry, character by character, so mixed encodings are caught too:
//! raw UTF-8, percent-encoded (`%2F` or `%2f`, `+` for a space as forms
//! write it), and JSON-escaped (`\"`, `\\`, `\/`, `\n`…, `\u00e9` or
//! `\u00E9`, surrogate pairs). [`Masker::add_basic`] also registers the
//! base64 of `user:password`, so an echoed `Authorization: Basic …` is
//! masked whole.
//!
//! [`printable`] escapes control characters in text that came from a
//! server, so an error body cannot drive the terminal (ANSI/OSC escapes)
//! or fake a line with `\r`.

use base64::Engine as _;

/// What a masked secret becomes.
pub const MASK: &str = "***";

/// The secrets to hide, longest first (a secret that holds another is
/// masked whole). Its `Debug` shows how many there are, never what.
#[derive(Clone, Default)]
pub struct Masker {
    secrets: Vec<Vec<char>>,
}

impl std::fmt::Debug for Masker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Masker({} secrets)", self.secrets.len())
    }
}

impl Masker {
    pub fn new() -> Masker {
        Masker::default()
    }

    /// Registers a secret; empty strings are ignored.
    pub fn add(&mut self, secret: &str) {
        if secret.is_empty() {
            return;
        }
        let chars: Vec<char> = secret.chars().collect();
        if !self.secrets.contains(&chars) {
            self.secrets.push(chars);
            self.secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        }
    }

    /// Registers the credentials of HTTP Basic auth: each part, and the
    /// base64 of `user:password` that goes on the wire.
    pub fn add_basic(&mut self, user: &str, password: &str) {
        self.add(password);
        let engine = base64::engine::general_purpose::STANDARD;
        self.add(&engine.encode(format!("{user}:{password}")));
    }

    /// Registers every secret of another masker.
    pub fn extend(&mut self, other: &Masker) {
        for s in &other.secrets {
            self.add(&s.iter().collect::<String>());
        }
    }

    /// The registered secrets, as given (the host hands them to the component).
    pub fn values(&self) -> Vec<String> {
        self.secrets.iter().map(|s| s.iter().collect()).collect()
    }

    pub fn is_empty(&self) -> bool {
        self.secrets.is_empty()
    }

    /// Whether `text` holds any secret, in any of its encodings.
    pub fn holds_secret(&self, text: &str) -> bool {
        let bytes = text.as_bytes();
        (0..bytes.len()).any(|at| {
            self.secrets
                .iter()
                .any(|s| match_at(bytes, at, s).is_some())
        })
    }

    /// `text` with every secret replaced by `***`.
    pub fn mask(&self, text: &str) -> String {
        if self.secrets.is_empty() {
            return text.to_string();
        }
        let bytes = text.as_bytes();
        let mut out = String::with_capacity(text.len());
        let mut copied = 0;
        let mut at = 0;
        while at < bytes.len() {
            // Secrets start on a character boundary of the text.
            if !text.is_char_boundary(at) {
                at += 1;
                continue;
            }
            match self.secrets.iter().find_map(|s| match_at(bytes, at, s)) {
                Some(end) => {
                    out.push_str(&text[copied..at]);
                    out.push_str(MASK);
                    at = end;
                    copied = end;
                }
                None => at += 1,
            }
        }
        out.push_str(&text[copied..]);
        out
    }
}

/// Where a match of `secret` starting at `at` ends, if there is one (the
/// longest). Every character may take several forms, so the match runs
/// like an NFA over the set of positions reached so far: `\\` is one
/// escaped backslash or two raw ones.
fn match_at(text: &[u8], at: usize, secret: &[char]) -> Option<usize> {
    let mut reached = vec![at];
    let mut next = Vec::new();
    for &c in secret {
        next.clear();
        for &p in &reached {
            for end in char_ends(text, p, c).into_iter().flatten() {
                if !next.contains(&end) {
                    next.push(end);
                }
            }
        }
        if next.is_empty() {
            return None;
        }
        std::mem::swap(&mut reached, &mut next);
    }
    reached.into_iter().max()
}

/// The ends of each form of `c` found at `at`: JSON escape, percent
/// encoding, `+` for a space, raw.
fn char_ends(text: &[u8], at: usize, c: char) -> [Option<usize>; 4] {
    let rest = &text[at.min(text.len())..];
    let mut utf8 = [0u8; 4];
    let raw = c.encode_utf8(&mut utf8).as_bytes();
    [
        json_escape_len(rest, c).map(|n| at + n),
        percent_len(rest, raw).map(|n| at + n),
        (c == ' ' && rest.first() == Some(&b'+')).then_some(at + 1),
        rest.starts_with(raw).then_some(at + raw.len()),
    ]
}

/// `%XX` for every byte of `raw`, hex digits in either case.
fn percent_len(text: &[u8], raw: &[u8]) -> Option<usize> {
    for (k, b) in raw.iter().enumerate() {
        let t = text.get(k * 3..k * 3 + 3)?;
        if t[0] != b'%' || hex_byte(t[1], t[2])? != *b {
            return None;
        }
    }
    Some(raw.len() * 3)
}

/// A JSON escape of `c`: the short forms, `\/`, or `\uXXXX` (a surrogate
/// pair for characters beyond the BMP).
fn json_escape_len(text: &[u8], c: char) -> Option<usize> {
    if text.first() != Some(&b'\\') {
        return None;
    }
    let short = match c {
        '"' => Some(b'"'),
        '\\' => Some(b'\\'),
        '/' => Some(b'/'),
        '\n' => Some(b'n'),
        '\r' => Some(b'r'),
        '\t' => Some(b't'),
        '\u{8}' => Some(b'b'),
        '\u{c}' => Some(b'f'),
        _ => None,
    };
    if short.is_some() && text.get(1).copied() == short {
        return Some(2);
    }
    let mut units = [0u16; 2];
    let units = c.encode_utf16(&mut units);
    for (k, unit) in units.iter().enumerate() {
        let t = text.get(k * 6..k * 6 + 6)?;
        if t[0] != b'\\' || t[1] != b'u' {
            return None;
        }
        let hi = hex_byte(t[2], t[3])?;
        let lo = hex_byte(t[4], t[5])?;
        if u16::from_be_bytes([hi, lo]) != *unit {
            return None;
        }
    }
    Some(units.len() * 6)
}

fn hex_byte(a: u8, b: u8) -> Option<u8> {
    let d = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    Some(d(a)? << 4 | d(b)?)
}

/// Text from a server made safe for a terminal and a log line: control
/// characters (all of C0, DEL and C1, line feeds included) are written
/// as escapes (`\r`, `\u001b`), so the text can neither move the cursor,
/// set a title or colour, nor start a fake line.
pub fn printable(text: &str) -> String {
    if !text.chars().any(is_control) {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if is_control(c) => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

/// Like [`printable`], but keeps line feeds and tabs: for messages whose
/// lines are the host's own, after the server's parts went through
/// [`printable`].
pub fn printable_lines(text: &str) -> String {
    text.split('\n')
        .map(|line| printable(&line.replace('\t', "    ")))
        .collect::<Vec<_>>()
        .join("\n")
}

fn is_control(c: char) -> bool {
    c.is_control()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn masker(secrets: &[&str]) -> Masker {
        let mut m = Masker::new();
        for s in secrets {
            m.add(s);
        }
        m
    }

    #[test]
    fn every_encoding_of_a_secret_is_masked() {
        let secret = "p@ss/w+rd &é\"x";
        let m = masker(&[secret]);
        let forms = [
            secret.to_string(),
            // form-urlencoded and percent-encoded, upper and lower hex
            "p%40ss%2Fw%2Brd+%26%C3%A9%22x".to_string(),
            "p%40ss%2fw%2brd%20%26%c3%a9%22x".to_string(),
            // JSON: standard, with `\/`, all-ASCII, Go's HTML-safe
            r#"p@ss/w+rd &é\"x"#.to_string(),
            r#"p@ss\/w+rd &\u00e9\"x"#.to_string(),
            r#"p@ss\/w+rd \u0026\u00E9\u0022x"#.to_string(),
            r#"\u0070\u0040ss/w\u002brd &é\"x"#.to_string(),
        ];
        for form in forms {
            let text = format!("before {form} after");
            assert_eq!(m.mask(&text), "before *** after", "{form}");
            assert!(m.holds_secret(&text), "{form}");
        }
        assert!(!m.holds_secret("p@ss/w+rd"));
    }

    #[test]
    fn astral_characters_match_as_surrogate_pairs() {
        let m = masker(&["k😀y"]);
        assert_eq!(m.mask(r#"{"t":"k\ud83d\ude00y"}"#), r#"{"t":"***"}"#);
        assert_eq!(m.mask("k%F0%9F%98%80y"), "***");
    }

    #[test]
    fn basic_credentials_are_masked_as_base64_and_whole() {
        let mut m = Masker::new();
        m.add_basic("Aladdin", "open sesame");
        assert_eq!(
            m.mask("Authorization: Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ=="),
            "Authorization: Basic ***"
        );
        // JSON-escaped base64 (`/` written as `\/`).
        let mut m = Masker::new();
        m.add_basic("u", "??>>");
        let b64 = base64::engine::general_purpose::STANDARD.encode("u:??>>");
        assert!(b64.contains('/'), "{b64}");
        assert_eq!(m.mask(&b64.replace('/', "\\/")), "***");
    }

    #[test]
    fn the_longest_secret_wins_and_text_around_stays() {
        let m = masker(&["abc", "abcdef"]);
        assert_eq!(m.mask("xabcdefy abc"), "x***y ***");
        assert_eq!(m.mask("é abc é"), "é *** é");
        assert_eq!(Masker::new().mask("abc"), "abc");
        assert_eq!(format!("{m:?}"), "Masker(2 secrets)");
    }

    #[test]
    fn control_characters_are_escaped() {
        assert_eq!(
            printable("ok\u{1b}]0;pwned\u{7}\r\nfake\u{9b}2J"),
            "ok\\u001b]0;pwned\\u0007\\r\\nfake\\u009b2J"
        );
        assert_eq!(printable_lines("a\u{1b}[31m\nb\rc"), "a\\u001b[31m\nb\\rc");
        assert_eq!(printable("plain é"), "plain é");
    }

    proptest::proptest! {
        #[test]
        fn a_registered_secret_never_survives_masking(
            secret in "[ -~é😀]{1,12}",
            before in "[a-z ]{0,8}",
            after in "[a-z ]{0,8}",
        ) {
            proptest::prop_assume!(!MASK.contains(secret.as_str()));
            let m = masker(&[&secret]);
            let json = serde_like_json(&secret);
            for form in [secret.clone(), json] {
                let masked = m.mask(&format!("{before}{form}{after}"));
                proptest::prop_assert!(!masked.contains(&format!("{before}{secret}")), "{masked}");
                proptest::prop_assert!(masked.contains(MASK));
            }
        }
    }

    /// A JSON string body as most servers write it (no serde_json here).
    fn serde_like_json(s: &str) -> String {
        s.chars()
            .map(|c| match c {
                '"' => "\\\"".to_string(),
                '\\' => "\\\\".to_string(),
                c if !c.is_ascii() => c
                    .encode_utf16(&mut [0; 2])
                    .iter()
                    .map(|u| format!("\\u{u:04x}"))
                    .collect(),
                c => c.to_string(),
            })
            .collect()
    }
}
